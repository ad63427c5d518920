"""Chapter 06, robustness guarantees.

The ladder of certificates: at each L∞ radius, which points IBP and CROWN certify, which are
exactly robust, and which PGD fails to break.

Every rung is sound, so on every point IBP or CROWN certified ⇒ exactly robust ⇒ PGD fails.
The exact rung is computed as complete verifiers do: a point that a bound certifies is robust and
one that PGD breaks is not, and the mixed-integer program decides only the points left open,
asking only for the sign of the worst-case margin (:func:`~.milp.exactly_robust`). The result
equals running :func:`~.milp.exact_margins` on every point.
"""

from dataclasses import dataclass

import torch

from ..attacks import PGD
from ..checks import nonnegative, positive_int
from .intervals import margin_lower_bounds
from .milp import exactly_robust

__all__ = ["Ladder", "certification_ladder"]

RUNGS = ("IBP", "CROWN", "exact", "PGD")


@dataclass
class Ladder:
    """Result of :func:`certification_ladder`.

    Attributes
    ----------
    eps : list of floats, the radii.
    robust : dict {rung: (E, N) bool tensor}, for "IBP", "CROWN" (certified), "exact" (no input
        in the ball changes the decision) and "PGD" (PGD did not break it), per radius and point.
    programs : int, the mixed-integer programs' points (one per point left open, per radius).
    """

    eps: list
    robust: dict
    programs: int

    def accuracy(self, rung):
        """(E,) list of floats: the share of points robust on ``rung`` at each radius."""
        return self.robust[rung].float().mean(1).tolist()


def certification_ladder(model, x, y, eps, steps=20, seed=0):
    """Climb the ladder at every radius in ``eps``.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU (CROWN's and the exact program's class).
    x : (N, d) tensor in [0, 1].
    y : (N,) int64 labels.
    eps : sequence of floats >= 0, the L∞ radii.
    steps : int >= 1, PGD's steps (each of length eps/4, from a random start).
    seed : int, PGD's random start.

    Returns
    -------
    :class:`Ladder`.

    Example
    -------
    >>> from deepissues.nets import mlp
    >>> net, x = mlp([4, 8, 3]), torch.rand(6, 4)
    >>> ladder = certification_ladder(net, x, net(x).argmax(1), [0.0, 0.1])
    >>> ladder.accuracy("exact")[0]
    1.0
    """
    eps = [nonnegative("eps", float(e)) for e in eps]
    positive_int("steps", steps)
    robust, programs = {rung: [] for rung in RUNGS}, 0
    for radius in eps:
        with torch.no_grad():
            ibp = margin_lower_bounds(model, x, y, radius).amin(1) > 0
            crown = margin_lower_bounds(model, x, y, radius, method="CROWN").amin(1) > 0
        x_adv = x if radius == 0 else PGD(model, eps=radius, alpha=radius / 4, steps=steps, seed=seed)(x, y)
        with torch.no_grad():
            broken = model(x_adv).argmax(1) != y
        exact, open_ = ibp | crown, ~(ibp | crown | broken)
        if open_.any():
            exact[open_] = exactly_robust(model, x[open_], y[open_], radius)
        programs += int(open_.sum())
        for rung, row in zip(RUNGS, (ibp, crown, exact, ~broken)):
            robust[rung].append(row)
    return Ladder(eps, {rung: torch.stack(rows) for rung, rows in robust.items()}, programs)
