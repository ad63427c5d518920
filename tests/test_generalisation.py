"""Corruptions keep what they should keep and change what they should change; memorisation stops
at 100% training accuracy."""

import pytest
import torch

from deepissues import data
from deepissues.generalisation import corrupt, train_until_memorised
from deepissues.nets import mlp
from deepissues.training import evaluate


@pytest.fixture(scope="module")
def digits():
    return data.digits()


def test_random_labels_replace_the_requested_share_uniformly(digits):
    x, y = digits.x_train, digits.y_train
    x2, y2 = corrupt(x, y, "random_labels", fraction=1.0)
    assert torch.equal(x2, x)
    assert abs(float((y2 == y).float().mean()) - 0.1) < 0.03  # a uniform label agrees 1 time in 10
    counts = torch.bincount(y2, minlength=10).float()
    assert (counts / len(y2) - 0.1).abs().max() < 0.03
    _, y_half = corrupt(x, y, "random_labels", fraction=0.4)
    assert abs(float((y_half != y).float().mean()) - 0.4 * 0.9) < 0.04


def test_pixel_corruptions_permute_and_gaussian_matches_the_moments(digits):
    x, y = digits.x_train, digits.y_train
    shuffled, same_y = corrupt(x, y, "shuffled_pixels")
    assert torch.equal(same_y, y)
    column_means = x.mean(0).sort().values
    # one permutation for every image: the columns move, so their means are only reordered
    assert torch.allclose(shuffled.mean(0).sort().values, column_means)
    assert torch.equal(shuffled.sort(1).values, x.sort(1).values)
    scrambled, _ = corrupt(x, y, "random_pixels")
    # each image keeps its own pixel values, but the columns mix, so their means even out
    assert torch.equal(scrambled.sort(1).values, x.sort(1).values)
    assert scrambled.mean(0).std() < 0.2 * x.mean(0).std()
    noise, _ = corrupt(x, y, "gaussian")
    varying = x.std(0) > 0.1
    assert (noise.mean(0) - x.mean(0))[varying].abs().max() < 0.1
    assert noise.min() >= 0 and noise.max() <= 1


def test_corrupt_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="kind must be"):
        corrupt(digits.x_train, digits.y_train, "blur")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(digits.x_train, digits.y_train, "random_labels", fraction=1.5)


def test_a_wide_network_memorises_random_labels_and_stops_there(digits):
    x, y = corrupt(digits.x_train[:300], digits.y_train[:300], "random_labels")
    torch.manual_seed(0)
    net = mlp([64, 256, 10])
    epochs, memorised, history = train_until_memorised(net, x, y, max_epochs=400, lr=3e-3, progress=False)
    assert memorised and evaluate(net, x, y) == 1.0
    assert epochs == len(history) < 400
    assert evaluate(net, digits.x_test, digits.y_test) < 0.25  # nothing learned about real digits


def test_a_network_too_small_to_memorise_runs_to_the_limit_and_says_so(digits):
    # negative control: 300 random labels cannot be told apart through two hidden units
    x, y = corrupt(digits.x_train[:300], digits.y_train[:300], "random_labels")
    torch.manual_seed(0)
    net = mlp([64, 2, 10])
    epochs, memorised, history = train_until_memorised(net, x, y, max_epochs=20, lr=3e-3, progress=False)
    assert not memorised and epochs == len(history) == 20
    assert evaluate(net, x, y) < 0.5
