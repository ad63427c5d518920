"""Chapters 03 and 04, overparameterisation and generalisation.

Over-parameterisation: random features fitted by least squares (the "rand" baseline of Nguyen
and Hein), the rank of a layer's features, and magnitude pruning (Han et al. 2016).

Nguyen and Hein (2017, 2018) show that a layer at least as wide as the number of training points
N has full-rank features for almost all weights, and then every critical point of the loss in
the remaining layers is global: with N linearly independent features, least squares on top of
them fits *any* targets exactly.
"""

import copy

import torch
from torch import nn

from .checks import nonnegative, one_of, positive_int
from .nets import ACTIVATIONS
from . import repro

__all__ = ["random_features", "random_features_fit", "feature_singular_values", "feature_rank",
           "prune_by_magnitude", "SkipNet", "fit_output_layer"]


def random_features(width, activation, d_in, seed=0):
    """A random hidden layer Linear(d_in, width) + activation, drawn as PyTorch's default
    initialisation with a fixed seed, frozen.

    Parameters
    ----------
    width : int >= 1.
    activation : a name from ``nets.ACTIVATIONS``.
    d_in : int >= 1.
    seed : int.

    Returns
    -------
    nn.Sequential without gradients.
    """
    positive_int("width", width)
    one_of("activation", activation, ACTIVATIONS)
    with repro.seeded(seed):  # a fixed draw that leaves the caller's random state alone
        layer = nn.Sequential(nn.Linear(d_in, width), ACTIVATIONS[activation]())
    return layer.requires_grad_(False)


def random_features_fit(width, activation, X, y, seed=0, classes=None):
    """Fit the output layer on frozen random features by least squares.

    Parameters
    ----------
    width : int >= 1, the number of random features.
    activation : a name from ``nets.ACTIVATIONS``.
    X : (N, d) float tensor.
    y : (N,) int labels (fitted as one-hot targets) or (N, k) targets.
    seed : int, fixes the random layer.
    classes : int or None, the number of classes for labels (default max + 1).

    Returns
    -------
    model : ``nn.Sequential(features, Linear(width, k))`` whose output layer is the minimum-norm
        least-squares solution (with a bias).
    train_residual : float, the largest absolute residual on the training targets (0 up to
        rounding when the features have rank N).
    """
    if X.dim() != 2 or len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X must be (N, d) with N >= 1 and y must have N rows, got {tuple(X.shape)} "
                         f"and {tuple(y.shape)}")
    targets = _targets(y, classes)
    features = random_features(width, activation, X.shape[1], seed)
    with torch.random.fork_rng():  # its initial values are overwritten, so draw nothing globally
        head = nn.Linear(width, targets.shape[1])
    with torch.no_grad():
        residual = _least_squares_into(head, features(X), targets)
    return nn.Sequential(*features, head), residual


def _targets(y, classes):
    return nn.functional.one_hot(y.long(), classes or int(y.max()) + 1).double() if y.dim() == 1 else y.double()


def _least_squares_into(head, features, targets):
    """Set the Linear layer ``head`` to the minimum-norm least-squares fit of ``targets`` on
    ``features`` (with a bias); return the largest absolute residual."""
    phi = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(phi, targets, driver="gelsd").solution
    head.weight.copy_(solution[:-1].T)
    head.bias.copy_(solution[-1])
    return float((phi @ solution - targets).abs().max())


def feature_singular_values(model, X, layer=-2):
    """Singular values, largest first, of the (N, width) feature matrix that ``model[: layer + 1]``
    produces on X, computed in float64.

    The features come from a float64 copy of the model, not from the model itself: at the
    interpolation threshold (width N) the smallest singular value of a random softplus layer on
    the digits is about 3e-8 of the largest, below float32's resolution (1.2e-7), so float32
    features would bury it in rounding noise.

    Parameters
    ----------
    model : nn.Sequential.
    X : (N, d) tensor.
    layer : int, the index of the last layer that makes the features.

    Returns
    -------
    (min(N, width),) float64 tensor.
    """
    return torch.linalg.svdvals(_features64(model, X, layer))


