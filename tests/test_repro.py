import numpy as np
import pytest
import torch

from deepissues import repro


def test_seed_everything_makes_draws_repeat():
    repro.seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    repro.seed_everything(7)
    second = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1])
    g = repro.seed_everything(7)
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(7)))


def test_seed_rejects_bad_values():
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match="non-negative int"):
            repro.seed_everything(bad)


def test_scale_reads_the_environment(monkeypatch):
    monkeypatch.delenv("DEEPISSUES_SCALE", raising=False)
    assert repro.scale() == "small" and repro.by_scale(1, 2) == 1
    monkeypatch.setenv("DEEPISSUES_SCALE", "FULL")
    assert repro.scale() == "full" and repro.by_scale(1, 2) == 2
    monkeypatch.setenv("DEEPISSUES_SCALE", "huge")
    with pytest.raises(ValueError, match="small.*full"):
        repro.scale()


def test_default_device_matches_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert repro.default_device().type == expected
