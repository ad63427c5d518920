"""Chapter 12, global optimality beyond matrices: a two-layer ReLU network without biases.

f(x) = Σ_i a_i relu(w_iᵀx) is positively homogeneous of degree 2 in each unit (w_i, a_i), and so
is the regulariser λ Σ_i ‖w_i‖ |a_i|: the setting of Haeffele and Vidal (2015, 2017). On the
objective

    ½ ‖f(X) − y‖² + λ Σ_i ‖w_i‖ |a_i|

a point is a global minimum exactly when (i) it is stationary along every unit's own scale,
⟨G, f(X)⟩ = λ Σ_i ‖w_i‖|a_i| with G = y − f(X) the negative gradient with respect to the outputs,
and (ii) no unit of norm one could lower it to first order: the polar

    Ω°(G) = max_{‖w‖ <= 1} |Gᵀ relu(Xw)|

is at most λ. A search over units only bounds the polar from below, so it can prove that a point is
not optimal but never that it is. :func:`relu_polar` computes the polar exactly: on each cell of
the arrangement of the hyperplanes x_jᵀw = 0 the activation pattern S is fixed, Gᵀ relu(Xw) =
c_Sᵀw is linear, and its maximum over the unit ball intersected with the cell's cone K_S is the
norm of the projection of c_S onto K_S (Moreau's decomposition), a non-negative least-squares
problem. Every cell has a vertex, a line where d − 1 hyperplanes meet, so visiting the 2^(d−1)
sign choices around each vertex visits every cell: C(n, d − 1) 2^d cells, few for d = 2 or 3.
Weight decay (λ/2)(‖w_i‖² + a_i²) has the same minima, since balancing each unit's two norms
turns it into λ‖w_i‖|a_i| without changing f.
"""

import itertools

import numpy as np
from scipy.optimize import minimize, nnls

from ..checks import nonnegative, positive_int
from .. import repro

__all__ = ["relu_net_outputs", "relu_net_objective", "fit_homogeneous_relu", "relu_polar", "polar_certificate",
           "spectral_certificate"]


def relu_net_outputs(X, W, a):
    """f(X) = relu(X W) a for a two-layer ReLU network without biases.

    Parameters
    ----------
    X : (n, d) inputs.
    W : (d, r) first-layer weights, one unit per column.
    a : (r,) output weights.

    Returns
    -------
    (n,) array.
    """
    X, W, a = _network(X, W, a)
    return np.maximum(X @ W, 0) @ a


def relu_net_objective(X, y, W, a, lam):
    """½‖f(X) − y‖² + λ Σ_i ‖w_i‖ |a_i|.

    Parameters
    ----------
    X : (n, d) inputs.
    y : (n,) targets.
    W : (d, r) first-layer weights.
    a : (r,) output weights.
    lam : float >= 0.

    Returns
    -------
    float.
    """
    nonnegative("lam", lam)
    X, W, a = _network(X, W, a)
    residual = relu_net_outputs(X, W, a) - _targets(y, len(X))
    return float(0.5 * residual @ residual + lam * np.sum(np.linalg.norm(W, axis=0) * np.abs(a)))


def fit_homogeneous_relu(X, y, r, lam, seed=0, init_scale=0.5, rounds=3):
    """A local search on the objective with weight decay (λ/2)(‖W‖²_F + ‖a‖²): L-BFGS from a random
    start; then, with the units' directions fixed, the exact optimum of their output weights (a
    lasso), each unit balanced (‖w_i‖ = |a_i|) so that the decay equals λ Σ_i ‖w_i‖|a_i|.

    Parameters
    ----------
    X : (n, d) inputs.
    y : (n,) targets.
    r : int >= 1, the number of hidden units.
    lam : float >= 0.
    seed : int, fixes the start.
    init_scale : float > 0, the start's standard deviation.
    rounds : int >= 1, rounds of L-BFGS followed by the exact lasso for the output weights.

    Returns
    -------
    W : (d, r); a : (r,); value : float, :func:`relu_net_objective` there.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> W, a, value = fit_homogeneous_relu(X, np.array([1.0, 0.0, 1.0]), r=4, lam=0.1)
    >>> value < relu_net_objective(X, np.array([1.0, 0.0, 1.0]), np.zeros((2, 4)), np.zeros(4), 0.1)
    True
    """
    X = _inputs(X)
    y = _targets(y, len(X))
    positive_int("r", r)
    nonnegative("lam", lam)
    nonnegative("init_scale", init_scale, strict=True)
    positive_int("rounds", rounds)
    n, d = X.shape
    start = repro.numpy_rng(seed).normal(scale=init_scale, size=d * r + r)

    def value_and_gradient(theta):
        W, a = theta[:d * r].reshape(d, r), theta[d * r:]
        pre = X @ W
        hidden = np.maximum(pre, 0)
        residual = hidden @ a - y
        grad_W = X.T @ ((pre > 0) * np.outer(residual, a)) + lam * W
        grad_a = hidden.T @ residual + lam * a
        value = 0.5 * residual @ residual + 0.5 * lam * (theta @ theta)
        return value, np.concatenate([grad_W.ravel(), grad_a])

    # L-BFGS stalls at the ReLU's kinks short of stationarity. With the units' directions fixed the
    # problem in their output weights is a lasso: solve that exactly, rebalance each unit, and restart.
    for _ in range(rounds):
        result = minimize(value_and_gradient, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12})
        W = result.x[:d * r].reshape(d, r)
        norms = np.linalg.norm(W, axis=0)
        directions = W / np.where(norms > 0, norms, 1.0)
        weights = _lasso(np.maximum(X @ directions, 0), y, lam)
        W, a = directions * np.sqrt(np.abs(weights)), np.sign(weights) * np.sqrt(np.abs(weights))
        start = np.concatenate([W.ravel(), a])
    return W, a, relu_net_objective(X, y, W, a, lam)


