"""Chapters 05–06, adversarial examples and robustness guarantees.

Measuring attacks: robust accuracy, perturbation norms and transfer between models."""

from dataclasses import dataclass

import torch

from ..autodiff import eval_mode
from ..checks import check_norm, nonnegative
from .base import BoundedAttack, MinimalNormAttack, check_inputs, norm_of

__all__ = ["perturbation_norms", "minimal_norms", "robust_accuracy", "WorstCase", "worst_case_accuracy", "Transfer",
           "transfer_attack"]


def perturbation_norms(x, x_adv):
    """The L0, L1, L2 and L∞ norms of x_adv − x, one value per point.

    Parameters
    ----------
    x, x_adv : (N, ...) tensors of one shape.

    Returns
    -------
    dict with keys "l0", "l1", "l2", "linf" of (N,) tensors; L0 counts coordinates that changed by
    more than 1e-8.
    """
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    delta = (x_adv - x).flatten(1)
    return {"l0": (delta.abs() > 1e-8).sum(1).float(), "l1": norm_of(delta, "l1"),
            "l2": norm_of(delta, "l2"), "linf": norm_of(delta, "linf")}


def minimal_norms(attacks, x, y, norm="l2"):
    """Per point, the smallest ``norm`` of an adversarial change that any of the minimal-norm
    ``attacks`` found; inf where none succeeded.

    Parameters
    ----------
    attacks : sequence of :class:`MinimalNormAttack`, all checked before the first runs.
    x : (N, ...) inputs in [0, 1].
    y : (N,) labels.
    norm : "l1", "l2" or "linf".

    Returns
    -------
    (N,) float tensor.
    """
    check_norm(norm)
    attacks = list(attacks)
    for attack in attacks:  # all checked before the first one runs
        if not isinstance(attack, MinimalNormAttack):
            raise TypeError(f"attacks must be MinimalNormAttacks, which return (x_adv, success); got "
                            f"{type(attack).__name__}")
    if not attacks:
        raise ValueError("attacks must hold at least one attack, got none")
    best = torch.full((len(x),), float("inf"), device=x.device)
    for attack in attacks:
        x_adv, success = attack(x, y)
        best = torch.where(success, torch.minimum(best, norm_of(x_adv - x, norm)), best)
    return best


def predict(model, x):
    with torch.no_grad(), eval_mode(model):
        return model(x).argmax(1)


def robust_accuracy(model, attack, x, y, eps=None, norm=None):
    """Share of points classified correctly both before and after the attack.

    For a :class:`MinimalNormAttack`, pass ``eps`` and ``norm`` to count only successes with
    ‖x_adv − x‖ <= eps; one run then gives the whole curve over eps. A :class:`BoundedAttack`
    has its budget already. The attack must be built on ``model``: an attack on another model
    measures transfer, which :func:`transfer_attack` reports.

    Parameters
    ----------
    model : nn.Module returning logits.
    attack : a :class:`BoundedAttack` or :class:`MinimalNormAttack` built on ``model``.
    x : (N, ...) inputs in [0, 1].
    y : (N,) labels.
    eps : float >= 0 or None, the budget for a minimal-norm attack.
    norm : "l1", "l2", "linf" or None, the norm of that budget (with ``eps``).

    Returns
    -------
    float in [0, 1].

    Examples
    --------
    >>> from deepissues.attacks import FGSM
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> robust_accuracy(model, FGSM(model, eps=0.1), x, y) <= robust_accuracy(model, FGSM(model, eps=0.0), x, y)
    True
    """
    if not isinstance(attack, (BoundedAttack, MinimalNormAttack)):
        raise TypeError(f"attack must be a BoundedAttack or a MinimalNormAttack, got {type(attack).__name__}")
    if attack.model is not model:
        raise ValueError("attack must be built on model: an attack on another model measures transfer, which "
                         "transfer_attack reports")
    if (eps is None) != (norm is None):
        raise ValueError("eps and norm go together: pass both or neither")
    if norm is not None:
        check_norm(norm)
        nonnegative("eps", eps)
        if isinstance(attack, BoundedAttack):
            raise ValueError(f"eps and norm apply to minimal-norm attacks; {type(attack).__name__} is a "
                             "BoundedAttack with its own eps")
    check_inputs(model, x, y)
    clean = predict(model, x) == y
    if isinstance(attack, MinimalNormAttack):
        x_adv, success = attack(x, y)
        if eps is not None:
            success = success & (norm_of(x_adv - x, norm) <= eps + 1e-6)
        still = ~success
    else:
        still = predict(model, attack(x, y)) == y
    return float((clean & still).float().mean())



