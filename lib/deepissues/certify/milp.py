"""Chapter 06, robustness guarantees.

Exact worst-case margins of a small ReLU network over an L∞ ball, by mixed-integer programming
(Tjeng, Xiao and Tedrake 2019).

A ReLU a = max(z, 0) whose input is known to lie in [l, u] is exactly the set

    a >= z,  a >= 0,  a <= z − l (1 − δ),  a <= u δ,  δ ∈ {0, 1}:

δ = 1 forces a = z (and z >= 0), δ = 0 forces a = 0 (and z <= 0). With the ball ∩ [0, 1]^d as
the bounds of the input and the network's layers as equalities, minimising f_y − f_j is a
mixed-integer linear program, solved to optimality by HiGHS (``scipy.optimize.milp``). Sound
bounds l, u come from CROWN; the tighter they are, the fewer units need a binary δ (a unit with
l >= 0 or u <= 0 is fixed) and the faster the search.
"""

import contextlib
import copy
import ctypes
import os
import sys

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

from ..checks import nonnegative
from ..expressivity import relu_layers
from .linear_bounds import crown_hidden_bounds, crown_margin_bounds

__all__ = ["exact_margins", "exactly_robust"]


def exact_margins(model, x, y, eps):
    """The exact worst-case margin min_{x'} f_y(x') − max_{j≠y} f_j(x') over the L∞ ball of
    radius ``eps`` around each x, intersected with [0, 1]^d.

    Positive exactly where no input in the ball changes the decision away from y. One program
    per rival class j, in order of CROWN's lower bound; a class whose bound already exceeds the
    best margin found cannot lower it and is skipped.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, a few small layers (the programs grow with
        the number of units whose sign the ball leaves open).
    x : (N, d) tensor in [0, 1].
    y : (N,) int64 labels.
    eps : float >= 0.

    Returns
    -------
    (N,) float64 tensor, exact to the solver's tolerance (about 1e-6).

    Example
    -------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> x, y = torch.full((1, 2), 0.5), torch.zeros(1, dtype=torch.long)
    >>> at_zero = float(exact_margins(net, x, y, 0.0)[0])
    >>> with torch.no_grad():
    ...     logits = net(x)
    >>> abs(at_zero - float(logits[0, 0] - logits[0, 1])) < 1e-6
    True
    """
    linears, lo, hi, hidden, rivals = _setup(model, x, y, eps)
    margins = []
    for i in range(len(x)):
        program = _program(linears, lo[i].numpy(), hi[i].numpy(), [(l[i].numpy(), u[i].numpy()) for l, u in hidden])
        best = np.inf
        for j in rivals[i].argsort().tolist():
            if j == int(y[i]) or float(rivals[i, j]) >= best:
                continue
            best = min(best, _solve(program, linears[-1], int(y[i]), j))
        margins.append(best)
    return torch.tensor(margins, dtype=torch.float64)


def exactly_robust(model, x, y, eps):
    """Whether no input in the L∞ ball of radius ``eps`` around each x (intersected with
    [0, 1]^d) changes the decision away from y: ``exact_margins(model, x, y, eps) > 0``, decided
    without computing the margins.

    Only the sign is needed, so each rival class j asks a feasibility question, "is there an
    input in the ball with f_y − f_j <= 0?", which the solver answers at its first such input or
    by proving that none exists; and a class whose CROWN bound is already positive is never
    asked. The search for the optimum that :func:`exact_margins` runs would have to explore every
    branch whose relaxation lies below the optimum; this one prunes every branch whose relaxation
    lies above 0. The answers agree up to the solver's tolerance (a margin within about 1e-6 of
    0 may go either way).

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, as :func:`exact_margins` takes.
    x : (N, d) tensor in [0, 1].
    y : (N,) int64 labels.
    eps : float >= 0.

    Returns
    -------
    (N,) bool tensor.

    Example
    -------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> x = torch.full((1, 2), 0.5)
    >>> with torch.no_grad():
    ...     y = net(x).argmax(1)
    >>> bool(exactly_robust(net, x, y, 0.0)[0]), bool(exactly_robust(net, x, 1 - y, 0.0)[0])
    (True, False)
    """
    linears, lo, hi, hidden, rivals = _setup(model, x, y, eps)
    robust = []
    for i in range(len(x)):
        program = _program(linears, lo[i].numpy(), hi[i].numpy(), [(l[i].numpy(), u[i].numpy()) for l, u in hidden])
        open_ = [j for j in rivals[i].argsort().tolist() if j != int(y[i]) and float(rivals[i, j]) <= 0]
        robust.append(not any(_reaches(program, linears[-1], int(y[i]), j) for j in open_))
    return torch.tensor(robust, dtype=torch.bool)


