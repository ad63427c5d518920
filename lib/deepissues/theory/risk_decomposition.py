"""Chapter 11, the error decomposition.

The error decomposition of the tutorial's introduction, measured where every term is known.

With the expected loss f(W) = E ℓ(Y, Φ(X, W)), its minimiser W* over the model class, the
minimiser W_N* of the empirical loss on N samples and the weights W_N an optimiser returns,

    f(W_N) − f(Φ*) = [f(W*) − f(Φ*)] + [f(W_N*) − f(W*)] + [f(W_N) − f(W_N*)]
                     approximation      generalisation       optimisation

For a deep network neither W* nor W_N* can be computed. Here the model class is linear in its
weights on top of fixed features (for example a frozen random ReLU layer), with the squared loss,
so both minimisers are least-squares solutions, the teacher Φ* is known, and inputs are standard
Gaussian, so the expected loss is a sample average over as many fresh inputs as one likes.
"""

import numpy as np

from ..checks import nonnegative, positive_int
from .. import repro

__all__ = ["random_relu_features", "tanh_teacher", "least_squares_gradient_descent", "error_decomposition"]


def random_relu_features(d_in, width, seed=0, bias_std=0.3):
    """A frozen random ReLU layer x ↦ max(0, xA + b), A (d_in, width) with N(0, 1/d_in) entries and b
    with N(0, bias_std²) entries.

    Small biases keep every unit active on a good share of the inputs: a unit that fires on only
    a handful of training points makes the least-squares fit unstable, and one such draw then
    dominates an average of generalisation errors. The classes are nested: for one seed, the first
    k features are the same at every width >= k, so a wider model can do everything a narrower one
    can.

    Parameters
    ----------
    d_in : int >= 1.
    width : int >= 1.
    seed : int.
    bias_std : float >= 0.

    Returns
    -------
    callable from (N, d_in) to (N, width).
    """
    positive_int("d_in", d_in)
    positive_int("width", width)
    rng = repro.numpy_rng(seed)
    units = [(rng.normal(scale=1 / np.sqrt(d_in), size=d_in), bias_std * rng.normal()) for _ in range(width)]
    A, b = np.stack([a for a, _ in units], 1), np.array([c for _, c in units])
    return lambda x: np.maximum(_inputs(x, d_in) @ A + b, 0)


def tanh_teacher(d_in, width=20, seed=0):
    """A fixed random one-hidden-layer tanh network, normalised to unit output variance on standard
    Gaussian inputs.

    Parameters
    ----------
    d_in : int >= 1.
    width : int >= 1.
    seed : int.

    Returns
    -------
    callable from (N, d_in) to (N,).
    """
    positive_int("d_in", d_in)
    positive_int("width", width)
    rng = repro.numpy_rng(seed)
    A, b, v = rng.normal(size=(d_in, width)) / np.sqrt(d_in), rng.normal(size=width), rng.normal(size=width)
    scale = np.std(np.tanh(rng.normal(size=(20000, d_in)) @ A + b) @ v)
    return lambda x: np.tanh(_inputs(x, d_in) @ A + b) @ v / scale


def least_squares_gradient_descent(phi, y, steps, lr=None):
    """Full-batch gradient descent on the mean squared error ‖phi w − y‖²/N from w = 0.

    Parameters
    ----------
    phi : (N, p) tensor of features.
    y : (N,) tensor of targets.
    steps : int >= 0.
    lr : float > 0 or None: 1/L, L = 2 λ_max(phiᵀphi/N) being the gradient's Lipschitz constant.

    Returns
    -------
    (p,) tensor, w.
    """
    phi, y = np.asarray(phi, dtype=float), np.asarray(y, dtype=float)
    if phi.ndim != 2 or y.shape != (len(phi),):
        raise ValueError(f"phi must be (N, p) and y (N,), got {phi.shape} and {y.shape}")
    positive_int("steps", steps, least=0)
    hessian = 2 * phi.T @ phi / len(phi)
    lr = 1 / np.linalg.eigvalsh(hessian)[-1] if lr is None else nonnegative("lr", lr, strict=True)
    w, target = np.zeros(phi.shape[1]), 2 * phi.T @ y / len(phi)
    for _ in range(steps):
        w -= lr * (hessian @ w - target)
    return w


