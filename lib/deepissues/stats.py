"""Noise baselines for claims: is a measured difference larger than its sampling noise?

A claim that compares two numbers measured on a few seeds or a few hundred test points needs a
threshold that comes from the noise, not from the last run. These tests give it as a one-sided
p-value: the probability of a difference at least as large as the one measured if there were
none. Serves chapters 02 (correlations over seeds, the spread of spin-glass minima), 04 (test
accuracies), 06 (which of two attacks breaks more points), 13 (how often runs reach a valley) and
16 (rates and scores of two groups).

The normal approximations need samples of a few dozen. On small counts or a few seeds a claim
uses an exact test: :func:`fisher_exact_p` (two rates), :func:`binomial_tail_p` (one rate against
a known one), :func:`sign_test_p` and :func:`paired_permutation_p` (paired runs, such as seeds).
A claim of *no difference* never rests on a large p-value; it uses :func:`equivalence_p`, two
one-sided tests against a margin taken from the source. :func:`smallest_paired_p` says how
small a p-value paired seeds can reach at all: three cannot reach 0.05.
"""

import math
from fractions import Fraction

import numpy as np

from .checks import positive_int

__all__ = ["correlation_drop_p", "proportion_excess_p", "mean_excess_p", "spread_excess_p", "sign_test_p",
           "fisher_exact_p", "binomial_tail_p", "paired_permutation_p", "smallest_paired_p", "equivalence_p"]


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
    _check_count("hits_a", hits_a, "n_a", n_a)
    _check_count("hits_b", hits_b, "n_b", n_b)
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


def fisher_exact_p(hits_a, n_a, hits_b, n_b):
    """One-sided p-value that the rate hits_a / n_a exceeds hits_b / n_b, by Fisher's exact test:
    given the total hits, the probability that sample a holds at least hits_a of them when the
    n_a + n_b trials are exchangeable (the hypergeometric upper tail). Exact at any count,
    where :func:`proportion_excess_p` needs counts of about 5 or more.

    Parameters
    ----------
    hits_a, n_a : ints, 0 <= hits_a <= n_a, n_a >= 1.
    hits_b, n_b : ints, the same for the second sample.

    Returns
    -------
    float in (0, 1].

    Examples
    --------
    >>> f"{fisher_exact_p(10, 10, 0, 40):.1e}"  # 10 of 10 against 0 of 40
    '9.7e-11'
    """
    _check_count("hits_a", hits_a, "n_a", n_a)
    _check_count("hits_b", hits_b, "n_b", n_b)
    hits, total = hits_a + hits_b, n_a + n_b
    tail = sum(math.comb(hits, k) * math.comb(total - hits, n_a - k)
               for k in range(hits_a, min(hits, n_a) + 1))
    return min(1.0, tail / math.comb(total, n_a))


def binomial_tail_p(hits, n, rate):
    """One-sided p-value that the rate behind ``hits`` of ``n`` exceeds ``rate``: the exact tail
    P(X >= hits) for X ~ Binomial(n, rate).

    Parameters
    ----------
    hits, n : ints, 0 <= hits <= n, n >= 1.
    rate : float in [0, 1], the rate under the null (chance, a source's figure).

    Returns
    -------
    float in [0, 1].

    Examples
    --------
    >>> round(binomial_tail_p(16, 20, 0.5), 4)
    0.0059
    """
    _check_count("hits", hits, "n", n)
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be a probability in [0, 1], got {rate!r}")
    if rate in (0, 1):
        return 1.0 if rate == 1 or hits == 0 else 0.0
    # in exact integers: the float rate is the fraction a / b, so the k-th term is
    # C(n, k) a^k (b - a)^(n - k) / b^n (floats overflow C(n, k) beyond n of about 1000); each
    # term is the last times (n - k) a / ((k + 1)(b - a)), an exact integer division
    a, b = Fraction(rate).as_integer_ratio()
    term = math.comb(n, hits) * a ** hits * (b - a) ** (n - hits)
    tail = term
    for k in range(hits, n):
        term = term * (n - k) * a // ((k + 1) * (b - a))
        tail += term
    return min(1.0, tail / b ** n)


