"""Chapter 06, robustness guarantees.

Signs of gradient masking (Athalye, Carlini and Wagner 2018; Carlini et al. 2019).

A defence that hides its gradients makes gradient attacks fail without making the model robust.
Three of the symptoms they list can be measured on any model, and each is a contradiction that
only a failing attack explains:

- a black-box attack (Square, which sees only outputs) breaks points that white-box PGD, which
  sees everything, does not;
- PGD with a larger budget leaves more points standing than the attacks at the smaller budget
  already did, though the true robust accuracy can only fall as the ball grows;
- PGD with the whole box as its budget leaves points standing, though there any image can be
  turned into an image of another class (for a model that predicts more than one class).
"""

from dataclasses import dataclass

from ..checks import nonnegative, positive_int
from ..stats import sign_test_p
from .evaluation import WorstCase, robust_accuracy, worst_case_accuracy
from .gradient import PGD
from .square import Square

__all__ = ["MaskingSigns", "gradient_masking_signs"]


@dataclass
class MaskingSigns:
    """Result of :func:`gradient_masking_signs`: accuracies under each probe, and the three signs.

    Attributes
    ----------
    pgd, square : floats, robust accuracy at ``eps`` under white-box PGD and black-box Square.
    worst : float, under the worst of the two (a point counts if neither breaks it).
    pgd_larger : float, under PGD at ``larger`` times ``eps`` (at most 1).
    pgd_unbounded : float, under PGD whose ball is the whole box [0, 1]^d.
    black_box_p : float, the sign test's one-sided p-value that Square breaks more points than PGD.
    worst_case : :class:`WorstCase` of PGD and Square at ``eps``, point by point; a larger
        evaluation can pass it to :func:`worst_case_accuracy` as ``known`` instead of running the
        two again.
    """

    pgd: float
    square: float
    worst: float
    pgd_larger: float
    pgd_unbounded: float
    black_box_p: float
    worst_case: WorstCase

    @property
    def black_box_beats_white_box(self):
        """bool: Square broke more points than PGD, beyond chance (p < 0.01)."""
        return self.black_box_p < 0.01

    @property
    def larger_budget_no_better(self):
        """bool: PGD at the larger budget leaves more points than the attacks left at ``eps``."""
        return self.pgd_larger > self.worst

    @property
    def unbounded_not_total(self):
        """bool: PGD over the whole box leaves some point correctly classified."""
        return self.pgd_unbounded > 0

    @property
    def signs(self):
        """dict {sign: bool} of the three signs, in the order of the module's list."""
        return {"black box beats white box": self.black_box_beats_white_box,
                "a larger budget does no better": self.larger_budget_no_better,
                "the unbounded attack leaves points": self.unbounded_not_total}


def gradient_masking_signs(model, x, y, eps, steps=20, n_queries=1000, larger=3.0, seed=0):
    """Probe ``model`` for the three measurable signs of gradient masking in the L∞ ball.

    Parameters
    ----------
    model : nn.Module returning logits, inputs in [0, 1].
    x : (N, ...) inputs in [0, 1].
    y : (N,) labels.
    eps : float in (0, 1], the L∞ budget of the threat model.
    steps : int >= 1, PGD's steps (each of length eps/4, the larger budget's likewise).
    n_queries : int >= 1, Square's queries per point.
    larger : float > 1, the factor of the larger budget.
    seed : int, PGD's random start and Square's draws.

    Returns
    -------
    :class:`MaskingSigns`.

    Example
    -------
    >>> import torch
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(30, 4), torch.arange(30) % 3
    >>> signs = gradient_masking_signs(model, x, y, eps=0.2, n_queries=100)
    >>> list(signs.signs)
    ['black box beats white box', 'a larger budget does no better', 'the unbounded attack leaves points']
    """
    nonnegative("eps", eps, strict=True)
    if eps > 1:
        raise ValueError(f"eps must be in (0, 1] for inputs in [0, 1], got {eps!r}")
    positive_int("steps", steps)
    if isinstance(larger, bool) or not isinstance(larger, (int, float)) or larger <= 1:
        raise ValueError(f"larger must be a number > 1, got {larger!r}")
    pgd = PGD(model, eps=eps, alpha=eps / 4, steps=steps, seed=seed)
    square = Square(model, eps=eps, n_queries=n_queries, seed=seed)
    worst = worst_case_accuracy(model, [pgd, square], x, y)
    by_pgd, by_square = worst.broken["PGD"], worst.broken["Square"]
    correct = worst.robust | by_pgd | by_square  # clean-correct points: robust or broken by one of them
    wide = min(1.0, larger * eps)
    return MaskingSigns(
        pgd=float((correct & ~by_pgd).float().mean()),
        square=float((correct & ~by_square).float().mean()),
        worst=worst.accuracy,
        pgd_larger=robust_accuracy(model, PGD(model, eps=wide, alpha=wide / 4, steps=steps, seed=seed), x, y),
        pgd_unbounded=robust_accuracy(model, PGD(model, eps=1.0, alpha=0.25, steps=steps, seed=seed), x, y),
        black_box_p=sign_test_p(int((by_square & ~by_pgd).sum()), int((by_pgd & ~by_square).sum())),
        worst_case=worst,
    )