def error_decomposition(teacher, features, n_train, *, d_in, noise=0.1, steps=100, lr=None,
                        n_population=20000, repeats=1, seed=0):
    """The three error terms of the tutorial for a model linear on fixed features.

    Parameters
    ----------
    teacher : callable (N, d_in) -> (N,), the target Φ*; labels are Φ*(x) + noise · N(0, 1).
    features : callable (N, d_in) -> (N, p); the model is x ↦ features(x) · w (add a constant
        feature for an intercept).
    n_train : int >= 1, the number N of training samples.
    d_in : int >= 1, the input dimension (keyword only).
    noise : float >= 0, the label noise; f(Φ*) = noise² is the Bayes error.
    steps : int >= 0, None or a list of ints >= 0; full-batch gradient descent from w = 0 for this
        many steps gives W_N (see :func:`least_squares_gradient_descent`); None takes W_N = W_N*, an
        exact optimiser. A list gives the terms at each of its step counts, read off one run of
        gradient descent on the same samples (the same numbers as one call per count).
    lr : float > 0 or None (1/L).
    n_population : int, fresh inputs for fitting W* and, separately, for each expected loss.
    repeats : int >= 1, average the terms over this many independent draws (seeds seed,
        seed + 1, ...), to estimate their expectations over the training set.
    seed : int, fixes the samples.

    Returns
    -------
    dict of floats: "bayes" f(Φ*), "approximation", "generalisation", "optimisation" (which is
    negative when stopping early generalises better than the empirical minimiser), "total" f(W_N)
    (their sum) and "train" the empirical loss of W_N. W_N* is the minimum-norm minimiser when
    p > N. For a list of ``steps``, a list of such dicts, one per step count.
    """
    positive_int("n_train", n_train)
    positive_int("n_population", n_population, least=2)
    positive_int("repeats", repeats)
    positive_int("d_in", d_in)
    nonnegative("noise", noise)
    path = isinstance(steps, (list, tuple))
    if path:
        if not steps:
            raise ValueError("steps must be an int >= 0, None or a non-empty list of ints >= 0, got []")
        for s in steps:
            positive_int("steps", s, least=0)
    elif steps is not None:
        positive_int("steps", steps, least=0)
    counts = list(steps) if path else [steps]
    runs = [_decompose(teacher, features, n_train, d_in, noise, counts, lr, n_population, seed + k)
            for k in range(repeats)]
    terms = [{term: float(np.mean([run[i][term] for run in runs])) for term in runs[0][i]} for i in range(len(counts))]
    return terms if path else terms[0]


def _gradient_descent_path(phi, y, counts, lr):
    """The iterates of :func:`least_squares_gradient_descent` after each of ``counts`` steps, from
    one run."""
    hessian = 2 * phi.T @ phi / len(phi)
    lr = 1 / np.linalg.eigvalsh(hessian)[-1] if lr is None else nonnegative("lr", lr, strict=True)
    w, target, done, iterates = np.zeros(phi.shape[1]), 2 * phi.T @ y / len(phi), 0, {}
    for count in sorted(set(counts)):
        for _ in range(count - done):
            w -= lr * (hessian @ w - target)
        done, iterates[count] = count, w.copy()
    return [iterates[count] for count in counts]


def _decompose(teacher, features, n_train, d_in, noise, counts, lr, n_population, seed):
    rng = repro.numpy_rng(seed)

    def sample(n):
        x = rng.normal(size=(n, d_in))
        clean = np.asarray(teacher(x), dtype=float)
        if clean.shape != (n,):
            raise ValueError(f"teacher must map (N, d_in) to (N,), got {clean.shape} for N={n}")
        phi = np.asarray(features(x), dtype=float)
        if phi.ndim != 2 or len(phi) != n:
            raise ValueError(f"features must map (N, d_in) to (N, p), got {phi.shape} for N={n}")
        return phi, clean, clean + noise * rng.normal(size=n)

    phi_fit, clean_fit, _ = sample(n_population)
    phi_eval, clean_eval, _ = sample(n_population)
    phi_train, _, y_train = sample(n_train)
    # with zero-mean noise independent of x, f(w) = E (φ(x)·w − Φ*(x))² + noise², so the noise
    # enters each expected loss exactly and only the clean part is estimated
    expected = lambda w: float(np.mean((phi_eval @ w - clean_eval) ** 2) + noise ** 2)
    best_in_class = np.linalg.lstsq(phi_fit, clean_fit, rcond=None)[0]
    empirical_min = np.linalg.lstsq(phi_train, y_train, rcond=None)[0]
    if counts == [None]:
        iterates = [empirical_min]
    else:
        iterates = _gradient_descent_path(phi_train, y_train, counts, lr)
    f_star, f_n_star = expected(best_in_class), expected(empirical_min)
    return [{"bayes": noise ** 2, "approximation": f_star - noise ** 2, "generalisation": f_n_star - f_star,
             "optimisation": expected(w) - f_n_star, "total": expected(w),
             "train": float(np.mean((phi_train @ w - y_train) ** 2))} for w in iterates]


def _inputs(x, d_in):
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"inputs must be (N, {d_in}), got {x.shape}")
    return x
