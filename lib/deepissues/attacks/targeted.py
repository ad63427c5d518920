"""Chapter 06, robustness guarantees.

A targeted attack for the worst case: APGD-T, AutoAttack's adaptive PGD run once towards each of
the classes the clean logits rank next after the label (Croce and Hein 2020).

An untargeted attack follows the gradient of one loss, and that gradient is dominated by the
class that is already closest in logit; when that class cannot be reached within the budget but
another one can, the untargeted attack walks to the wrong corner of the ball. Attacking each of
the top-ranked classes in turn removes that failure, at the cost of one run per target.
"""

import torch

from ..checks import check_norm, nonnegative, one_of, positive_int
from .base import BoundedAttack, margin
from .projections import project_ball_box
from .. import repro

__all__ = ["APGDT"]


def _dlr_loss(logits, y, target):
    """AutoAttack's targeted difference-of-logits-ratio loss, one value per point:

    -(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2),

    with z_π1 >= z_π2 >= ... the sorted logits. It is positive once the target's logit passes
    the label's, and dividing by a spread of the logits makes it invariant to their scale.

    Parameters
    ----------
    logits : (N, K) tensor, K >= 4.
    y : (N,) int tensor, the true labels.
    target : (N,) int tensor, the target classes.

    Returns
    -------
    (N,) tensor.

    Examples
    --------
    >>> logits = torch.tensor([[4.0, 3.0, 1.0, 0.0]])
    >>> _dlr_loss(logits, torch.tensor([0]), torch.tensor([1])).tolist()   # -(4 - 3) / (4 - 0.5)
    [-0.2857142984867096]
    """
    if logits.dim() != 2 or logits.shape[1] < 4:
        raise ValueError(f"the DLR loss needs logits of shape (N, K) with K >= 4, got {tuple(logits.shape)}; "
                         "use loss='margin' for fewer classes")
    if y.shape != (len(logits),) or target.shape != (len(logits),):
        raise ValueError(f"y and target must have shape ({len(logits)},), got {tuple(y.shape)} and "
                         f"{tuple(target.shape)}")
    z = logits.sort(1, descending=True).values
    spread = z[:, 0] - (z[:, 2] + z[:, 3]) / 2
    own, aim = logits.gather(1, y[:, None])[:, 0], logits.gather(1, target[:, None])[:, 0]
    return -(own - aim) / (spread + 1e-12)


def _margin_loss(logits, y, target):
    """z_t - z_y, the Carlini-Wagner margin of the target over the label."""
    return logits.gather(1, target[:, None])[:, 0] - logits.gather(1, y[:, None])[:, 0]


LOSSES = {"dlr": _dlr_loss, "margin": _margin_loss}


