"""Chapter 12, global optimality and dropout.

Matrix factorisation, the teaching case of global optimality (Haeffele and Vidal 2015, 2017)
and of dropout as a low-rank regulariser (Cavazza et al. 2018).

- Weight decay on the factors, (λ/2)(‖U‖²_F + ‖V‖²_F), is the nuclear norm λ‖UVᵀ‖_* in
  disguise: once the number of columns r reaches the rank of the convex optimum, the
  factorised problem has the same optimal value, and a local search finds it.
- Dropout on the r columns, with retain probability θ, adds in expectation
  ((1 − θ)/θ) Σ_i ‖u_i‖²‖v_i‖², a regulariser on products of weights, whose minimum over the
  factorisations of A is ((1 − θ)/(θ r))‖A‖_*²; the optimum is a singular value thresholding
  with a threshold that depends on the data.
"""

import numpy as np
from scipy.optimize import minimize

from ..checks import nonnegative, positive_int
from .. import repro

__all__ = ["nuclear_norm_solution", "factorized_objective", "factorized_solution", "dropout_objective",
           "dropout_loss_sample", "dropout_threshold", "dropout_solution", "equalising_rotation", "dropout_sgd"]


def nuclear_norm_solution(X, lam):
    """The convex optimum of ½‖X − A‖²_F + λ‖A‖_*: singular value soft-thresholding at λ.

    Parameters
    ----------
    X : (n, m) non-empty 2-D array.
    lam : float >= 0.

    Returns
    -------
    A : (n, m) array; value : float.

    Examples
    --------
    >>> A, value = nuclear_norm_solution(np.diag([3.0, 0.5]), 1.0)
    >>> A.round(6).tolist(), round(float(value), 6)
    ([[2.0, 0.0], [0.0, 0.0]], 2.625)
    """
    X = _matrix(X)
    nonnegative("lam", lam)
    W, s, Zt = np.linalg.svd(X, full_matrices=False)
    shrunk = np.maximum(s - lam, 0)
    A = (W * shrunk) @ Zt
    return A, 0.5 * np.sum((X - A) ** 2) + lam * shrunk.sum()


def factorized_objective(X, U, V, lam):
    """½‖X − UVᵀ‖²_F + (λ/2)(‖U‖²_F + ‖V‖²_F).

    Parameters
    ----------
    X : (n, m) array.
    U, V : (n, r) and (m, r) arrays.
    lam : float >= 0.

    Returns
    -------
    float.
    """
    X, U, V = (np.asarray(a, dtype=float) for a in (X, U, V))
    if X.ndim != 2 or U.shape != (X.shape[0], U.shape[-1]) or V.shape != (X.shape[1], U.shape[-1]):
        raise ValueError(f"U must be ({X.shape[0]}, r) and V ({X.shape[1] if X.ndim == 2 else '?'}, r) for X "
                         f"{X.shape}, got {U.shape} and {V.shape}")
    nonnegative("lam", lam)
    return 0.5 * np.sum((X - U @ V.T) ** 2) + 0.5 * lam * (np.sum(U ** 2) + np.sum(V ** 2))


def factorized_solution(X, lam, r, seed=0, history=None):
    """A local search (L-BFGS from a small random start) on :func:`factorized_objective`.

    Parameters
    ----------
    X : (n, m) array.
    lam : float >= 0.
    r : int >= 1, the factors' width.
    seed : int, fixes the start.
    history : list or None; if a list, the objective after every iteration is appended to it.

    Returns
    -------
    U : (n, r) array; V : (m, r) array; value : float.
    """
    X = _matrix(X)
    nonnegative("lam", lam)
    positive_int("r", r)
    n, m = X.shape
    rng = repro.numpy_rng(seed)
    start = rng.normal(scale=0.1, size=(n + m) * r)

    def split(theta):
        return theta[:n * r].reshape(n, r), theta[n * r:].reshape(m, r)

    def value_and_gradient(theta):
        U, V = split(theta)
        R = U @ V.T - X
        return factorized_objective(X, U, V, lam), np.concatenate([(R @ V + lam * U).ravel(),
                                                                  (R.T @ U + lam * V).ravel()])

    callback = None if history is None else (lambda theta: history.append(value_and_gradient(theta)[0]))
    result = minimize(value_and_gradient, start, jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10})
    U, V = split(result.x)
    return U, V, factorized_objective(X, U, V, lam)