@dataclass
class WorstCase:
    """Result of :func:`worst_case_accuracy`.

    Attributes
    ----------
    accuracy : float, the share of points correct before and after every attack.
    robust : (N,) bool tensor, those points.
    broken : dict {attack label: (N,) bool tensor}, the points each attack broke among those the
        model got right; a label is the attack's class name, numbered when a class repeats.
    norm, eps : the threat model the attacks were held to.

    :meth:`from_norms` makes one from the norms minimal-norm attacks have already found.
    """

    accuracy: float
    robust: torch.Tensor
    broken: dict
    norm: str
    eps: float

    @classmethod
    def from_norms(cls, model, norms, x, y, eps, norm):
        """The result of minimal-norm attacks that have already run on x, from the norms they found:
        each breaks the points the model gets right where its change fits in the threat model, as
        :func:`worst_case_accuracy` counts it. Pass it to that function as ``known``, so that the
        attacks do not run again.

        Parameters
        ----------
        model : nn.Module returning logits.
        norms : dict {label: (N,) tensor}, for each attack (labelled by its class name) the
            ``norm`` of its adversarial change per point, inf where it failed: what
            :func:`minimal_norms` returns for that attack alone.
        x : (N, ...) inputs in [0, 1].
        y : (N,) labels.
        eps : float >= 0, the radius of the threat model.
        norm : "l1", "l2" or "linf", its norm.

        Returns
        -------
        :class:`WorstCase`.

        Examples
        --------
        >>> from deepissues.attacks import DeepFool
        >>> from deepissues.nets import mlp
        >>> model, x, y = mlp([4, 8, 3]), torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
        >>> known = WorstCase.from_norms(model, {"DeepFool": minimal_norms([DeepFool(model)], x, y)}, x, y, 0.2, "l2")
        >>> ran = worst_case_accuracy(model, [DeepFool(model)], x, y, eps=0.2, norm="l2")
        >>> torch.equal(known.robust, ran.robust) and torch.equal(known.broken["DeepFool"], ran.broken["DeepFool"])
        True
        """
        check_norm(norm)
        nonnegative("eps", eps)
        check_inputs(model, x, y)
        if not isinstance(norms, dict) or not norms:
            raise ValueError(f"norms must be a non-empty dict {{label: (N,) tensor}}, got {norms!r}")
        for label, found in norms.items():
            if not torch.is_tensor(found) or found.shape != (len(x),):
                raise ValueError(f"norms[{label!r}] must be a ({len(x)},) tensor, one norm per point of x, got "
                                 f"{tuple(found.shape) if torch.is_tensor(found) else type(found).__name__}")
        clean = predict(model, x) == y
        broken = {label: clean & (found <= eps + 1e-6) for label, found in norms.items()}
        robust = clean & ~torch.stack(list(broken.values())).any(0)
        return cls(float(robust.float().mean()), robust, broken, norm, float(eps))


def worst_case_accuracy(model, attacks, x, y, eps=None, norm=None, known=None):
    """Robust accuracy under the worst of several attacks: a point counts only if the model gets
    it right and no attack in the list breaks it, the protocol of Croce and Hein's AutoAttack.

    A :class:`BoundedAttack` must attack exactly the threat model (its ``norm`` and ``eps``); a
    :class:`MinimalNormAttack` breaks a point when it succeeds within ``eps`` in ``norm``. When
    every attack is bounded, ``eps`` and ``norm`` may be left out and are read from them (they
    must agree). Every attack is checked before the first one runs.

    Parameters
    ----------
    model : nn.Module returning logits.
    attacks : sequence of untargeted :class:`BoundedAttack` (with ``norm`` and ``eps``: FGSM,
        PGD, Square) and :class:`MinimalNormAttack`, all built on ``model``.
    x : (N, ...) inputs in [0, 1].
    y : (N,) labels.
    eps : float >= 0 or None, the radius of the threat model.
    norm : "l1", "l2", "linf" or None, its norm.
    known : :class:`WorstCase` or None, an earlier result of this function for the same model,
        ``x`` and ``y`` in the same threat model, from other attacks: they count as if they were
        in ``attacks`` (their labels come first) and do not run again. ``attacks`` may then be
        empty, and ``eps`` and ``norm`` default to ``known``'s.

    Returns
    -------
    :class:`WorstCase`.

    Examples
    --------
    >>> from deepissues.attacks import FGSM, PGD
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> result = worst_case_accuracy(model, [FGSM(model, eps=0.2), PGD(model, eps=0.2, steps=5)], x, y)
    >>> result.norm, result.eps, result.accuracy <= robust_accuracy(model, FGSM(model, eps=0.2), x, y)
    ('linf', 0.2, True)
    """
    attacks = list(attacks)
    if not attacks and known is None:
        raise ValueError("attacks must hold at least one attack, got none")
    if known is not None and not isinstance(known, WorstCase):
        raise TypeError(f"known must be a WorstCase from worst_case_accuracy, got {type(known).__name__}")
    for attack in attacks:
        if not isinstance(attack, (BoundedAttack, MinimalNormAttack)):
            raise TypeError(f"attacks must be BoundedAttacks or MinimalNormAttacks, got {type(attack).__name__}")
        if attack.model is not model:
            raise ValueError(f"every attack must be built on model; {type(attack).__name__} is not")
        if attack.targeted:
            raise ValueError(f"attacks must be untargeted (y holds the true labels); {type(attack).__name__} is targeted")
    if known is not None and norm is None and eps is None:
        norm, eps = known.norm, known.eps
    norm, eps = _threat_model(attacks, norm, eps)
    check_inputs(model, x, y)
    labels = _labels(attacks)
    if known is not None:
        _check_known(known, norm, eps, len(x), labels)
    clean = predict(model, x) == y
    robust, broken = (clean.clone(), {}) if known is None else (clean & known.robust, dict(known.broken))
    for label, attack in zip(labels, attacks):
        if isinstance(attack, MinimalNormAttack):
            x_adv, success = attack(x, y)
            fooled = success & (norm_of(x_adv - x, norm) <= eps + 1e-6)
        else:
            fooled = predict(model, attack(x, y)) != y
        broken[label] = clean & fooled
        robust &= ~fooled
    return WorstCase(float(robust.float().mean()), robust, broken, norm, eps)


