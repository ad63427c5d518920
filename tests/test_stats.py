"""Noise baselines against scipy's own tests and against simulation under the null."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from deepissues.stats import (binomial_tail_p, correlation_drop_p, equivalence_p, fisher_exact_p, mean_excess_p,
                              paired_permutation_p, proportion_excess_p, sign_test_p, smallest_paired_p,
                              spread_excess_p)


def test_correlation_drop_p_is_the_normal_tail_of_fishers_z():
    z = (np.arctanh(0.8) - np.arctanh(0.2)) / np.sqrt(1 / 17 + 1 / 27)
    assert correlation_drop_p(0.8, 20, 0.2, 30) == pytest.approx(scipy_stats.norm.sf(z), rel=1e-12)
    assert correlation_drop_p(0.5, 10, 0.5, 10) == pytest.approx(0.5)


def _correlations(rho, n, trials, rng):
    cov = [[1, rho], [rho, 1]]
    samples = rng.multivariate_normal([0, 0], cov, size=(trials, n))
    return np.array([np.corrcoef(s[:, 0], s[:, 1])[0, 1] for s in samples])


def test_correlation_drop_p_holds_its_level_under_the_null_and_detects_a_real_drop():
    rng = np.random.default_rng(0)
    n, trials = 30, 2000
    same_a, same_b = _correlations(0.6, n, trials, rng), _correlations(0.6, n, trials, rng)
    null = np.array([correlation_drop_p(a, n, b, n) for a, b in zip(same_a, same_b)])
    assert abs(float((null < 0.05).mean()) - 0.05) < 0.015  # about 5% false alarms, as it should
    # negative control: a real drop from 0.9 to 0.3 is found almost always
    drop = _correlations(0.3, n, trials, rng)
    high = _correlations(0.9, n, trials, rng)
    power = np.array([correlation_drop_p(a, n, b, n) for a, b in zip(high, drop)])
    assert float((power < 0.05).mean()) > 0.95


def test_proportion_excess_p_matches_the_pooled_z_test_and_its_level():
    pooled = 0.5
    z = (0.6 - 0.4) / np.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert proportion_excess_p(60, 100, 40, 100) == pytest.approx(scipy_stats.norm.sf(z), rel=1e-12)
    rng = np.random.default_rng(1)
    a, b = rng.binomial(200, 0.3, 4000), rng.binomial(200, 0.3, 4000)
    null = np.array([proportion_excess_p(int(x), 200, int(y), 200) for x, y in zip(a, b)])
    assert abs(float((null < 0.05).mean()) - 0.05) < 0.015
    # negative control: the test is one-sided; a lower rate gives a large p-value
    assert proportion_excess_p(40, 100, 60, 100) > 0.99
    assert proportion_excess_p(0, 10, 0, 10) == 1.0


def test_mean_excess_p_matches_welchs_z_and_holds_its_level():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 1.0, 2.0])
    z = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 4)
    assert mean_excess_p(a, b) == pytest.approx(scipy_stats.norm.sf(z), rel=1e-12)
    rng = np.random.default_rng(2)
    null = np.array([mean_excess_p(rng.exponential(size=200), rng.exponential(size=200)) for _ in range(2000)])
    assert abs(float((null < 0.05).mean()) - 0.05) < 0.015
    # negative control: a shift of half a standard deviation on 200 values each is found almost always
    shifted = [mean_excess_p(rng.normal(0.5, 1, 200), rng.normal(0, 1, 200)) for _ in range(200)]
    assert np.mean(np.array(shifted) < 0.05) > 0.95


def test_spread_excess_p_is_brown_forsythe_and_holds_its_level():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(2.0, 40), rng.exponential(1.0, 40)
    # with equal sample sizes Welch's statistic is Student's, whose square is Levene's statistic
    # about the median (Brown-Forsythe) for two groups
    statistic = scipy_stats.levene(a, b, center="median").statistic
    assert spread_excess_p(a, b) == pytest.approx(scipy_stats.norm.sf(np.sqrt(statistic)), rel=1e-12)
    # skewed samples of equal spread: the level holds
    null = np.array([spread_excess_p(rng.exponential(size=200), rng.exponential(size=200)) for _ in range(2000)])
    assert abs(float((null < 0.05).mean()) - 0.05) < 0.015
    # negative control: one-sided; the narrower sample is never "more spread", the wider nearly always
    assert spread_excess_p(b, a) > 0.5 and spread_excess_p(a, b) < 0.05
    wider = [spread_excess_p(rng.normal(0, 1.5, 200), rng.normal(0, 1, 200)) for _ in range(200)]
    assert np.mean(np.array(wider) < 0.05) > 0.95


def test_sign_test_p_is_the_exact_binomial_tail():
    for wins, losses in ((9, 1), (30, 12), (5, 5), (0, 7)):
        expected = scipy_stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue
        assert sign_test_p(wins, losses) == pytest.approx(expected, rel=1e-12)
    assert sign_test_p(0, 0) == 1.0
    # negative control: one-sided, so more losses than wins is never significant
    assert sign_test_p(1, 9) > 0.99 and sign_test_p(9, 1) < 0.05


def test_fisher_exact_p_is_scipys_one_sided_fisher_test():
    for hits_a, n_a, hits_b, n_b in ((10, 10, 0, 40), (0, 10, 40, 40), (7, 12, 3, 11), (1, 5, 0, 5), (3, 3, 3, 3)):
        expected = scipy_stats.fisher_exact([[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]], alternative="greater")
        assert fisher_exact_p(hits_a, n_a, hits_b, n_b) == pytest.approx(expected.pvalue, rel=1e-10)
    # negative control: the rate that is lower is never shown higher
    assert fisher_exact_p(0, 10, 10, 10) == 1.0 and fisher_exact_p(10, 10, 0, 10) < 1e-4


def test_fisher_exact_p_holds_its_level_on_small_counts_where_the_normal_test_does_not():
    rng = np.random.default_rng(1)
    a, b = rng.binomial(10, 0.1, size=4000), rng.binomial(10, 0.1, size=4000)  # the same rate
    exact = np.array([fisher_exact_p(int(x), 10, int(y), 10) for x, y in zip(a, b)])
    assert float((exact < 0.05).mean()) <= 0.05  # exact tests are conservative: at most the level
    normal = np.array([proportion_excess_p(int(x), 10, int(y), 10) for x, y in zip(a, b)])
    # the control: on counts this small the normal approximation's false alarms exceed the level
    assert float((normal < 0.05).mean()) > float((exact < 0.05).mean())


def test_binomial_tail_p_is_scipys_binomial_test():
    for hits, n, rate in ((16, 20, 0.5), (0, 10, 0.1), (10, 10, 0.9), (3, 50, 0.02)):
        expected = scipy_stats.binomtest(hits, n, rate, alternative="greater").pvalue
        assert binomial_tail_p(hits, n, rate) == pytest.approx(expected, rel=1e-10)
    assert binomial_tail_p(5, 20, 0.5) > 0.99  # negative control: below the null rate
    # large n, where C(n, k) no longer fits a float (2000 test tuples in ch08)
    for hits, rate in ((1100, 0.5), (1040, 0.45), (980, 0.5)):
        expected = scipy_stats.binom.sf(hits - 1, 2000, rate)
        assert binomial_tail_p(hits, 2000, rate) == pytest.approx(expected, rel=1e-9)


def test_paired_permutation_p_is_scipys_exact_sign_flip_test():
    rng = np.random.default_rng(2)
    for n, shift in ((3, 0.5), (6, 0.0), (8, 0.3), (12, -0.2)):
        a, b = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        expected = scipy_stats.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
                                                alternative="greater", n_resamples=np.inf).pvalue
        assert paired_permutation_p(a, b) == pytest.approx(expected, rel=1e-12)
    # three seeds all going the same way reach 1/8 and no less: a sign test cannot give p < 0.05
    assert paired_permutation_p([3, 2, 5], [1, 1, 1]) == smallest_paired_p(3) == 0.125
    assert smallest_paired_p(5) < 0.05 < smallest_paired_p(4)
    assert paired_permutation_p([1, 1, 1], [3, 2, 5]) == 1.0  # negative control: the other way


def test_equivalence_p_is_the_larger_of_two_one_sided_t_tests():
    rng = np.random.default_rng(3)
    a = rng.normal(0.9, 0.01, 8)
    b = a + rng.normal(0.002, 0.004, 8)
    for margin in (0.002, 0.005, 0.01):
        lower = scipy_stats.ttest_1samp(a - b, -margin, alternative="greater").pvalue
        upper = scipy_stats.ttest_1samp(a - b, margin, alternative="less").pvalue
        assert equivalence_p(a, b, margin) == pytest.approx(max(lower, upper), rel=1e-9)


def test_equivalence_p_shows_no_difference_only_where_there_is_none():
    rng = np.random.default_rng(4)
    same = [equivalence_p(x, x + rng.normal(0, 0.005, 10), 0.01) for x in rng.normal(0.9, 0.02, (500, 10))]
    assert float(np.mean(np.array(same) < 0.05)) > 0.9  # equal means, margin 2 standard deviations: shown
    # positive control: a real difference as large as the margin is shown equivalent at most 5% of the time
    apart = [equivalence_p(x, x + 0.01 + rng.normal(0, 0.005, 10), 0.01) for x in rng.normal(0.9, 0.02, (500, 10))]
    assert float(np.mean(np.array(apart) < 0.05)) <= 0.05 + 0.03
    # and a large p-value of the ordinary test is not equivalence: 3 noisy seeds show nothing either way
    assert equivalence_p([0.90, 0.93, 0.88], [0.91, 0.90, 0.90], 0.01) > 0.05


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="a and b must be paired, of the same length, got 3 and 2"):
        paired_permutation_p([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="a and b must hold between 1 and 20 finite values each, got 21"):
        paired_permutation_p(np.zeros(21), np.zeros(21))
    with pytest.raises(ValueError, match="margin must be a finite number > 0, got 0"):
        equivalence_p([1, 2], [1, 2], 0)
    with pytest.raises(ValueError, match="rate must be a probability in \\[0, 1\\], got 1.5"):
        binomial_tail_p(1, 2, 1.5)
    with pytest.raises(ValueError, match="hits_b must be at most n_b=3, got 4"):
        fisher_exact_p(1, 2, 4, 3)
    with pytest.raises(ValueError, match="r_after must be a correlation"):
        correlation_drop_p(0.5, 10, 1.5, 10)
    with pytest.raises(ValueError, match="n_before must be an int >= 4"):
        correlation_drop_p(0.5, 3, 0.1, 10)
    with pytest.raises(ValueError, match="hits_a must be at most n_a=10"):
        proportion_excess_p(11, 10, 1, 10)
    with pytest.raises(ValueError, match="b must hold at least 2 finite values"):
        mean_excess_p([1.0, 2.0], [np.nan, 1.0])
