"""Chapter 01, linear regions.

Linear regions of ReLU networks: exact counts along a segment and in a 2-D box, and the bounds.

A ReLU network is affine wherever its activation pattern (which units are on) is constant.
We call a maximal connected set of inputs with one pattern an *activation region*, as
Serra et al. (2018) and Hanin and Rolnick (2019) do. Its count is what the bounds below
speak of; two neighbouring regions can share one affine map only in degenerate cases
(a unit whose output nothing downstream reads).

The exact computation walks the network layer by layer. Each cell carries the affine map
from the input to the current features; at a ReLU layer every cell is cut by the
hyperplane of each unit that changes sign inside it, then the map is masked by the pattern.
Nothing is sampled.

The functions accept ``nn.Sequential`` models made of ``nn.Linear`` and ``nn.ReLU``.
"""

from dataclasses import dataclass
from math import comb, pi, sin

import numpy as np
import torch
from torch import nn

from .checks import positive_int

__all__ = ["Region", "relu_layers", "activation_pattern", "region_maps", "linear_regions_2d",
           "count_linear_regions_2d", "linear_pieces_1d", "count_linear_regions_1d", "shallow_max_regions",
           "deep_lower_bound", "deep_upper_bound", "sawtooth_net", "montufar_net", "shallow_interpolant",
           "fit_side_by_side"]

_REL_TOL = 1e-10  # a vertex this close to a hyperplane, relative to the scale, lies on it


@dataclass
class Region:
    """One activation region.

    Attributes
    ----------
    polygon : (V, 2) array, its vertices counter-clockwise (2-D), or (2, 1), its end points (1-D).
    pattern : (H,) bool array, the on/off state of every ReLU, layer by layer.
    weight, bias : (out, k) and (out,) arrays; on this region the network is
        ``u -> weight @ u + bias`` (u the input in 2-D, the segment's parameter t in 1-D).
    """

    polygon: np.ndarray
    pattern: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    @property
    def size(self):
        """Area (2-D) or length (1-D, in units of t)."""
        return _polygon_area(self.polygon) if self.polygon.shape[1] == 2 else float(np.ptp(self.polygon))


