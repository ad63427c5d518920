"""Chapter 16, real-life challenges.

Bias learned from data, and the group-fairness criteria of the recidivism debate.

A data set with a *spurious* attribute (a bright corner patch on the digits) that agrees with the
label in training at a chosen strength, and not at test time; the usual group metrics, named
and defined as in fairlearn (``demographic_parity_difference``, ``equalized_odds_difference``);
calibration by group; and Chouldechova's (2017) identity, which shows why calibration (predictive
parity) and equal error rates cannot all hold when the groups' base rates differ. The confusion
matrices ProPublica published for COMPAS (``PROPUBLICA_COMPAS``) are the worked example.
``shortcut_counts`` gives the counts behind the shortcut accuracies for an exact test, and
``permuted_groups`` shuffles who is in which group: the control for a difference between groups.
"""

from dataclasses import dataclass

import numpy as np
import torch

from . import data
from . import repro

__all__ = ["GroupSplit", "spurious_digits", "group_confusion", "confusion_rates", "group_rates",
           "PROPUBLICA_COMPAS", "permuted_groups", "demographic_parity_difference",
           "equalized_odds_difference", "shortcut_accuracies", "shortcut_counts", "calibration_by_group",
           "chouldechova_fpr", "calibrated_scores"]


# ProPublica's two-year general recidivism sample (Larson et al. 2016, "How We Analyzed the COMPAS
# Recidivism Algorithm", and the notebook of their compas-analysis repository): rows are defendants
# who did not / did reoffend within two years, columns a low / a medium or high COMPAS score, so each
# matrix is [[TN, FP], [FN, TP]] with "high risk" as the positive prediction.
PROPUBLICA_COMPAS = {
    "Black": np.array([[990, 805], [532, 1369]]),
    "white": np.array([[1139, 349], [461, 505]]),
}


