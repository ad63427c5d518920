"""Chapters 05–06, adversarial examples and robustness guarantees.

What every attack shares: input checks, eval mode, the margin, and the last shrink to the boundary."""

import math

import torch
from torch import nn

from ..checks import NORMS, check_norm, positive_int
from ..autodiff import eval_mode
from .projections import project_ball_box

__all__ = ["NORMS", "Attack", "BoundedAttack", "MinimalNormAttack", "check_inputs", "margin", "norm_of",
           "shrink_to_boundary", "as_images"]


class Attack:
    """Base class of every attack. Subclasses implement ``attack(x, y)``; users call ``atk(x, y)``.

    Conventions (as torchattacks): inputs in [0, 1]; the model returns logits; the model is
    in eval mode during the attack and restored after. With ``targeted=True``, ``y`` holds
    the target labels and the attack tries to reach them; otherwise ``y`` holds the true labels.
    Subclass :class:`BoundedAttack` or :class:`MinimalNormAttack`, which say what the call returns.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs in [0, 1] to (N, K) logits.
    targeted : bool, whether ``y`` holds targets (reach them) or true labels (leave them).
    """

    def __init__(self, model, targeted=False):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module returning logits, got {type(model).__name__}")
        self.model = model
        self.targeted = bool(targeted)

    def __call__(self, x, y):
        check_inputs(self.model, x, y)
        # gradients are needed even when called under torch.no_grad()
        with eval_mode(self.model), torch.enable_grad():
            return self.attack(x.detach(), y.detach())

    def attack(self, x, y):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "model" and not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    # helpers for subclasses
    def loss(self, logits, y):
        """Per-point cross-entropy that the attack ascends (descends towards a target)."""
        ce = nn.functional.cross_entropy(logits, y, reduction="none")
        return -ce if self.targeted else ce

    def fooled(self, logits, y):
        """(N,) bool: the prediction is the target (targeted) or differs from the label."""
        pred = logits.argmax(1)
        return pred == y if self.targeted else pred != y

    def loss_gradient(self, x, y):
        """Gradient of the attack loss with respect to x, and the logits at x."""
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        grad, = torch.autograd.grad(self.loss(logits, y).sum(), x)
        return grad, logits.detach()

    def is_adversarial(self, x, y, clear=False):
        """(N,) bool: the model gets x wrong (reaches the target). With ``clear``, only by a logit
        margin of 1e-5 relative to the logits' size, so that float noise cannot undo it."""
        with torch.no_grad():
            logits = self.model(x)
        if not clear:
            return self.fooled(logits, y)
        tol = 1e-5 * logits.abs().amax(1).clamp_min(0.1)
        m = margin(logits, y)
        return m > tol if self.targeted else m < -tol



class BoundedAttack(Attack):
    """An attack with a budget fixed in its constructor (``eps`` and a norm, or a grid of
    transformations): ``atk(x, y)`` returns ``x_adv`` (N, ...) within that budget, fooling the
    model or not (FGSM, PGD, Square, Spatial; torchattacks' convention)."""

    def _projection(self, x):
        """δ ↦ ``project_ball_box(δ, self.eps, self.norm, x)`` for flat inputs x (N, d), for an
        attack that projects onto the same balls at every step. In L∞ the ball intersected with
        the box is itself a box, [max(−eps, −x), min(eps, 1 − x)], so the projection is one clamp
        to bounds computed once (clamping to one box, then to another that shares a point with
        it, is clamping to their intersection: the same result to the bit)."""
        if self.norm == "linf":
            low, high = (-x).clamp_min(-self.eps), (1 - x).clamp_max(self.eps)
            return lambda delta: delta.clamp(low, high)
        return lambda delta: project_ball_box(delta, self.eps, self.norm, x)


class MinimalNormAttack(Attack):
    """An attack that looks for the smallest change that fools the model: ``atk(x, y)`` returns
    ``(x_adv, success)``, x_adv (N, ...) and success (N,) bool, as foolbox's minimisation attacks
    do. Where success is False, x_adv means nothing (DeepFool, FAB, C&W, the region attack)."""


