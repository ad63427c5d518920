"""Chapters 05–06, adversarial examples and robustness guarantees.

The Carlini–Wagner L2 attack."""

import torch

from ..checks import nonnegative, positive_int
from .base import MinimalNormAttack, margin

__all__ = ["CarliniWagnerL2"]


class CarliniWagnerL2(MinimalNormAttack):
    """Carlini and Wagner's L2 attack (2017): minimise ‖x' − x‖₂² + c·max(margin(x'), −κ) over
    x' = (tanh(w) + 1)/2, which keeps x' in [0, 1] without clipping, with Adam, and a binary
    search over c for each point. The model's parameters get no gradient.

    The margin is the logit of the label minus the best *other* logit (the label masked with
    −inf); targeted, it is the best other logit minus the target's. Over all steps and all c,
    each point keeps the closest x' the model gets wrong.

    Returns ``(x_adv, success)``, as foolbox does; where ``success[i]`` is False, ``x_adv[i]``
    equals ``x[i]``.

    Parameters
    ----------
    model : nn.Module returning logits.
    c : float > 0, the first weight of the margin term.
    kappa : float >= 0, the confidence margin κ.
    steps : int >= 1, Adam steps for each c.
    lr : float > 0, Adam's step size in w.
    search_steps : int >= 1, values of c tried: ×10 until a success, then bisection.
    targeted : if True, ``y`` are targets.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, success = CarliniWagnerL2(model, steps=30, search_steps=3)(x, y)
    >>> bool((model(x_adv[success]).argmax(1) != y[success]).all())   # every success is real
    True
    """

    def __init__(self, model, c=1.0, kappa=0.0, steps=100, lr=0.1, search_steps=9, targeted=False):
        super().__init__(model, targeted)
        self.c = nonnegative("c", c, strict=True)
        self.kappa = nonnegative("kappa", kappa)
        self.steps = positive_int("steps", steps)
        self.lr = nonnegative("lr", lr, strict=True)
        self.search_steps = positive_int("search_steps", search_steps)

    def attack(self, x, y):
        n = len(x)
        shape = (-1,) + (1,) * (x.dim() - 1)
        c = torch.full((n,), float(self.c), device=x.device)
        low, high = torch.zeros_like(c), torch.full_like(c, float("inf"))
        best, best_dist = x.clone(), torch.full_like(c, float("inf"))
        w0 = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))
        for _ in range(self.search_steps):
            w = w0.clone().requires_grad_(True)
            adam = _Adam(w, lr=self.lr)
            hit = torch.zeros(n, dtype=torch.bool, device=x.device)
            for _ in range(self.steps):
                x_new = (torch.tanh(w) + 1) / 2
                logits = self.model(x_new)
                dist = (x_new - x).flatten(1).pow(2).sum(1)
                m = margin(logits, y)
                m = -m if self.targeted else m
                loss = dist + c * m.clamp_min(-self.kappa)
                grad, = torch.autograd.grad(loss.sum(), w)   # w's gradient only, not the model's
                adam.step(grad)
                with torch.no_grad():
                    fooled = self.fooled(logits, y)
                    better = fooled & (dist < best_dist)
                    best = torch.where(better.view(shape), x_new.detach(), best)
                    best_dist = torch.where(better, dist.detach(), best_dist)
                    hit |= fooled
            high = torch.where(hit, torch.minimum(high, c), high)
            low = torch.where(hit, low, torch.maximum(low, c))
            c = torch.where(high.isfinite(), (low + high) / 2, c * 10)
        success = self.is_adversarial(best, y)
        return torch.where(success.view(shape), best, x), success


class _Adam:
    """Adam (Kingma and Ba 2015) on one tensor, with torch.optim.Adam's defaults (betas 0.9 and
    0.999, eps 1e-8, no weight decay) and its arithmetic, so the iterates are the same to the bit;
    without the optimiser's bookkeeping, which costs more than the step on the small tensors of an
    attack. ``step(grad)`` updates the tensor in place."""

    def __init__(self, param, lr, betas=(0.9, 0.999), eps=1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.steps = 0

    @torch.no_grad()
    def step(self, grad):
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = self.lr / (1 - beta1 ** self.steps)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2 ** self.steps) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)
