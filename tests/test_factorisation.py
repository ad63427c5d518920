"""Matrix factorisation against the convex nuclear-norm optimum; the dropout closed form against
a numerical minimiser and Monte Carlo."""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from deepissues.theory import (dropout_sgd, 
    dropout_loss_sample,
    dropout_objective,
    dropout_solution,
    equalising_rotation,
    factorized_solution,
    nuclear_norm_solution,
)


def _data(seed=0, n=30, m=20, rank=5, noise=0.3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m)) + noise * rng.normal(size=(n, m))


def test_nuclear_norm_solution_is_optimal_against_a_generic_solver():
    X, lam = _data(n=6, m=5, rank=2), 1.0
    A, value = nuclear_norm_solution(X, lam)
    objective = lambda a: 0.5 * np.sum((X - a.reshape(6, 5)) ** 2) + lam * np.linalg.svd(a.reshape(6, 5), compute_uv=False).sum()
    generic = minimize(objective, np.zeros(30), method="Powell", options={"maxiter": 200000, "xtol": 1e-10, "ftol": 1e-12})
    assert value <= generic.fun + 1e-9
    assert value == pytest.approx(objective(A.ravel()), rel=1e-12)


def test_factorised_objective_reaches_the_convex_optimum_once_r_reaches_the_rank():
    X, lam = _data(), 3.0
    A, convex = nuclear_norm_solution(X, lam)
    rank = np.linalg.matrix_rank(A, tol=1e-8)
    assert rank == 5
    for r in (rank, rank + 1, rank + 4):
        U, V, value = factorized_solution(X, lam, r)
        assert value == pytest.approx(convex, rel=1e-4)
        assert np.allclose(U @ V.T, A, atol=1e-3)
    for r in (1, rank - 1):
        _, _, value = factorized_solution(X, lam, r)
        assert value > convex * (1 + 1e-3), f"r={r} should stay above the convex optimum"


def test_factorised_search_records_the_objective_of_every_iterate():
    history = []
    _, _, value = factorized_solution(_data(), 3.0, 6, history=history)
    assert len(history) > 5
    assert history[-1] == pytest.approx(value, rel=1e-12)  # the last iterate is the one returned


@pytest.mark.parametrize("retain_prob", [0.5, 0.8])
def test_dropout_closed_form_equals_a_numerical_minimiser(retain_prob):
    X, r = _data(seed=1, n=12, m=10, rank=3), 5
    U, V, value = dropout_solution(X, retain_prob, r)
    assert value == pytest.approx(dropout_objective(X, U, V, retain_prob), rel=1e-12)
    rng = np.random.default_rng(0)
    n, m = X.shape
    best = min(minimize(lambda t: dropout_objective(X, t[:n * r].reshape(n, r), t[n * r:].reshape(m, r), retain_prob),
                        rng.normal(scale=0.3, size=(n + m) * r), method="L-BFGS-B",
                        options={"maxiter": 50000, "ftol": 1e-15, "gtol": 1e-10}).fun for _ in range(4))
    assert value <= best + 1e-6 * best
    assert value == pytest.approx(best, rel=1e-5)
    # every column pair carries the same product, so the regulariser meets its lower bound ‖A‖_*²/r
    products = np.sqrt(np.sum(U ** 2, 0) * np.sum(V ** 2, 0))
    assert np.allclose(products, products.mean())
    assert products.sum() == pytest.approx(np.linalg.svd(U @ V.T, compute_uv=False).sum(), rel=1e-9)


def test_monte_carlo_dropout_loss_converges_to_the_analytic_expectation():
    X = _data(seed=2, n=10, m=8, rank=3)
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(10, 4)), rng.normal(size=(8, 4))
    samples = np.array([dropout_loss_sample(X, U, V, 0.6, rng) for _ in range(40000)])
    expected = dropout_objective(X, U, V, 0.6)
    assert abs(samples.mean() - expected) < 3 * samples.std() / np.sqrt(len(samples))


