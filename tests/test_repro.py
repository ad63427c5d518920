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


def test_the_seed_offset_moves_every_seed_by_a_thousand_per_step(monkeypatch):
    monkeypatch.delenv("DEEPISSUES_SEED", raising=False)
    assert repro.seed_offset() == 0 and repro.offset_seed(7) == 7
    reference = torch.rand(3, generator=repro.generator(2007))
    monkeypatch.setenv("DEEPISSUES_SEED", "2")
    assert repro.offset_seed(7) == 2007
    repro.seed_everything(7)
    assert torch.equal(torch.rand(3), reference)  # seed_everything(7) at offset 2 is seed 2007
    assert torch.equal(torch.rand(3, generator=repro.generator(7)), reference)
    assert repro.numpy_rng(7).random() == np.random.default_rng(2007).random()


def test_library_seeds_follow_the_offset(monkeypatch):
    from deepissues import data

    monkeypatch.delenv("DEEPISSUES_SEED", raising=False)
    base = data.digits().y_test
    assert torch.equal(data.digits().y_test, base)  # same offset, same split
    monkeypatch.setenv("DEEPISSUES_SEED", "1")
    moved = data.digits().y_test
    assert not torch.equal(moved, base)  # another offset draws another split
    monkeypatch.delenv("DEEPISSUES_SEED")
    assert torch.equal(data.digits(seed=1000).y_test, moved)


def test_bad_seed_offsets_are_refused(monkeypatch):
    for bad in ("-1", "one", "1.5"):
        monkeypatch.setenv("DEEPISSUES_SEED", bad)
        with pytest.raises(ValueError, match="DEEPISSUES_SEED must be a non-negative integer"):
            repro.offset_seed(0)
    monkeypatch.delenv("DEEPISSUES_SEED")
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        repro.offset_seed(-3)