def paired_permutation_p(a, b):
    """One-sided p-value that ``a`` exceeds ``b`` on average over paired runs (the same seed, the
    same data): the exact sign-flip permutation test. Under the null each difference a_i − b_i is
    as likely positive as negative, so the p-value is the share of the 2^n sign patterns whose
    mean difference is at least the one measured.

    Parameters
    ----------
    a, b : sequences of n paired numbers, 1 <= n <= 20 (2^n patterns are enumerated).

    Returns
    -------
    float in [2^-n, 1]: n pairs can never give less than 2^-n (see :func:`smallest_paired_p`).

    Examples
    --------
    >>> paired_permutation_p([0.91, 0.93, 0.92], [0.90, 0.90, 0.91])  # 3 seeds: at best 1/8
    0.125
    """
    differences = _paired_differences(a, b, most=20)
    n = len(differences)
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)  # (2^n, n) of ±1
    means = (signs * differences).mean(axis=1)
    observed = differences.mean()
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))  # ties in float sums count as ties
    return float((means >= observed - tolerance).mean())


def smallest_paired_p(n):
    """The smallest one-sided p-value that a sign or sign-flip test on ``n`` paired runs can
    give, 2^-n: the p-value when every pair goes the same way. With 3 seeds it is 1/8, so a
    claim at p < 0.05 needs at least 5.

    Parameters
    ----------
    n : int >= 1.

    Returns
    -------
    float.

    Examples
    --------
    >>> smallest_paired_p(3), smallest_paired_p(5) < 0.05
    (0.125, True)
    """
    positive_int("n", n)
    return 2.0 ** -n


def equivalence_p(a, b, margin):
    """p-value that the paired runs ``a`` and ``b`` are *equivalent*: that their mean difference
    lies within ±``margin``, by two one-sided t-tests (TOST) on the differences. It is the larger
    of the p-values for "mean difference > −margin" and "< +margin"; a small value shows
    equivalence, which a large p-value of an ordinary test never does.

    Parameters
    ----------
    a, b : sequences of n >= 2 paired numbers.
    margin : float > 0, the largest difference that counts as none; take it from the source
        (the effect size it reports) and name it in the claim.

    Returns
    -------
    float in (0, 1).

    Examples
    --------
    >>> a = [0.912, 0.905, 0.918, 0.909, 0.915, 0.911]
    >>> b = [0.910, 0.907, 0.915, 0.911, 0.913, 0.910]
    >>> equivalence_p(a, b, margin=0.01) < 0.001  # within 1 point of each other
    True
    >>> equivalence_p(a, b, margin=0.001) > 0.05  # but not shown within 0.1 point
    True
    """
    differences = _paired_differences(a, b, least=2)
    if not (isinstance(margin, (int, float, np.floating)) and margin > 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}")
    n = len(differences)
    error = differences.std(ddof=1) / math.sqrt(n)
    mean = differences.mean()
    if error == 0:
        return 0.0 if abs(mean) < margin else 1.0
    lower = _student_t_tail((mean + margin) / error, n - 1)  # p of "mean <= -margin"
    upper = _student_t_tail((margin - mean) / error, n - 1)  # p of "mean >= +margin"
    return max(lower, upper)


def _paired_differences(a, b, least=1, most=None):
    a, b = (np.asarray(v, dtype=float).reshape(-1) for v in (a, b))
    if len(a) != len(b):
        raise ValueError(f"a and b must be paired, of the same length, got {len(a)} and {len(b)} values")
    if not least <= len(a) <= (most or len(a)) or not (np.isfinite(a).all() and np.isfinite(b).all()):
        within = f"between {least} and {most}" if most else f"at least {least}"
        raise ValueError(f"a and b must hold {within} finite values each, got {len(a)} values")
    return a - b


def _student_t_tail(t, df):
    """P(T >= t) for Student's t with ``df`` degrees of freedom, by the regularised incomplete beta
    function (the t statistic's tail, as in Abramowitz and Stegun 26.7.1)."""
    from scipy.special import betainc

    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return float(tail if t >= 0 else 1 - tail)


def _check_count(hits_name, hits, n_name, n):
    positive_int(n_name, n)
    positive_int(hits_name, hits, least=0)
    if hits > n:
        raise ValueError(f"{hits_name} must be at most {n_name}={n}, got {hits}")


def _atanh(r):
    return math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))  # r = ±1 exactly: the largest finite z


def _normal_tail(z):
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))
