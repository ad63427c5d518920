"""Chapters 05–06, adversarial examples and robustness guarantees.

Exact projections: onto a norm ball intersected with the box, and onto a hyperplane within it.

All functions take flattened batches: ``(N, d)`` tensors, one row per point. The box is given
as per-coordinate bounds ``lower <= 0 <= upper`` on the perturbation (for an input x in [0, 1]
these are ``-x`` and ``1 - x``).
"""

import torch

from ..checks import check_norm, nonnegative

__all__ = ["project_l1_box", "project_ball_box", "min_norm_step"]


def project_linf(delta, eps):
    """Closest point of {‖δ‖∞ <= eps}; clipping coordinate-wise is exact."""
    return delta.clamp(-eps, eps)


def project_l2(delta, eps):
    """Closest point of {‖δ‖₂ <= eps}: rescale rows that are too long."""
    n = delta.norm(dim=1, keepdim=True)
    return delta * torch.where(n > eps, eps / n.clamp_min(1e-30), torch.ones_like(n))


def project_l1_box(v, eps, lower, upper):
    """Euclidean projection of v onto {‖δ‖₁ <= eps, lower <= δ <= upper}.

    The minimiser is clip(soft_threshold(v, λ), lower, upper) for the smallest λ >= 0 that meets
    the L1 budget; |δ_i| = clamp(|v_i| - λ, 0, cap_i) is non-increasing in λ, so we bisect λ in
    float64 and keep the feasible end.

    Parameters
    ----------
    v : (N, d) tensor.
    eps : float >= 0.
    lower, upper : (N, d) tensors with lower <= 0 <= upper.

    Returns
    -------
    (N, d) tensor in v's dtype.

    Examples
    --------
    >>> delta = project_l1_box(torch.tensor([[3.0, 1.0]]), 2.0, -torch.ones(1, 2) * 5, torch.ones(1, 2) * 5)
    >>> [round(v, 6) for v in delta[0].tolist()]   # soft-thresholded by λ = 1
    [2.0, 0.0]
    """
    nonnegative("eps", eps)
    if v.dim() != 2 or lower.shape != v.shape or upper.shape != v.shape:
        raise ValueError(f"v, lower and upper must be (N, d) of one shape, got {tuple(v.shape)}, "
                         f"{tuple(lower.shape)} and {tuple(upper.shape)}")
    v64, lo64, up64 = v.double(), lower.double(), upper.double()
    a = v64.abs()
    cap = torch.where(v64 > 0, up64, -lo64).clamp_min(0)

    def l1_at(lam):
        return (a - lam[:, None]).clamp_min(0).minimum(cap).sum(1)

    lo = torch.zeros(len(v), dtype=torch.float64, device=v.device)
    hi = a.amax(1)
    inside = l1_at(lo) <= eps
    for _ in range(80):
        mid = (lo + hi) / 2
        over = l1_at(mid) > eps
        lo = torch.where(over, mid, lo)
        hi = torch.where(over, hi, mid)
    lam = torch.where(inside, torch.zeros_like(hi), hi)
    out = v64.sign() * (a - lam[:, None]).clamp_min(0).minimum(cap)
    return out.to(v.dtype)


def project_ball_box(delta, eps, norm, x):
    """Project a perturbation of inputs x in [0, 1] onto the eps-ball and the box.

    L∞: both sets are boxes, so clipping is exact. L2: rescaling then clipping; clipping only
    shrinks coordinates, so the result stays in both sets (the same rule as ART and torchattacks).
    L1: the exact projection onto the intersection (:func:`project_l1_box`).

    Parameters
    ----------
    delta : (N, d) tensor, the perturbation.
    eps : float >= 0, the radius.
    norm : "l1", "l2" or "linf".
    x : (N, d) tensor in [0, 1], the inputs.

    Returns
    -------
    (N, d) tensor with ‖δ‖ <= eps and x + δ in [0, 1].
    """
    check_norm(norm)
    nonnegative("eps", eps)
    if delta.shape != x.shape:
        raise ValueError(f"delta must have x's shape {tuple(x.shape)}, got {tuple(delta.shape)}")
    if norm == "linf":
        return project_linf(delta, eps).clamp(-x, 1 - x)
    if norm == "l2":
        return project_l2(delta, eps).clamp(-x, 1 - x)
    return project_l1_box(delta, eps, -x, 1 - x)


