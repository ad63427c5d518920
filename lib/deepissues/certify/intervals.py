"""Chapter 06, robustness guarantees.

Interval bound propagation (IBP; Gowal et al. 2018): sound bounds on a network's logits over
an L∞ ball, and the accuracy they certify, by IBP or by CROWN (:mod:`.linear_bounds`).

Names follow auto_LiRPA, whose ``compute_bounds(method="IBP")`` returns ``(lb, ub)``; here one
function does it for ``nn.Sequential`` models. Each layer maps the box centre ``mid`` and
half-width ``rad``: an affine layer sends them to ``A mid + b`` and ``|A| rad``, which is exact
for one layer; a monotone activation is applied to both ends.
"""

import torch
from torch import nn

from ..checks import nonnegative, one_of, positive_int
from .linear_bounds import crown_margin_bounds

__all__ = ["METHODS", "interval_bounds", "margin_lower_bounds", "certified_accuracy", "certified_radius"]

METHODS = ("IBP", "CROWN")  # auto_LiRPA's names
MONOTONE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.LeakyReLU, nn.Flatten, nn.Identity)


def interval_bounds(model, x, eps, clip=True):
    """Lower and upper bounds on ``model``'s outputs over {x' : ‖x' − x‖∞ <= eps} (∩ [0, 1]^d).

    Parameters
    ----------
    model : nn.Sequential of Linear, Conv2d, Flatten and monotone activations (ReLU, Tanh,
        Sigmoid, Softplus, LeakyReLU).
    x : (N, ...) tensor; in [0, 1] with ``clip``, which refuses anything else.
    eps : float >= 0, the L∞ radius.
    clip : intersect the ball with the box [0, 1]^d of valid inputs (auto_LiRPA's x_L, x_U).

    Returns
    -------
    lb, ub : (N, K) tensors; every output at every x' in the set lies between them.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x = mlp([4, 8, 3]), torch.rand(5, 4)
    >>> lb, ub = interval_bounds(model, x, eps=0.1)
    >>> out = model(x).detach()
    >>> bool((lb <= out).all() and (out <= ub).all())
    True
    """
    lo, hi = _input_box(x, eps, clip)
    return _propagate(_layers(model), lo, hi)


def margin_lower_bounds(model, x, y, eps, clip=True, method="IBP"):
    """Lower bounds on f_y(x') − f_j(x') over the ball, for every class j.

    The last linear layer is folded into the margin before the bound is taken (Gowal et al.'s
    "elision"): bounding (w_y − w_j)·h directly is tighter than subtracting two bounds.

    Parameters
    ----------
    model : nn.Sequential as in :func:`interval_bounds`, ending with nn.Linear; for CROWN,
        alternating nn.Linear and nn.ReLU layers (an nn.Flatten first is allowed).
    x : (N, ...) tensor.
    y : (N,) labels.
    eps : float >= 0.
    clip : intersect the ball with [0, 1]^d.
    method : "IBP" (interval bounds) or "CROWN" (backward linear relaxation, usually tighter).

    Returns
    -------
    (N, K) tensor, +inf at j = y; differentiable in the model's weights.

    Example
    -------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.zeros(5, dtype=torch.long)
    >>> ibp, crown = (margin_lower_bounds(model, x, y, 0.1, method=m) for m in METHODS)
    >>> tuple(crown.shape), bool(torch.isinf(crown[:, 0]).all())
    ((5, 3), True)
    """
    one_of("method", method, METHODS)
    if method == "CROWN":
        lo, hi = _input_box(x, eps, clip)
        return crown_margin_bounds(model, lo, hi, _labels(y, len(x), _layers(model)[-1].out_features))
    layers = _layers(model)
    if not isinstance(layers[-1], nn.Linear):
        raise TypeError(f"the last layer must be nn.Linear to fold it into the margin, got {type(layers[-1]).__name__}")
    lo, hi = _propagate(layers[:-1], *_input_box(x, eps, clip))
    W, b = layers[-1].weight, layers[-1].bias
    if b is None:
        b = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    y = _labels(y, len(x), W.shape[0])
    C = W[y][:, None, :] - W[None, :, :]  # (N, K, h)
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    bound = (C @ mid[:, :, None])[..., 0] - (C.abs() @ rad[:, :, None])[..., 0] + (b[y][:, None] - b)
    return bound.scatter(1, y[:, None], float("inf"))


