"""Random features against exact interpolation; skip units and magnitude pruning."""


import numpy as np
import pytest
import torch

from deepissues import data
from deepissues.nets import mlp
from deepissues.overparam import (
    SkipNet,
    feature_rank,
    feature_singular_values,
    fit_output_layer,
    prune_by_magnitude,
    random_features_fit,
)
from deepissues.training import fit


def test_random_features_wider_than_the_data_fit_any_labels():
    d = data.digits()
    x, y = d.x_train[:120], d.y_train[:120]
    random_labels = torch.randint(0, 10, (120,), generator=torch.Generator().manual_seed(0))
    for labels in (y, random_labels):
        model, residual = random_features_fit(200, "sigmoid", x, labels, classes=10)
        assert residual < 1e-6
        assert (model(x).argmax(1) == labels).all()
        assert feature_rank(model, x) == 120
    model, residual = random_features_fit(40, "sigmoid", x, random_labels, classes=10)
    assert feature_rank(model, x) == 40 and residual > 0.1


def test_feature_rank_at_width_n_matches_numpy_on_float64_features():
    d = data.digits()
    x, y = d.x_train[:600], d.y_train[:600]
    model, _ = random_features_fit(600, "softplus", x, y, classes=10)
    features = torch.nn.functional.softplus(x.double() @ model[0].weight.double().T + model[0].bias.double())
    assert feature_rank(model, x) == np.linalg.matrix_rank(features.numpy()) == 600
    singular = feature_singular_values(model, x)
    # full rank, but by a margin float32 cannot resolve: σmin/σmax sits between float64's and
    # float32's rounding levels
    assert 600 * np.finfo(np.float64).eps < float(singular[-1] / singular[0]) < np.finfo(np.float32).eps
    assert model[0].weight.dtype == torch.float32  # the float64 copy left the model alone


def test_feature_rank_of_a_linear_layer_is_the_rank_of_the_data_with_a_bias():
    # negative control: an identity activation cannot lift 600 digits above 64 + 1 dimensions
    x = data.digits().x_train[:600]
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Linear(64, 600), torch.nn.Identity(), torch.nn.Linear(600, 10))
    with_bias = torch.cat([x, torch.ones(600, 1)], 1).double().numpy()
    assert feature_rank(linear, x) == np.linalg.matrix_rank(with_bias) <= 65


def test_feature_rank_counts_duplicated_points_once():
    # negative control: 300 points, each twice, give 300 distinct rows at any width
    x = data.digits().x_train[:300]
    model, _ = random_features_fit(900, "softplus", x, data.digits().y_train[:300], classes=10)
    assert feature_rank(model, torch.cat([x, x])) == 300
    assert feature_rank(model, x) == 300


def test_feature_rank_rejects_bad_input():
    model, _ = random_features_fit(10, "tanh", torch.rand(5, 3), torch.tensor([0, 1, 0, 1, 1]))
    with pytest.raises(TypeError, match="nn.Sequential"):
        feature_rank(SkipNet(3, 2), torch.rand(5, 3))
    with pytest.raises(ValueError, match="layer must index"):
        feature_rank(model, torch.rand(5, 3), layer=7)
    with pytest.raises(ValueError, match=r"X must be \(N, d\)"):
        feature_rank(model, torch.rand(5))
    with pytest.raises(ValueError, match="tol must be a number >= 0"):
        feature_rank(model, torch.rand(5, 3), tol=-1.0)


def test_random_features_reject_mismatched_data():
    with pytest.raises(ValueError, match="N rows"):
        random_features_fit(10, "relu", torch.rand(5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="activation"):
        random_features_fit(10, "swish", torch.rand(5, 3), torch.zeros(5, dtype=torch.long))


def test_magnitude_pruning_removes_the_smallest_weights_globally():
    torch.manual_seed(0)
    net = mlp([20, 30, 5])
    pruned, removed = prune_by_magnitude(net, 0.9)
    weights = torch.cat([p.flatten() for p in pruned.parameters() if p.dim() >= 2])
    original = torch.cat([p.detach().flatten() for p in net.parameters() if p.dim() >= 2])
    assert removed == pytest.approx(0.9, abs=1e-3)
    assert float((weights == 0).float().mean()) == pytest.approx(removed)
    kept = weights != 0
    assert original[kept].abs().min() >= original[~kept].abs().max()  # the largest ones survive
    assert torch.equal(pruned[0].bias, net[0].bias)  # biases kept, the original untouched
    assert (net[0].weight != 0).all()
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune_by_magnitude(net, 1.0)


def test_skip_units_at_least_n_let_least_squares_fit_random_labels():
    d = data.digits()
    x = d.x_train[:150]
    random_labels = torch.randint(0, 10, (150,), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    wide = SkipNet(64, 10, width=16, n_skip=160, activation="softplus")
    assert fit_output_layer(wide, x, random_labels, classes=10) < 1e-6
    assert (wide(x).argmax(1) == random_labels).all()
    narrow = SkipNet(64, 10, width=16, n_skip=0, activation="softplus")
    assert fit_output_layer(narrow, x, random_labels, classes=10) > 0.1  # 17 features cannot fit 150 points
    assert [type(m).__name__ for m in narrow.children()] == ["Linear", "Linear", "Softplus", "Linear"]
    with pytest.raises(TypeError, match="features"):
        fit_output_layer(mlp([64, 10]), x, random_labels)


def test_pruned_weights_stay_zero_when_the_copy_is_fine_tuned():
    torch.manual_seed(0)
    d = data.digits()
    net = mlp([64, 32, 10])
    pruned, _ = prune_by_magnitude(net, 0.8)
    zero = [p.detach() == 0 for p in pruned.parameters() if p.dim() >= 2]
    fit(pruned, d.x_train, d.y_train, epochs=3, lr=1e-2, progress=False)
    after = [p.detach() for p in pruned.parameters() if p.dim() >= 2]
    assert all(torch.all(w[z] == 0) for w, z in zip(after, zero))
    assert any(torch.any(w[~z] != 0) for w, z in zip(after, zero))


def test_random_features_are_fixed_by_their_seed_and_leave_the_global_generator_alone():
    x, y = torch.rand(5, 4), torch.tensor([0, 1, 0, 1, 1])
    torch.manual_seed(123)
    first, _ = random_features_fit(20, "tanh", x, y, seed=7)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # fitting drew nothing from the global generator
    second, _ = random_features_fit(20, "tanh", x, y, seed=7)
    assert torch.equal(first[0].weight, second[0].weight)
