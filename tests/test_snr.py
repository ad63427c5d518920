"""The gradient's signal-to-noise ratio against a known distribution."""


import numpy as np
import pytest
import torch

from deepissues import failures as F


def test_gradient_snr_is_unbiased_on_a_known_distribution():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.3, -0.2, 0.1, 0.0])
    scales = torch.tensor([1.0, 2.0, 0.5, 1.5])
    true_snr = float(mean.pow(2).sum() / scales.pow(2).sum())
    estimates = [F.gradient_snr(mean + scales * torch.randn(20, 4, generator=g)) for _ in range(4000)]
    naive = [float((s := mean + scales * torch.randn(20, 4, generator=g)).mean(0).pow(2).sum() / s.var(0).sum())
             for _ in range(4000)]
    assert np.mean(estimates) == pytest.approx(true_snr, rel=0.1)
    assert np.mean(naive) > 1.3 * true_snr, "the uncorrected ratio is biased upwards"
