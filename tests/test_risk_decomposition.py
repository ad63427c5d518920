"""The error decomposition against closed forms: a linear teacher in a linear class (no
approximation error, ordinary least squares' expected excess risk), gradient descent against its
matrix-power solution, and the nesting of random features."""

import numpy as np
import pytest

from deepissues.theory import error_decomposition, least_squares_gradient_descent, random_relu_features, tanh_teacher

D, BETA = 4, np.array([1.0, -2.0, 0.5, 0.0])


def linear_teacher(x):
    return x @ BETA


def identity(x):
    return x


def test_a_teacher_inside_the_class_has_no_approximation_error():
    terms = error_decomposition(linear_teacher, identity, 50, d_in=D, noise=0.5, steps=None)
    assert abs(terms["approximation"]) < 1e-12
    assert terms["optimisation"] == 0


def test_generalisation_error_of_least_squares_matches_its_closed_form():
    # Gaussian design without intercept: E ||w_N - beta||^2 = noise^2 d / (N - d - 1)
    n, noise, repeats = 20, 0.5, 400
    runs = [error_decomposition(linear_teacher, identity, n, d_in=D, noise=noise, steps=None,
                                n_population=4000, seed=s)["generalisation"] for s in range(repeats)]
    expected = noise ** 2 * D / (n - D - 1)
    assert np.mean(runs) == pytest.approx(expected, abs=3 * np.std(runs) / np.sqrt(repeats))


def test_the_terms_add_up_and_no_training_leaves_the_teachers_energy():
    terms = error_decomposition(linear_teacher, identity, 30, d_in=D, noise=0.3, steps=0, n_population=200000)
    assert terms["bayes"] + terms["approximation"] + terms["generalisation"] + terms["optimisation"] \
        == pytest.approx(terms["total"], rel=1e-12)
    # w = 0 predicts 0, so f = E (x . beta)^2 + noise^2 = ||beta||^2 + noise^2
    assert terms["total"] == pytest.approx(BETA @ BETA + 0.09, rel=0.02)


def test_gradient_descent_matches_its_matrix_power_solution():
    rng = np.random.default_rng(0)
    phi, y = rng.normal(size=(30, 6)), rng.normal(size=30)
    hessian = 2 * phi.T @ phi / 30
    lr, steps = 0.05, 37
    w_star = np.linalg.solve(phi.T @ phi, phi.T @ y)
    closed = (np.eye(6) - np.linalg.matrix_power(np.eye(6) - lr * hessian, steps)) @ w_star
    assert np.allclose(least_squares_gradient_descent(phi, y, steps, lr), closed, atol=1e-12)
    assert np.allclose(least_squares_gradient_descent(phi, y, 5000), w_star, atol=1e-8)


def test_optimisation_error_vanishes_as_gradient_descent_converges():
    short = error_decomposition(linear_teacher, identity, 40, d_in=D, steps=2)
    long = error_decomposition(linear_teacher, identity, 40, d_in=D, steps=2000)
    assert short["optimisation"] > 0.1 and abs(long["optimisation"]) < 1e-10


def test_a_list_of_step_counts_gives_the_terms_of_one_call_per_count():
    teacher, features = tanh_teacher(3, seed=1), random_relu_features(3, 12)
    counts = [30, 1, 0, 7]
    path = error_decomposition(teacher, features, 20, d_in=3, steps=counts, n_population=500, repeats=2)
    single = [error_decomposition(teacher, features, 20, d_in=3, steps=s, n_population=500, repeats=2) for s in counts]
    assert path == single
    # negative control: different counts give different terms
    assert path[0]["total"] != path[1]["total"]


def test_random_features_are_nested_so_approximation_error_does_not_grow():
    x = np.random.default_rng(1).normal(size=(7, 3))
    assert np.array_equal(random_relu_features(3, 10)(x), random_relu_features(3, 25)(x)[:, :10])
    teacher = tanh_teacher(3, seed=1)
    errors = [error_decomposition(teacher, random_relu_features(3, w), 100, d_in=3, steps=None,
                                  n_population=50000)["approximation"] for w in (2, 8, 32, 64)]
    assert all(b <= a + 1e-3 for a, b in zip(errors, errors[1:])) and errors[-1] < errors[0] / 5


def test_tanh_teacher_has_unit_variance():
    x = np.random.default_rng(2).normal(size=(100000, 5))
    assert np.std(tanh_teacher(5, seed=3)(x)) == pytest.approx(1, abs=0.02)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="teacher must map"):
        error_decomposition(lambda x: x, identity, 10, d_in=D)
    with pytest.raises(ValueError, match="inputs must be"):
        error_decomposition(linear_teacher, random_relu_features(3, 5), 10, d_in=D)
    with pytest.raises(ValueError, match="n_train"):
        error_decomposition(linear_teacher, identity, 0, d_in=D)
    with pytest.raises(ValueError, match="noise"):
        error_decomposition(linear_teacher, identity, 10, d_in=D, noise=-1)
    with pytest.raises(ValueError, match="phi must be"):
        least_squares_gradient_descent(np.ones((3, 2)), np.ones(4), 5)
