"""Chapters 02 and 13, loss surfaces and the energy landscape.

Slices of the loss surface: random directions with Li et al.'s (2018) filter normalisation,
1-D lines and 2-D planes around a trained point, and linear interpolation between two models
(Goodfellow, Vinyals and Saxe 2015).

The model is never modified: each point of a slice is evaluated with ``torch.func.functional_call``
on parameters θ + α d (+ β e).
"""

import numpy as np
import torch

from .checks import nonnegative, one_of, positive_int, xy_pair
from .progress import progress_bar
from . import repro

__all__ = ["NORMALIZATIONS", "random_direction", "loss_line", "loss_plane", "interpolate"]

NORMALIZATIONS = ("filter", "layer", None)


def random_direction(model, normalization="filter", seed=0):
    """A Gaussian direction in parameter space, one tensor per parameter of ``model``.

    With ``normalization="filter"`` (Li et al. 2018) every filter of a convolution and every
    neuron (row) of a linear layer is rescaled to the norm of the corresponding weights, so that
    the slice does not depend on how a ReLU network's weights are scaled. ``"layer"`` rescales
    each weight tensor as a whole; ``None`` leaves the Gaussian as it is. Biases and other 1-D
    parameters (norm layers) get a zero direction, as in Li et al.

    Parameters
    ----------
    model : nn.Module.
    normalization : "filter", "layer" or None.
    seed : int.

    Returns
    -------
    dict {parameter name: tensor of the same shape}.
    """
    one_of("normalization", normalization, NORMALIZATIONS)
    generator = repro.generator(seed)
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            direction[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        if normalization == "filter":
            norms = p.detach().flatten(1).norm(dim=1)
            if (norms == 0).any():
                raise ValueError(f"parameter {name!r} has {int((norms == 0).sum())} filter(s) of zero norm; "
                                 "filter normalisation needs every filter to be non-zero")
            d = d / d.flatten(1).norm(dim=1).view(-1, *[1] * (p.dim() - 1)) * norms.view(-1, *[1] * (p.dim() - 1))
        elif normalization == "layer":
            if p.detach().norm() == 0:
                raise ValueError(f"parameter {name!r} has zero norm; layer normalisation needs non-zero weights")
            d = d / d.norm() * p.detach().norm()
        direction[name] = d
    return direction


def loss_line(model, direction, loss_fn, data, steps=21, distance=1.0):
    """The loss along θ + α·d for α evenly spaced in [−distance, distance].

    Parameters
    ----------
    model : nn.Module.
    direction : dict from :func:`random_direction` (or any dict of tensors shaped like the
        parameters).
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y).
    steps : int >= 2.
    distance : float > 0.

    Returns
    -------
    alphas : (steps,) array.
    losses : (steps,) array.
    """
    alphas = _grid(steps, distance)
    params = _params(model, direction)
    losses = [_loss_at(model, params, {n: a * direction[n] for n in params}, loss_fn, data) for a in alphas]
    return alphas, np.array(losses)


def loss_plane(model, d1, d2, loss_fn, data, distance=1.0, steps=21, progress=True):
    """The loss on the plane θ + α·d1 + β·d2, for α and β evenly spaced in [−distance, distance].

    It mirrors loss-landscapes' ``random_plane(model, metric, distance, steps, normalization)``
    with two differences: there ``distance`` is relative to the model's norm, the directions are
    rescaled globally after their normalisation, and the grid starts at θ; here ``distance`` is
    the actual range of α and β, in units of the directions as given (so filter normalisation
    survives), and the grid is centred on θ, which sits at its middle.

    Parameters
    ----------
    model : nn.Module.
    d1, d2 : dicts of tensors shaped like the parameters (:func:`random_direction`).
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y).
    distance : float > 0.
    steps : int >= 2.
    progress : show a progress bar.

    Returns
    -------
    alphas : (steps,) array.
    betas : (steps,) array.
    losses : (steps, steps) array, ``losses[i, j]`` at (α_i, β_j).
    """
    alphas = _grid(steps, distance)
    params = _params(model, d1)
    _params(model, d2)
    losses = np.zeros((steps, steps))
    for i, a in enumerate(progress_bar(alphas, "loss plane", enabled=progress)):
        for j, b in enumerate(alphas):
            losses[i, j] = _loss_at(model, params, {n: a * d1[n] + b * d2[n] for n in params}, loss_fn, data)
    return alphas, alphas.copy(), losses


def interpolate(model_a, model_b, loss_fn, data, steps=21, extend=0.0):
    """The loss along (1 − α)·θ_a + α·θ_b for α in [−extend, 1 + extend] (Goodfellow et al. 2015).

    Evaluated with ``model_a``'s buffers (e.g. batch-norm statistics) and mode.

    Parameters
    ----------
    model_a, model_b : nn.Modules with the same parameters (names and shapes).
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y).
    steps : int >= 2.
    extend : float >= 0, how far past each model the line goes.

    Returns
    -------
    alphas : (steps,) array.
    losses : (steps,) array.
    """
    positive_int("steps", steps, least=2)
    nonnegative("extend", extend)
    a, b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    if a.keys() != b.keys() or any(a[n].shape != b[n].shape for n in a):
        raise ValueError("model_a and model_b must have the same parameters (names and shapes)")
    alphas = np.linspace(-extend, 1 + extend, steps)
    params = {n: p.detach() for n, p in a.items()}
    losses = [_loss_at(model_a, params, {n: t * (b[n].detach() - params[n]) for n in params}, loss_fn, data)
              for t in alphas]
    return alphas, np.array(losses)


def _grid(steps, distance):
    positive_int("steps", steps, least=2)
    if not distance > 0:
        raise ValueError(f"distance must be > 0, got {distance!r}")
    return np.linspace(-distance, distance, steps)


def _params(model, direction):
    params = {n: p.detach() for n, p in model.named_parameters()}
    if set(direction) != set(params):
        raise ValueError(f"direction must name exactly the model's parameters; missing "
                         f"{sorted(set(params) - set(direction))}, extra {sorted(set(direction) - set(params))}")
    for n, p in params.items():
        if direction[n].shape != p.shape:
            raise ValueError(f"direction for {n!r} has shape {tuple(direction[n].shape)}, "
                             f"the parameter has {tuple(p.shape)}")
    return params


def _loss_at(model, params, step, loss_fn, data):
    x, y = xy_pair("data", data)
    moved = {n: params[n] + step[n] for n in params}
    with torch.no_grad():
        return float(loss_fn(torch.func.functional_call(model, moved, (x,)), y))