def _lasso(features, y, lam):
    """argmin_b ½‖features b − y‖² + λ‖b‖₁, as a bound-constrained smooth problem in (b⁺, b⁻)."""
    r = features.shape[1]

    def value_and_gradient(split):
        b = split[:r] - split[r:]
        residual = features @ b - y
        grad = features.T @ residual
        return 0.5 * residual @ residual + lam * split.sum(), np.concatenate([grad + lam, -grad + lam])

    result = minimize(value_and_gradient, np.zeros(2 * r), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * r),
                      options={"maxiter": 20000, "ftol": 1e-16, "gtol": 1e-13})
    return result.x[:r] - result.x[r:]


def relu_polar(X, G):
    """The exact polar max_{‖w‖ <= 1} |Gᵀ relu(Xw)| and a unit that attains it.

    Enumerates the cells of the hyperplane arrangement {x_jᵀw = 0} through their vertices; on each
    cell the maximum of a linear function over the ball is the norm of its projection onto the
    cell's cone, found by non-negative least squares. The rows of X must be in general position
    (no d of them linearly dependent), as data with a continuous distribution are.

    Parameters
    ----------
    X : (n, d) inputs, d >= 2, rows in general position.
    G : (n,) weights on the outputs, for example the residual y − f(X).

    Returns
    -------
    value : float >= 0.
    w : (d,) unit vector with |Gᵀ relu(Xw)| = value (zero when value is 0).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> value, w = relu_polar(X, np.array([1.0, 1.0]))  # relu(w₁) + relu(w₂) is largest at w = (1, 1)/√2
    >>> round(value, 6), w.round(6).tolist()
    (1.414214, [0.707107, 0.707107])
    """
    X = _inputs(X)
    G = _targets(G, len(X), name="G")
    n, d = X.shape
    if d < 2:
        raise ValueError(f"X must have d >= 2 columns for the arrangement, got d = {d}")
    best, best_w = 0.0, np.zeros(d)
    for pattern in _cell_patterns(X):
        A = X * np.where(pattern, 1.0, -1.0)[:, None]  # the cell's cone: A w >= 0
        c = X.T @ (G * pattern)
        for sign in (1.0, -1.0):
            coefficients, _ = nnls(-A.T, sign * c, maxiter=50 * n)
            projection = sign * c + A.T @ coefficients  # the projection of sign·c onto the cone
            norm = float(np.linalg.norm(projection))
            if norm > best:
                best, best_w = norm, projection / norm
    return best, best_w