def certified_accuracy(model, x, y, eps, clip=True, method="IBP"):
    """Share of points that IBP (or CROWN) proves correct on the whole ball: every margin bound > 0.

    Parameters
    ----------
    model : nn.Sequential as in :func:`interval_bounds`.
    x : (N, ...) tensor (in [0, 1] with ``clip``).
    y : (N,) labels.
    eps : float >= 0, the L∞ radius.
    clip : intersect the ball with [0, 1]^d.
    method : "IBP" or "CROWN", as in :func:`margin_lower_bounds`.

    Returns
    -------
    float in [0, 1].
    """
    with torch.no_grad():
        return float((margin_lower_bounds(model, x, y, eps, clip, method).amin(1) > 0).float().mean())


def certified_radius(model, x, y, eps_max=1.0, steps=30, clip=True, method="IBP"):
    """The largest L∞ radius IBP (or CROWN) certifies at each point, by bisection (IBP's bounds only
    widen as eps grows; CROWN's nearly always do, and the radius returned is one it certified
    either way); 0 where even eps = 0 fails, i.e. where the point is misclassified.

    Parameters
    ----------
    model : nn.Sequential as in :func:`interval_bounds`.
    x : (N, ...) tensor.
    y : (N,) labels.
    eps_max : float > 0, the largest radius tried.
    steps : int >= 1, bisection steps.
    clip : intersect the ball with [0, 1]^d.
    method : "IBP" or "CROWN", as in :func:`margin_lower_bounds`.

    Returns
    -------
    (N,) tensor with x's dtype and device.
    """
    nonnegative("eps_max", eps_max, strict=True)
    positive_int("steps", steps)
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    lo = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    hi = torch.full((len(x),), float(eps_max), dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for _ in range(steps):
            mid = (lo + hi) / 2
            ok = margin_lower_bounds(model, x, y, mid.view(-1, *[1] * (x.dim() - 1)), clip, method).amin(1) > 0
            lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    return lo


def _input_box(x, eps, clip):
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    if torch.is_tensor(eps):
        if (eps < 0).any():
            raise ValueError(f"eps must be >= 0, got a minimum of {float(eps.min())}")
    else:
        nonnegative("eps", eps)
    if clip and (x.min() < 0 or x.max() > 1):
        # clipping the ball to the box would bound a different point, not x: refuse, never guess
        raise ValueError(f"x must lie in the box [0, 1] that clip=True intersects the ball with, got values in "
                         f"[{float(x.min()):.4g}, {float(x.max()):.4g}]; pass clip=False for inputs on another scale")
    lo, hi = x - eps, x + eps
    if clip:
        lo, hi = lo.clamp(0, 1), hi.clamp(0, 1)
    return lo, hi


def _layers(model):
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    for i, layer in enumerate(layers):
        if not isinstance(layer, (nn.Linear, nn.Conv2d) + MONOTONE):
            raise TypeError(f"layer {i} is {type(layer).__name__}; interval bounds support Linear, Conv2d, "
                            "Flatten and monotone activations")
    return layers


def _propagate(layers, lo, hi):
    for layer in layers:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            mid, rad = (hi + lo) / 2, (hi - lo) / 2
            mid = layer(mid)
            rad = nn.functional.linear(rad, layer.weight.abs()) if isinstance(layer, nn.Linear) else \
                nn.functional.conv2d(rad, layer.weight.abs(), None, layer.stride, layer.padding,
                                     layer.dilation, layer.groups)
            lo, hi = mid - rad, mid + rad
        else:
            lo, hi = layer(lo), layer(hi)
    return lo, hi


def _labels(y, n, k):
    if not torch.is_tensor(y) or y.shape != (n,) or y.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"y must be ({n},) integer labels, got {getattr(y, 'shape', type(y).__name__)}")
    if int(y.min()) < 0 or int(y.max()) >= k:
        raise ValueError(f"labels must lie in [0, {k - 1}], got [{int(y.min())}, {int(y.max())}]")
    return y.long()