def test_equalising_rotation_is_orthogonal_and_equalises_the_diagonal():
    weights = np.array([5.0, 2.0, 0.5, 0.0, 0.0])
    Q = equalising_rotation(weights)
    assert np.allclose(Q.T @ Q, np.eye(5), atol=1e-12)
    assert np.allclose(np.diag(Q.T @ np.diag(weights) @ Q), weights.mean(), atol=1e-9)


def test_theory_rejects_bad_input():
    with pytest.raises(ValueError, match="retain_prob"):
        dropout_objective(np.ones((2, 2)), np.ones((2, 1)), np.ones((2, 1)), 0.0)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        nuclear_norm_solution(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="lam"):
        nuclear_norm_solution(np.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match=r"U must be \(2, r\)"):
        dropout_objective(np.ones((2, 3)), np.ones((3, 1)), np.ones((3, 1)), 0.5)
    with pytest.raises(ValueError, match="r must be"):
        dropout_solution(np.ones((2, 2)), 0.5, 0)


def test_dropout_sgd_gradient_is_unbiased_for_the_expected_dropout_objective():
    from deepissues.theory.factorisation import _dropout_gradients

    rng = np.random.default_rng(0)
    X, U, V, theta = rng.normal(size=(5, 4)), rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), 0.6
    masks = [np.array(m) / theta for m in itertools.product([0.0, 1.0], repeat=3)]  # every mask, weighted exactly
    weights = [theta ** m.astype(bool).sum() * (1 - theta) ** (3 - m.astype(bool).sum()) for m in masks]
    mean_U = sum(w * _dropout_gradients(X, U, V, m)[0] for w, m in zip(weights, masks))
    # the gradient of the closed form by central differences
    eps, numeric = 1e-6, np.zeros_like(U)
    for index in np.ndindex(U.shape):
        up, down = U.copy(), U.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (dropout_objective(X, up, V, theta) - dropout_objective(X, down, V, theta)) / (2 * eps)
    np.testing.assert_allclose(mean_U, numeric, rtol=1e-6, atol=1e-6)
    # Control: masks not rescaled by 1/θ give the gradient of another objective.
    unscaled = sum(w * _dropout_gradients(X, U, V, m * theta)[0] for w, m in zip(weights, masks))
    assert np.abs(unscaled - numeric).max() > 0.1


def test_dropout_sgd_approaches_the_closed_form_and_plain_sgd_does_not_threshold():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 3)) @ rng.normal(size=(3, 8)) + 0.2 * rng.normal(size=(12, 8))
    theta, r = 0.6, 6
    U, V = dropout_sgd(X, theta, r, seed=2)
    trained = np.linalg.svd(U @ V.T, compute_uv=False)
    closed = np.linalg.svd(dropout_solution(X, theta, r)[0] @ dropout_solution(X, theta, r)[1].T, compute_uv=False)
    kept = int((closed > 1e-8).sum())
    assert np.abs(trained - closed).max() < 0.05 * closed[0]
    assert trained[kept] < 0.02 * closed[0]  # what the closed form cuts, dropout SGD cuts too
    products = np.linalg.norm(U, axis=0) * np.linalg.norm(V, axis=0)
    assert products.std() / products.mean() < 0.1
    # Control: without dropout (θ = 1) SGD fits r singular values, unshrunk, and leaves the columns unequal.
    U1, V1 = dropout_sgd(X, 1.0, r, seed=2)
    plain = np.linalg.svd(U1 @ V1.T, compute_uv=False)
    sigma_x = np.linalg.svd(X, compute_uv=False)
    assert plain[kept] > 0.9 * sigma_x[kept] and plain[0] > 0.99 * sigma_x[0]
    plain_products = np.linalg.norm(U1, axis=0) * np.linalg.norm(V1, axis=0)
    assert plain_products.std() / plain_products.mean() > 0.3


def test_dropout_sgd_is_reproducible_and_leaves_the_global_generator():
    state = np.random.get_state()[1].copy()
    X = np.diag([2.0, 1.0])
    a, b = dropout_sgd(X, 0.5, 2, seed=3, steps=100), dropout_sgd(X, 0.5, 2, seed=3, steps=100)
    assert np.array_equal(a[0], b[0]) and np.array_equal(np.random.get_state()[1], state)