@dataclass
class GroupSplit:
    """A binary task with a group attribute.

    Parameters
    ----------
    x_train, x_test : (N, 64) float tensors in [0, 1].
    y_train, y_test : (N,) int64 labels 0/1.
    g_train, g_test : (N,) int64 groups 0/1.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    g_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    g_test: torch.Tensor


def spurious_digits(strength, seed=0, patch=2):
    """Digits labelled y = 1 if the digit is 5 or more, with a group g marked by a bright
    ``patch`` × ``patch`` square in the top-left corner (where digits are blank).

    In training g = y with probability ``strength`` (0.5: independent, 1: the patch gives the
    label away); at test time g is independent of y.

    Parameters
    ----------
    strength : float in [0, 1].
    seed : int, fixes the split and the groups.
    patch : int >= 1, the square's side in pixels.

    Returns
    -------
    :class:`GroupSplit`.
    """
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength!r}")
    if not 1 <= patch <= 4:
        raise ValueError(f"patch must be 1 to 4 pixels wide, got {patch!r}")
    digits = data.digits(seed=seed)
    generator = repro.generator(seed)
    parts = []
    for x, digit, agree in ((digits.x_train, digits.y_train, strength), (digits.x_test, digits.y_test, 0.5)):
        y = (digit >= 5).long()
        same = torch.rand(len(y), generator=generator) < agree
        g = torch.where(same, y, 1 - y)
        images = x.clone().view(-1, 8, 8)
        images[g == 1, :patch, :patch] = 1.0
        parts += [images.view(-1, 64), y, g]
    return GroupSplit(*parts)


def group_confusion(y_true, y_pred, sensitive_features):
    """The confusion matrix of each group.

    Parameters
    ----------
    y_true : (N,) binary labels.
    y_pred : (N,) binary predictions.
    sensitive_features : (N,) group labels.

    Returns
    -------
    dict {group: 2×2 array [[TN, FP], [FN, TP]]}.
    """
    y_true, y_pred, groups = _arrays(y_true, y_pred, sensitive_features)
    return {g: np.array([[np.sum((y_true == t) & (y_pred == p) & (groups == g)) for p in (0, 1)] for t in (0, 1)])
            for g in np.unique(groups)}


def group_rates(y_true, y_pred, sensitive_features):
    """The rates of each group, read off its confusion matrix.

    Parameters
    ----------
    y_true : (N,) binary labels.
    y_pred : (N,) binary predictions.
    sensitive_features : (N,) group labels.

    Returns
    -------
    dict {group: dict of "selection rate", "TPR", "FPR", "FNR", "PPV", "base rate", "accuracy"}
    (nan where a denominator is 0).
    """
    return {g: confusion_rates(c) for g, c in group_confusion(y_true, y_pred, sensitive_features).items()}


def confusion_rates(confusion):
    """The rates read off one binary confusion matrix.

    Parameters
    ----------
    confusion : 2×2 array of non-negative counts [[TN, FP], [FN, TP]], not all zero.

    Returns
    -------
    dict of "selection rate", "TPR", "FPR", "FNR", "PPV", "base rate", "accuracy" (nan where a
    denominator is 0).

    Example
    -------
    >>> rates = confusion_rates(PROPUBLICA_COMPAS["Black"])
    >>> round(rates["FPR"], 4), round(rates["FNR"], 4)
    (0.4485, 0.2799)
    """
    counts = np.asarray(confusion)
    if counts.shape != (2, 2) or not np.issubdtype(counts.dtype, np.number) or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"confusion must be a 2x2 array of non-negative counts [[TN, FP], [FN, TP]], not all "
                         f"zero, got {counts.tolist()}")
    (tn, fp), (fn, tp) = counts.tolist()
    n = tn + fp + fn + tp

    def ratio(a, b):
        return a / b if b else float("nan")

    return {"selection rate": (fp + tp) / n, "TPR": ratio(tp, tp + fn), "FPR": ratio(fp, fp + tn),
            "FNR": ratio(fn, tp + fn), "PPV": ratio(tp, tp + fp), "base rate": (fn + tp) / n,
            "accuracy": (tn + tp) / n}


def permuted_groups(confusions, seed=0):
    """The confusion matrices of the same people with their group labels shuffled: each person
    keeps the outcome and the prediction, the groups keep their sizes, and who is in which group is
    drawn at random. The control for a difference between groups: it must vanish here.

    Parameters
    ----------
    confusions : dict {group: 2×2 array of non-negative counts [[TN, FP], [FN, TP]]}.
    seed : int, fixes the shuffle.

    Returns
    -------
    dict {group: 2×2 int array}, with the same groups, the same group sizes and the same pooled
    matrix.

    Example
    -------
    >>> shuffled = permuted_groups(PROPUBLICA_COMPAS)
    >>> [int(c.sum()) for c in shuffled.values()]
    [3696, 2454]
    >>> bool((sum(shuffled.values()) == sum(PROPUBLICA_COMPAS.values())).all())
    True
    """
    names = list(confusions)
    counts = [np.asarray(confusions[g]) for g in names]
    for g, c in zip(names, counts):
        if c.shape != (2, 2) or not np.issubdtype(c.dtype, np.integer) or (c < 0).any():
            raise ValueError(f"the confusion of group {g!r} must be a 2x2 array of non-negative integer counts, "
                             f"got {c.tolist()}")
    cells = np.concatenate([np.repeat(np.arange(4), c.reshape(-1)) for c in counts])  # 0 TN, 1 FP, 2 FN, 3 TP
    groups = np.repeat(np.arange(len(names)), [int(c.sum()) for c in counts])
    groups = repro.numpy_rng(seed).permutation(groups)
    return {g: np.bincount(cells[groups == k], minlength=4).reshape(2, 2) for k, g in enumerate(names)}


def demographic_parity_difference(y_true, y_pred, *, sensitive_features):
    """Largest minus smallest selection rate P(ŷ = 1 | group), as fairlearn defines it.

    Parameters
    ----------
    y_true : (N,) binary labels (unused by the definition; kept for fairlearn's signature).
    y_pred : (N,) binary predictions.
    sensitive_features : (N,) group labels, keyword only.

    Returns
    -------
    float in [0, 1].

    Examples
    --------
    >>> demographic_parity_difference([0, 0, 0, 0], [1, 1, 0, 1], sensitive_features=["a", "a", "b", "b"])
    0.5
    """
    rates = group_rates(y_true, y_pred, sensitive_features).values()
    selection = [r["selection rate"] for r in rates]
    return float(max(selection) - min(selection))


def equalized_odds_difference(y_true, y_pred, *, sensitive_features):
    """The larger of the between-group ranges of the true- and false-positive rates, as in fairlearn:
    0 when the classifier has equal error rates in every group.

    Parameters
    ----------
    y_true : (N,) binary labels.
    y_pred : (N,) binary predictions.
    sensitive_features : (N,) group labels, keyword only.

    Returns
    -------
    float in [0, 1].
    """
    rates = list(group_rates(y_true, y_pred, sensitive_features).values())
    spread = lambda key: max(r[key] for r in rates) - min(r[key] for r in rates)
    return float(max(spread("TPR"), spread("FPR")))


def shortcut_accuracies(y_true, y_pred, groups):
    """Accuracy on all points, on the *aligned* ones (group = label, where a shortcut through the
    group gives the right answer) and on the *conflicting* ones (group ≠ label, where it gives the
    wrong one), for binary labels, predictions and groups.

    Parameters
    ----------
    y_true, y_pred, groups : (N,) arrays or tensors of 0/1

    Returns
    -------
    dict with "test", "aligned" and "conflicting" accuracies (nan where a kind has no points).
    """
    right, aligned = _right_and_aligned(y_true, y_pred, groups)
    mean = lambda values: float(values.mean()) if len(values) else float("nan")
    return {"test": mean(right), "aligned": mean(right[aligned]), "conflicting": mean(right[~aligned])}


def shortcut_counts(y_true, y_pred, groups):
    """The counts behind :func:`shortcut_accuracies`, for an exact test between the aligned and
    the conflicting points (e.g. :func:`deepissues.stats.fisher_exact_p`).

    Parameters
    ----------
    y_true, y_pred, groups : (N,) arrays or tensors of 0/1

    Returns
    -------
    dict {"aligned": (right, n), "conflicting": (right, n)} of ints.

    Example
    -------
    >>> shortcut_counts([0, 1, 1, 0], [0, 1, 0, 1], [0, 1, 0, 1])
    {'aligned': (2, 2), 'conflicting': (0, 2)}
    """
    right, aligned = _right_and_aligned(y_true, y_pred, groups)
    return {"aligned": (int(right[aligned].sum()), int(aligned.sum())),
            "conflicting": (int(right[~aligned].sum()), int((~aligned).sum()))}


def _right_and_aligned(y_true, y_pred, groups):
    y_true, y_pred, groups = _arrays(y_true, y_pred, groups)
    if not np.isin(groups, (0, 1)).all():
        raise ValueError(f"groups must hold binary groups 0/1 to be compared with the labels, got values "
                         f"{np.unique(groups)[:5]}")
    return y_pred == y_true, groups.astype(int) == y_true


def calibration_by_group(y_true, scores, *, sensitive_features, bins=10):
    """For each group, per score bin on [0, 1]: the mean score, the observed rate of y = 1 and the
    count. Calibrated scores have the first two equal in every group.

    Parameters
    ----------
    y_true : (N,) binary outcomes 0/1.
    scores : (N,) numbers in [0, 1].
    sensitive_features : (N,) group labels, keyword only (fairlearn's name).
    bins : int >= 1.

    Returns
    -------
    dict {group: (mean_score, observed_rate, count)}, arrays of length ``bins`` (nan where a bin
    is empty).
    """
    y_true, scores, groups = _arrays(y_true, scores, sensitive_features, binary_second=False)
    if scores.min() < 0 or scores.max() > 1:
        raise ValueError(f"scores must lie in [0, 1], got range [{scores.min()}, {scores.max()}]")
    which = np.minimum((scores * bins).astype(int), bins - 1)
    result = {}
    for g in np.unique(groups):
        inside = groups == g
        count = np.bincount(which[inside], minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(which[inside], weights=scores[inside], minlength=bins) / count
            rate = np.bincount(which[inside], weights=y_true[inside], minlength=bins) / count
        result[g] = (mean, rate, count)
    return result


def chouldechova_fpr(base_rate, ppv, fnr):
    """The false-positive rate that a group's base rate, positive predictive value and
    false-negative rate force (Chouldechova 2017): FPR = p/(1 − p) · (1 − PPV)/PPV · (1 − FNR).
    Two groups with equal PPV and FNR but different p must therefore have different FPR.

    Parameters
    ----------
    base_rate : number or array in (0, 1), p.
    ppv : number or array in (0, 1].
    fnr : number or array in [0, 1].

    Returns
    -------
    float (array for array inputs); rates that force an FPR above 1 are an error, since no
    classifier has them.

    Examples
    --------
    >>> round(chouldechova_fpr(0.5, 0.7, 0.3), 4)
    0.3
    """
    p, ppv, fnr = (np.asarray(a, dtype=float) for a in (base_rate, ppv, fnr))
    for name, value, ok in (("base_rate", p, (p > 0) & (p < 1)), ("ppv", ppv, (ppv > 0) & (ppv <= 1)),
                            ("fnr", fnr, (fnr >= 0) & (fnr <= 1))):
        if not np.all(ok):
            interval = {"base_rate": "(0, 1)", "ppv": "(0, 1]", "fnr": "[0, 1]"}[name]
            raise ValueError(f"{name} must lie in {interval}, got {value.tolist()}")
    fpr = p / (1 - p) * (1 - ppv) / ppv * (1 - fnr)
    if np.any(fpr > 1):
        raise ValueError(f"no classifier has these rates: they force a false positive rate above 1 ({fpr.tolist()})")
    return float(fpr) if fpr.ndim == 0 else fpr


def calibrated_scores(base_rates, n=20000, concentration=4.0, seed=0):
    """Synthetic risk scores that are calibrated in every group by construction: group k's scores
    are Beta distributed with mean base_rates[k], and each outcome is Bernoulli(score).

    Parameters
    ----------
    base_rates : sequence of numbers in (0, 1), one per group.
    n : int >= 1, draws per group.
    concentration : float > 0, the Beta's α + β.
    seed : int.

    Returns
    -------
    scores, outcomes, groups : (n · len(base_rates),) arrays.
    """
    base_rates = np.asarray(base_rates, dtype=float)
    if base_rates.ndim != 1 or np.any((base_rates <= 0) | (base_rates >= 1)):
        raise ValueError(f"base_rates must be a list of probabilities in (0, 1), got {base_rates}")
    rng = repro.numpy_rng(seed)
    scores = np.concatenate([rng.beta(concentration * p, concentration * (1 - p), size=n) for p in base_rates])
    outcomes = (rng.random(len(scores)) < scores).astype(int)
    return scores, outcomes, np.repeat(np.arange(len(base_rates)), n)


def _arrays(first, second, groups, binary_second=True):
    arrays = [np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a).reshape(-1) for a in (first, second, groups)]
    if not len(arrays[0]) == len(arrays[1]) == len(arrays[2]) or len(arrays[0]) == 0:
        raise ValueError(f"labels, predictions and groups must be non-empty and of one length, got "
                         f"{[len(a) for a in arrays]}")
    for name, a in (("y_true", arrays[0]), ("y_pred", arrays[1]))[: 2 if binary_second else 1]:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must hold binary labels 0/1, got values {np.unique(a)[:5]}")
    return arrays[0].astype(int), arrays[1].astype(float if not binary_second else int), arrays[2]