def relu_layers(model):
    """Check ``model`` and return its steps, with the weights as float64 arrays.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, starting with nn.Linear.

    Returns
    -------
    list of steps: ("linear", W, b) with W (out, in) and b (out,) arrays, or ("relu",).

    Raises
    ------
    TypeError for anything that is not an ``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU``,
    naming the offending layer; ValueError for sizes that do not chain.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"expected an nn.Sequential of nn.Linear and nn.ReLU, got {type(model).__name__}")
    if len(model) == 0 or not isinstance(model[0], nn.Linear):
        first = type(model[0]).__name__ if len(model) else "nothing"
        raise ValueError(f"the network must start with nn.Linear, got {first}")
    steps, width = [], model[0].in_features
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            if layer.in_features != width:
                raise ValueError(f"layer {i} (Linear) expects {layer.in_features} inputs, gets {width}")
            W = layer.weight.detach().cpu().double().numpy()
            b = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
                 else np.zeros(layer.out_features))
            steps.append(("linear", W, b))
            width = layer.out_features
        elif isinstance(layer, nn.ReLU):
            steps.append(("relu",))
        else:
            raise TypeError(f"layer {i} is {type(layer).__name__}; only nn.Linear and nn.ReLU are supported")
    return steps


def activation_pattern(model, x):
    """The on/off state of every ReLU for each row of ``x``.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, or its steps from :func:`relu_layers`
        (which saves converting the weights again inside a loop).
    x : (N, d) tensor or array.

    Returns
    -------
    (N, H) bool tensor, H the number of ReLUs; a unit is on when its input is > 0.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU())
    >>> net[0].weight.data, net[0].bias.data = torch.tensor([[1.0], [-1.0]]), torch.zeros(2)
    >>> activation_pattern(net, [[2.0], [-3.0]]).tolist()
    [[True, False], [False, True]]
    """
    steps = _as_steps(model)
    x = torch.as_tensor(x, dtype=torch.float64)
    d = steps[0][1].shape[1]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must have shape (N, {d}), got {tuple(x.shape)}")
    h, bits = x, []
    for step in steps:
        if step[0] == "linear":
            h = h @ torch.from_numpy(step[1]).T + torch.from_numpy(step[2])
        else:
            bits.append(h > 0)
            h = h.clamp_min(0)
    return torch.cat(bits, dim=1) if bits else torch.zeros(len(x), 0, dtype=torch.bool)


def region_maps(model, pattern):
    """The region of an activation pattern, and the affine map the network is on it.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU with d inputs and K outputs, or its steps
        from :func:`relu_layers`.
    pattern : (H,) bool array, every ReLU's on/off state, layer by layer (a row of
        :func:`activation_pattern`).

    Returns
    -------
    G : (H, d) array and h : (H,) array; the region is the polyhedron {z : G z <= h} (empty
        if no input has this pattern).
    A : (K, d) array and c : (K,) array; on the region the logits are A z + c.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    >>> for layer in (net[0], net[2]):
    ...     layer.weight.data, layer.bias.data = torch.full((1, 1), 2.0), torch.full((1,), -1.0)
    >>> G, h, A, c = region_maps(net, [True])   # on where 2z - 1 >= 0: f(z) = 2(2z - 1) - 1
    >>> G.tolist(), h.tolist(), A.tolist(), c.tolist()
    ([[-2.0]], [-1.0], [[4.0]], [-3.0])
    """
    steps = _as_steps(model)
    d = steps[0][1].shape[1]
    A, c = np.eye(d), np.zeros(d)
    rows, rhs, at = [], [], 0
    n_relus = sum(len(s[2]) for s, nxt in zip(steps, steps[1:]) if nxt[0] == "relu")
    if len(pattern) != n_relus:
        raise ValueError(f"pattern must have one entry per ReLU ({n_relus}), got {len(pattern)}")
    for step in steps:
        if step[0] == "linear":
            A, c = step[1] @ A, step[1] @ c + step[2]
            continue
        on = np.asarray(pattern[at:at + len(c)], dtype=bool)
        at += len(c)
        sign = np.where(on, -1.0, 1.0)  # on: pre-activation >= 0, off: <= 0
        rows.append(sign[:, None] * A)
        rhs.append(-sign * c)
        A, c = A * on[:, None], c * on
    G = np.concatenate(rows) if rows else np.zeros((0, d))
    return G, (np.concatenate(rhs) if rhs else np.zeros(0)), A, c


def linear_regions_2d(model, box):
    """The exact activation regions of a ReLU network with 2 inputs inside ``box``.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU with 2 inputs.
    box : (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax.

    Returns
    -------
    list of :class:`Region`, whose polygons tile the box.

    Example
    -------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> len(linear_regions_2d(net, (-1, 1, -1, 1))) <= 7
    True
    """
    steps = relu_layers(model)
    if steps[0][1].shape[1] != 2:
        raise ValueError(f"linear_regions_2d needs a network with 2 inputs, got {steps[0][1].shape[1]}")
    xmin, xmax, ymin, ymax = _check_box(box)
    square = np.array([[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax]], dtype=float)
    min_size = 1e-12 * (xmax - xmin) * (ymax - ymin)
    return _regions(steps, square, np.eye(2), np.zeros(2), _clip_polygon, min_size)


def count_linear_regions_2d(model, box):
    """Number of exact activation regions of a 2-input ReLU network inside ``box``.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU with 2 inputs.
    box : (x_min, x_max, y_min, y_max).

    Returns
    -------
    int.

    Examples
    --------
    >>> count_linear_regions_2d(montufar_net(0, 3), (0, 1, 0, 1))   # 3 lines: 1 + 3 + 3 regions
    7
    """
    return len(linear_regions_2d(model, box))


def linear_pieces_1d(model, a, b):
    """The exact activation regions along the segment from ``a`` to ``b``, for any input size.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU with d inputs.
    a, b : (d,) tensors or arrays, distinct end points.

    Returns
    -------
    list of :class:`Region` in order along the segment; ``polygon`` holds the end points
    (t0, t1) of the piece, with x(t) = a + t (b - a) and t in [0, 1].
    """
    steps = relu_layers(model)
    d = steps[0][1].shape[1]
    a, b = (np.asarray(torch.as_tensor(p, dtype=torch.float64).cpu(), dtype=float) for p in (a, b))
    if a.shape != (d,) or b.shape != (d,):
        raise ValueError(f"a and b must have shape ({d},), got {a.shape} and {b.shape}")
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        raise ValueError("a and b must be finite")
    if np.array_equal(a, b):
        raise ValueError("a and b must differ: the segment has zero length")
    unit = np.array([[0.0], [1.0]])
    pieces = _regions(steps, unit, (b - a)[:, None], a, _clip_interval, 1e-13)
    return sorted(pieces, key=lambda r: r.polygon[0, 0])


def count_linear_regions_1d(model, a, b):
    """Exact number of linear pieces (activation regions) along the segment from ``a`` to ``b``.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU with d inputs.
    a, b : (d,) tensors or arrays, the segment's ends.

    Returns
    -------
    int.
    """
    return len(linear_pieces_1d(model, a, b))


def shallow_max_regions(n, n0):
    """Zaslavsky's count: n hyperplanes in general position cut R^{n0} into sum_{j<=n0} C(n, j) regions.

    It is the maximal number of regions of a one-hidden-layer ReLU net with n units and n0 inputs.

    Parameters
    ----------
    n : int >= 0, the number of hyperplanes (hidden units).
    n0 : int >= 1, the dimension (inputs).

    Returns
    -------
    int.

    Examples
    --------
    >>> shallow_max_regions(3, 2)
    7
    """
    positive_int("n", n, 0)
    positive_int("n0", n0, 1)
    return sum(comb(n, j) for j in range(n0 + 1))


def deep_lower_bound(widths, n0):
    """Montufar et al. (2014)'s lower bound on the maximal number of regions of a deep ReLU net.

    With hidden widths n_1, ..., n_L (each >= n0) and n0 inputs, some network has at least
    prod_{l<L} floor(n_l / n0)^{n0} * sum_{j<=n0} C(n_L, j) regions.

    Parameters
    ----------
    widths : sequence of ints >= 1, the hidden widths n_1, ..., n_L.
    n0 : int >= 1, the number of inputs.

    Returns
    -------
    int.

    Examples
    --------
    >>> deep_lower_bound([4, 3], 2)   # (4 // 2)^2 folds times the 1 + 3 + 3 regions of 3 lines
    28
    """
    widths = _check_widths(widths, n0)
    if min(widths) < n0:
        raise ValueError(f"the bound needs every width >= n0={n0}, got {widths}")
    product = 1
    for n in widths[:-1]:
        product *= (n // n0) ** n0
    return product * shallow_max_regions(widths[-1], n0)


def deep_upper_bound(widths, n0):
    """An upper bound on the number of regions: prod_l sum_{j<=d_l} C(n_l, j), d_l = min(n0, n_1..n_l).

    Each layer cuts every region of the layers before it at most as an arrangement of n_l
    hyperplanes in a space of dimension d_l (Montufar 2017; Serra et al. 2018 tighten it).

    Parameters
    ----------
    widths : sequence of ints >= 1, the hidden widths.
    n0 : int >= 1, the number of inputs.

    Returns
    -------
    int.
    """
    widths = _check_widths(widths, n0)
    bound, dim = 1, n0
    for n in widths:
        dim = min(dim, n)
        bound *= sum(comb(n, j) for j in range(dim + 1))
    return bound


def sawtooth_net(k):
    """Telgarsky's network: k compositions of the tent map, exactly 2^k linear pieces on [0, 1].

    Each hidden layer has two units, relu(y) and relu(y - 1/2); the tent map is
    t(y) = 2 relu(y) - 4 relu(y - 1/2), which folds [0, 1] onto itself.

    Parameters
    ----------
    k : int >= 1, the number of compositions (hidden layers).

    Returns
    -------
    nn.Sequential with 1 input and 1 output.

    Examples
    --------
    >>> count_linear_regions_1d(sawtooth_net(3), torch.zeros(1), torch.ones(1))
    8
    """
    positive_int("k", k, 1)
    layers, read = _folding_layers(1, k)
    return nn.Sequential(*layers, _linear(read, np.zeros(1)))


def montufar_net(folds, lines):
    """A 2-input ReLU net that attains :func:`deep_lower_bound` on the box (0, 1, 0, 1).

    ``folds`` layers of 4 units fold each coordinate in two, so the square is cut into
    4^folds cells each mapped onto the whole square (Montufar et al. 2014's construction).
    A last layer of ``lines`` units draws lines in general position with every crossing
    inside the square, so each cell holds 1 + lines + C(lines, 2) regions.

    Parameters
    ----------
    folds : int >= 0.
    lines : int >= 1.

    Returns
    -------
    nn.Sequential with 2 inputs and 1 output.

    Examples
    --------
    >>> count_linear_regions_2d(montufar_net(1, 3), (0, 1, 0, 1)) == deep_lower_bound([4, 3], 2)
    True
    """
    positive_int("folds", folds, 0)
    positive_int("lines", lines, 1)
    layers, read = _folding_layers(2, folds)
    angles = pi * (np.arange(lines) + 0.5) / lines
    normals = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # Lines tangent to a circle around the centre: no three meet, and every crossing
    # lies within radius / sin(pi / 2 lines) < 1/2 of the centre.
    radius = 0.45 * sin(pi / (2 * lines))
    offsets = -(normals @ np.array([0.5, 0.5]) + radius)
    layers += [_linear(normals @ read, offsets), nn.ReLU()]
    return nn.Sequential(*layers, _linear(np.ones((1, lines)), np.zeros(1)))


def shallow_interpolant(knots, values):
    """A one-hidden-layer ReLU net equal to the linear interpolation of (knots, values) on [k_0, k_n].

    With n segments it has n units: f(x) = v_0 + sum_i (s_i - s_{i-1}) relu(x - k_i), s_i the
    slope of segment i and s_{-1} = 0. It shows what a shallow net of that size can represent.

    Parameters
    ----------
    knots : (n + 1,) increasing numbers.
    values : (n + 1,) numbers, the values at the knots.

    Returns
    -------
    nn.Sequential with 1 input and 1 output.
    """
    k, v = np.asarray(knots, dtype=float), np.asarray(values, dtype=float)
    if k.ndim != 1 or k.shape != v.shape or len(k) < 2:
        raise ValueError(f"knots and values must be 1-D of one length >= 2, got {k.shape} and {v.shape}")
    if np.any(np.diff(k) <= 0):
        raise ValueError("knots must be strictly increasing")
    slopes = np.diff(v) / np.diff(k)
    kinks = np.diff(slopes, prepend=0.0)
    hidden = _linear(np.ones((len(slopes), 1)), -k[:-1])
    return nn.Sequential(hidden, nn.ReLU(), _linear(kinks[None], v[:1]))


def fit_side_by_side(nets, x, y, steps, lr=1e-3):
    """Train ReLU networks of one shape side by side: full-batch Adam on each one's squared error.

    Each network moves as ``deepissues.training.fit(net, x, y, loss="mse", epochs=steps,
    batch_size=len(x), lr=lr)`` would move it alone, up to the order of float sums: Adam acts
    on each weight separately, and the summed loss gives each network the gradient of its own
    error. The weights of all networks are stacked into one batched matrix product per layer,
    so that many small networks train in about the time of one.

    Parameters
    ----------
    nets : non-empty list of nn.Sequential of nn.Linear (with biases) and nn.ReLU, as
        :func:`relu_layers` accepts, all of the same shape; they are trained in place.
    x : (N, d) float tensor, d the networks' inputs.
    y : (N, k) float tensor, k their outputs.
    steps : int >= 1, the number of Adam steps (one per pass over the N points).
    lr : float > 0, Adam's learning rate.

    Returns
    -------
    list of floats, each network's training error (mean squared) before the last step.

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> nets = [nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1)) for _ in range(3)]
    >>> x = torch.linspace(-1, 1, 50)[:, None]
    >>> before = fit_side_by_side(nets, x, x.abs(), steps=1)
    >>> after = fit_side_by_side(nets, x, x.abs(), steps=200, lr=1e-2)
    >>> all(a < b for a, b in zip(after, before))
    True
    """
    if not isinstance(nets, (list, tuple)) or not nets:
        raise ValueError(f"nets must be a non-empty list of networks, got {nets!r}")
    shapes = [[step[1].shape if step[0] == "linear" else step for step in relu_layers(net)]
              for net in nets]
    if any(shape != shapes[0] for shape in shapes):
        raise ValueError("nets must all have the same shape (layers and widths)")
    positive_int("steps", steps)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    linears = [[layer for layer in net if isinstance(layer, nn.Linear)] for net in nets]
    if any(layer.bias is None for layer in linears[0]):
        raise ValueError("every nn.Linear of nets must have a bias")
    d, k = linears[0][0].in_features, linears[0][-1].out_features
    for name, t, width in (("x", x, d), ("y", y, k)):
        if not torch.is_tensor(t) or t.ndim != 2 or t.shape[1] != width:
            got = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
            raise ValueError(f"{name} must be an (N, {width}) tensor, got {got}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must have the same N >= 1 rows, got {len(x)} and {len(y)}")
    params = []
    for i in range(len(linears[0])):
        weight = torch.stack([net[i].weight.detach().transpose(0, 1) for net in linears])
        bias = torch.stack([net[i].bias.detach()[None] for net in linears])
        params += [weight.requires_grad_(), bias.requires_grad_()]
    optimizer = torch.optim.Adam(params, lr=lr)
    inputs = x.expand(len(nets), *x.shape)
    threads = torch.get_num_threads()
    # one thread: these small products gain little from more, and on a loaded machine the
    # thread pool's waits made them many times slower
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            h = inputs
            for i in range(0, len(params), 2):
                h = torch.baddbmm(params[i + 1], h, params[i])
                h = h.relu() if i + 2 < len(params) else h
            errors = (h - y).pow(2).mean(dim=(1, 2))
            optimizer.zero_grad()
            errors.sum().backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        for n, net in enumerate(linears):
            for i, layer in enumerate(net):
                layer.weight.copy_(params[2 * i][n].transpose(0, 1))
                layer.bias.copy_(params[2 * i + 1][n, 0])
    return errors.detach().tolist()


def _folding_layers(dim, folds):
    """Layers that fold each of ``dim`` coordinates in two, ``folds`` times, and the read-out matrix.

    Returns the list of modules and the (dim, 2 dim) matrix that maps the last hidden layer
    back to the folded coordinates (the identity map when folds == 0).
    """
    split = np.kron(np.eye(dim), [[1.0], [1.0]])           # y -> (y, y) per coordinate
    shift = np.tile([0.0, -0.5], dim)                        # ... minus (0, 1/2)
    tent = np.kron(np.eye(dim), [[2.0, -4.0]])               # (relu y, relu(y-1/2)) -> t(y)
    layers, read = [], np.eye(dim)
    for _ in range(folds):
        layers += [_linear(split @ read, shift), nn.ReLU()]
        read = tent
    return layers, read


def _as_steps(model):
    """The steps of ``model``, which may already be the output of :func:`relu_layers`."""
    return model if isinstance(model, list) else relu_layers(model)


def _linear(weight, bias):
    weight = np.atleast_2d(weight)
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(bias))
    return layer


def _regions(steps, start, A, c, clip, min_size):
    """Walk the network over cells; each cell is (vertices, A, c, bits) with features = A u + c."""
    span = float(np.linalg.norm(np.ptp(start, axis=0)))
    cells = [(start, A, c, [])]
    for step in steps:
        if step[0] == "linear":
            W, b = step[1], step[2]
            cells = [(V, W @ A, W @ c + b, bits) for V, A, c, bits in cells]
            continue
        next_cells = []
        for V, A, c, bits in cells:
            tol = _REL_TOL * (np.linalg.norm(A, axis=1) * span + np.abs(c)) + 1e-300
            for piece in _split(V, A, c, tol, clip, min_size):
                on = piece.mean(axis=0) @ A.T + c > 0  # the vertex mean is interior for a convex cell
                next_cells.append((piece, A * on[:, None], c * on, bits + [on]))
        cells = next_cells
    return [Region(V, np.concatenate(bits) if bits else np.zeros(0, bool), A, c) for V, A, c, bits in cells]


def _split(V, A, c, tol, clip, min_size):
    """Cut the convex cell V by every unit's hyperplane that crosses it."""
    done, todo = [], [V]
    while todo:
        P = todo.pop()
        G = P @ A.T + c
        crossing = np.flatnonzero((G.max(axis=0) > tol) & (G.min(axis=0) < -tol))
        if crossing.size == 0:
            done.append(P)
            continue
        j = crossing[0]
        for sign in (1.0, -1.0):
            piece = clip(P, sign * A[j], sign * c[j], tol[j], min_size)
            if piece is not None:
                todo.append(piece)
    return done