def _setup(model, x, y, eps):
    """Check the arguments; the layers, the input box (N, d) and CROWN's hidden and margin bounds."""
    steps = relu_layers(model)
    linears = [(step[1], step[2]) for step in steps if step[0] == "linear"]
    d, classes = linears[0][0].shape[1], linears[-1][0].shape[0]
    if not torch.is_tensor(x) or x.dim() != 2 or x.shape[1] != d:
        raise ValueError(f"x must be an (N, {d}) tensor, got {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"x must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    if not torch.is_tensor(y) or y.shape != (len(x),) or y.dtype != torch.int64 \
            or int(y.min()) < 0 or int(y.max()) >= classes:
        raise ValueError(f"y must be ({len(x)},) int64 labels in [0, {classes - 1}], got "
                         f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    nonnegative("eps", eps)
    double = _double_copy(model)
    lo = (x.detach().cpu().double() - eps).clamp(0, 1)
    hi = (x.detach().cpu().double() + eps).clamp(0, 1)
    with torch.no_grad():
        hidden = crown_hidden_bounds(double, lo, hi)
        rivals = crown_margin_bounds(double, lo, hi, y.cpu())
    return linears, lo, hi, hidden, rivals


def _program(linears, lo, hi, hidden):
    """Variables [x', a_1, δ_1, a_2, δ_2, ...]; the constraints of every hidden layer."""
    sizes = [len(lo)] + [2 * len(l) for l, _ in hidden]
    n_vars, start = sum(sizes), np.cumsum([0] + sizes)
    lower, upper = np.zeros(n_vars), np.zeros(n_vars)
    integrality = np.zeros(n_vars)
    lower[:len(lo)], upper[:len(lo)] = lo, hi
    rows, row_lo, row_hi = [], [], []
    previous = slice(0, len(lo))
    for k, ((W, b), (l, u)) in enumerate(zip(linears[:-1], hidden)):
        l, u = np.minimum(l, u), np.maximum(l, u)  # guard against rounding in the bounds
        width = len(b)
        a = slice(start[k + 1], start[k + 1] + width)
        delta = slice(start[k + 1] + width, start[k + 1] + 2 * width)
        upper[a] = np.maximum(u, 0)
        integrality[delta] = 1
        # δ is fixed where the sign is known: 1 on units always on, 0 on units always off
        lower[delta], upper[delta] = (l >= 0).astype(float), (u > 0).astype(float)
        for unit in range(width):
            base = np.zeros(n_vars)
            base[previous] = -W[unit]
            base[a.start + unit] = 1.0
            rows.append(base)                             # a − W a_prev >= b       (a >= z)
            row_lo.append(b[unit]), row_hi.append(np.inf)
            row = base.copy()
            row[delta.start + unit] = -l[unit]
            rows.append(row)                              # a − W a_prev − l δ <= b − l
            row_lo.append(-np.inf), row_hi.append(b[unit] - l[unit])
            row = np.zeros(n_vars)
            row[a.start + unit], row[delta.start + unit] = 1.0, -u[unit]
            rows.append(row)                              # a − u δ <= 0
            row_lo.append(-np.inf), row_hi.append(0.0)
        previous = a
    constraints = LinearConstraint(np.array(rows), row_lo, row_hi) if rows else ()
    return {"bounds": Bounds(lower, upper), "constraints": constraints, "integrality": integrality,
            "last": previous, "n_vars": n_vars}


def _solve(program, last_layer, cls, rival):
    W, b = last_layer
    cost = np.zeros(program["n_vars"])
    cost[program["last"]] = W[cls] - W[rival]
    with _solver_output_silenced():
        result = milp(cost, integrality=program["integrality"], bounds=program["bounds"],
                      constraints=program["constraints"], options={"mip_rel_gap": 0.0})
    if result.status != 0:
        raise RuntimeError(f"the mixed-integer program did not reach its optimum: {result.message}")
    return float(result.fun + b[cls] - b[rival])


def _reaches(program, last_layer, cls, rival):
    """Whether some input of the program has f_cls − f_rival <= 0: a feasibility program (no
    objective), so the solver stops at the first such input."""
    W, b = last_layer
    row = np.zeros(program["n_vars"])
    row[program["last"]] = W[cls] - W[rival]
    margin = LinearConstraint(row[None], -np.inf, float(b[rival] - b[cls]))
    constraints = [program["constraints"], margin] if program["constraints"] else [margin]
    with _solver_output_silenced():
        result = milp(np.zeros(program["n_vars"]), integrality=program["integrality"], bounds=program["bounds"],
                      constraints=constraints)
    if result.status == 0:
        return True
    if result.status == 2:  # infeasible: no input in the ball reaches the rival
        return False
    raise RuntimeError(f"the mixed-integer program did not decide: {result.message}")


@contextlib.contextmanager
def _solver_output_silenced():
    """HiGHS sometimes prints a debugging line from C++ straight to the process's standard output
    (file descriptor 1), past Python and past ``disp=False``; a notebook would show it. Point the
    descriptor at /dev/null for the solve, flushing C's buffers before it is given back."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                if _LIBC is not None:
                    _LIBC.fflush(None)
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _c_library():
    try:
        return ctypes.CDLL(None)  # the process's own C library (POSIX)
    except (OSError, TypeError):
        return None


_LIBC = _c_library()


def _double_copy(model):
    return copy.deepcopy(model).double().cpu()
