"""Chapter 06, robustness guarantees.

Convex programs on the linear regions of a ReLU network, and the exact minimal perturbation.

On the region where a ReLU network's activation pattern is fixed, the network is affine and the
region is a polyhedron. The smallest change δ that keeps x + δ in that region and in the box
[0, 1]^d while class j overtakes class c is then a convex program: a linear program for the L1
and L∞ norms (scipy's HiGHS), a least-distance program for L2 (solved exactly through
non-negative least squares, Lawson and Hanson 1974, ch. 23).
"""

import heapq

import numpy as np
import torch
from scipy.optimize import linprog, nnls

from ..checks import check_norm
from ..expressivity import activation_pattern, region_maps, relu_layers

__all__ = ["min_norm_in_polyhedron", "crossing_step", "norm_np", "exact_min_perturbation"]


def min_norm_in_polyhedron(G, h, lower, upper, norm):
    """Smallest ‖δ‖ with G δ <= h and lower <= δ <= upper.

    L1 and L∞ are linear programs (scipy's HiGHS); L2 is a least-distance program, solved exactly
    through non-negative least squares.

    Parameters
    ----------
    G, h : (m, d) and (m,) arrays.
    lower, upper : (d,) arrays with lower <= 0 <= upper (for an input x in [0, 1]: −x and 1 − x).
    norm : "l1", "l2" or "linf".

    Returns
    -------
    (d,) array δ, or None if there is none.

    Examples
    --------
    >>> min_norm_in_polyhedron(np.array([[-1.0, 0.0]]), np.array([-0.3]), -np.ones(2), np.ones(2), "l2").round(6)
    array([0.3, 0. ])
    """
    check_norm(norm)
    lower, upper, h = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float), np.asarray(h, dtype=float)
    d = len(lower)
    if G.ndim != 2 or G.shape[1] != d or h.shape != (len(G),) or upper.shape != (d,):
        raise ValueError(f"G must be (m, d), h (m,), lower and upper (d,), got {G.shape}, {h.shape}, "
                         f"{lower.shape} and {upper.shape}")
    if (lower > 0).any() or (upper < 0).any():
        raise ValueError("lower must be <= 0 <= upper in every coordinate (δ = 0 must lie in the box)")
    if norm == "linf":  # variables (δ, t): min t, −t <= δ_i <= t
        eye = np.eye(d)
        A_ub = np.block([[G, np.zeros((len(G), 1))], [eye, -np.ones((d, 1))], [-eye, -np.ones((d, 1))]])
        b_ub = np.concatenate([h, np.zeros(2 * d)])
        cost = np.r_[np.zeros(d), 1.0]
        res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=list(zip(lower, upper)) + [(0, None)], method="highs")
        return res.x[:d] if res.status == 0 else None
    if norm == "l1":  # δ = p − q with p, q >= 0
        A_ub = np.hstack([G, -G])
        bounds = [(0, u) for u in upper] + [(0, -lo) for lo in lower]
        res = linprog(np.ones(2 * d), A_ub=A_ub, b_ub=h, bounds=bounds, method="highs")
        return res.x[:d] - res.x[d:] if res.status == 0 else None
    # L2: least distance programming, min ‖δ‖ s.t. E δ >= f, through NNLS on [E^T; f^T]
    E = np.vstack([-G, -np.eye(d), np.eye(d)])
    f = np.concatenate([-h, -upper, lower])
    scale = max(1.0, np.abs(E).max(), np.abs(f).max())
    M = np.vstack([E.T, f[None, :]]) / scale
    target = np.zeros(d + 1)
    target[-1] = 1.0
    u, _ = nnls(M, target, maxiter=50 * M.shape[1])
    r = M @ u - target
    if abs(r[-1]) < 1e-12:
        return None
    delta = -r[:d] / r[-1]
    slack = (E @ delta - f).min()
    return delta if slack >= -1e-7 * scale else None


def crossing_step(G, h, A, c, x, cls, other, norm, margin=0.0):
    """Smallest δ keeping x + δ in a linear region and in [0, 1]^d with logit ``other`` at least
    ``margin`` above logit ``cls``.

    Parameters
    ----------
    G, h : (m, d) and (m,) arrays, the region {z : G z <= h}.
    A, c : (K, d) and (K,) arrays, the logits A z + c on it.
    x : (d,) array in [0, 1].
    cls, other : ints, two different classes.
    norm : "l1", "l2" or "linf".
    margin : float, how far ``other`` must beat ``cls``.

    Returns
    -------
    (d,) array δ, or None if the region holds no such point.
    """
    if cls == other or not (0 <= cls < len(c) and 0 <= other < len(c)):
        raise ValueError(f"cls and other must be two classes in [0, {len(c) - 1}] (other must differ from cls), "
                         f"got {cls} and {other}")
    w = A[other] - A[cls]
    G_all = np.vstack([G, -w[None, :]])
    h_all = np.concatenate([h - G @ x, [(w @ x + c[other] - c[cls]) - margin]])
    return min_norm_in_polyhedron(G_all, h_all, -x, 1 - x, norm)


