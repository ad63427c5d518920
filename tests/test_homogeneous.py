"""Global optimality for a two-layer ReLU network without biases: the exact polar, the certificate
and its duality gap, and the spectral certificate of matrix factorisation."""

import numpy as np
import pytest

from deepissues.theory import (factorized_solution, fit_homogeneous_relu, nuclear_norm_solution, polar_certificate,
                               relu_net_objective, relu_net_outputs, relu_polar, spectral_certificate)


def _data(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


def _sphere(d, count, seed=1):
    if d == 2:
        t = np.linspace(0, 2 * np.pi, count, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    s = np.random.default_rng(seed).normal(size=(count, d))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


@pytest.mark.parametrize("d, count", [(2, 200_000), (3, 300_000)])
def test_relu_polar_is_attained_and_no_sampled_unit_exceeds_it(d, count):
    X, G = _data(12, d)
    value, w = relu_polar(X, G)
    assert np.linalg.norm(w) == pytest.approx(1.0)
    assert abs(G @ np.maximum(X @ w, 0)) == pytest.approx(value, rel=1e-10)
    sampled = np.abs(np.maximum(_sphere(d, count) @ X.T, 0) @ G)
    assert sampled.max() <= value + 1e-9
    assert sampled.max() > value * (1 - (1e-6 if d == 2 else 2e-2))  # the samples come close from below
    # Control: a search over the data's own directions only bounds the polar from below.
    heuristic = np.abs(np.maximum((X / np.linalg.norm(X, axis=1, keepdims=True)) @ X.T, 0) @ G).max()
    assert heuristic < value


def test_polar_certificate_on_the_zero_network_has_the_known_answer():
    X, y = _data(10, 3, seed=2)
    polar_y, unit = relu_polar(X, y)
    zero_W, zero_a = np.zeros((3, 2)), np.zeros(2)
    above = polar_certificate(X, y, zero_W, zero_a, lam=1.01 * polar_y)
    assert above["ratio"] < 1 and above["gap_bound"] == 0.0  # zero is the global minimum
    below = polar_certificate(X, y, zero_W, zero_a, lam=0.5 * polar_y)
    assert below["ratio"] == pytest.approx(2.0) and below["gap_bound"] > 0
    # Control: the polar's unit, added at a small scale, lowers the objective, as the test says.
    lam, t = 0.5 * polar_y, 0.1
    sign = np.sign(y @ np.maximum(X @ below["unit"], 0))
    added = relu_net_objective(X, y, t * below["unit"][:, None], np.array([sign * t]), lam)
    assert added < relu_net_objective(X, y, zero_W, zero_a, lam)


def test_a_local_minimum_with_a_zero_unit_passes_the_certificate():
    # Haeffele and Vidal's theorem: with a large λ the optimum needs few units, so the local search
    # at width 6 ends with units at zero, and there the polar test must hold.
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(-1, 1, size=(30, 2)), np.ones(30)]  # 2-D inputs and a constant: biases
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 0.1 * rng.normal(size=30)
    lam = 0.5 * relu_polar(X, y)[0]
    W, a, value = fit_homogeneous_relu(X, y, 6, lam, seed=1)
    products = np.linalg.norm(W, axis=0) * np.abs(a)
    assert (products < 1e-6 * products.max()).any()
    certificate = polar_certificate(X, y, W, a, lam)
    assert certificate["ratio"] < 1 + 1e-6 and certificate["gap_bound"] < 1e-6 * value
    assert certificate["scale_gap"] < 1e-6
    # Control: one unit is too few for this λ, and the certificate says so.
    narrow = polar_certificate(X, y, *fit_homogeneous_relu(X, y, 1, 0.1 * lam, seed=1)[:2], 0.1 * lam)
    assert narrow["ratio"] > 1.05 and narrow["gap_bound"] > 1e-3


def test_gap_bound_bounds_the_distance_to_a_known_global_minimum():
    X, y = _data(10, 2, seed=4)
    lam = 1.01 * relu_polar(X, y)[0]  # the zero network is the global minimum, of value ½‖y‖²
    rng = np.random.default_rng(5)
    for _ in range(20):
        W, a = rng.normal(scale=0.3, size=(2, 3)), rng.normal(scale=0.3, size=3)
        excess = relu_net_objective(X, y, W, a, lam) - 0.5 * y @ y
        assert 0 <= excess <= polar_certificate(X, y, W, a, lam)["gap_bound"] + 1e-12


def test_fit_homogeneous_relu_balances_units_and_matches_its_outputs():
    X, y = _data(15, 3, seed=6)
    W, a, value = fit_homogeneous_relu(X, y, 4, 0.3, seed=2)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), np.abs(a), rtol=1e-8, atol=1e-12)
    assert value == pytest.approx(0.5 * np.sum((relu_net_outputs(X, W, a) - y) ** 2)
                                  + 0.3 * np.sum(np.abs(a) ** 2))


def test_spectral_certificate_holds_at_the_nuclear_norm_optimum_and_fails_below_its_rank():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(8, 3)) @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(8, 6))
    lam = 1.0
    A, _ = nuclear_norm_solution(X, lam)
    W_, s, Zt = np.linalg.svd(A)
    k = int((s > 1e-10).sum())
    U, V = W_[:, :k] * np.sqrt(s[:k]), Zt[:k].T * np.sqrt(s[:k])
    assert spectral_certificate(X, U, V, lam) == pytest.approx(1.0, abs=1e-10)
    U1, V1, _ = factorized_solution(X, lam, 1)
    assert k > 1 and spectral_certificate(X, U1, V1, lam) > 1.05  # Control: too narrow to be optimal
