"""Chapters 05–06, adversarial examples and robustness guarantees.

Minimal-norm attacks: DeepFool and FAB. Both linearise the classifier and step to the nearest
linearised boundary inside the box [0, 1]^d, so neither stalls where the box binds."""

import torch

from ..autodiff import logits_and_jacobian
from ..checks import check_norm, nonnegative, positive_int
from .base import MinimalNormAttack, norm_of, shrink_to_boundary
from .projections import min_norm_step
from .. import repro

__all__ = ["DeepFool", "MinimalPerturbation"]



def linearised_boundaries(logits, jac, y, targeted):
    """The classifier linearised at a point: class j beats y where f_j + w_j·r >= 0.

    ``logits`` (N, K) and ``jac`` (N, K, d) are the outputs and their gradients there.
    Untargeted, every class j other than the label y counts; targeted (y the target), only the
    best other class, which the target must overtake. Returns ``(w, f, counts)``.
    """
    n = len(logits)
    w = jac - jac[torch.arange(n), y][:, None]
    f = logits - logits.gather(1, y[:, None])
    counts = torch.ones_like(f, dtype=torch.bool).scatter(1, y[:, None], False)
    if targeted:
        w, f = -w, -f
        rival = logits.scatter(1, y[:, None], float("-inf")).argmax(1, keepdim=True)
        counts = torch.zeros_like(counts).scatter(1, rival, True)
    return w, f, counts


def steps_to_boundaries(w, f, x_at, x_from, norm):
    """Smallest steps from x_from to the hyperplanes f + w·(z − x_at) = 0 that stay in [0, 1]^d.

    w: (N, M, d), f: (N, M); x_at, x_from: (N, ...). Returns steps (N, M, d) and their norms
    (N, M), inf where the box cannot reach the hyperplane.
    """
    n, m, d = w.shape
    if x_from is x_at:  # stepping from where the classifier was linearised: the level is f itself
        need = -f
    else:
        need = -(f + (w * (x_from.flatten(1) - x_at.flatten(1))[:, None]).sum(2))
    x_from = x_from.flatten(1)
    lower = (-x_from)[:, None].expand(n, m, d).reshape(n * m, d)
    r, ok = min_norm_step(w.reshape(n * m, d), need.reshape(-1), lower, 1 + lower, norm)
    lengths = torch.where(ok, norm_of(r, norm), torch.full_like(need.reshape(-1), float("inf")))
    return r.view(n, m, d), lengths.view(n, m)


DUAL = {"l1": "linf", "l2": "l2", "linf": "l1"}


def nearest_boundary(model, x, y, targeted, norm, exact_choice=True):
    """The step from x to the nearest linearised boundary within the box, its norm, and that
    boundary's (w, f).

    With ``exact_choice``, the nearest boundary is the one whose box-constrained step is
    shortest (K projections); otherwise the one nearest without the box, |f| / ‖w‖_dual, as FAB
    chooses it (one projection).
    """
    logits, jac = logits_and_jacobian(model, x)
    w, f, counts = linearised_boundaries(logits, jac, y, targeted)
    rows = torch.arange(len(x), device=x.device)
    if exact_choice:
        r, lengths = steps_to_boundaries(w, f, x, x, norm)
    else:
        lengths = f.abs() / norm_of(w.flatten(0, 1), DUAL[norm]).view_as(f).clamp_min(1e-12)
    lengths = torch.where(counts, lengths, torch.full_like(lengths, float("inf")))
    s = lengths.argmin(1)
    w, f = w[rows, s], f[rows, s]
    if exact_choice:
        return r[rows, s].view_as(x), lengths[rows, s], w, f
    r, length = steps_to_boundaries(w[:, None], f[:, None], x, x, norm)
    return r[:, 0].view_as(x), length[:, 0], w, f


class DeepFool(MinimalNormAttack):
    """DeepFool (Moosavi-Dezfooli et al. 2016), multi-class, in the L2 or L∞ norm.

    At each step the classifier is linearised and the point moves to the nearest linearised
    boundary. Unlike the original and torchattacks, that step is computed *within the box*
    [0, 1]^d (the exact minimal-norm step to a hyperplane inside a box), so the attack does not
    stall when pixels sit at 0 or 1. After the last step a bisection along x -> x_adv removes the
    overshoot.

    Returns ``(x_adv, success)``, as foolbox does: ``success[i]`` is True only if the model's
    prediction on ``x_adv[i]`` actually changed (reached the target when targeted).

    Parameters
    ----------
    model : nn.Module returning logits.
    steps : int >= 1, at most this many linearisations.
    overshoot : float >= 0, steps are lengthened by this factor to cross the boundary.
    norm : "l2" or "linf".
    targeted : if True, ``y`` are targets.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, success = DeepFool(model)(x, y)
    >>> bool((model(x_adv[success]).argmax(1) != y[success]).all())   # every success is real
    True
    """

    def __init__(self, model, steps=50, overshoot=0.02, norm="l2", targeted=False):
        super().__init__(model, targeted)
        self.steps = positive_int("steps", steps)
        self.overshoot = nonnegative("overshoot", overshoot)
        self.norm = check_norm(norm, ("l2", "linf"))

    def attack(self, x, y):
        x_adv = x.clone()
        active = ~self.is_adversarial(x, y)
        for _ in range(self.steps):
            if not active.any():
                break
            idx = active.nonzero()[:, 0]
            step, length, _, _ = nearest_boundary(self.model, x_adv[idx], y[idx], self.targeted, self.norm)
            x_adv[idx] = (x_adv[idx] + (1 + self.overshoot) * step).clamp(0, 1)
            # no reachable boundary: the box blocks every linearised direction, so stop there
            active[idx] = ~self.is_adversarial(x_adv[idx], y[idx]) & length.isfinite()
        success = self.is_adversarial(x_adv, y)
        return shrink_to_boundary(self, x, x_adv, y, success), success


