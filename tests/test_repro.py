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


# ----- no library function moves the caller's random streams -------------------------------------

def _seeded_calls():
    """Every public function and attack that takes a seed, called small."""
    from torch import nn

    from deepissues import attacks as A, data, failures as F, fairness, generalisation, landscape, overparam
    from deepissues import selfsupervised, theory, training
    from deepissues.theory import energy

    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    quadratic = lambda z: (z ** 2).sum()  # noqa: E731
    target = F.staircase_target(5)
    return {
        "PGD": lambda: A.PGD(net, steps=2)(x, y),
        "MinimalPerturbation": lambda: A.MinimalPerturbation(net, steps=2)(x, y),
        "RegionAttack": lambda: A.RegionAttack(net, steps=1, samples=2)(x, y),
        "Spatial": lambda: A.Spatial(net, grid=False, k=2)(x, y),
        "Square": lambda: A.Square(net, n_queries=5)(x, y),
        "fooling_images": lambda: A.fooling_images(net, torch.tensor([0, 1]), (16,), steps=2),
        "digits": lambda: data.digits(),
        "pwl_curves": lambda: F.pwl_curves(3, 20),
        "random_pwl_curves": lambda: F.random_pwl_curves(3, 20),
        "kink_shift_error": lambda: F.kink_shift_error(*F.random_pwl_code(3, 20), 1, n=20),
        "train_pwl_encoder": lambda: F.train_pwl_encoder("dense", 2, n=20, n_train=50, progress=False),
        "train_pwl_autoencoder": lambda: F.train_pwl_autoencoder(2, n=20, n_train=50, progress=False),
        "k_tuples": lambda: F.k_tuples(2, 2, size=8),
        "stocks_gradients": lambda: F.stocks_gradients("end-to-end", 5, 6, 3),
        "train_stocks": lambda: F.train_stocks("end-to-end", 2, d=6, k=3, progress=False),
        "train_tuples": lambda: F.train_tuples(2, 2, size=8, channels=2, batch_size=4, test_size=4, progress=False),
        "staircase_dataset": lambda: F.staircase_dataset(4, target),
        "train_staircase": lambda: F.train_staircase("forward-only", 2, target=target, progress=False),
        "parity_dataset": lambda: F.parity_dataset(4, 5),
        "parity_gradient_variance": lambda: F.parity_gradient_variance(4, width=5),
        "train_parity": lambda: F.train_parity(4, 2, width=5, test_size=8, progress=False),
        "leading_order_variance": lambda: F.leading_order_variance(3, 0.1, width=4, n_samples=8),
        "periodic_gradient_variance": lambda: F.periodic_gradient_variance(3, 0.1, width=4, n_targets=2, n_samples=8),
        "linear_periodic_dataset": lambda: F.linear_periodic_dataset(4, 3, 0.1),
        "calibrated_scores": lambda: fairness.calibrated_scores([0.3, 0.6], n=10),
        "spurious_digits": lambda: fairness.spurious_digits(0.9),
        "corrupt": lambda: generalisation.corrupt(x, y, "random_labels", classes=3),
        "random_direction": lambda: landscape.random_direction(net),
        "random_features_fit": lambda: overparam.random_features_fit(5, "relu", x, y),
        "few_labels": lambda: selfsupervised.few_labels(y.numpy(), 1),
        "pretrain_autoencoder": lambda: selfsupervised.pretrain_autoencoder(x, code=2, hidden=4, epochs=1, progress=False),
        "double_well_finals": lambda: theory.double_well_finals("langevin", 0.0, trials=3, rounds=2),
        "fit_entropy_sgd": lambda: theory.fit_entropy_sgd(net, x, y, 1, batch_size=2, progress=False),
        "flatness": lambda: theory.flatness(net, nn.functional.cross_entropy, (x, y)),
        "local_entropy": lambda: energy.local_entropy(lambda z: (z ** 2).sum(-1), torch.zeros(2), 1.0, samples=8),
        "sharpness": lambda: energy.sharpness(quadratic, torch.zeros(2), 0.1, steps=2, restarts=1),
        "factorized_solution": lambda: theory.factorized_solution(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), 0.1, 2),
        "angles_through_random_layers": lambda: theory.angles_through_random_layers(x, 2, 8),
        "random_relu_layer_stats": lambda: theory.random_relu_layer_stats(0.5, 8, trials=2, dim=4),
        "error_decomposition": lambda: theory.error_decomposition(theory.tanh_teacher(2), theory.random_relu_features(2, 4),
                                                                  10, d_in=2, steps=2, n_population=50),
        "fit": lambda: training.fit(net, x, y, epochs=1, progress=False),
    }


@pytest.mark.parametrize("name", sorted(_seeded_calls()))
def test_seeded_functions_leave_the_global_random_streams_alone(name):
    import random
    call = _seeded_calls()[name]
    repro.seed_everything(5)
    states = torch.random.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    call()
    assert torch.equal(torch.random.get_rng_state(), states[0]), f"{name} moved torch's global generator"
    assert np.array_equal(np.random.get_state()[1], states[1]), f"{name} moved numpy's global generator"
    assert random.getstate() == states[2], f"{name} moved Python's global generator"


def test_reseeding_the_global_stream_is_caught():
    """Control: a function that calls torch.manual_seed, as eight failures functions did, fails the check."""
    repro.seed_everything(5)
    before = torch.random.get_rng_state()
    torch.manual_seed(repro.offset_seed(0))
    assert not torch.equal(torch.random.get_rng_state(), before)
