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


def _gaussian_stderr(mean, scales, n):
    """The delta-method standard deviation of the SNR estimate for independent Gaussian coordinates."""
    cov = scales.double().pow(2)
    return float((2 * cov.pow(2).sum() / n ** 2 + 4 * (mean.double().pow(2) * cov).sum() / n).sqrt() / cov.sum())


def test_gradient_snr_stderr_matches_the_spread_over_independent_draws():
    g = torch.Generator().manual_seed(1)
    n = 400
    for mean in (torch.zeros(6), torch.full((6,), 0.2)):  # no signal, and some
        scales = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0, 0.7])
        draws = [mean + scales * torch.randn(n, 6, generator=g) for _ in range(300)]
        spread = np.std([F.gradient_snr(d) for d in draws])
        jackknife = np.array([F.gradient_snr_stderr(d) for d in draws[:60]])
        assert np.median(jackknife) == pytest.approx(spread, rel=0.2)
        assert spread == pytest.approx(_gaussian_stderr(mean, scales, n), rel=0.2)
        # Control: the error of an estimate on a quarter of the samples is two to four times larger
        # (by 1/√n with signal, 1/n without), and the comparison tells it apart.
        quarter = np.median([F.gradient_snr_stderr(d[: n // 4]) for d in draws[:60]])
        assert quarter > 1.7 * spread


def test_gradient_snr_stderr_shrinks_like_one_over_n_without_signal():
    g = torch.Generator().manual_seed(2)
    small, large = (np.median([F.gradient_snr_stderr(torch.randn(n, 10, generator=g)) for _ in range(30)])
                    for n in (200, 3200))
    assert small / large == pytest.approx(16, rel=0.25)


def _jackknife_by_recomputing(grads, groups):
    """The delete-a-group jackknife the slow way: gradient_snr recomputed on the samples left."""
    n = grads.shape[0]
    cuts = torch.arange(n) * groups // n
    left_out = np.array([F.gradient_snr(grads[cuts != i]) for i in range(groups)])
    return float(np.sqrt((groups - 1) / groups * ((left_out - left_out.mean()) ** 2).sum()))


@pytest.mark.parametrize("n, p, groups", [(2000, 100, 20), (1003, 7, 20), (41, 3, 2), (40, 5, 20)])
def test_gradient_snr_stderr_from_group_sums_equals_recomputing_without_each_group(n, p, groups):
    g = torch.Generator().manual_seed(n + p)
    # a common mean far from zero and heavy tails: the centring must keep float64's precision
    grads = (torch.randn(n, p, generator=g) * torch.rand(p, generator=g)) ** 3 + 5.0
    slow = _jackknife_by_recomputing(grads, groups)
    assert F.gradient_snr_stderr(grads, groups) == pytest.approx(slow, rel=1e-9)
    # Control: the same comparison tells apart a jackknife over other groups (the samples
    # reordered), whose value differs only by the groups' composition
    reordered = grads[torch.randperm(n, generator=g)]
    assert F.gradient_snr_stderr(reordered, groups) != pytest.approx(slow, rel=1e-6)