class MinimalPerturbation(MinimalNormAttack):
    """The smallest perturbation in the L1, L2 or L∞ norm that changes the decision, found with
    FAB, the fast adaptive boundary attack (Croce and Hein 2020).

    Each step projects both the current point and the original point onto the nearest
    linearised boundary (inside the box), moves to a convex combination biased towards the
    original, and after each success steps back towards the original (factor ``beta``). Random
    restarts around the best point found refine it. A bisection to the boundary ends the attack.

    Returns ``(x_adv, success)``; ``success[i]`` is True only where the prediction changed. Where
    it is False, ``x_adv[i]`` equals ``x[i]``.

    Parameters
    ----------
    model : nn.Module returning logits.
    norm : "l1", "l2" or "linf".
    steps : int >= 1, iterations per run.
    restarts : int >= 0, extra runs started at random points half-way to the best found.
    alpha_max, eta, beta : FAB's bias towards the original, overshoot and backward step.
    targeted : if True, ``y`` are targets.
    seed : int, fixes the restarts.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, success = MinimalPerturbation(model, norm="l1")(x, y)
    >>> bool((model(x_adv[success]).argmax(1) != y[success]).all())   # every success is real
    True
    """

    def __init__(self, model, norm="l2", steps=10, restarts=1, alpha_max=0.1, eta=1.05, beta=0.9,
                 targeted=False, seed=0):
        super().__init__(model, targeted)
        self.norm = check_norm(norm)
        self.steps = positive_int("steps", steps)
        self.restarts = positive_int("restarts", restarts, least=0)
        self.alpha_max = nonnegative("alpha_max", alpha_max)
        self.eta = nonnegative("eta", eta, strict=True)
        self.beta = nonnegative("beta", beta)
        self.seed = seed

    def attack(self, x, y):
        clean_wrong = self.is_adversarial(x, y)
        best = x.clone()
        best_norm = torch.where(clean_wrong, 0.0, float("inf"))
        generator = repro.generator(self.seed, x.device)
        for run in range(self.restarts + 1):
            start = x if run == 0 else self._random_start(x, best, best_norm, generator)
            todo = ~clean_wrong & (best_norm.isfinite() | (run == 0))
            if todo.any():
                idx = todo.nonzero()[:, 0]
                found, found_norm = self._run(x[idx], start[idx], y[idx])
                better = found_norm < best_norm[idx]
                best[idx[better]] = found[better]
                best_norm[idx[better]] = found_norm[better]
        success = self.is_adversarial(best, y)
        x_adv = torch.where(success.view(-1, *[1] * (x.dim() - 1)), best, x)
        return shrink_to_boundary(self, x, x_adv, y, success), success

    def _run(self, x0, start, y):
        shape = (-1,) + (1,) * (x0.dim() - 1)
        x_cur = start.clone()
        best, best_norm = x0.clone(), torch.full((len(x0),), float("inf"), device=x0.device)
        for _ in range(self.steps):
            r_cur, d_cur, w, f = nearest_boundary(self.model, x_cur, y, self.targeted, self.norm, exact_choice=False)
            r_orig, d_orig = steps_to_boundaries(w[:, None], f[:, None], x_cur, x0, self.norm)
            r_orig, d_orig = r_orig[:, 0].view_as(x0), d_orig[:, 0]
            # where the box blocks the boundary, move only towards it from the current point
            reachable = d_cur.isfinite() & d_orig.isfinite()
            d_cur = torch.where(reachable, d_cur, torch.zeros_like(d_cur))
            d_orig = torch.where(reachable, d_orig, torch.zeros_like(d_orig))
            alpha = (d_cur / (d_cur + d_orig).clamp_min(1e-12)).clamp(max=self.alpha_max).view(shape)
            x_cur = ((1 - alpha) * (x_cur + self.eta * r_cur) + alpha * (x0 + self.eta * r_orig)).clamp(0, 1)
            fooled = self.is_adversarial(x_cur, y)
            dist = norm_of(x_cur - x0, self.norm)
            better = fooled & (dist < best_norm)
            best = torch.where(better.view(shape), x_cur, best)
            best_norm = torch.where(better, dist, best_norm)
            x_cur = torch.where(fooled.view(shape), (1 - self.beta) * x0 + self.beta * x_cur, x_cur)
        return best, best_norm

    def _random_start(self, x, best, best_norm, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        if self.norm == "linf":
            noise = noise.sign()
        shape = (-1,) + (1,) * (x.dim() - 1)
        radius = torch.where(best_norm.isfinite(), best_norm, torch.zeros_like(best_norm)) / 2
        return (x + noise / norm_of(noise, self.norm).view(shape) * radius.view(shape)).clamp(0, 1)
