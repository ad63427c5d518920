"""Chapter 06, robustness guarantees.

Defences: adversarial training (Madry et al. 2018), defensive distillation (Papernot et al.
2016), the Cross-Lipschitz regulariser (Hein and Andriushchenko 2017) and interval-bound
training (Gowal et al. 2018).

The first three train through :func:`deepissues.training.fit`, so they share its progress bar
and :class:`~deepissues.training.History`; interval-bound training ramps its radius step by step,
so it runs on :func:`deepissues.training.train_steps`.
"""

import torch
from torch import nn

from .attacks import BoundedAttack
from .certify.cross_lipschitz import activation_slope, layers_without_dropout, one_hidden_layer
from .certify.intervals import METHODS, margin_lower_bounds
from .checks import nonnegative, one_of, positive_int
from .autodiff import eval_mode, logits_and_jacobian
from .training import fit, sample_batches, train_steps

__all__ = ["adversarial_training", "soft_cross_entropy", "distill", "cross_lipschitz_penalty",
           "interval_bound_training"]


def adversarial_training(model, x, y, attack, **fit_kwargs):
    """Madry et al.'s adversarial training: every mini-batch is replaced by the attack's
    adversarial version of it before the gradient step, so the network minimises the loss at
    the worst point of each ball that the attack can find.

    Parameters
    ----------
    model : nn.Module returning logits.
    x : (N, ...) training inputs in [0, 1].
    y : (N,) labels.
    attack : a :class:`~deepissues.attacks.BoundedAttack` built on ``model`` (e.g. PGD), called
        afresh on every batch; it puts the model in eval mode while it runs.
    **fit_kwargs : passed to :func:`~deepissues.training.fit` (epochs, lr, ...).

    Returns
    -------
    :class:`~deepissues.training.History`.

    Examples
    --------
    >>> from deepissues.attacks import FGSM
    >>> from deepissues.nets import mlp
    >>> net, x, y = mlp([4, 8, 3]), torch.rand(16, 4), torch.arange(16) % 3
    >>> len(adversarial_training(net, x, y, FGSM(net, eps=0.1), epochs=2, progress=False))
    2
    """
    if not isinstance(attack, BoundedAttack):
        raise TypeError(f"attack must be a BoundedAttack returning x_adv (PGD, FGSM, ...), got {type(attack).__name__}")
    if attack.model is not model:
        raise ValueError("attack must be built on the model being trained")
    return fit(model, x, y, perturb=attack, **fit_kwargs)


def soft_cross_entropy(temperature=1.0):
    """The cross-entropy at temperature T, against probabilities or labels.

    Parameters
    ----------
    temperature : float > 0.

    Returns
    -------
    callable(logits, targets) -> scalar tensor: the mean over points of
    −Σ_k p_k log softmax(logits / T)_k, where the targets p are probabilities (N, K) or labels (N,).
    """
    temperature = nonnegative("temperature", temperature, strict=True)

    def loss(logits, targets):
        log_p = (logits / temperature).log_softmax(1)
        if targets.dim() == 1:
            return nn.functional.nll_loss(log_p, targets)
        return -(targets * log_p).sum(1).mean()

    return loss


def distill(teacher, student, x, temperature, **fit_kwargs):
    """Defensive distillation: train ``student`` on the teacher's softmax at temperature T.

    The teacher should itself have been trained with ``loss=soft_cross_entropy(T)`` on the
    labels. Both are trained at T and the student is *used* at T = 1, that is on its raw logits,
    which training at T has made about T times larger: the softmax saturates and the gradient of
    the cross-entropy vanishes. That is what stops gradient attacks on the raw loss, and why
    Carlini and Wagner's attack on the logits is not stopped.

    Parameters
    ----------
    teacher, student : nn.Modules returning logits.
    x : (N, ...) training inputs.
    temperature : float > 0.
    **fit_kwargs : passed to :func:`~deepissues.training.fit`; ``val`` must be labels-based.

    Returns
    -------
    :class:`~deepissues.training.History`.
    """
    temperature = nonnegative("temperature", temperature, strict=True)
    with torch.no_grad(), eval_mode(teacher):
        soft = (teacher(x) / temperature).softmax(1)
    return fit(student, x, soft, loss=soft_cross_entropy(temperature), metric="accuracy", **fit_kwargs)


def cross_lipschitz_penalty(model, x, method="auto"):
    """Hein and Andriushchenko's regulariser Ω = 1/(n K²) Σ_i Σ_{l,m} ‖∇f_l(x_i) − ∇f_m(x_i)‖².

    It is differentiable in the model's parameters, so it can be added to a training loss
    (``fit(..., penalty=lambda m, xb: lam * cross_lipschitz_penalty(m, xb))``). The double sum
    is computed as 2K Σ_l ‖∇f_l‖² − 2‖Σ_l ∇f_l‖², which needs K gradients, not K².

    Parameters
    ----------
    model : nn.Module returning (N, K) outputs.
    x : (N, ...) inputs.
    method : "closed_form" for a one-hidden-layer network f = W σ(Ux + b) + w0, whose gradients
        are W diag(σ'(Ux + b)) U; "autograd" for any model; "auto" picks the first when it applies.
        The closed form treats Dropout layers as the identity (eval mode); autograd applies
        them as the model's mode says.

    Returns
    -------
    scalar tensor.
    """
    one_of("method", method, ("auto", "closed_form", "autograd"))
    if method == "auto":
        method = "closed_form" if _closed_form_applies(model) else "autograd"
    if method == "closed_form":
        return _closed_form_penalty(model, x)
    jac = logits_and_jacobian(model, x, create_graph=True)[1]
    k = jac.shape[1]
    total = 2 * k * jac.pow(2).sum((1, 2)) - 2 * jac.sum(1).pow(2).sum(1)
    return total.mean() / k ** 2