def min_norm_step(w, b, lower, upper, norm):
    """Smallest step r (in the given norm) with w·r >= b and lower <= r <= upper, row by row.

    This is the distance to a linearised decision boundary with the box constraint kept, the
    step DeepFool and FAB take. Each coordinate moves in the direction of sign(w_i), by at most
    cap_i. For L2 the optimum is |r_i| = min(λ|w_i|, cap_i); for L∞ it is min(t, cap_i); for L1 it
    fills coordinates in decreasing order of |w_i| (a fractional knapsack). The first two are
    piecewise linear in their parameter, and Newton's method on it finds the exact root in a few
    steps.

    Parameters
    ----------
    w : (N, d) tensor, the hyperplanes' normals.
    b : (N,) tensor, the levels to reach.
    lower, upper : (N, d) tensors with lower <= 0 <= upper, the box on r.
    norm : "l1", "l2" or "linf".

    Returns
    -------
    r : (N, d) tensor; where even the best corner of the box cannot reach b, that corner.
    feasible : (N,) bool tensor, False where the box cannot reach b.

    Examples
    --------
    >>> r, ok = min_norm_step(torch.tensor([[1.0, 0.0]]), torch.tensor([0.5]), -torch.ones(1, 2),
    ...                       torch.ones(1, 2), "l2")
    >>> r.tolist(), ok.tolist()
    ([[0.5, 0.0]], [True])
    """
    check_norm(norm)
    if w.dim() != 2 or b.shape != (len(w),) or lower.shape != w.shape or upper.shape != w.shape:
        raise ValueError(f"w, lower and upper must be (N, d) and b must have shape (N,), got w {tuple(w.shape)}, "
                         f"b {tuple(b.shape)}, lower {tuple(lower.shape)}, upper {tuple(upper.shape)}")
    w64, b64 = w.double(), b.double()
    sign = w64.sign()
    aw = w64.abs()
    # where w_i = 0 the cap is not zeroed: every use multiplies it by |w_i| or by a zero slope, and
    # r_i = sign_i·|r_i| = 0 there (the masks would cost more than the rest of the step)
    cap = torch.where(w64 > 0, upper.double(), -lower.double()).clamp_min(0)
    reach = (aw * cap).sum(1)
    feasible = reach >= b64
    if norm == "l1":
        mag = _fill_greedy(aw, cap, b64)
    else:
        mag = _piecewise_linear(aw, cap, aw if norm == "l2" else sign.abs(), b64)
    if not bool(feasible.all()):
        mag = torch.where(feasible[:, None], mag, cap)
    # rows with b <= 0 come back as zeros from both solvers: λ = 0, or nothing to fill
    return (sign * mag).to(w.dtype), feasible | (b64 <= 0)


def _piecewise_linear(aw, cap, slope, b):
    """|r_i| = min(λ slope_i, cap_i) with the smallest λ such that Σ aw_i |r_i| = b.

    The reach F(λ) = Σ aw_i min(λ slope_i, cap_i) is concave and piecewise linear, so Newton's
    method from λ = 0 climbs to the root without passing it: each step takes the coordinates
    whose breakpoint cap_i / slope_i lies at or below λ as saturated, solves the linear equation
    that the others give, and repeats until no new coordinate saturates. The saturated set only
    grows, so it ends after at most d steps (a few in practice), with no sort of the d breakpoints.
    Rows that cannot reach b end with every coordinate saturated (the caller replaces them)."""
    brk = cap / slope  # inf or nan (0/0) where the slope is 0: never saturated, as it never moves
    full = aw * cap                              # contribution once saturated
    rate = aw * slope                            # d(contribution)/dλ before saturation
    lam = torch.zeros_like(b)
    saturated = brk <= 0
    while True:
        # masks as 0/1 factors: exact, and without the branches of torch.where on random masks
        share = saturated.to(full.dtype)
        done = (full * share).sum(1)
        rest = (rate * (1 - share)).sum(1)
        lam = ((b - done) / rest.clamp_min(1e-300)).maximum(lam)
        now = brk <= lam[:, None]
        if torch.equal(now, saturated):
            break
        saturated = now
    return (lam[:, None] * slope).minimum(cap)


def _fill_greedy(aw, cap, b):
    """Fill coordinates in decreasing |w_i| until Σ aw_i |r_i| = b: the cheapest L1 path."""
    aw_sorted, order = aw.sort(1, descending=True)
    gain = aw_sorted * cap.gather(1, order)
    before = torch.cumsum(gain, 1) - gain
    part = ((b[:, None] - before) / aw_sorted.clamp_min(1e-300)).clamp_min(0)
    mag_sorted = part.minimum(cap.gather(1, order))
    mag_sorted = torch.where(aw_sorted > 0, mag_sorted, torch.zeros_like(mag_sorted))
    return torch.zeros_like(mag_sorted).scatter(1, order, mag_sorted)
