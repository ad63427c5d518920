"""Over-parameterisation: random features fitted by least squares (the "rand" baseline of Nguyen
and Hein), the rank of a layer's features, and magnitude pruning (Han et al. 2016).

Nguyen and Hein (2017, 2018) show that a layer at least as wide as the number of training points
N has full-rank features for almost all weights, and then every critical point of the loss in
the remaining layers is global: with N linearly independent features, least squares on top of
them fits *any* targets exactly.
"""

import copy

import torch
from torch import nn

from .checks import nonnegative, positive_int
from .nets import ACTIVATIONS


def random_features(width, activation, d_in, seed=0):
    """A random hidden layer Linear(d_in, width) + activation, drawn as PyTorch's default
    initialisation with a fixed seed, frozen."""
    positive_int("width", width)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    torch.manual_seed(seed)
    layer = nn.Sequential(nn.Linear(d_in, width), ACTIVATIONS[activation]())
    return layer.requires_grad_(False)


def random_features_fit(width, activation, X, y, seed=0, classes=None):
    """Fit the output layer on frozen random features by least squares.

    Parameters
    ----------
    width : int, number of random features; activation : a name from ``nets.ACTIVATIONS``.
    X : (N, d) float tensor; y : (N,) int labels (fitted as one-hot targets) or (N, k) targets.
    seed : fixes the random layer; classes : number of classes for labels (default max + 1).

    Returns
    -------
    (model, train_residual): an ``nn.Sequential(features, Linear(width, k))`` whose output layer
    is the minimum-norm least-squares solution (with a bias), and the largest absolute residual
    on the training targets (0 up to rounding when the features have rank N).
    """
    if X.dim() != 2 or len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X must be (N, d) with N >= 1 and y must have N rows, got {tuple(X.shape)} "
                         f"and {tuple(y.shape)}")
    targets = nn.functional.one_hot(y.long(), classes or int(y.max()) + 1).double() if y.dim() == 1 else y.double()
    features = random_features(width, activation, X.shape[1], seed)
    with torch.no_grad():
        phi = torch.cat([features(X).double(), torch.ones(len(X), 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(phi, targets, driver="gelsd").solution  # minimum norm
    head = nn.Linear(width, targets.shape[1])
    with torch.no_grad():
        head.weight.copy_(solution[:-1].T)
        head.bias.copy_(solution[-1])
    residual = float((phi @ solution - targets).abs().max())
    return nn.Sequential(*features, head), residual


def feature_rank(model, X, layer=-2, tol=None):
    """Rank of the (N, width) feature matrix that ``model[: layer + 1]`` produces on X, with
    NumPy's default tolerance (or ``tol``)."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    with torch.no_grad():
        features = model[: layer + 1 if layer >= 0 else len(model) + layer + 1](X).double()
    return int(torch.linalg.matrix_rank(features, atol=tol) if tol is not None else torch.linalg.matrix_rank(features))


def prune_by_magnitude(model, fraction):
    """A copy of ``model`` with the smallest ``fraction`` of its weights set to zero.

    The threshold is global over the weight matrices and kernels (parameters with dim >= 2);
    biases are kept, as Han et al. (2016) do. Returns (pruned model, fraction actually removed).
    """
    nonnegative("fraction", fraction)
    if fraction >= 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    pruned = copy.deepcopy(model)
    weights = [p for p in pruned.parameters() if p.dim() >= 2]
    if not weights:
        raise ValueError("the model has no weight matrices to prune")
    magnitudes = torch.cat([p.detach().abs().flatten() for p in weights])
    k = int(fraction * len(magnitudes))
    if k == 0:
        return pruned, 0.0
    threshold = magnitudes.kthvalue(k).values
    removed = 0
    with torch.no_grad():
        for p in weights:
            mask = p.abs() <= threshold
            removed += int(mask.sum())
            p[mask] = 0
    return pruned, removed / len(magnitudes)