def polar_certificate(X, y, W, a, lam):
    """Haeffele and Vidal's test of global optimality for the two-layer ReLU network.

    Parameters
    ----------
    X : (n, d) inputs, rows in general position.
    y : (n,) targets.
    W : (d, r) first-layer weights, for example from :func:`fit_homogeneous_relu`.
    a : (r,) output weights.
    lam : float > 0.

    Returns
    -------
    dict with
    - "polar": the exact Ω°(G), G = y − f(X);
    - "ratio": polar / λ, at most 1 at a global minimum;
    - "scale_gap": |⟨G, f⟩ − λ Σ‖w_i‖|a_i|| / max(λ Σ‖w_i‖|a_i|, 1e-12), 0 at a stationary point;
    - "gap_bound": an upper bound on the objective minus its global minimum, at any width. By
      convex duality, v = G / max(1, ratio) satisfies Ω°(v) <= λ, so yᵀv − ½‖v‖² is a lower bound
      on the minimum of the convex problem over all widths, which is at most the minimum at any
      finite width;
    - "unit": a unit of norm one that attains the polar, the direction to add when ratio > 1.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> zero = polar_certificate(X, np.array([1.0, 0.0, 1.0]), np.zeros((2, 1)), np.zeros(1), lam=5.0)
    >>> zero["ratio"] < 1 and zero["gap_bound"] == 0.0  # λ above the polar of y: zero is optimal
    True
    """
    nonnegative("lam", lam, strict=True)
    X, W, a = _network(X, W, a)
    y = _targets(y, len(X))
    outputs = relu_net_outputs(X, W, a)
    G = y - outputs
    polar, unit = relu_polar(X, G)
    penalty = lam * float(np.sum(np.linalg.norm(W, axis=0) * np.abs(a)))
    scale_gap = abs(float(G @ outputs) - penalty) / max(penalty, 1e-12)
    dual_point = G / max(1.0, polar / lam)
    dual_value = float(y @ dual_point - 0.5 * dual_point @ dual_point)
    gap = 0.5 * float(G @ G) + penalty - dual_value
    return {"polar": polar, "ratio": polar / lam, "scale_gap": scale_gap, "gap_bound": max(gap, 0.0), "unit": unit}


def spectral_certificate(X, U, V, lam):
    """The polar test for matrix factorisation, ½‖X − UVᵀ‖²_F + (λ/2)(‖U‖²_F + ‖V‖²_F): the polar of
    the nuclear norm is the spectral norm, so a stationary point is a global minimum exactly when
    ‖X − UVᵀ‖₂ <= λ.

    Parameters
    ----------
    X : (n, m) data.
    U : (n, r) left factor.
    V : (m, r) right factor.
    lam : float > 0.

    Returns
    -------
    float, ‖X − UVᵀ‖₂ / λ.

    Examples
    --------
    >>> X = np.diag([3.0, 0.5])
    >>> round(spectral_certificate(X, np.array([[np.sqrt(2)], [0.0]]), np.array([[np.sqrt(2)], [0.0]]), 1.0), 9)
    1.0
    """
    nonnegative("lam", lam, strict=True)
    X, U, V = (np.asarray(m, dtype=float) for m in (X, U, V))
    if X.ndim != 2 or U.shape != (X.shape[0], U.shape[-1]) or V.shape != (X.shape[1], U.shape[-1]):
        raise ValueError(f"U must be ({X.shape[0] if X.ndim == 2 else '?'}, r) and V "
                         f"({X.shape[1] if X.ndim == 2 else '?'}, r) for X {X.shape}, got {U.shape} and {V.shape}")
    return float(np.linalg.norm(X - U @ V.T, 2) / lam)


def _cell_patterns(X):
    """The activation patterns (n,) bool of every full-dimensional cell of the arrangement."""
    n, d = X.shape
    seen = set()
    for subset in itertools.combinations(range(n), d - 1):
        vertex = np.linalg.svd(X[list(subset)])[2][-1]  # the line where these d − 1 hyperplanes meet
        others = np.setdiff1d(np.arange(n), subset)
        for direction in (vertex, -vertex):
            side = X[others] @ direction > 0
            for signs in itertools.product((False, True), repeat=d - 1):
                pattern = np.empty(n, dtype=bool)
                pattern[others], pattern[list(subset)] = side, signs
                key = pattern.tobytes()
                if key not in seen:
                    seen.add(key)
                    yield pattern


def _inputs(X):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) == 0 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite (n, d) array, got shape {X.shape}")
    return X


def _targets(y, n, name="y"):
    y = np.asarray(y, dtype=float)
    if y.shape != (n,) or not np.all(np.isfinite(y)):
        raise ValueError(f"{name} must be a finite ({n},) array, got shape {y.shape}")
    return y


def _network(X, W, a):
    X = _inputs(X)
    W, a = np.asarray(W, dtype=float), np.asarray(a, dtype=float)
    if W.ndim != 2 or W.shape[0] != X.shape[1] or a.shape != (W.shape[1],):
        raise ValueError(f"W must be ({X.shape[1]}, r) and a (r,), got {W.shape} and {a.shape}")
    return X, W, a