def _clip_polygon(P, a, b, tol, min_area):
    """The part of convex polygon P (counter-clockwise) where a . u + b >= 0 (Sutherland-Hodgman)."""
    g = P @ a + b
    out = []
    for i in range(len(P)):
        j = (i + 1) % len(P)
        if g[i] >= -tol:
            out.append(P[i])
        if (g[i] > tol and g[j] < -tol) or (g[i] < -tol and g[j] > tol):
            out.append(P[i] + g[i] / (g[i] - g[j]) * (P[j] - P[i]))
    if len(out) < 3:
        return None
    Q = np.array(out)
    return Q if _polygon_area(Q) > min_area else None


def _clip_interval(P, a, b, tol, min_length):
    """The part of the interval P = [[t0], [t1]] where a t + b >= 0."""
    (t0,), (t1,) = P
    g0, g1 = a[0] * t0 + b, a[0] * t1 + b
    if (g0 > tol) != (g1 > tol) and min(g0, g1) < -tol:
        t = t0 + g0 / (g0 - g1) * (t1 - t0)
        t0, t1 = (t0, t) if g0 > 0 else (t, t1)
    elif max(g0, g1) <= tol:
        return None
    return np.array([[t0], [t1]]) if t1 - t0 > min_length else None


def _polygon_area(P):
    x, y = P[:, 0], P[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _check_box(box):
    try:
        xmin, xmax, ymin, ymax = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be (xmin, xmax, ymin, ymax), got {box!r}") from None
    if not all(np.isfinite([xmin, xmax, ymin, ymax])):
        raise ValueError(f"box must be finite, got {box!r}")
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"box must have positive area (xmin < xmax, ymin < ymax), got {box!r}")
    return xmin, xmax, ymin, ymax


def _check_widths(widths, n0):
    positive_int("n0", n0, 1)
    widths = list(widths)
    if not widths:
        raise ValueError("widths must list at least one hidden width")
    for w in widths:
        positive_int("every width", w, 1)
    return widths
