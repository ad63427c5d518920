"""Chapter 14, margins and Jacobians.

Margins and Jacobians (Sokolić, Giryes, Sapiro and Rodrigues 2017).

A classifier's input margin at x, the distance to the nearest input it classifies differently,
bounds its robustness and, through the number of such balls needed to cover the data, its
generalisation error. The input margin is at least the output margin divided by how fast the
outputs can change: if ‖J(z)‖₂ ≤ L on the segment from x to x + δ, the gap
f_y − f_j, whose gradient is (e_y − e_j)ᵀJ with norm ≤ √2 ‖J‖₂, falls by at most √2 L ‖δ‖, so

    ‖δ‖ ≥ (f_y(x) − max_{j≠y} f_j(x)) / (√2 L)

for every δ that changes the decision. Penalising ‖J‖_F at the training points (which bounds
‖J‖₂) is the Jacobian regulariser.
"""

import math

import torch

from ..checks import one_of
from ..attacks import DeepFool, margin
from ..autodiff import logits_and_jacobian

__all__ = ["jacobian_norm", "jacobian_penalty", "output_margin", "jacobian_margin_bound", "lipschitz_upper_bound",
           "margin_report"]


def jacobian_norm(model, x, ord="fro"):
    """Per-sample norm of the Jacobian of the logits with respect to the input.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) tensor.
    ord : "fro" (Frobenius) or 2 (spectral).

    Returns
    -------
    (N,) tensor.

    Examples
    --------
    >>> lin = torch.nn.Linear(3, 2)
    >>> bool(torch.allclose(jacobian_norm(lin, torch.rand(4, 3)), torch.linalg.matrix_norm(lin.weight.detach())))
    True
    """
    one_of("ord", ord, ("fro", 2))
    _, jac = logits_and_jacobian(model, x)
    return jac.flatten(1).norm(dim=1) if ord == "fro" else torch.linalg.matrix_norm(jac, ord=2)


def jacobian_penalty(model, x):
    """The Jacobian regulariser: the mean over x of ‖J(x)‖_F², differentiable in the model's
    parameters. Its signature fits ``training.fit(..., penalty=...)`` once scaled, e.g.
    ``penalty=lambda m, xb: 0.1 * jacobian_penalty(m, xb)``.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) floating-point tensor.

    Returns
    -------
    scalar tensor.
    """
    _, jac = logits_and_jacobian(model, x, create_graph=True)
    return jac.pow(2).sum((1, 2)).mean()


def output_margin(logits, y):
    """f_y − max_{j≠y} f_j for each row; negative where the point is misclassified.

    Parameters
    ----------
    logits : (N, K) tensor, K >= 2.
    y : (N,) labels.

    Returns
    -------
    (N,) tensor.
    """
    if logits.dim() != 2 or logits.shape[1] < 2 or y.shape != (len(logits),):
        raise ValueError(f"logits must be (N, K) with K >= 2 and y (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    return margin(logits, y)


def jacobian_margin_bound(model, x, y, jacobian_bound=None):
    """The input-margin bound output margin / (√2 L) of Sokolić et al., 0 where x is misclassified.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) tensor.
    y : (N,) labels.
    jacobian_bound : None, a float or an (N,) tensor: L, a bound on ‖J‖₂ over the region the
        perturbations may reach. None takes ‖J(x)‖₂ at the point itself, which makes the result
        a first-order estimate for a non-linear model and an exact bound for an affine one.

    Returns
    -------
    (N,) tensor.
    """
    logits, jac = logits_and_jacobian(model, x)
    if jacobian_bound is None:
        lipschitz = torch.linalg.matrix_norm(jac, ord=2)
    else:
        lipschitz = torch.as_tensor(jacobian_bound, dtype=logits.dtype)
        if (lipschitz <= 0).any():
            raise ValueError("jacobian_bound must be > 0")
    return output_margin(logits, y).clamp_min(0) / (math.sqrt(2) * lipschitz)


def lipschitz_upper_bound(model):
    """The product of the spectral norms of the Linear layers: a bound on ‖J(x)‖₂ at every x.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and 1-Lipschitz activations (ReLU, Tanh, Sigmoid,
        Softplus, Identity).

    Returns
    -------
    float.
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    bound = 1.0
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            bound *= torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item()
        elif not isinstance(layer, (torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.Softplus, torch.nn.Identity)):
            raise TypeError(f"only Linear layers and 1-Lipschitz activations are supported, got {type(layer).__name__}")
    return bound


def margin_report(model, x, y, steps=100):
    """Input margins three ways, at the points of (x, y) that the model classifies correctly and
    where DeepFool succeeds: "distance" DeepFool's distance to the boundary inside [0, 1]^d (an
    upper bound on the margin), "estimate" the first-order m(x)/(√2‖J(x)‖₂), and "global" the
    sound bound with :func:`lipschitz_upper_bound`.

    Parameters
    ----------
    model : nn.Sequential as for :func:`lipschitz_upper_bound`.
    x : (N, d) tensor in [0, 1].
    y : (N,) labels.
    steps : int >= 1, DeepFool's steps.

    Returns
    -------
    dict of (n,) tensors, n the points kept.
    """
    right = model(x).argmax(1) == y
    x_right, y_right = x[right], y[right]
    x_adv, hit = DeepFool(model, steps=steps)(x_right, y_right)
    return {"distance": (x_adv - x_right).flatten(1).norm(dim=1)[hit].detach(),
            "estimate": jacobian_margin_bound(model, x_right, y_right)[hit],
            "global": jacobian_margin_bound(model, x_right, y_right, lipschitz_upper_bound(model))[hit]}