def dropout_objective(X, U, V, retain_prob):
    """The expected dropout loss E_r ‖X − (1/θ) U diag(r) Vᵀ‖²_F with r_i ~ Bernoulli(θ):
    ‖X − UVᵀ‖²_F + ((1 − θ)/θ) Σ_i ‖u_i‖²‖v_i‖².

    Parameters
    ----------
    X : (n, m) array.
    U, V : (n, r) and (m, r) arrays.
    retain_prob : float in (0, 1], θ.

    Returns
    -------
    float.
    """
    theta = _retain(retain_prob)
    X, U, V = _matrix(X), np.asarray(U, float), np.asarray(V, float)
    if U.shape[1] != V.shape[1] or U.shape[0] != X.shape[0] or V.shape[0] != X.shape[1]:
        raise ValueError(f"U must be ({X.shape[0]}, r) and V ({X.shape[1]}, r), got {U.shape} and {V.shape}")
    products = np.sum(U ** 2, 0) * np.sum(V ** 2, 0)
    return np.sum((X - U @ V.T) ** 2) + (1 - theta) / theta * products.sum()


def dropout_loss_sample(X, U, V, retain_prob, rng):
    """One draw of the dropout loss ‖X − (1/θ) U diag(r) Vᵀ‖²_F, for Monte Carlo checks.

    Parameters
    ----------
    X : (n, m) array.
    U, V : (n, r) and (m, r) arrays.
    retain_prob : float in (0, 1], θ.
    rng : numpy Generator that draws r_i ~ Bernoulli(θ).

    Returns
    -------
    float.
    """
    theta = _retain(retain_prob)
    keep = rng.random(U.shape[1]) < theta
    return np.sum((X - (U * keep) @ V.T / theta) ** 2)


def dropout_threshold(singular_values, retain_prob, r):
    """The data-dependent threshold μ of the dropout solution, and how many singular values stay.

    With λ = (1 − θ)/θ, minimising Σ_i (σ_i − a_i)² + (λ/r)(Σ_i a_i)² over a_i >= 0 keeps the k
    largest σ_i, shrunk to σ_i − μ with μ = λ Σ_{i<=k} σ_i / (r + λk), for the largest k <= r
    with σ_k > μ(k).

    Parameters
    ----------
    singular_values : 1-D array.
    retain_prob : float in (0, 1], θ.
    r : int >= 1.

    Returns
    -------
    mu : float.
    k : int, the singular values kept.
    """
    positive_int("r", r)
    lam = (1 - _retain(retain_prob)) / retain_prob
    s = np.sort(np.asarray(singular_values, float))[::-1]
    best = (0.0, 0)
    for k in range(1, min(r, len(s)) + 1):
        mu = lam * s[:k].sum() / (r + lam * k)
        if s[k - 1] > mu:
            best = (mu, k)
    return best


def dropout_solution(X, retain_prob, r):
    """The closed-form minimiser of :func:`dropout_objective` over U (n, r), V (m, r)
    (Cavazza et al. 2018): A = SVT with the threshold of :func:`dropout_threshold`, factorised
    so that every column pair carries the same ‖u_i‖‖v_i‖ = ‖A‖_*/r, which makes the
    regulariser equal its lower bound ‖A‖_*²/r.

    Parameters
    ----------
    X : (n, m) array.
    retain_prob : float in (0, 1], θ.
    r : int >= 1, the factors' width.

    Returns
    -------
    U : (n, r) array; V : (m, r) array; value : float, the objective there.
    """
    X = _matrix(X)
    positive_int("r", r)
    W, s, Zt = np.linalg.svd(X, full_matrices=False)
    mu, k = dropout_threshold(s, retain_prob, r)
    a = np.zeros(r)
    a[:k] = s[:k] - mu
    root = np.sqrt(a)
    U0 = np.zeros((X.shape[0], r))
    V0 = np.zeros((X.shape[1], r))
    U0[:, :k], V0[:, :k] = W[:, :k] * root[:k], Zt[:k].T * root[:k]
    Q = equalising_rotation(a)
    U, V = U0 @ Q, V0 @ Q
    return U, V, dropout_objective(X, U, V, retain_prob)


