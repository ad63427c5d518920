"""Chapters 05–06, adversarial examples and robustness guarantees.

Bounded gradient attacks: FGSM and PGD in the L∞, L2 and L1 norms."""

import math

import torch

from ..checks import check_norm, nonnegative, positive_int
from .base import BoundedAttack, norm_of
from .projections import project_ball_box
from .. import repro

__all__ = ["FGSM", "PGD"]


class FGSM(BoundedAttack):
    """Fast gradient sign method (Goodfellow et al. 2015): one step x + eps·sign(∇ loss), clipped to [0, 1].

    Parameters
    ----------
    model : nn.Module returning logits.
    eps : float >= 0, the L∞ budget.
    targeted : if True, ``y`` are targets and the step descends their loss.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = FGSM(model, eps=0.1)(x, y)
    >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    """

    norm = "linf"  # FGSM's ball; a class attribute, so that every bounded attack names its norm

    def __init__(self, model, eps=8 / 255, targeted=False):
        super().__init__(model, targeted)
        self.eps = nonnegative("eps", eps)

    def attack(self, x, y):
        grad, _ = self.loss_gradient(x, y)
        return (x + self.eps * grad.sign()).clamp(0, 1).detach()


class PGD(BoundedAttack):
    """Projected gradient descent (Madry et al. 2018) in the L∞, L2 or L1 ball, intersected with [0, 1]^d.

    Each step ascends the cross-entropy by steepest ascent in the chosen norm and projects back:
    - L∞: x + alpha·sign(g);
    - L2: x + alpha·g/‖g‖₂;
    - L1: a sparse step (Tramèr and Boneh 2019): alpha, split evenly over the ``l1_sparsity``
      share of coordinates with the largest |g_i| that can still move in the direction of g,
      then the exact projection onto the L1 ball intersected with the box.

    Differs from torchattacks in one way: it returns the last iterate that fools the model (the
    last one if none does), so the attack never loses a success it found on the way.

    Parameters
    ----------
    model : nn.Module returning logits.
    eps : float >= 0, the budget in ``norm``.
    alpha : float > 0, the step length in ``norm``.
    steps : int >= 1.
    random_start : start from a uniform point of the ball (L∞) or a random point of it (L2, L1).
    norm : "linf", "l2" or "l1".
    l1_sparsity : float in (0, 1], share of coordinates an L1 step moves.
    targeted : if True, ``y`` are targets.
    seed : int, fixes the random start.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = PGD(model, eps=0.5, alpha=0.1, steps=10, norm="l2")(x, y)
    >>> bool((x_adv - x).norm(dim=1).max() <= 0.5 + 1e-5)
    True
    """

    def __init__(self, model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True, norm="linf",
                 l1_sparsity=0.05, targeted=False, seed=0):
        super().__init__(model, targeted)
        self.eps = nonnegative("eps", eps)
        self.alpha = nonnegative("alpha", alpha, strict=True)
        self.steps = positive_int("steps", steps)
        self.random_start = bool(random_start)
        self.norm = check_norm(norm)
        if not 0 < l1_sparsity <= 1:
            raise ValueError(f"l1_sparsity must be in (0, 1], got {l1_sparsity!r}")
        self.l1_sparsity = l1_sparsity
        self.seed = seed
        self._starts = {}

    def attack(self, x, y):
        shape = x.shape
        x0 = x.flatten(1)
        project = self._projection(x0)
        delta = self._start(x0) if self.random_start else torch.zeros_like(x0)
        now = best = x0 + delta   # the iterate, computed once per step for the gradient and the record
        found = torch.zeros(len(x0), dtype=torch.bool, device=x.device)
        for _ in range(self.steps):
            grad, logits = self.loss_gradient(now.view(shape), y)
            fooled = self.fooled(logits, y)
            best = _latest(fooled | ~found, now, best)
            found |= fooled
            delta = project(delta + self._step(grad.flatten(1), now))
            now = x0 + delta
        with torch.no_grad():
            fooled = self.fooled(self.model(now.view(shape)), y)
            best = _latest(fooled | ~found, now, best)
        return best.view(shape).detach()

    def _step(self, grad, x_now):
        if self.norm == "linf":
            return self.alpha * grad.sign()
        if self.norm == "l2":
            return self.alpha * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
        movable = ((grad > 0) & (x_now < 1)) | ((grad < 0) & (x_now > 0))
        score = grad.abs() * movable
        k = max(1, math.ceil(self.l1_sparsity * grad.shape[1]))
        top = score.topk(k, dim=1).indices
        step = torch.zeros_like(grad).scatter(1, top, 1.0) * (score > 0) * grad.sign()
        return self.alpha * step / step.abs().sum(1, keepdim=True).clamp_min(1e-12)

    def _start(self, x0):
        """The random start, projected onto the box. A new generator seeded with ``seed`` draws it on
        every call, so it depends on the shape of x alone: it is drawn once per shape and kept
        (adversarial training calls the attack on every batch, of one or two shapes)."""
        key = (self.seed, self.norm, self.eps, tuple(x0.shape), str(x0.device), torch.get_default_dtype())
        if key not in self._starts:
            g = repro.generator(self.seed, x0.device)
            if self.norm == "linf":
                delta = (torch.rand(x0.shape, generator=g, device=x0.device) * 2 - 1) * self.eps
            else:
                noise = torch.randn(x0.shape, generator=g, device=x0.device)
                if self.norm == "l1":
                    noise = noise.sign() * torch.empty_like(noise).exponential_(generator=g)
                radius = torch.rand(len(x0), 1, generator=g, device=x0.device) * self.eps
                delta = noise / norm_of(noise, self.norm)[:, None].clamp_min(1e-12) * radius
            self._starts = {**dict(list(self._starts.items())[-3:]), key: delta}   # a few shapes at most
        return project_ball_box(self._starts[key], self.eps, self.norm, x0)


def _latest(take, now, best):
    """Rows of ``now`` where ``take`` (N,) holds, of ``best`` elsewhere; ``now`` itself, with no
    copy, where every row takes it (as on every row until the attack first succeeds)."""
    return now if bool(take.all()) else torch.where(take[:, None], now, best)