def norm_np(delta, norm):
    """The ``norm`` of a NumPy vector, for the region search's inner loops.

    Parameters
    ----------
    delta : (d,) array.
    norm : "l1", "l2" or "linf".

    Returns
    -------
    float.
    """
    check_norm(norm)
    return float(np.abs(delta).sum() if norm == "l1" else np.sqrt((delta ** 2).sum()) if norm == "l2"
                 else np.abs(delta).max())


def exact_min_perturbation(model, x, norm="l2", max_regions=20000):
    """The exact minimal perturbation of a small ReLU network, region by region.

    Regions are visited in order of their distance from x (Dijkstra on the graph in which two
    regions are neighbours when their patterns differ in one unit). In each, the convex program
    gives the closest point where another class ties with the prediction. The search stops once
    the next region is farther than the best point found: along the segment from x to the optimum
    every region is nearer than the optimum and each one is reached from the previous one by one
    flip, so nothing nearer can be missed (for networks in general position).

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, returning logits.
    x : (N, d) tensor in [0, 1].
    norm : "l1", "l2" or "linf".
    max_regions : raise instead of answering if a point needs more regions than this.

    Returns
    -------
    (distances, x_boundary): (N,) float64 tensor and (N, d) float64 tensor of the closest points
    of the decision boundary (within the box; inf and x itself where the box holds none).
    """
    check_norm(norm)
    steps = relu_layers(model)
    x = _check_points(x, steps[0][1].shape[1])
    distances, points = [], []
    for point in x:
        dist, best = _exact_one(steps, point, norm, max_regions)
        distances.append(dist)
        points.append(best)
    return torch.tensor(distances, dtype=torch.float64), torch.from_numpy(np.stack(points))


def _exact_one(steps, x, norm, max_regions):
    pattern = tuple(activation_pattern(steps, x[None])[0].tolist())
    _, _, A, c = region_maps(steps, pattern)
    cls = int(np.argmax(A @ x + c))
    best, best_point = np.inf, x.copy()
    heap, seen, visited = [(0.0, pattern)], {pattern}, 0
    while heap:
        dist, pattern = heapq.heappop(heap)
        if dist >= best:
            break
        visited += 1
        if visited > max_regions:
            raise RuntimeError(f"more than max_regions={max_regions} regions lie nearer than the best point; "
                               "the network is too large for the exact search")
        G, h, A, c = region_maps(steps, pattern)
        shift = h - G @ x
        for other in range(len(c)):
            if other == cls:
                continue
            # a program whose answer cannot beat the best is not solved: no point of the region
            # lies nearer than its farthest single constraint
            w = A[other] - A[cls]
            if _beyond(best, _row_bound(np.vstack([G, -w[None]]),
                                        np.r_[shift, w @ x + c[other] - c[cls]], norm)):
                continue
            delta = crossing_step(G, h, A, c, x, cls, other, norm)
            if delta is not None and norm_np(delta, norm) < best:
                best, best_point = norm_np(delta, norm), x + delta
        for unit in range(len(pattern)):
            flipped = pattern[:unit] + (not pattern[unit],) + pattern[unit + 1:]
            if flipped in seen:
                continue
            seen.add(flipped)
            G2, h2, _, _ = region_maps(steps, flipped)
            if _beyond(best, _row_bound(G2, h2 - G2 @ x, norm)):
                continue  # it would not be queued, now or later (best only falls)
            delta = min_norm_in_polyhedron(G2, h2 - G2 @ x, -x, 1 - x, norm)
            if delta is not None and norm_np(delta, norm) < best:
                heapq.heappush(heap, (norm_np(delta, norm), flipped))
    return best, best_point


DUAL_ORD = {"l1": np.inf, "l2": 2, "linf": 1}


def _row_bound(G, h, norm):
    """A lower bound on min ‖δ‖ subject to G δ <= h: the largest, over the rows, of the distance
    from 0 to the half-space of that row alone, max(0, −h_r) / ‖G_r‖_dual (inf for a row that
    no δ satisfies). G: (m, d), h: (m,)."""
    need = np.maximum(-h, 0.0)
    size = np.linalg.norm(G, ord=DUAL_ORD[norm], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(size > 0, need / size, np.where(need > 0, np.inf, 0.0))
    return float(ratio.max()) if len(ratio) else 0.0


def _beyond(best, bound):
    """Whether a program with this lower bound certainly cannot go below ``best`` (with room for
    the solver's tolerance, so that skipping it never changes the answer)."""
    return bound > best * (1 + 1e-4) + 1e-6


def _check_points(x, d):
    if not torch.is_tensor(x) or x.dim() != 2 or x.shape[1] != d:
        raise ValueError(f"x must be a (N, {d}) tensor, got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"x must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    return x.detach().cpu().double().numpy()
