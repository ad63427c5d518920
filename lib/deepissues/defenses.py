"""Chapter 06, robustness guarantees.

Defences: adversarial training (Madry et al. 2018), defensive distillation (Papernot et al.
2016) and the Cross-Lipschitz regulariser (Hein and Andriushchenko 2017).

All three train through :func:`deepissues.training.fit`, so they share its progress bar and
:class:`~deepissues.training.History`.
"""

import torch
from torch import nn

from .attacks import BoundedAttack
from .certify.cross_lipschitz import activation_slope, layers_without_dropout, one_hidden_layer
from .checks import nonnegative, one_of
from .autodiff import eval_mode, logits_and_jacobian
from .training import fit

__all__ = ["adversarial_training", "soft_cross_entropy", "distill", "cross_lipschitz_penalty"]


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
        try:
            one_hidden_layer(model)
            method = "closed_form"
        except TypeError:
            method = "autograd"
    jac = _closed_form_jacobian(model, x) if method == "closed_form" else logits_and_jacobian(model, x, create_graph=True)[1]
    k = jac.shape[1]
    total = 2 * k * jac.pow(2).sum((1, 2)) - 2 * jac.sum(1).pow(2).sum(1)
    return total.mean() / k ** 2


def _closed_form_jacobian(model, x):
    one_hidden_layer(model)  # raises a clear error for other architectures
    layers = layers_without_dropout(model)
    if len(layers) == 1:
        return layers[0].weight.expand(len(x), -1, -1)
    first, act, last = layers
    x = x.flatten(1)
    slope = activation_slope(act, first(x))
    return torch.einsum("kh,nh,hd->nkd", last.weight, slope, first.weight)

