"""Noise baselines for claims: is a measured difference larger than its sampling noise?

A claim that compares two numbers measured on a few seeds or a few hundred test points needs a
threshold that comes from the noise, not from the last run. These tests give it as a one-sided
p-value: the probability of a difference at least as large as the one measured if there were
none. Serves chapters 02 (correlations over seeds, the spread of spin-glass minima), 04 (test
accuracies), 06 (which of two attacks breaks more points), 13 (how often runs reach a valley) and
16 (rates and scores of two groups).
"""

import math

import numpy as np

from .checks import positive_int

__all__ = ["correlation_drop_p", "proportion_excess_p", "mean_excess_p", "spread_excess_p", "sign_test_p"]


def correlation_drop_p(r_before, n_before, r_after, n_after):
    """One-sided p-value that the correlation fell from ``r_before`` to ``r_after``, by Fisher's
    z-transform: z = (atanh r_before − atanh r_after) / sqrt(1/(n_before − 3) + 1/(n_after − 3)).

    The z-transform of a sample correlation of n bivariate normal pairs is close to normal with
    variance 1/(n − 3); the p-value is the normal tail beyond z.

    Parameters
    ----------
    r_before, r_after : floats in (−1, 1).
    n_before, n_after : ints >= 4, the pairs behind each (independent samples).

    Returns
    -------
    float in (0, 1).

    Examples
    --------
    >>> f"{correlation_drop_p(0.9, 30, 0.3, 30):.1e}"
    '9.7e-06'
    """
    for name, r in (("r_before", r_before), ("r_after", r_after)):
        if not -1 <= r <= 1 or math.isnan(r):
            raise ValueError(f"{name} must be a correlation in [-1, 1], got {r!r}")
    positive_int("n_before", n_before, least=4)
    positive_int("n_after", n_after, least=4)
    z = (_atanh(r_before) - _atanh(r_after)) / math.sqrt(1 / (n_before - 3) + 1 / (n_after - 3))
    return _normal_tail(z)


def proportion_excess_p(hits_a, n_a, hits_b, n_b):
    """One-sided p-value that the rate hits_a / n_a exceeds hits_b / n_b, by the pooled
    two-proportion z-test (normal approximation; counts of at least about 5 each).

    Parameters
    ----------
    hits_a, n_a : ints, 0 <= hits_a <= n_a, n_a >= 1.
    hits_b, n_b : ints, the same for the second sample.

    Returns
    -------
    float in (0, 1).

    Examples
    --------
    >>> round(proportion_excess_p(60, 100, 40, 100), 4)
    0.0023
    """
    for name, hits, n in (("a", hits_a, n_a), ("b", hits_b, n_b)):
        positive_int(f"n_{name}", n)
        positive_int(f"hits_{name}", hits, least=0)
        if hits > n:
            raise ValueError(f"hits_{name} must be at most n_{name}={n}, got {hits}")
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    difference = hits_a / n_a - hits_b / n_b
    if spread == 0:
        return 1.0 if difference <= 0 else 0.0
    return _normal_tail(difference / spread)


def mean_excess_p(a, b):
    """One-sided p-value that the mean of the sample ``a`` exceeds that of the independent sample
    ``b``, by the large-sample z-test (Welch's statistic, normal tail; a few dozen values each).

    Parameters
    ----------
    a, b : sequences of at least 2 numbers each.

    Returns
    -------
    float in (0, 1).
    """
    a, b = (np.asarray(v, dtype=float).reshape(-1) for v in (a, b))
    for name, v in (("a", a), ("b", b)):
        if len(v) < 2 or not np.isfinite(v).all():
            raise ValueError(f"{name} must hold at least 2 finite values, got {len(v)} values")
    spread = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    difference = a.mean() - b.mean()
    if spread == 0:
        return 1.0 if difference <= 0 else 0.0
    return _normal_tail(difference / spread)


def spread_excess_p(a, b):
    """One-sided p-value that the sample ``a`` is more spread than the independent sample ``b``,
    by the Brown–Forsythe test: :func:`mean_excess_p` on the absolute deviations from each
    sample's median, which unlike an F-test on variances holds for skewed samples.

    Parameters
    ----------
    a, b : sequences of at least 2 numbers each.

    Returns
    -------
    float in (0, 1).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> spread_excess_p(3 * rng.normal(size=50), rng.normal(size=50)) < 1e-6
    True
    """
    a, b = (np.asarray(v, dtype=float).reshape(-1) for v in (a, b))
    return mean_excess_p(np.abs(a - np.median(a)), np.abs(b - np.median(b)))


def sign_test_p(wins, losses):
    """One-sided p-value that A beats B more often than B beats A, from paired outcomes: the
    exact binomial tail P(X >= wins) for X ~ Binomial(wins + losses, 1/2). Ties are left out, as
    in the sign test (and McNemar's exact test).

    Parameters
    ----------
    wins : int >= 0, the pairs where A beat B (a point one attack broke and the other did not).
    losses : int >= 0, the pairs where B beat A.

    Returns
    -------
    float in (0, 1]; 1 when there are no untied pairs.

    Example
    -------
    >>> round(sign_test_p(9, 1), 4)
    0.0107
    """
    for name, value in (("wins", wins), ("losses", losses)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    n = int(wins) + int(losses)
    return float(sum(math.comb(n, k) for k in range(int(wins), n + 1)) / 2 ** n) if n else 1.0


def _atanh(r):
    return math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))  # r = ±1 exactly: the largest finite z


def _normal_tail(z):
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))