def _threat_model(attacks, norm, eps):
    """The (norm, eps) every attack is held to: given, or read from the bounded attacks."""
    bounded = [a for a in attacks if isinstance(a, BoundedAttack)]
    for attack in bounded:
        if getattr(attack, "norm", None) is None or getattr(attack, "eps", None) is None:
            raise ValueError(f"{type(attack).__name__} has no Lp ball (norm and eps) to hold it to; its threat "
                             "model is another one")
    if (norm is None) != (eps is None):
        raise ValueError("eps and norm go together: pass both or neither")
    if norm is None:
        if len(bounded) < len(attacks):
            raise ValueError("eps and norm are needed when a minimal-norm attack is in the list")
        norm, eps = bounded[0].norm, bounded[0].eps
    check_norm(norm)
    nonnegative("eps", eps)
    for attack in bounded:
        if attack.norm != norm or abs(attack.eps - eps) > 1e-12:
            raise ValueError(f"every bounded attack must attack the threat model norm={norm!r}, eps={eps!r}; "
                             f"{type(attack).__name__} has norm={attack.norm!r}, eps={attack.eps!r}")
    return norm, float(eps)


def _check_known(known, norm, eps, n, labels):
    """Refuse an earlier result that cannot be merged: another threat model, length or same labels."""
    if known.norm != norm or abs(known.eps - eps) > 1e-12:
        raise ValueError(f"known must be in the threat model norm={norm!r}, eps={eps!r}; it has "
                         f"norm={known.norm!r}, eps={known.eps!r}")
    if len(known.robust) != n:
        raise ValueError(f"known must be a result on the same {n} points, got one on {len(known.robust)}")
    clash = sorted(set(labels) & set(known.broken))
    if clash:
        raise ValueError(f"known already holds the attacks labelled {clash}; run each attack once")


def _labels(attacks):
    names = [type(a).__name__ for a in attacks]
    return [f"{n} {names[:i].count(n) + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]

@dataclass
class Transfer:
    """Result of :func:`transfer_attack`.

    Parameters
    ----------
    x_adv : (N, ...) adversarial inputs made on the source model.
    fooled_source : (N,) bool, points both models got right that x_adv fools on the source.
    fooled_target : (N,) bool, the same on the target model.
    """

    x_adv: torch.Tensor
    fooled_source: torch.Tensor
    fooled_target: torch.Tensor

    @property
    def transfer_rate(self):
        """Share of the source's successes that also fool the target."""
        n = int(self.fooled_source.sum())
        return float((self.fooled_source & self.fooled_target).sum()) / n if n else 0.0


def transfer_attack(source_model, target_model, attack, x, y):
    """Attack ``source_model`` (white-box) and test the result on ``target_model`` (black-box;
    Papernot et al. 2016). Only points that both models classify correctly count.

    Parameters
    ----------
    source_model, target_model : nn.Modules with the same inputs and classes.
    attack : a :class:`BoundedAttack` or :class:`MinimalNormAttack` built on ``source_model``.
    x : (N, ...) inputs in [0, 1].
    y : (N,) labels.

    Returns
    -------
    :class:`Transfer`.
    """
    if not isinstance(attack, (BoundedAttack, MinimalNormAttack)):
        raise TypeError(f"attack must be a BoundedAttack or a MinimalNormAttack, got {type(attack).__name__}")
    if attack.model is not source_model:
        raise ValueError("attack must be built on source_model")
    check_inputs(source_model, x, y)
    check_inputs(target_model, x, y)
    both = (predict(source_model, x) == y) & (predict(target_model, x) == y)
    x_adv = attack(x, y)[0] if isinstance(attack, MinimalNormAttack) else attack(x, y)
    return Transfer(x_adv, both & (predict(source_model, x_adv) != y), both & (predict(target_model, x_adv) != y))