def dropout_sgd(X, retain_prob, r, seed=0, *, steps=20_000, lr=0.05, decay_steps=500, init_scale=0.1):
    """Dropout trained: SGD on U and V with a fresh Bernoulli mask over the r columns at every step.

    Each step draws keep_i ~ Bernoulli(θ) and takes a gradient step on ‖X − (1/θ) U diag(keep) Vᵀ‖²_F,
    whose expectation is :func:`dropout_objective`. The step size lr_t = lr / (‖X‖₂ (1 + t/decay_steps))
    decays, so that the mask's noise averages out, and is scaled by the data's spectral norm, so that
    the defaults converge for any scale of X.

    Parameters
    ----------
    X : (n, m) array.
    retain_prob : float in (0, 1], θ.
    r : int >= 1, the factors' width.
    seed : int, fixes the start and the masks.
    steps : int >= 1.
    lr : float > 0, the initial step in units of 1/‖X‖₂.
    decay_steps : int >= 1.
    init_scale : float > 0, the start's standard deviation.

    Returns
    -------
    U : (n, r) array; V : (m, r) array.

    Examples
    --------
    >>> X = np.diag([3.0, 1.0, 0.0])
    >>> U, V = dropout_sgd(X, 0.5, 2)
    >>> s = np.linalg.svd(U @ V.T, compute_uv=False)  # the closed form keeps 2.0, then zeros
    >>> bool(abs(s[0] - 2.0) < 0.1 and s[1] < 0.05)
    True
    """
    X = _matrix(X)
    theta = _retain(retain_prob)
    positive_int("r", r)
    positive_int("steps", steps)
    positive_int("decay_steps", decay_steps)
    nonnegative("lr", lr, strict=True)
    nonnegative("init_scale", init_scale, strict=True)
    rng = repro.numpy_rng(seed)
    U = rng.normal(scale=init_scale, size=(X.shape[0], r))
    V = rng.normal(scale=init_scale, size=(X.shape[1], r))
    scale = np.linalg.norm(X, 2) or 1.0
    for t in range(steps):
        keep = (rng.random(r) < theta) / theta
        grad_U, grad_V = _dropout_gradients(X, U, V, keep)
        step = lr / scale / (1 + t / decay_steps)
        U, V = U - step * grad_U, V - step * grad_V
    return U, V


def _dropout_gradients(X, U, V, keep):
    """Gradients of ‖X − U diag(keep) Vᵀ‖²_F with respect to U and V (keep already divided by θ)."""
    residual = (U * keep) @ V.T - X
    return 2 * residual @ (V * keep), 2 * residual.T @ (U * keep)


def equalising_rotation(weights):
    """An orthogonal Q (r, r) such that diag(Qᵀ diag(weights) Q) is constant, equal to the mean
    weight: at most r − 1 plane rotations, each of which sets one diagonal entry to the mean
    (the constructive step of the Schur–Horn theorem).

    Parameters
    ----------
    weights : (r,) numbers >= 0.

    Returns
    -------
    (r, r) orthogonal array.

    Examples
    --------
    >>> Q = equalising_rotation([3.0, 1.0])
    >>> np.diag(Q.T @ np.diag([3.0, 1.0]) @ Q).round(6).tolist()
    [2.0, 2.0]
    """
    weights = np.asarray(weights, float)
    if weights.ndim != 1 or len(weights) == 0 or (weights < 0).any():
        raise ValueError(f"weights must be a non-empty 1-D array of numbers >= 0, got {weights.tolist()}")
    M = np.diag(weights)
    r = len(M)
    Q = np.eye(r)
    target = np.trace(M) / r
    for _ in range(r - 1):
        diag = np.diag(M)
        above, below = int(np.argmax(diag)), int(np.argmin(diag))
        if diag[above] - target < 1e-15 * max(1.0, target):
            break
        lo, hi = 0.0, np.pi / 2  # rotating by φ moves M[below, below] from its value to M[above, above]
        for _ in range(100):
            phi = (lo + hi) / 2
            if _rotated(M, below, above, phi)[below, below] < target:
                lo = phi
            else:
                hi = phi
        G = _givens(r, below, above, (lo + hi) / 2)
        M, Q = G.T @ M @ G, Q @ G
    return Q


def _givens(r, i, j, phi):
    G = np.eye(r)
    c, s = np.cos(phi), np.sin(phi)
    G[i, i], G[j, j], G[i, j], G[j, i] = c, c, -s, s
    return G


def _rotated(M, i, j, phi):
    G = _givens(len(M), i, j, phi)
    return G.T @ M @ G


def _matrix(X):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.size == 0:
        raise ValueError(f"X must be a non-empty 2-D matrix, got shape {X.shape}")
    return X


def _retain(retain_prob):
    if not 0 < retain_prob <= 1:
        raise ValueError(f"retain_prob must be in (0, 1], got {retain_prob!r}")
    return float(retain_prob)