class APGDT(BoundedAttack):
    """APGD-T (Croce and Hein 2020): auto-PGD towards each of the ``n_target_classes`` classes
    that the clean logits rank highest after the label, in the L∞ or L2 ball intersected with
    [0, 1]^d.

    For each target t, APGD ascends a targeted loss (AutoAttack's targeted DLR loss
    −(z_y − z_t) / (z_π1 − (z_π3 + z_π4) / 2), with z_π1 >= z_π2 >= ... the sorted logits, or the
    margin z_t − z_y) with AutoAttack's schedule: the step starts at 2·eps, a momentum of 0.75
    mixes in the last step, and at checkpoints (after 22% of the steps, then at intervals that
    shrink to 6%) the step is halved and the run restarts from its best point wherever the loss
    rose on at most a share ``rho`` of the steps since the last checkpoint, or where neither the
    step nor the best loss changed since then. Targets are tried in order of
    their clean logit; a point leaves the attack once any run has changed its prediction.

    ``y`` holds the *true labels*: the targets are chosen inside, so the attack is untargeted in
    the sense of :class:`Attack` (``targeted`` is False) and fits
    :func:`~deepissues.attacks.worst_case_accuracy`. A point counts as broken when its
    prediction differs from y, whichever class it lands in, as in AutoAttack.

    Where it differs from AutoAttack's APGD-T (and torchattacks' ``APGDT``):

    - the number of classes is read from the model's output, not passed (torchattacks'
      ``n_classes``); ``n_target_classes`` is capped at K − 1;
    - targets are ranked by the clean logits with the label removed, so a point the model
      already gets wrong has targets too; such a point is returned unchanged, broken already;
    - a point leaves a run at its first iterate that changes the prediction (AutoAttack runs
      every point for all the steps and keeps the last such iterate); where no run succeeds, it
      returns the iterate with the smallest margin z_y − max_{j≠y} z_j over all runs, not the
      last run's point of highest loss;
    - the L2 step and the projection are those of :class:`PGD` (exact in L∞; rescale then clip
      in L2, as AutoAttack); the count of steps on which the loss rose compares consecutive
      iterates, starting from the first step (AutoAttack's first window compares with a zero);
    - no EOT (``eot_iter``), and only "linf" and "l2" (AutoAttack's L1 version uses another
      step).

    After a call, ``success`` (N,) bool holds where the returned point's prediction differs
    from y (evaluated on the whole batch), and ``target`` (N,) int64 the target class of the
    run whose point was kept (−1 where the clean point is already misclassified, or where no
    run lowered the margin).

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs in [0, 1] to (N, K) logits.
    eps : float >= 0, the budget in ``norm``.
    norm : "linf" or "l2".
    steps : int >= 1, APGD iterations per run (AutoAttack: 100).
    n_target_classes : int >= 1, how many of the top-ranked other classes to attack
        (AutoAttack: 9), at most K − 1 are used.
    n_restarts : int >= 1, runs per target, each from a new random start.
    loss : "dlr" (AutoAttack's; needs K >= 4) or "margin" (z_t − z_y).
    rho : float in (0, 1], the share of rising steps at or below which the step is halved.
    seed : int, fixes the random starts.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 5]), torch.rand(6, 4), torch.tensor([0, 1, 2, 3, 4, 0])
    >>> atk = APGDT(model, eps=0.1, steps=10, n_target_classes=3)
    >>> x_adv = atk(x, y)
    >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    >>> torch.equal(atk.success, model(x_adv).argmax(1) != y)
    True
    """

    def __init__(self, model, eps=8 / 255, norm="linf", steps=100, n_target_classes=9, n_restarts=1, loss="dlr",
                 rho=0.75, seed=0):
        super().__init__(model, targeted=False)
        self.eps = nonnegative("eps", eps)
        self.norm = check_norm(norm, ("linf", "l2"))
        self.steps = positive_int("steps", steps)
        self.n_target_classes = positive_int("n_target_classes", n_target_classes)
        self.n_restarts = positive_int("n_restarts", n_restarts)
        self.loss_name = one_of("loss", loss, tuple(LOSSES))
        nonnegative("rho", rho, strict=True)
        if rho > 1:
            raise ValueError(f"rho must be in (0, 1], got {rho!r}")
        self.rho = rho
        self.seed = seed
        self.success = None
        self.target = None

    def attack(self, x, y):
        shape = x.shape
        x0 = x.flatten(1)
        with torch.no_grad():
            logits = self.model(x)
        k = logits.shape[1]
        if self.loss_name == "dlr" and k < 4:
            raise ValueError(f"loss='dlr' needs a model with at least 4 classes, got {k}; use loss='margin'")
        ranked = logits.scatter(1, y[:, None], float("-inf")).argsort(1, descending=True)
        best, best_margin = x0.clone(), margin(logits, y)
        found = self.fooled(logits, y)
        target = torch.full_like(y, -1)
        generator = repro.generator(self.seed, x.device)
        for rank in range(min(self.n_target_classes, k - 1)):
            for _ in range(self.n_restarts):
                idx = (~found).nonzero()[:, 0]
                if len(idx) == 0:
                    break
                t = ranked[idx, rank]
                point, point_margin, fooled = self._run(x0[idx], y[idx], t, shape, generator)
                better = fooled | (point_margin < best_margin[idx])
                keep = idx[better]
                best[keep], best_margin[keep], target[keep] = point[better], point_margin[better], t[better]
                found[idx] |= fooled
        best = best.view(shape).detach()
        with torch.no_grad():
            self.success = self.fooled(self.model(best), y)
        self.target = target
        return best

    def _run(self, x0, y, target, shape, generator):
        """One APGD run on flat inputs x0 (n, d) towards ``target`` (n,); a point stops at the
        first iterate that changes its prediction. Returns that iterate where there is one, else
        the iterate of smallest margin; its margin; and whether the prediction changed."""
        loss_of = LOSSES[self.loss_name]

        def evaluate(point, rows):
            point = point.detach().requires_grad_(True)
            logits = self.model(point.view((len(rows),) + tuple(shape[1:])))
            loss = loss_of(logits, y[rows], target[rows])
            grad, = torch.autograd.grad(loss.sum(), point)
            return loss.detach(), grad.detach(), logits.detach()

        def project(point, x):
            return x + project_ball_box(point - x, self.eps, self.norm, x)

        every = torch.arange(len(x0), device=x0.device)
        window = max(int(0.22 * self.steps), 1)
        least, shrink = max(int(0.06 * self.steps), 1), max(int(0.03 * self.steps), 1)
        x_cur = project(x0 + self._start(x0, generator), x0)
        loss, grad, logits = evaluate(x_cur, every)
        out, out_margin, fooled = x_cur.clone(), margin(logits, y), self.fooled(logits, y)
        x_best, loss_best, grad_best = x_cur.clone(), loss.clone(), grad.clone()
        step = torch.full((len(x0), 1), 2.0 * self.eps, dtype=x0.dtype, device=x0.device)
        x_prev, loss_prev = x_cur.clone(), loss.clone()
        rises = torch.zeros(len(x0), device=x0.device)
        halved_last = torch.ones(len(x0), dtype=torch.bool, device=x0.device)
        loss_best_last = loss_best.clone()
        since = 0
        for i in range(self.steps):
            rows = (~fooled).nonzero()[:, 0]
            if len(rows) == 0:
                break
            a = 0.75 if i > 0 else 1.0  # the momentum, from the second step on
            now, x = x_cur[rows], x0[rows]
            z = project(now + step[rows] * self._direction(grad[rows]), x)
            new = project(now + a * (z - now) + (1 - a) * (now - x_prev[rows]), x)
            x_prev[rows], x_cur[rows] = now, new
            loss, grad[rows], logits = evaluate(new, rows)
            m = margin(logits, y[rows])
            closer = m < out_margin[rows]
            out[rows[closer]], out_margin[rows[closer]] = new[closer], m[closer]
            fooled[rows] = self.fooled(logits, y[rows])
            rises[rows] += (loss > loss_prev[rows]).float()
            loss_prev[rows] = loss
            up = loss > loss_best[rows]
            x_best[rows[up]], loss_best[rows[up]], grad_best[rows[up]] = new[up], loss[up], grad[rows[up]]
            since += 1
            if since == window:  # checkpoint: halve the step where the loss stalled, from the best point
                halve = (rises <= self.rho * window) | (~halved_last & (loss_best_last >= loss_best))
                halved_last, loss_best_last = halve, loss_best.clone()
                step[halve] /= 2
                x_cur[halve], grad[halve] = x_best[halve], grad_best[halve]
                window, since = max(window - shrink, least), 0
                rises.zero_()
        return out, out_margin, fooled

    def _direction(self, grad):
        if self.norm == "linf":
            return grad.sign()
        return grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def _start(self, x0, generator):
        """A random point on the sphere of radius eps (AutoAttack's start), before the box."""
        if self.norm == "linf":
            t = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype) * 2 - 1
            return self.eps * t / t.abs().amax(1, keepdim=True).clamp_min(1e-12)
        t = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return self.eps * t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)
