"""Noise baselines against scipy's normal distribution and against simulation under the null."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from deepissues.stats import correlation_drop_p, mean_excess_p, proportion_excess_p, sign_test_p, spread_excess_p


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


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="r_after must be a correlation"):
        correlation_drop_p(0.5, 10, 1.5, 10)
    with pytest.raises(ValueError, match="n_before must be an int >= 4"):
        correlation_drop_p(0.5, 3, 0.1, 10)
    with pytest.raises(ValueError, match="hits_a must be at most n_a=10"):
        proportion_excess_p(11, 10, 1, 10)
    with pytest.raises(ValueError, match="b must hold at least 2 finite values"):
        mean_excess_p([1.0, 2.0], [np.nan, 1.0])
