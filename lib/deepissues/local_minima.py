"""Chapter 02, loss surfaces.

Exponentially many local minima for a single neuron (Auer, Herbster and Warmuth 1996).

A logistic neuron without bias, σ(w·x), fitted with the square loss. Put n examples on each
coordinate axis at x = exp(spacing·t)·e_j (t = 0..n−1), all with target 0.8. The example at
scale s touches only w_j, and its loss (σ(s w_j) − 0.8)² has its dip at w_j = logit(0.8)/s:
the dips sit at different places on a log scale, plateaus lie in between, and the total loss
separates across coordinates. With the dips far enough apart, every combination of one dip per
coordinate is a local minimum: n^d of them.
"""

import itertools

import numpy as np
import torch

from .checks import nonnegative, positive_int

__all__ = ["auer_dataset", "neuron_loss", "auer_local_minima", "predicted_minima"]

TARGET = 0.8


def auer_dataset(n_per_axis, d, spacing):
    """The construction's examples: n_per_axis examples on each axis, x = exp(spacing·t)·e_j, all
    with target 0.8.

    Parameters
    ----------
    n_per_axis : int >= 1.
    d : int >= 1, the dimension.
    spacing : float > 0, the log-distance between consecutive examples on an axis.

    Returns
    -------
    X : (n_per_axis·d, d) float64 tensor.
    y : (n_per_axis·d,) float64 tensor.
    """
    positive_int("n_per_axis", n_per_axis)
    positive_int("d", d)
    nonnegative("spacing", spacing, strict=True)
    scales = np.exp(spacing * np.arange(n_per_axis))
    X = np.concatenate([np.outer(scales, np.eye(d)[j]) for j in range(d)])
    return torch.from_numpy(X), torch.full((len(X),), TARGET, dtype=torch.float64)


def neuron_loss(w, X, y):
    """Square loss Σ_i (σ(w·x_i) − y_i)² of the bias-free logistic neuron.

    Parameters
    ----------
    w : (..., d) tensor or array of weights (any leading shape: a grid of them).
    X : (n, d) tensor.
    y : (n,) tensor.

    Returns
    -------
    (...,) float64 tensor.
    """
    w = torch.as_tensor(w, dtype=torch.float64)
    if X.dim() != 2 or w.shape[-1] != X.shape[1] or len(y) != len(X):
        raise ValueError(f"w must be (..., d), X (n, d) and y (n,), got {tuple(w.shape)}, {tuple(X.shape)} and "
                         f"{tuple(y.shape)}")
    return ((torch.sigmoid(w @ X.T) - y) ** 2).sum(-1)


def auer_local_minima(X, y, log_grid):
    """Strict local minima of :func:`neuron_loss` on the product grid exp(log_grid)^d: the grid points
    whose loss is below that of all 3^d − 1 neighbours (the grid's edge excluded).

    Parameters
    ----------
    X, y : (n, d) and (n,) tensors (from :func:`auer_dataset`).
    log_grid : increasing 1-D array of at least 3 values, the grid of log w_j on every axis.

    Returns
    -------
    list of (d,) NumPy arrays, the weight vectors.
    """
    log_grid = np.asarray(log_grid, dtype=float)
    if log_grid.ndim != 1 or len(log_grid) < 3 or np.any(np.diff(log_grid) <= 0):
        raise ValueError("log_grid must be an increasing 1-D array of at least 3 values")
    X = torch.as_tensor(X, dtype=torch.float64)
    if X.dim() != 2 or len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X must be (N, d) with N >= 1 rows and y (N,), got {tuple(X.shape)} and {len(y)}")
    d, g = X.shape[1], len(log_grid)
    axes = np.meshgrid(*[np.exp(log_grid)] * d, indexing="ij")
    w = torch.from_numpy(np.stack(axes, -1))
    loss = neuron_loss(w, X, torch.as_tensor(y, dtype=torch.float64)).numpy()
    inner = tuple(slice(1, g - 1) for _ in range(d))
    centre = loss[inner]
    strict = np.ones_like(centre, dtype=bool)
    for shift in itertools.product((-1, 0, 1), repeat=d):
        if any(shift):
            neighbour = loss[tuple(slice(1 + s, g - 1 + s) for s in shift)]
            strict &= centre < neighbour
    return [np.exp(log_grid[np.array(idx) + 1]) for idx in zip(*np.nonzero(strict))]


def predicted_minima(n_examples, d):
    """The construction's count: ⌊n/d⌋ examples per axis give ⌊n/d⌋^d minima.

    Parameters
    ----------
    n_examples : int >= 1.
    d : int >= 1.

    Returns
    -------
    int.

    Examples
    --------
    >>> predicted_minima(10, 2)
    25
    """
    positive_int("n_examples", n_examples)
    positive_int("d", d)
    return (n_examples // d) ** d
