"""Group metrics against hand-computed confusion matrices and fairlearn; Chouldechova's identity
on arbitrary confusion matrices; calibrated synthetic scores; the spurious-patch digits."""

import numpy as np
import pytest

from deepissues.fairness import (PROPUBLICA_COMPAS, calibrated_scores, calibration_by_group, chouldechova_fpr,
                                 confusion_rates, demographic_parity_difference, equalized_odds_difference,
                                 group_confusion, group_rates, permuted_groups, shortcut_accuracies,
                                 shortcut_counts, spurious_digits)
from deepissues.stats import fisher_exact_p

Y = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 1])
P = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
G = np.array(["a", "a", "a", "a", "a", "b", "b", "b", "b", "b"])


def test_confusion_and_rates_by_hand():
    confusion = group_confusion(Y, P, G)
    # group a: y 0,0,1,1,1 / p 0,1,1,0,1 -> TN 1, FP 1, FN 1, TP 2; group b: y 0,1,0,0,1 / p 0,1,1,0,0 -> TN 2, FP 1, FN 1, TP 1
    assert np.array_equal(confusion["a"], [[1, 1], [1, 2]]) and np.array_equal(confusion["b"], [[2, 1], [1, 1]])
    rates = group_rates(Y, P, G)
    assert rates["a"]["TPR"] == pytest.approx(2 / 3) and rates["b"]["FPR"] == pytest.approx(1 / 3)
    assert rates["a"]["selection rate"] == pytest.approx(3 / 5) and rates["b"]["selection rate"] == pytest.approx(2 / 5)
    assert demographic_parity_difference(Y, P, sensitive_features=G) == pytest.approx(0.2)
    # TPR: 2/3 vs 1/2, FPR: 1/2 vs 1/3 -> both ranges 1/6
    assert equalized_odds_difference(Y, P, sensitive_features=G) == pytest.approx(1 / 6)


def test_propublica_counts_give_the_published_rates():
    """A transcription check: ProPublica's notebook prints these rates for its two tables."""
    published = {"Black": {"FPR": 0.4485, "FNR": 0.2799, "PPV": 0.63, "base rate": 0.51, "total": 3696},
                 "white": {"FPR": 0.2345, "FNR": 0.4772, "PPV": 0.59, "base rate": 0.39, "total": 2454}}
    for group, expected in published.items():
        rates = confusion_rates(PROPUBLICA_COMPAS[group])
        assert PROPUBLICA_COMPAS[group].sum() == expected["total"]
        assert round(rates["FPR"], 4) == expected["FPR"] and round(rates["FNR"], 4) == expected["FNR"]
        assert round(rates["PPV"], 2) == expected["PPV"] and round(rates["base rate"], 2) == expected["base rate"]
    # control: the matrix read the other way round (rows as predictions) gives other rates
    assert round(confusion_rates(PROPUBLICA_COMPAS["Black"].T)["FPR"], 4) != 0.4485


def test_chouldechovas_identity_on_the_published_counts_and_not_across_groups():
    """Worked example, true by construction: each group's FPR from its own base rate, PPV and FNR.
    The control borrows the other group's base rate, which gives another FPR."""
    rates = {g: confusion_rates(c) for g, c in PROPUBLICA_COMPAS.items()}
    for g, r in rates.items():
        assert chouldechova_fpr(r["base rate"], r["PPV"], r["FNR"]) == pytest.approx(r["FPR"], rel=1e-12)
    black, white = rates["Black"], rates["white"]
    assert abs(chouldechova_fpr(white["base rate"], black["PPV"], black["FNR"]) - black["FPR"]) > 0.1


def test_shortcut_accuracies_by_hand():
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    g = np.array([0, 1, 1, 0, 1, 0, 1, 1])    # aligned where g = y: points 0, 2, 4, 5, 6
    p = np.array([0, 1, 1, 1, 0, 0, 1, 0])    # right at points 0, 2, 3, 5, 6, 7
    assert shortcut_accuracies(y, p, g) == {"test": 6 / 8, "aligned": 4 / 5, "conflicting": 2 / 3}
    # negative control: a predictor that copies the group is always right where the shortcut
    # agrees and always wrong where it conflicts; one that copies the label is right everywhere
    assert shortcut_accuracies(y, g, g) == {"test": 5 / 8, "aligned": 1.0, "conflicting": 0.0}
    assert shortcut_accuracies(y, y, g) == {"test": 1.0, "aligned": 1.0, "conflicting": 1.0}


def test_shortcut_counts_give_the_accuracies_and_an_exact_test_sees_only_a_copied_group():
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    g = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    p = np.array([0, 1, 1, 1, 0, 0, 1, 0])
    assert shortcut_counts(y, p, g) == {"aligned": (4, 5), "conflicting": (2, 3)}
    rng = np.random.default_rng(0)
    y, g = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    follows_group = np.where(rng.random(400) < 0.8, g, y)   # copies the group 80% of the time
    noisy = np.where(rng.random(400) < 0.1, 1 - y, y)       # errs at random, whatever the group
    for predicted, significant in ((follows_group, True), (noisy, False)):
        counts = shortcut_counts(y, predicted, g)
        accuracies = shortcut_accuracies(y, predicted, g)
        assert [right / n for right, n in counts.values()] == [accuracies["aligned"], accuracies["conflicting"]]
        assert (fisher_exact_p(*counts["aligned"], *counts["conflicting"]) < 1e-6) == significant