def check_inputs(model, x, y):
    """Raise a clear error unless the inputs of an attack are what it assumes.

    Parameters
    ----------
    model : nn.Module; it must return (N, K) logits with K >= 2.
    x : (N, ...) floating-point tensor in [0, 1], N >= 1.
    y : (N,) int64 or int32 labels in [0, K).

    Raises
    ------
    TypeError or ValueError naming the argument, what was expected and what came.
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}"
                        f"{'' if not torch.is_tensor(x) else ' of dtype ' + str(x.dtype)}")
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x must be a batch (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"x must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
    if not torch.is_tensor(y) or y.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"y must be an integer tensor of labels, got {getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) to match x, got {tuple(y.shape)}")
    with torch.no_grad(), eval_mode(model):
        out = model(x[:1])
    if out.dim() != 2 or out.shape[1] < 2:
        raise ValueError(f"model must return logits of shape (N, K) with K >= 2, got {tuple(out.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= out.shape[1]:
        raise ValueError(f"labels must lie in [0, {out.shape[1] - 1}] for a model with {out.shape[1]} "
                         f"outputs, got [{int(y.min())}, {int(y.max())}]")


def margin(logits, y):
    """The logit of class y minus the best other logit; negative once y is no longer predicted.

    The other classes are masked with -inf, so the "best other" is never y itself, whatever
    the scale of the logits.

    Parameters
    ----------
    logits : (N, K) tensor.
    y : (N,) int tensor of classes.

    Returns
    -------
    (N,) tensor.
    """
    if logits.dim() != 2 or y.shape != (len(logits),):
        raise ValueError(f"logits must be (N, K) and y must have shape (N,), got {tuple(logits.shape)} and "
                         f"{tuple(y.shape)}")
    own = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf"))
    return own - others.max(1).values


def norm_of(delta, norm):
    """The p-norm of each row of ``delta``, flattened.

    Parameters
    ----------
    delta : (N, ...) tensor.
    norm : one of :data:`NORMS` ("l1", "l2", "linf"); any other name is an error.

    Returns
    -------
    (N,) tensor.

    Examples
    --------
    >>> norm_of(torch.tensor([[3.0, -4.0]]), "l2").tolist(), norm_of(torch.tensor([[3.0, -4.0]]), "linf").tolist()
    ([5.0], [4.0])
    """
    check_norm(norm)
    flat = delta.flatten(1)
    if norm == "l1":
        return flat.abs().sum(1)
    if norm == "l2":
        return flat.norm(dim=1)
    return flat.abs().amax(1)


def shrink_to_boundary(attack, x, x_adv, y, success, steps=20):
    """Bisect on the segment x -> x_adv and keep the closest point the model still gets clearly wrong.

    Removes the overshoot a step needed to cross the boundary, without landing so close to it that
    evaluating the same point in another batch could flip the prediction back (see
    ``Attack.is_adversarial``).

    Parameters
    ----------
    attack : the :class:`Attack` whose model and target decide what "wrong" means.
    x : (N, ...) clean inputs.
    x_adv : (N, ...) adversarial inputs.
    y : (N,) labels (targets for a targeted attack).
    success : (N,) bool; only these points are shrunk.
    steps : int >= 1, bisection steps.

    Returns
    -------
    (N, ...) tensor: the shrunk points where ``success``, x_adv elsewhere.
    """
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have x's shape {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    if success.shape != (len(x),) or success.dtype != torch.bool:
        raise ValueError(f"success must be a ({len(x)},) bool tensor, got {tuple(success.shape)} {success.dtype}")
    positive_int("steps", steps)
    lo = torch.zeros(len(x), device=x.device)
    hi = torch.ones(len(x), device=x.device)
    delta = x_adv - x
    shape = (-1,) + (1,) * (x.dim() - 1)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = attack.is_adversarial(x + mid.view(shape) * delta, y, clear=True) & success
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
    return torch.where(success.view(shape), x + hi.view(shape) * delta, x_adv)


def as_images(x, image_shape):
    """View a batch as images (N, C, H, W).

    Parameters
    ----------
    x : (N, C, H, W) tensor, or (N, d) rows with d a square number, read as (N, 1, √d, √d).
    image_shape : (C, H, W) or None; when given, rows are reshaped to it.

    Returns
    -------
    (N, C, H, W) tensor, a view of x where possible.
    """
    if image_shape is not None:
        shape = tuple(image_shape)
    elif x.dim() == 4:
        shape = tuple(x.shape[1:])
    elif x.dim() == 2 and math.isqrt(x.shape[1]) ** 2 == x.shape[1]:
        side = math.isqrt(x.shape[1])
        shape = (1, side, side)
    else:
        raise ValueError(f"cannot read inputs of shape {tuple(x.shape)} as images; pass image_shape=(C, H, W)")
    if len(shape) != 3 or math.prod(shape) != x[0].numel():
        raise ValueError(f"image_shape must be (C, H, W) with C*H*W = {x[0].numel()}, got {shape}")
    return x.reshape(len(x), *shape)
