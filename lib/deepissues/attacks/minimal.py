"""Minimal-norm attacks: DeepFool and FAB. Both linearise the classifier and step to the nearest
linearised boundary inside the box [0, 1]^d, so neither stalls where the box binds."""

import torch

from .base import Attack, check_count, check_norm, check_positive, norm_of, shrink_to_boundary
from .projections import min_norm_step


def logits_and_jacobian(model, x):
    """Logits (N, K) at x and their gradients (N, K, d) with respect to the flattened input."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    rows = [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < logits.shape[1] - 1)[0].flatten(1)
            for k in range(logits.shape[1])]
    return logits.detach(), torch.stack(rows, 1)


def boundary_steps(logits, jac, x_at, x_from, y, targeted, norm):
    """Steps from x_from to each linearised decision boundary taken at x_at, within the box.

    ``logits`` (N, K) and ``jac`` (N, K, d) are the model's outputs and their gradients at x_at.
    Untargeted, the boundaries are those between the label y and every other class j;
    targeted, the single boundary between the target y and the best other class at x_at.

    Returns ``(steps, lengths)``: steps (N, K, ...) shaped like x_from, and their norms (N, K),
    inf where a boundary does not count or the box cannot reach it.
    """
    n, k = logits.shape
    shape = x_from.shape
    x_at, x_from = x_at.flatten(1), x_from.flatten(1)
    own = logits.gather(1, y[:, None])
    own_grad = jac[torch.arange(n), y][:, None]
    w, f = jac - own_grad, logits - own              # class j beats y where f + w·r >= 0
    if targeted:
        w, f = -w, -f                                # y beats class j
    need = -(f + (w * (x_from - x_at)[:, None]).sum(2))
    lower = (-x_from)[:, None].expand(n, k, -1).reshape(n * k, -1)
    r, ok = min_norm_step(w.reshape(n * k, -1), need.reshape(-1), lower, 1 + lower, norm)
    lengths = norm_of(r, norm).view(n, k)
    counts = torch.ones_like(lengths, dtype=torch.bool).scatter(1, y[:, None], False)
    if targeted:
        rival = logits.scatter(1, y[:, None], float("-inf")).argmax(1, keepdim=True)
        counts = torch.zeros_like(counts).scatter(1, rival, True)
    lengths = torch.where(counts & ok.view(n, k), lengths, torch.full_like(lengths, float("inf")))
    return r.view(n, k, *shape[1:]), lengths


class DeepFool(Attack):
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

    Example
    -------
    >>> x_adv, success = DeepFool(model)(x, y)  # doctest: +SKIP
    """

    def __init__(self, model, steps=50, overshoot=0.02, norm="l2", targeted=False):
        super().__init__(model, targeted)
        self.steps = check_count("steps", steps)
        self.overshoot = check_positive("overshoot", overshoot)
        self.norm = check_norm(norm, ("l2", "linf"))

    def attack(self, x, y):
        x_adv = x.clone()
        active = ~self.is_adversarial(x, y)
        for _ in range(self.steps):
            if not active.any():
                break
            idx = active.nonzero()[:, 0]
            here = x_adv[idx]
            logits, jac = logits_and_jacobian(self.model, here)
            r, lengths = boundary_steps(logits, jac, here, here, y[idx], self.targeted, self.norm)
            nearest = lengths.argmin(1)
            step = r[torch.arange(len(idx)), nearest]
            x_adv[idx] = (here + (1 + self.overshoot) * step).clamp(0, 1)
            # no reachable boundary: the box blocks every linearised direction, so stop there
            active[idx] = ~self.is_adversarial(x_adv[idx], y[idx]) & lengths.isfinite().any(1)
        success = self.is_adversarial(x_adv, y)
        return shrink_to_boundary(self, x, x_adv, y, success), success


class MinimalPerturbation(Attack):
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

    Example
    -------
    >>> x_adv, success = MinimalPerturbation(model, norm="l1")(x, y)  # doctest: +SKIP
    """

    def __init__(self, model, norm="l2", steps=100, restarts=2, alpha_max=0.1, eta=1.05, beta=0.9,
                 targeted=False, seed=0):
        super().__init__(model, targeted)
        self.norm = check_norm(norm)
        self.steps = check_count("steps", steps)
        self.restarts = check_count("restarts", restarts, least=0)
        self.alpha_max = check_positive("alpha_max", alpha_max)
        self.eta = check_positive("eta", eta, strict=True)
        self.beta = check_positive("beta", beta)
        self.seed = seed

    def attack(self, x, y):
        clean_wrong = self.is_adversarial(x, y)
        best = x.clone()
        best_norm = torch.where(clean_wrong, 0.0, float("inf"))
        generator = torch.Generator(device=x.device).manual_seed(self.seed)
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
        rows = torch.arange(len(x0), device=x0.device)
        for _ in range(self.steps):
            logits, jac = logits_and_jacobian(self.model, x_cur)
            r_cur, len_cur = boundary_steps(logits, jac, x_cur, x_cur, y, self.targeted, self.norm)
            s = len_cur.argmin(1)
            r_orig, len_orig = boundary_steps(logits, jac, x_cur, x0, y, self.targeted, self.norm)
            d_cur, d_orig = len_cur[rows, s], len_orig[rows, s]
            reachable = d_cur.isfinite() & d_orig.isfinite()
            d_cur = torch.where(reachable, d_cur, torch.zeros_like(d_cur))
            d_orig = torch.where(reachable, d_orig, torch.zeros_like(d_orig))
            # where the box blocks the boundary, move only towards it from the current point
            alpha = (d_cur / (d_cur + d_orig).clamp_min(1e-12)).clamp(max=self.alpha_max).view(shape)
            x_cur = ((1 - alpha) * (x_cur + self.eta * r_cur[rows, s])
                     + alpha * (x0 + self.eta * r_orig[rows, s])).clamp(0, 1)
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
        radius = torch.where(best_norm.isfinite(), best_norm, torch.zeros_like(best_norm)) / 2
        scaled = noise / norm_of(noise, self.norm).view(-1, *[1] * (x.dim() - 1)) * radius.view(-1, *[1] * (x.dim() - 1))
        return (x + scaled).clamp(0, 1)