def test_permuted_groups_keep_sizes_and_outcomes_and_erase_the_false_positive_gap():
    gap = lambda c: confusion_rates(c["Black"])["FPR"] - confusion_rates(c["white"])["FPR"]
    assert gap(PROPUBLICA_COMPAS) > 0.2
    for seed in range(5):
        shuffled = permuted_groups(PROPUBLICA_COMPAS, seed=seed)
        assert [int(c.sum()) for c in shuffled.values()] == [3696, 2454]
        assert np.array_equal(sum(shuffled.values()), sum(PROPUBLICA_COMPAS.values()))
        assert abs(gap(shuffled)) < 0.05  # a random split of 3,283 people: standard error about 0.017
    assert not np.array_equal(permuted_groups(PROPUBLICA_COMPAS, 0)["white"], permuted_groups(PROPUBLICA_COMPAS, 1)["white"])
    assert np.array_equal(permuted_groups(PROPUBLICA_COMPAS, 3)["white"], permuted_groups(PROPUBLICA_COMPAS, 3)["white"])


def test_calibrated_scores_are_unbalanced_by_the_closed_form_and_balanced_at_equal_base_rates():
    """For Beta(κp, κ(1 − p)) scores with Bernoulli outcomes, E[s | y = 0] = E[s(1 − s)] / (1 − p)
    = κp / (κ + 1): the negatives' mean score rises with the base rate, as Kleinberg et al.'s
    theorem requires of calibrated scores. Control: at equal base rates the imbalance vanishes."""
    kappa = 4.0
    scores, outcomes, groups = calibrated_scores([0.35, 0.5], n=40000, concentration=kappa)
    for g, p in enumerate((0.35, 0.5)):
        negatives = scores[(groups == g) & (outcomes == 0)]
        assert negatives.mean() == pytest.approx(kappa * p / (kappa + 1), abs=4 * negatives.std() / np.sqrt(len(negatives)))
    scores, outcomes, groups = calibrated_scores([0.5, 0.5], n=40000, concentration=kappa)
    means = [scores[(groups == g) & (outcomes == 0)].mean() for g in (0, 1)]
    assert abs(means[0] - means[1]) < 0.01  # against 0.117 at base rates 0.35 and 0.5


def test_metrics_agree_with_fairlearn():
    from fairlearn import metrics

    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p, g = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.integers(0, 3, 300)
        assert demographic_parity_difference(y, p, sensitive_features=g) == pytest.approx(
            metrics.demographic_parity_difference(y, p, sensitive_features=g), abs=1e-12)
        assert equalized_odds_difference(y, p, sensitive_features=g) == pytest.approx(
            metrics.equalized_odds_difference(y, p, sensitive_features=g), abs=1e-12)


def test_chouldechovas_identity_holds_on_any_confusion_matrix():
    rng = np.random.default_rng(1)
    for _ in range(50):
        y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
        r = group_rates(y, p, np.zeros(200))[0]
        assert r["FPR"] == pytest.approx(chouldechova_fpr(r["base rate"], r["PPV"], r["FNR"]), rel=1e-12)


def test_calibrated_scores_are_calibrated_in_every_group_yet_error_rates_differ():
    scores, outcomes, groups = calibrated_scores([0.3, 0.6], n=40000)
    for mean, rate, count in calibration_by_group(outcomes, scores, sensitive_features=groups).values():
        full = count > 200
        se = np.sqrt(mean[full] * (1 - mean[full]) / count[full])
        assert np.all(np.abs(rate[full] - mean[full]) < 4 * se + 1e-3)
    rates = group_rates(outcomes, (scores > 0.5).astype(int), groups)
    assert rates[1]["FPR"] > rates[0]["FPR"] + 0.1 and rates[0]["FNR"] > rates[1]["FNR"] + 0.1


def test_spurious_digits_agree_at_the_chosen_strength_in_training_only():
    d = spurious_digits(0.9)
    assert float((d.g_train == d.y_train).float().mean()) == pytest.approx(0.9, abs=0.03)
    assert float((d.g_test == d.y_test).float().mean()) == pytest.approx(0.5, abs=0.06)
    corner = d.x_train.view(-1, 8, 8)[:, :2, :2].amin((1, 2))
    assert bool(((corner == 1) == (d.g_train == 1)).all())
    assert bool(((d.y_test == 1) == (spurious_digits(0.5).y_test == 1)).all())


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="strength"):
        spurious_digits(1.5)
    with pytest.raises(ValueError, match="one length"):
        group_confusion([0, 1], [0], [0, 0])
    with pytest.raises(ValueError, match="binary"):
        demographic_parity_difference([0, 2], [0, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="scores must lie"):
        calibration_by_group([0, 1], [0.5, 1.5], sensitive_features=[0, 0])
    with pytest.raises(ValueError, match="base_rates"):
        calibrated_scores([0.0, 0.5])
    with pytest.raises(ValueError, match="groups must hold binary groups"):
        shortcut_accuracies([0, 1], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="groups must hold binary groups"):
        shortcut_counts([0, 1], [0, 1], [0, 2])
    with pytest.raises(ValueError, match="non-negative integer counts"):
        permuted_groups({"a": np.array([[1, -1], [0, 2]])})
