"""Chapter 06, robustness guarantees.

CROWN (Zhang et al. 2018): a backward linear relaxation of a ReLU network over an L∞ box.

Each ReLU whose input z is known to lie in [l, u] with l < 0 < u is replaced by two lines: above,
the chord u (z − l) / (u − l); below, the line a·z with a = 1 where u > −l and a = 0 otherwise
(the slope CROWN picks to keep the relaxation's area small). A ReLU with l >= 0 is the identity,
one with u <= 0 is zero. Going backward from a linear function of the output, a positive
coefficient takes the lower line and a negative one the upper line, so each layer passes on a
linear lower bound of the same function in terms of its own input; at the input, the box gives
the bound's minimum in closed form. The bounds l, u of every hidden layer come from the same
backward pass, run on that layer (auto_LiRPA's ``method="CROWN"``).

For one hidden layer the pre-activation bounds are exact (a box through one affine map), so
CROWN's only slack is the relaxation of the ReLUs; IBP's is the relaxation plus the box it
passes on. CROWN is usually tighter than IBP but not always.
"""

import torch
from torch import nn

__all__ = ["crown_margin_bounds", "crown_hidden_bounds"]


def crown_margin_bounds(model, lo, hi, y):
    """CROWN's lower bounds on f_y(x') − f_j(x') for x' in the box [lo, hi], for every class j.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU layers (an nn.Flatten first is allowed),
        starting and ending with nn.Linear.
    lo, hi : (N, ...) tensors, the box (lo <= hi), flattened to (N, d) here.
    y : (N,) int64 labels.

    Returns
    -------
    (N, K) tensor, +inf at j = y; differentiable in the model's weights.

    Example
    -------
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> x = torch.rand(5, 2)
    >>> bounds = crown_margin_bounds(net, x - 0.1, x + 0.1, torch.zeros(5, dtype=torch.long))
    >>> margins = net(x)[:, :1] - net(x)
    >>> bool((bounds[:, 1:] <= margins[:, 1:]).all())
    True
    """
    linears, lo, hi = _linear_layers(model), lo.flatten(1), hi.flatten(1)
    bounds = crown_hidden_bounds(model, lo, hi)
    classes = linears[-1].out_features
    spec = torch.eye(classes).to(lo)[y][:, None, :] - torch.eye(classes).to(lo)[None, :, :]  # (N, K, K)
    return _backward(spec, linears, bounds, lo, hi).scatter(1, y[:, None], float("inf"))


def crown_hidden_bounds(model, lo, hi):
    """CROWN's bounds on the input of every ReLU of ``model`` over the box [lo, hi], layer by
    layer, each layer's from a backward pass that uses the bounds of the layers before it.

    Parameters
    ----------
    model : nn.Sequential as in :func:`crown_margin_bounds`.
    lo, hi : (N, ...) tensors, the box, flattened to (N, d) here.

    Returns
    -------
    list with one (l, u) pair of (N, width) tensors per hidden layer.

    Example
    -------
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> [tuple(bound.shape) for bound in crown_hidden_bounds(net, torch.zeros(5, 2), torch.ones(5, 2))[0]]
    [(5, 4), (5, 4)]
    """
    linears, lo, hi = _linear_layers(model), lo.flatten(1), hi.flatten(1)
    if linears[0].in_features != lo.shape[1] or lo.shape != hi.shape:
        raise ValueError(f"lo and hi must both be (N, {linears[0].in_features}) boxes, got {tuple(lo.shape)} "
                         f"and {tuple(hi.shape)}")
    if (lo > hi).any():
        raise ValueError("lo must be <= hi in every coordinate")
    bounds = []
    for k in range(1, len(linears)):
        width = linears[k - 1].out_features
        both = torch.cat([torch.eye(width), -torch.eye(width)]).to(lo)  # lower bounds of z and of −z
        lower = _backward(both.expand(len(lo), -1, -1), linears[:k], bounds, lo, hi)
        bounds.append((lower[:, :width], -lower[:, width:]))
    return bounds


def _backward(spec, linears, bounds, lo, hi):
    """Lower bound of spec @ (output of linears[-1]) over the box; bounds[k] = (l, u) of the
    input of the ReLU after linears[k]."""
    A = spec @ linears[-1].weight
    offset = spec @ _bias(linears[-1])
    for k in reversed(range(len(linears) - 1)):
        l, u = bounds[k]
        active, unstable = l >= 0, (l < 0) & (u > 0)
        chord = torch.where(unstable, u / (u - l).clamp_min(1e-12), active.to(u))
        lower_slope = torch.where(unstable, (u > -l).to(u), active.to(u))
        A_pos, A_neg = A.clamp(min=0), A.clamp(max=0)
        offset = offset + A_neg @ torch.where(unstable, -chord * l, torch.zeros_like(l))[..., None]
        A = A_pos * lower_slope[:, None, :] + A_neg * chord[:, None, :]
        offset = offset + A @ _bias(linears[k])
        A = A @ linears[k].weight
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    return offset[..., 0] + (A @ mid[..., None])[..., 0] - (A.abs() @ rad[..., None])[..., 0]


def _bias(linear):
    b = linear.bias if linear.bias is not None else linear.weight.new_zeros(linear.out_features)
    return b[:, None]


def _linear_layers(model):
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    if layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    kinds = [nn.Linear if i % 2 == 0 else nn.ReLU for i in range(len(layers))]
    if not layers or len(layers) % 2 == 0 or not all(isinstance(layer, kind) for layer, kind in zip(layers, kinds)):
        found = ", ".join(type(layer).__name__ for layer in layers)
        raise TypeError("CROWN supports nn.Sequential models of alternating nn.Linear and nn.ReLU layers, starting "
                        f"and ending with nn.Linear (an nn.Flatten first is allowed), got [{found}]")
    return layers[0::2]
