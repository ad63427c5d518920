"""Random ReLU layers against Giryes et al.'s closed forms for angles and distances."""

import numpy as np
import pytest

from deepissues.theory import (
    angle_through_depth,
    angles_through_random_layers,
    pairwise_angles,
    random_relu_layer_stats,
    relu_layer_cosine,
    relu_layer_distance,
)


@pytest.mark.parametrize("theta", [0.0, np.pi / 6, np.pi / 2, 2.5, np.pi])
def test_random_relu_layer_matches_the_closed_forms_within_three_standard_errors(theta):
    stats = random_relu_layer_stats(theta, width=4000, trials=200)
    assert abs(stats["cosine"] - relu_layer_cosine(theta)) <= 3 * stats["cosine_se"] + 1e-12
    assert abs(stats["distance"] - relu_layer_distance(1.0, 1.0, theta)) <= 3 * stats["distance_se"] + 1e-12


def test_closed_forms_at_the_ends_and_through_depth():
    assert relu_layer_cosine(0.0) == pytest.approx(1.0) and relu_layer_cosine(np.pi) == pytest.approx(0.0, abs=1e-15)
    assert relu_layer_cosine(np.pi / 2) == pytest.approx(1 / np.pi)
    assert relu_layer_distance(2.0, 2.0, 0.0) == pytest.approx(0.0)
    angles = angle_through_depth(np.pi / 2, 8)
    assert angles[0] == pytest.approx(np.pi / 2) and len(angles) == 9
    assert np.all(np.diff(angles) < 0)  # every layer shrinks the angle
    with pytest.raises(ValueError, match=r"\[0, pi\]"):
        relu_layer_cosine(4.0)
    with pytest.raises(ValueError, match="width"):
        random_relu_layer_stats(1.0, width=0)


def test_a_relu_layer_shrinks_every_angle_and_small_ones_relatively_less():
    theta = np.linspace(1e-3, np.pi, 400)
    out = np.arccos(np.clip(relu_layer_cosine(theta), -1, 1))
    assert np.all(out < theta)
    ratio = out / theta
    assert np.all(np.diff(ratio) < 0)  # the relative shrinkage grows with the angle (Gülcü and Güngör)
    assert ratio[0] == pytest.approx(1.0, abs=1e-3) and ratio[-1] == pytest.approx(0.5)
    # the same for squared distances of unit inputs: close pairs keep about 1/2, opposite ones 1/4
    kept = relu_layer_distance(1.0, 1.0, theta) / (2 - 2 * np.cos(theta))
    assert np.all(np.diff(kept) < 0) and kept[0] == pytest.approx(0.5, abs=1e-3) and kept[-1] == pytest.approx(0.25)
    # sampled layers order the two angles the same way, so the ordering is not an artefact of the formula
    small, large = (random_relu_layer_stats(t, width=4000, trials=40, seed=k) for k, t in enumerate((0.3, 2.8)))
    assert np.arccos(small["cosine"]) / 0.3 > np.arccos(large["cosine"]) / 2.8


def test_random_layers_on_two_points_follow_the_iterated_map():
    x = np.array([[1.0, 0.0, 0.0], [np.cos(1.2), np.sin(1.2), 0.0]])
    angles = angles_through_random_layers(x, depth=2, width=5000, seed=0)
    assert angles[0][0] == pytest.approx(1.2)
    np.testing.assert_allclose([a[0] for a in angles], angle_through_depth(1.2, 2), atol=0.04)
    with pytest.raises(ValueError, match="non-zero rows"):
        pairwise_angles(np.zeros((3, 2)))


def test_angles_through_network_equal_the_random_layers_with_the_same_weights():
    import torch
    from deepissues import repro
    from deepissues.theory import angles_through_network

    x = np.random.default_rng(0).normal(size=(15, 6))
    expected = angles_through_random_layers(x, 2, 30, seed=5)
    rng = repro.numpy_rng(5)  # the same draws, in the same order, as angles_through_random_layers
    first, second = rng.normal(scale=1 / np.sqrt(6), size=(6, 30)), rng.normal(scale=1 / np.sqrt(30), size=(30, 30))
    model = torch.nn.Sequential(torch.nn.Linear(6, 30, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(30, 30, bias=False), torch.nn.ReLU()).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(first.T))
        model[2].weight.copy_(torch.from_numpy(second.T))
    measured = angles_through_network(model, torch.from_numpy(x))
    for a, b in zip(measured, expected):
        np.testing.assert_allclose(a, b, atol=1e-10)
    # Control: a bias moves every representation off the bias-free angles.
    with torch.no_grad():
        model[0].bias = torch.nn.Parameter(torch.ones(30, dtype=torch.float64))
    assert np.abs(angles_through_network(model, torch.from_numpy(x))[1] - expected[1]).max() > 0.01


def test_class_angle_ratios_are_the_medians_over_each_kind_of_pair_by_brute_force():
    from deepissues.theory import class_angle_ratios

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 12)
    angles = [pairwise_angles(rng.normal(size=(12, 4))) for _ in range(3)]
    ratios = class_angle_ratios(angles, labels)
    for layer in (1, 2):
        within, between, index = [], [], 0
        for a in range(12):
            for b in range(a + 1, 12):
                (within if labels[a] == labels[b] else between).append(angles[layer][index] / angles[0][index])
                index += 1
        assert ratios["within"][layer - 1] == pytest.approx(np.median(within))
        assert ratios["between"][layer - 1] == pytest.approx(np.median(between))
    # Control: with the labels permuted, the split into the two kinds of pair changes the medians.
    shuffled = class_angle_ratios(angles, rng.permutation(labels))
    assert not np.allclose(shuffled["within"], ratios["within"])