def feature_rank(model, X, layer=-2, tol=None):
    """Rank of the (N, width) feature matrix that ``model[: layer + 1]`` produces on X.

    The features are computed in float64 (see ``feature_singular_values``). A singular value
    counts when it exceeds ``tol``: by default NumPy's ``σ_max · max(N, width) · eps`` with
    float64's eps, the rounding level of float64 features.

    Parameters
    ----------
    model : nn.Sequential.
    X : (N, d) tensor.
    layer : int, the index of the last layer that makes the features.
    tol : float >= 0 or None.

    Returns
    -------
    int.

    Examples
    --------
    >>> from deepissues import data
    >>> linear = nn.Sequential(nn.Linear(64, 600), nn.Identity(), nn.Linear(600, 10))
    >>> feature_rank(linear, data.digits().x_train[:600])  # a linear map of the pixels and a bias
    60
    """
    features = _features64(model, X, layer)
    singular = torch.linalg.svdvals(features)
    if tol is None:
        tol = float(singular[0]) * max(features.shape) * torch.finfo(torch.float64).eps
    else:
        nonnegative("tol", tol)
    return int((singular > tol).sum())


def _features64(model, X, layer):
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    if X.dim() != 2 or len(X) == 0:
        raise ValueError(f"X must be (N, d) with N >= 1, got {tuple(X.shape)}")
    stop = layer + 1 if layer >= 0 else len(model) + layer + 1
    if not 0 < stop <= len(model):
        raise ValueError(f"layer must index one of the model's {len(model)} modules, got {layer}")
    prefix = copy.deepcopy(model[:stop]).double()  # a float64 copy: the caller's model is untouched
    with torch.no_grad():
        return prefix(X.double())


def prune_by_magnitude(model, fraction):
    """A copy of ``model`` with the smallest ``fraction`` of its weights set to zero.

    The threshold is global over the weight matrices and kernels (parameters with dim >= 2);
    biases are kept, as Han et al. (2016) do. The pruned weights get a gradient hook that zeroes
    their gradient, so that fine-tuning the copy (Han et al. retrain after pruning) keeps them
    at zero with SGD or Adam.

    Parameters
    ----------
    model : nn.Module, left unchanged.
    fraction : float in [0, 1).

    Returns
    -------
    pruned : the pruned copy.
    removed : float, the fraction actually removed (ties can make it differ a little).
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
            p.register_hook(lambda grad, keep=~mask: grad * keep)
    return pruned, removed / len(magnitudes)


class SkipNet(nn.Module):
    """A fully connected network whose output also reads ``n_skip`` units of the first hidden
    layer directly, as in Nguyen, Mukkamala and Hein (2019): with n_skip >= N such skip units,
    the loss has no suboptimal strict local minima.

    The first hidden layer has ``n_skip + width`` units; its first ``n_skip`` go straight to the
    output, the other ``width`` feed a second hidden layer of ``width`` units, which feeds the
    output too. With ``n_skip = 0`` it is a plain two-hidden-layer network.

    Parameters
    ----------
    d_in : int >= 1, the inputs.
    n_classes : int >= 1, the outputs.
    width : int >= 1.
    n_skip : int >= 0.
    activation : a name from ``nets.ACTIVATIONS``.
    """

    def __init__(self, d_in, n_classes, width=32, n_skip=0, activation="sigmoid"):
        super().__init__()
        positive_int("width", width)
        positive_int("n_skip", n_skip, least=0)
        one_of("activation", activation, ACTIVATIONS)
        self.n_skip = n_skip
        self.first = nn.Linear(d_in, n_skip + width)
        self.second = nn.Linear(width, width)
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(n_skip + width, n_classes)

    def features(self, x):
        """(N, n_skip + width): the skip units, then the last hidden layer: what the output reads."""
        h1 = self.act(self.first(x))
        h2 = self.act(self.second(h1[:, self.n_skip:]))
        return torch.cat([h1[:, :self.n_skip], h2], 1)

    def forward(self, x):
        return self.out(self.features(x))


def fit_output_layer(model, X, y, classes=None):
    """"rand" in Nguyen et al.: keep every weight up to the output as it is (random at
    initialisation) and set the output layer ``model.out`` to the minimum-norm least-squares fit
    of one-hot targets on ``model.features(X)``.

    Parameters
    ----------
    model : a :class:`SkipNet` (anything with ``features(x)`` and an nn.Linear ``out``).
    X : (N, d) tensor.
    y : (N,) int labels.
    classes : int or None (max label + 1).

    Returns
    -------
    float, the largest absolute training residual.
    """
    if not hasattr(model, "features") or not isinstance(getattr(model, "out", None), nn.Linear):
        raise TypeError("model must have a features(x) method and an nn.Linear output layer .out")
    with torch.no_grad():
        return _least_squares_into(model.out, model.features(X), _targets(y, classes))
