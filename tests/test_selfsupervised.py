"""The autoencoder against PCA (a linear autoencoder's optimum), the label sampler by counting,
and the probe against separable and raw-pixel cases."""

import numpy as np
import pytest
import torch

from deepissues import data
from deepissues.selfsupervised import autoencoder, few_labels, linear_probe, pretrain_autoencoder


def test_a_linear_autoencoder_reaches_the_pca_reconstruction_error():
    digits = data.digits()
    x = digits.x_train[:400]
    centred = (x - x.mean(0)).double().numpy()
    singular = np.linalg.svd(centred, compute_uv=False)
    pca_error = float((singular[8:] ** 2).sum() / centred.size)
    _, error = pretrain_autoencoder(x, code=8, activation=None, epochs=400, lr=1e-2, progress=False)
    assert pca_error <= error * (1 + 1e-4) and error < 1.03 * pca_error


def test_the_relu_encoder_is_frozen_and_maps_to_its_code():
    encoder, model = autoencoder(64, 16)
    assert encoder(torch.zeros(3, 64)).shape == (3, 16) and model(torch.zeros(3, 64)).shape == (3, 64)
    frozen, _ = pretrain_autoencoder(torch.rand(50, 64), epochs=1, progress=False)
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.training


def test_few_labels_takes_exactly_per_class_of_every_class():
    y = np.repeat(np.arange(4), [5, 7, 9, 3])
    chosen = few_labels(y, 3, seed=1)
    assert np.array_equal(np.bincount(y[chosen]), [3, 3, 3, 3]) and len(set(chosen)) == 12
    assert np.array_equal(chosen, few_labels(y, 3, seed=1))


def test_linear_probe_separates_separable_features_and_matches_sklearn_on_pixels():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    features = np.eye(3)[y] * 5 + 0.1 * rng.normal(size=(300, 3))
    assert linear_probe(features[:200], y[:200], features[200:], y[200:]) == 1.0
    digits = data.digits()
    idx = few_labels(digits.y_train, 5)
    direct = LogisticRegression(max_iter=3000).fit(digits.x_train[idx].numpy(), digits.y_train[idx].numpy())
    assert linear_probe(digits.x_train[idx], digits.y_train[idx], digits.x_test, digits.y_test) == pytest.approx(
        direct.score(digits.x_test.numpy(), digits.y_test.numpy()))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="fewer than"):
        few_labels([0, 0, 1], 2)
    with pytest.raises(ValueError, match="features must be"):
        linear_probe(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="x must be"):
        pretrain_autoencoder(torch.zeros(5))