def _closed_form_penalty(model, x):
    """The penalty of f = W σ(Ux + b) + w0 without its Jacobian: with A_l = W_l ∘ σ'(Ux + b),
    ∇f_l = A_l U, so every squared norm is a quadratic form in the (h, h) Gram matrix UUᵀ, which
    costs K·h² per point instead of K·h·d."""
    if not _closed_form_applies(model):
        one_hidden_layer(model)  # raises a clear error for other architectures
    layers = layers_without_dropout(model)
    if len(layers) == 1:  # linear: the gradients are the weight rows, the same at every point
        rows, gram = layers[0].weight[None], torch.eye(layers[0].weight.shape[1], dtype=x.dtype, device=x.device)
    else:
        first, act, last = layers
        rows = last.weight[None] * activation_slope(act, first(x.flatten(1)))[:, None, :]  # (N, K, h)
        gram = first.weight @ first.weight.T

    def squared_norms(a):
        return ((a @ gram) * a).sum(-1)

    k = rows.shape[1]
    total = 2 * k * squared_norms(rows).sum(1) - 2 * squared_norms(rows.sum(1))
    return total.expand(len(x)).mean() / k ** 2


def _closed_form_applies(model):
    """Whether ``model`` is a network that :func:`one_hidden_layer` accepts (Linear, smooth activation,
    Linear, or a Linear alone), judged from its layers' types: one_hidden_layer also copies the
    weights to float64, which a penalty evaluated at every training step does not need."""
    layers = layers_without_dropout(model)
    if len(layers) == 1:
        return isinstance(layers[0], nn.Linear)
    return (len(layers) == 3 and isinstance(layers[0], nn.Linear) and isinstance(layers[2], nn.Linear)
            and isinstance(layers[1], (nn.Softplus, nn.Tanh, nn.Sigmoid)))


def interval_bound_training(model, x, y, eps, steps, *, batch_size=64, lr=1e-3, warmup=0.5, kappa=0.5,
                            method="IBP", seed=0, progress=True):
    """Gowal et al.'s interval-bound training: minimise κ·CE(f(x), y) + (1 − κ)·CE(ẑ, y), where ẑ
    are the worst-case logits the bounds allow on the ball of radius ε, ẑ_j = −(lower bound of
    f_y − f_j) and ẑ_y = 0. A network trained so has bounds that certify it.

    As in their paper, ε ramps linearly from 0 and κ from 1 to its final value over the first
    ``warmup`` share of the steps; training on the full radius from the start fails.

    Parameters
    ----------
    model : nn.Sequential as :func:`~deepissues.certify.margin_lower_bounds` takes.
    x : (N, d) training inputs in [0, 1].
    y : (N,) int64 labels.
    eps : float > 0, the final L∞ radius (Gowal et al. train at 1.1 times the radius they test).
    steps : int >= 1, optimiser steps (Adam), each on a batch of ``batch_size``.
    batch_size : int >= 1.
    lr : float > 0.
    warmup : float in [0, 1], the share of the steps over which ε and κ ramp.
    kappa : float in [0, 1], the final weight of the clean loss.
    method : "IBP" or "CROWN", the bounds trained on (CROWN costs a backward pass per layer).
    seed : int, the order of the batches.
    progress : show a progress bar.

    Returns
    -------
    list of floats, the training loss at every step.

    Example
    -------
    >>> from deepissues.nets import mlp
    >>> net, x, y = mlp([4, 8, 3]), torch.rand(32, 4), torch.arange(32) % 3
    >>> losses = interval_bound_training(net, x, y, eps=0.1, steps=20, progress=False)
    >>> len(losses)
    20
    """
    nonnegative("eps", eps, strict=True)
    positive_int("steps", steps)
    nonnegative("lr", lr, strict=True)
    one_of("method", method, METHODS)
    for name, value in (("warmup", warmup), ("kappa", kappa)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    batches = sample_batches((x, y), min(batch_size, len(x)), seed=seed)
    ramp_steps, losses = max(1.0, warmup * steps), []

    def loss(net, batch):
        (xb, yb), step = batch
        ramp = min(1.0, step / ramp_steps)
        clean = nn.functional.cross_entropy(net(xb), yb)
        worst = -margin_lower_bounds(net, xb, yb, ramp * eps, method=method)
        worst = worst.masked_fill(torch.isinf(worst), 0.0)  # ẑ_y = 0: the margin to itself
        weight = 1 - ramp * (1 - kappa)
        value = weight * clean + (1 - weight) * nn.functional.cross_entropy(worst, yb)
        losses.append(float(value.detach()))
        return value

    # foreach: one kernel per operation over all the parameters instead of one per parameter; the
    # same arithmetic, so the same weights to the bit, in less time on a small network
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    train_steps(model, loss, lambda step: (batches(step), step), steps, optimizer, progress=progress,
                description="interval-bound training")
    return losses
