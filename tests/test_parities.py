"""Parities: the exact gradient variance by Walsh–Hadamard against brute force, and training at
chance for large d."""

import itertools

import numpy as np
import pytest
import torch

from deepissues import failures as F
from deepissues.failures.parities import _cube, parity_net, subset_of_index


def test_parity_dataset_labels_are_products_of_the_chosen_bits():
    X, y = F.parity_dataset(500, 7, subset=[1, 0, 1, 1, 0, 0, 1], seed=3)
    assert set(X.unique().tolist()) == {-1.0, 1.0} and X.shape == (500, 7)
    np.testing.assert_array_equal(y.numpy(), (X[:, 0] * X[:, 2] * X[:, 3] * X[:, 6]).numpy())


def test_the_2_to_the_d_parities_are_orthonormal_and_the_transform_lists_them():
    d = 5
    X = _cube(d)
    chars = torch.stack([F.parity(X, subset_of_index(v, d)) for v in range(2 ** d)])
    np.testing.assert_allclose((chars @ chars.T / 2 ** d).numpy(), np.eye(2 ** d), atol=1e-12)
    values = torch.randn(2 ** d, 3, dtype=torch.float64)
    np.testing.assert_allclose(F.walsh_hadamard(values).numpy(), (chars @ values).numpy(), atol=1e-10)


def _brute_force_variance(d, loss, seed):
    """Gradient of the population loss for each of the 2^d targets, by autograd, then its variance."""
    torch.manual_seed(seed)
    net = parity_net(d).double()
    X = _cube(d)
    grads = []
    for v in itertools.product([0, 1], repeat=d):
        h = F.parity(X, torch.tensor(v))
        p = net(X)[:, 0]
        value = ((p - h) ** 2 / 2).mean() if loss == "square" else (1 - h * p).clamp_min(0).mean()
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(value, list(net.parameters()))]))
    G = torch.stack(grads)
    return float((G - G.mean(0)).pow(2).sum(1).mean())


@pytest.mark.parametrize("loss", ["square", "hinge"])
def test_exact_gradient_variance_equals_brute_force_and_stays_below_the_bound(loss):
    for d in (3, 5):
        got = F.parity_gradient_variance(d, loss=loss, seed=1)
        assert got["exact"]
        assert got["variance"] == pytest.approx(_brute_force_variance(d, loss, seed=1), rel=1e-9)
        assert got["variance"] <= got["bound"] * (1 + 1e-12)


def test_the_bound_is_nearly_tight_and_the_gradient_itself_is_not_small():
    for d in (6, 8, 10, 12):
        got = F.parity_gradient_variance(d)
        assert 0.9 * got["bound"] <= got["variance"] <= got["bound"]
        # a single target's gradient is not small: what vanishes is the *difference* between targets
        assert got["signal"] > (10 if d >= 10 else 1.5) * got["variance"]


def test_sampled_variance_is_unbiased():
    d = 8
    exact = F.parity_gradient_variance(d)["variance"]
    values = np.array([F.parity_gradient_variance(d, n_parities=64, n_samples=512, sample_seed=s)["variance"]
                       for s in range(40)])
    assert abs(values.mean() - exact) < 3 * values.std(ddof=1) / np.sqrt(len(values))
    assert values.std() > 0.05 * exact, "the estimates must actually vary for this test to mean anything"


def test_small_parities_are_learned_and_d_30_stays_at_chance():
    assert F.train_parity(8, 1500, lr=0.1, progress=False) > 0.95
    assert abs(F.train_parity(30, 1500, lr=0.1, progress=False) - 0.5) < 0.03


def test_iterations_to_accuracy_reads_the_first_crossing_of_a_curve():
    curve = [(100, 0.5), (200, 0.74), (300, 0.76), (400, 0.7), (500, 0.9)]
    assert F.iterations_to_accuracy(curve, 0.75) == 300  # the first crossing, not the last
    assert F.iterations_to_accuracy(curve, 0.95) == float("inf")  # never reached
    with pytest.raises(ValueError, match="level must be an accuracy"):
        F.iterations_to_accuracy(curve, 0.0)


def test_harder_with_dimension_needs_strict_growth_and_a_largest_d_that_never_gets_there():
    rising = {5: [(50, 0.8)], 10: [(50, 0.6), (100, 0.8)], 20: [(50, 0.5), (100, 0.5)]}
    assert F.harder_with_dimension(rising) == (True, {5: 50, 10: 100, 20: float("inf")})
    # the curves are read in increasing d, whatever order the dict has
    assert F.harder_with_dimension(dict(reversed(list(rising.items()))))[0]
    # controls: a tie below the largest d, and a largest d that gets there, each break it
    tied = {**rising, 10: [(50, 0.8)]}
    assert not F.harder_with_dimension(tied)[0]
    reached = {**rising, 20: [(50, 0.5), (150, 0.8)]}
    assert not F.harder_with_dimension(reached)[0]
    with pytest.raises(ValueError, match="at least two"):
        F.harder_with_dimension({5: [(50, 0.8)]})


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="d must be an int >= 1"):
        F.parity_dataset(10, 0)
    with pytest.raises(ValueError, match="subset must be a 0/1 vector of length d=3"):
        F.parity_dataset(10, 3, subset=[1, 0])
    with pytest.raises(ValueError, match="loss must be one of"):
        F.parity_gradient_variance(4, loss="logistic")
    with pytest.raises(ValueError, match="n_samples >= 2"):
        F.gradient_snr(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="2\\^d"):
        F.walsh_hadamard(torch.zeros(6, 2))
