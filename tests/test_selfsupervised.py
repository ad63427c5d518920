"""The autoencoder against PCA (a linear autoencoder's optimum), the label sampler by counting,
and the probe against separable and raw-pixel cases."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from deepissues import data
from deepissues.selfsupervised import (autoencoder, few_labels, linear_probe, pretrain_autoencoder,
                                       supervised_encoder, untrained_encoder)


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


def test_the_untrained_encoder_is_where_pretraining_starts():
    x = data.digits().x_train[:200]
    start = untrained_encoder(64, seed=3)
    barely, _ = pretrain_autoencoder(x, epochs=1, lr=1e-12, seed=3, progress=False)  # one step of 1e-12
    trained, _ = pretrain_autoencoder(x, epochs=5, seed=3, progress=False)
    assert not any(p.requires_grad for p in start.parameters()) and not start.training
    assert all(torch.allclose(a, b, atol=1e-9) for a, b in zip(start.parameters(), barely.parameters()))
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(start.parameters(), trained.parameters()))
    assert not torch.equal(start[0].weight, untrained_encoder(64, seed=4)[0].weight)


def test_a_supervised_code_serves_a_probe_and_one_from_shuffled_labels_does_not():
    digits = data.digits()
    idx = few_labels(digits.y_train, 2)
    shuffled = digits.y_train[torch.randperm(len(digits.y_train), generator=torch.Generator().manual_seed(0))]
    accuracy = {}
    for name, labels in (("labels", digits.y_train), ("shuffled", shuffled)):
        encoder = supervised_encoder(digits.x_train, labels)
        assert encoder(digits.x_test[:3]).shape == (3, 16) and not any(p.requires_grad for p in encoder.parameters())
        with torch.no_grad():
            accuracy[name] = linear_probe(encoder(digits.x_train[idx]), digits.y_train[idx], encoder(digits.x_test),
                                          digits.y_test)
    pixels = linear_probe(digits.x_train[idx], digits.y_train[idx], digits.x_test, digits.y_test)
    assert accuracy["labels"] > 0.9 > pixels and accuracy["shuffled"] < pixels


def test_few_labels_takes_exactly_per_class_of_every_class():
    y = np.repeat(np.arange(4), [5, 7, 9, 3])
    chosen = few_labels(y, 3, seed=1)
    assert np.array_equal(np.bincount(y[chosen]), [3, 3, 3, 3]) and len(set(chosen)) == 12
    assert np.array_equal(chosen, few_labels(y, 3, seed=1))


def _logistic_regression_by_lbfgs(X, y, classes, C=1.0):
    """The probe's objective solved independently: C · Σ cross-entropy + ½‖W‖² (bias unpenalised)."""
    n, d = X.shape
    onehot = np.eye(classes)[y]

    def objective(theta):
        W, b = theta[:d * classes].reshape(d, classes), theta[d * classes:]
        logits = X @ W + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        loss = -C * np.sum(onehot * np.log(p + 1e-300)) + 0.5 * np.sum(W ** 2)
        grad = C * (p - onehot)
        return loss, np.concatenate([(X.T @ grad + W).ravel(), grad.sum(0)])

    theta = minimize(objective, np.zeros(d * classes + classes), jac=True, method="L-BFGS-B",
                     options={"maxiter": 20000, "gtol": 1e-9}).x
    return theta[:d * classes].reshape(d, classes), theta[d * classes:]


def test_linear_probe_separates_separable_features_and_matches_an_independent_solver():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    features = np.eye(3)[y] * 5 + 0.1 * rng.normal(size=(300, 3))
    assert linear_probe(features[:200], y[:200], features[200:], y[200:]) == 1.0
    digits = data.digits()
    idx = few_labels(digits.y_train, 5)
    W, b = _logistic_regression_by_lbfgs(digits.x_train[idx].double().numpy(), digits.y_train[idx].numpy(), 10)
    expected = float(((digits.x_test.double().numpy() @ W + b).argmax(1) == digits.y_test.numpy()).mean())
    assert linear_probe(digits.x_train[idx], digits.y_train[idx], digits.x_test, digits.y_test) == \
        pytest.approx(expected, abs=2 / len(digits.y_test))  # at most two points decided differently
    # negative control: labels shuffled across the training points teach the probe nothing
    shuffled = digits.y_train[idx][torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))]
    assert linear_probe(digits.x_train[idx], shuffled, digits.x_test, digits.y_test) < 0.4


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="fewer than"):
        few_labels([0, 0, 1], 2)
    with pytest.raises(ValueError, match="features must be"):
        linear_probe(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="x must be"):
        pretrain_autoencoder(torch.zeros(5))
    with pytest.raises(ValueError, match="x must be"):
        supervised_encoder(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
