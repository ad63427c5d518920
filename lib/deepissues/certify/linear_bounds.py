"""Chapter 06, robustness guarantees.

CROWN (Zhang et al. 2018): a backward linear relaxation of a ReLU network over an L∞ box.

Each ReLU whose input z is known to lie in [l, u] with l < 0 < u is replaced by two lines: above,
the chord u (z − l) / (u − l); below, the line a·z with a = 1 where u > −l and a = 0 otherwise
(the slope CROWN picks to keep the relaxation's area small). A ReLU with l >= 0 is the identity,
one with u <= 0 is zero. Going backward from a linear function of the output, a positive
coefficient takes the lower line and a negative one the upper line, so each layer passes on a
linear lower bound of the same function in terms of its own input; at the input, the box gives
the bound's minimum in closed form (auto_LiRPA's ``method="CROWN"``).

The bounds l, u of the first hidden layer are those of a box through one affine map, which
interval arithmetic gives exactly (auto_LiRPA takes them so too). Each deeper layer's come from
the same backward pass, run on that layer: its lower bounds from a pass that starts at its
weights W, its upper bounds from one that starts at −W (the negated rows take the other line of
each ReLU, so the two passes part after the first relaxation), each as many rows as the layer is
wide. For one hidden layer, CROWN's only slack is the relaxation of the ReLUs; IBP's is the
relaxation plus the box it passes on. CROWN is usually tighter than IBP but not always.
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
    W, b = linears[-1].weight, _bias(linears[-1])
    # the margin's last layer, folded in: row j is w_y − w_j (zero at j = y, which gets +inf)
    A, offset = W[y][:, None, :] - W, b[y][:, None] - b  # (N, K, m), (N, K)
    return _backward(A, offset, linears[:-1], bounds, lo, hi).scatter(1, y[:, None], float("inf"))


def crown_hidden_bounds(model, lo, hi):
    """CROWN's bounds on the input of every ReLU of ``model`` over the box [lo, hi], layer by
    layer: the first layer's by interval arithmetic (exact for one affine map), each later
    layer's from backward passes that use the bounds of the layers before it.

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
    bounds = [_interval(linears[0], lo, hi)] if len(linears) > 1 else []
    for k in range(1, len(linears) - 1):
        W, b = linears[k].weight, _bias(linears[k])
        # upper bound of z = −(lower bound of −z): the negated rows take the other line of each ReLU
        lower = _backward(W, b, linears[:k], bounds, lo, hi)
        upper = -_backward(-W, -b, linears[:k], bounds, lo, hi)
        bounds.append((lower, upper))
    return bounds


def _interval(linear, lo, hi):
    """Exact bounds of linear(x) over the box [lo, hi]: centre W·mid + b, radius |W|·rad; (N, m) each."""
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    centre, radius = linear(mid), nn.functional.linear(rad, linear.weight.abs())
    return centre - radius, centre + radius


def _backward(A, offset, linears, bounds, lo, hi):
    """Lower bound over the box [lo, hi] of A @ relu(z) + offset, where z is the output of
    ``linears[-1]`` (or A @ x + offset, the input x itself, when ``linears`` is empty).

    Parameters
    ----------
    A : (K, m) or (N, K, m) tensor; an unbatched A stays so until the first ReLU's relaxation,
        which differs from point to point.
    offset : (K,) or (N, K) tensor.
    linears : list of nn.Linear, the network up to z.
    bounds : list of (l, u) pairs, (N, width) each: bounds[k] bounds the output of linears[k].
    lo, hi : (N, d) tensors, the box.

    Returns
    -------
    (N, K) tensor.
    """
    for k in reversed(range(len(linears))):
        l, u = bounds[k]
        active, unstable = l >= 0, (l < 0) & (u > 0)
        chord = torch.where(unstable, u / (u - l).clamp_min(1e-12), active.to(u))
        lower_slope = torch.where(unstable, (u > -l).to(u), active.to(u))
        A_pos, A_neg = A.clamp(min=0), A.clamp(max=0)
        # a negative coefficient takes the chord, whose intercept −chord·l is paid here
        offset = offset + _matvec(A_neg, torch.where(unstable, -chord * l, torch.zeros_like(l)))
        A = A_pos * lower_slope[:, None, :] + A_neg * chord[:, None, :]
        offset = offset + A @ _bias(linears[k])
        A = A @ linears[k].weight
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    return offset + _matvec(A, mid) - _matvec(A.abs(), rad)


def _matvec(A, v):
    """A (K, m) or (N, K, m) times v (N, m), point by point: (N, K). (A batched matrix-vector
    product through ``@`` is several times slower on the CPU than this row-wise dot product.)"""
    return torch.linalg.vecdot(A, v[:, None, :])


def _bias(linear):
    return linear.bias if linear.bias is not None else linear.weight.new_zeros(linear.out_features)


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
