"""Random features against exact interpolation; skip units and magnitude pruning."""


import numpy as np
import pytest
import torch

from deepissues import data, overparam, repro
from deepissues.nets import mlp
from deepissues.overparam import (
    SkipNet,
    bottleneck_loss,
    feature_rank,
    feature_singular_values,
    fit_output_layer,
    prune_by_magnitude,
    random_features_fit,
    rank_from_singular_values,
    sgd_to_zero_error,
    train_architectures_to_zero_error,
    train_to_zero_error,
)
from deepissues.training import evaluate, fit


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



def _plain_sgd_loop(make, x, y, seed, steps, lr, batch_size):
    """One seed trained by torch.optim.SGD, its batches drawn as train_to_zero_error documents;
    the training loss at initialisation and after every step."""
    with repro.seeded(seed):
        model = make().double()
    targets = torch.nn.functional.one_hot(y).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator, order, position = repro.generator(seed), None, len(x)

    def loss():
        with torch.no_grad():
            return float(((model(x) - targets) ** 2).sum(1).mean())

    losses = [loss()]
    for _ in range(steps):
        if position + batch_size > len(x):
            order, position = torch.randperm(len(x), generator=generator), 0
        index = order[position:position + batch_size]
        position += batch_size
        optimizer.zero_grad()
        ((model(x[index]) - targets[index]) ** 2).sum(1).mean().backward()
        optimizer.step()
        losses.append(loss())
    return np.array(losses)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_train_to_zero_error_matches_a_plain_sgd_loop_seed_by_seed(batch_size):
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.arange(12) % 3
    make = lambda: mlp([4, 8, 3], "tanh")  # noqa: E731
    runs = train_to_zero_error(make, x, y, [2, 5], steps=30, lr=0.05, batch_size=batch_size, check_every=1,
                               progress=False)
    assert list(runs.check_steps) == list(range(31))
    for column, seed in enumerate([2, 5]):
        losses = _plain_sgd_loop(make, x, y, seed, 30, 0.05, batch_size or 12)
        np.testing.assert_allclose(runs.relative_loss[:, column], losses / losses[0], rtol=1e-10)
        assert runs.initial_loss[column] == pytest.approx(losses[0], rel=1e-12)
        other = _plain_sgd_loop(make, x, y, seed, 30, 0.1, batch_size or 12)  # control: another step size
        assert np.abs(runs.relative_loss[:, column] - other / other[0]).max() > 1e-3


def test_a_seeds_run_does_not_depend_on_the_seeds_beside_it_nor_move_the_global_generator():
    x, y = torch.randn(10, 3, generator=torch.Generator().manual_seed(0)), torch.arange(10) % 2
    make = lambda: mlp([3, 6, 2], "tanh")  # noqa: E731
    torch.manual_seed(123)
    alone = train_to_zero_error(make, x, y, [4], steps=40, lr=0.1, batch_size=4, progress=False)
    after = torch.rand(2)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(2))
    beside = train_to_zero_error(make, x, y, [1, 4], steps=40, lr=0.1, batch_size=4, progress=False)
    np.testing.assert_allclose(beside.relative_loss[:, 1], alone.relative_loss[:, 0], rtol=1e-5)
    assert np.abs(beside.relative_loss[:, 0] - alone.relative_loss[:, 0]).max() > 1e-3  # control: seed 1 differs


def test_gradient_descent_on_a_linear_model_ends_at_least_squares():
    """Closed form: a linear model interpolates when it has at least as many parameters per
    output as points (N <= d + 1); with more points it converges to the least-squares residual."""
    generator = torch.Generator().manual_seed(0)
    for n, reaches_zero in ((5, True), (30, False)):
        x, y = torch.randn(n, 6, generator=generator, dtype=torch.float64), torch.arange(n) % 2
        runs = train_to_zero_error(lambda: torch.nn.Linear(6, 2), x, y, [0], steps=3000, lr=0.05, progress=False)
        design = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)
        targets = torch.nn.functional.one_hot(y).double()
        residual = design @ torch.linalg.lstsq(design, targets).solution - targets
        with repro.seeded(0), torch.no_grad():
            start = float(((torch.nn.Linear(6, 2).double()(x) - targets) ** 2).sum(1).mean())
        assert runs.relative_loss[-1, 0] == pytest.approx(float((residual ** 2).sum(1).mean()) / start, abs=1e-9)
        assert bool(runs.reached[0]) == reaches_zero


def test_labels_need_not_use_every_output():
    x, y = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1, 0, 1])
    runs = train_to_zero_error(lambda: mlp([3, 8, 4], "tanh"), x, y, [0], steps=300, lr=0.1, progress=False)
    assert runs.reached[0]  # two of four outputs trained to one-hot targets, the others to 0


def test_steps_to_zero_is_the_first_check_that_meets_the_criterion():
    d = data.digits()
    x, y = d.x_train[:40], d.y_train[:40]
    runs = train_to_zero_error(lambda: mlp([64, 60, 10], "tanh"), x - x.mean(0), y, range(3), steps=1500, lr=0.3,
                               batch_size=10, check_every=50, progress=False)
    met = (runs.relative_loss < runs.tol) & (runs.train_accuracy == 1)
    assert runs.reached.all()
    for column, step in enumerate(runs.steps_to_zero):
        row = list(runs.check_steps).index(step)
        assert met[row, column] and not met[:row, column].any()
    narrow = train_to_zero_error(lambda: mlp([64, 3, 10], "tanh"), x - x.mean(0), y, range(3), steps=300, lr=0.3,
                                 batch_size=10, check_every=50, progress=False)
    assert (narrow.steps_to_zero == -1).all() and not narrow.reached.any()  # control: 3 units cannot fit 10 classes


def test_bottleneck_loss_is_what_a_generic_optimiser_reaches_over_rank_limited_outputs():
    y = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4, 1, 3, 0])
    targets = torch.nn.functional.one_hot(y).double()
    for width in (1, 2, 3):
        generator = torch.Generator().manual_seed(width)
        hidden = torch.randn(12, width, generator=generator, dtype=torch.float64, requires_grad=True)
        head = torch.randn(width, 5, generator=generator, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        optimiser = torch.optim.LBFGS([hidden, head, bias], max_iter=500, tolerance_grad=1e-12,
                                      tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            loss = ((hidden @ head + bias - targets) ** 2).sum(1).mean()
            loss.backward()
            return loss

        for _ in range(5):
            optimiser.step(closure)
        reached = float(closure().detach())
        assert reached == pytest.approx(bottleneck_loss(y, width), rel=1e-6)
        # control: without the bias the same rank leaves the uncentred targets' smallest eigenvalues, more
        uncentred = torch.linalg.eigvalsh(targets.T @ targets)[:5 - width].sum() / 12
        assert float(uncentred) > reached + 1e-3
    assert bottleneck_loss(y, 4) == 0.0 and bottleneck_loss(y, 10) == 0.0


def test_a_trained_bottleneck_stays_above_its_bound():
    d = data.digits()
    x, y = d.x_train[:60], d.y_train[:60]
    runs = train_to_zero_error(lambda: mlp([64, 4, 10], "tanh"), x - x.mean(0), y, range(2), steps=600, lr=0.2,
                               batch_size=20, progress=False)
    final = runs.relative_loss[-1, 0] * runs.initial_loss[0]
    assert bottleneck_loss(y, 4) <= final < 1.5 * bottleneck_loss(y, 4)
    assert bottleneck_loss(y, 9) == 0.0  # control: with k - 1 units nothing forces a floor


def _both_paths(monkeypatch, make, x, y, **kwargs):
    """train_to_zero_error's runs with the explicit gradient and with vmap and autograd."""
    explicit = train_to_zero_error(make, x, y, range(4), progress=False, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(overparam._ExplicitStack, "of", classmethod(lambda cls, model: None))
        general = train_to_zero_error(make, x, y, range(4), progress=False, **kwargs)
    return explicit, general


@pytest.mark.parametrize("make", [
    lambda: mlp([64, 30, 10], "tanh"),
    lambda: mlp([64, 12, 8, 10], "sigmoid"),
    lambda: SkipNet(64, 10, width=8, n_skip=50, activation="tanh"),
    lambda: SkipNet(64, 10, width=8, n_skip=0, activation="sigmoid"),
], ids=["tanh mlp", "sigmoid mlp, two layers", "tanh skipnet", "sigmoid skipnet, no skips"])
def test_the_explicit_gradient_trains_bit_for_bit_as_vmap_and_autograd(monkeypatch, make):
    assert overparam._ExplicitStack.of(make()) is not None
    d = data.digits()
    x, y = d.x_train[:40] - d.x_train[:40].mean(0), d.y_train[:40]
    explicit, general = _both_paths(monkeypatch, make, x, y, steps=300, lr=0.2, batch_size=10, check_every=10)
    for field in ("relative_loss", "initial_loss", "train_accuracy", "steps_to_zero"):
        assert np.array_equal(getattr(explicit, field), getattr(general, field)), field
    assert explicit.relative_loss[-1].max() < 0.5  # they trained


def test_the_explicit_gradient_equals_autograd_where_a_rounding_of_the_formula_does_not():
    torch.manual_seed(0)
    models = [mlp([64, 30, 10], "tanh") for _ in range(3)]
    params, _ = torch.func.stack_module_state(models)
    d = data.digits()
    x = d.x_train[:60].reshape(3, 20, 64)
    targets = torch.nn.functional.one_hot(d.y_train[:60].reshape(3, 20), 10).float()
    explicit = overparam._ExplicitStack.of(models[0]).square_loss_grads(params, x, targets)
    hidden = torch.tanh(torch.baddbmm(params["0.bias"][:, None], x, params["0.weight"].transpose(1, 2)))
    out = torch.baddbmm(params["2.bias"][:, None], hidden, params["2.weight"].transpose(1, 2))
    loss = ((out - targets) ** 2).sum(2).mean(1).sum()
    reference = torch.autograd.grad(loss, list(params.values()))
    assert all(torch.equal(a, b) for a, b in zip(explicit, reference))
    # control: tanh's derivative written as (1 - h^2) g, equal up to rounding, differs in the last
    # bits, so the equality above resolves them
    with torch.no_grad():
        hidden, out = hidden.detach(), out.detach()
        to_hidden = torch.bmm((2 * (out - targets)) / 20, params["2.weight"])
        naive = torch.bmm(((1 - hidden * hidden) * to_hidden).transpose(1, 2), x)
    assert torch.allclose(naive, reference[0], atol=1e-6) and not torch.equal(naive, reference[0])


def test_architectures_without_an_explicit_gradient_take_the_general_path():
    assert overparam._ExplicitStack.of(mlp([4, 8, 2], "relu")) is None  # ReLU's backward reads its input
    assert overparam._ExplicitStack.of(mlp([4, 8, 2], "softplus")) is None
    assert overparam._ExplicitStack.of(mlp([4, 8, 2], "tanh", dropout=0.5)) is None
    assert overparam._ExplicitStack.of(torch.nn.Sequential(torch.nn.Linear(4, 2, bias=False))) is None
    assert overparam._ExplicitStack.of(SkipNet(4, 2, activation="softplus")) is None
    assert overparam._ExplicitStack.of(torch.nn.Linear(4, 2)) is None
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.arange(12) % 3
    make = lambda: mlp([4, 8, 3], "relu")  # noqa: E731
    runs = train_to_zero_error(make, x, y, [2], steps=30, lr=0.05, batch_size=5, check_every=1, progress=False)
    losses = _plain_sgd_loop(make, x, y, 2, 30, 0.05, 5)
    np.testing.assert_allclose(runs.relative_loss[:, 0], losses / losses[0], rtol=1e-10)


def test_rank_from_singular_values_is_numpys_matrix_rank_and_feature_ranks():
    generator = torch.Generator().manual_seed(0)
    for n, width, rank in ((30, 50, 12), (50, 20, 20), (40, 40, 1)):
        matrix = (torch.randn(n, rank, generator=generator, dtype=torch.float64)
                  @ torch.randn(rank, width, generator=generator, dtype=torch.float64))
        singular = torch.linalg.svdvals(matrix)
        assert rank_from_singular_values(singular, matrix.shape) == np.linalg.matrix_rank(matrix.numpy()) == rank
    x = data.digits().x_train[:200]
    model, _ = random_features_fit(150, "softplus", x, data.digits().y_train[:200], classes=10)
    assert rank_from_singular_values(feature_singular_values(model, x), (200, 150)) == feature_rank(model, x) == 150
    # control: a tolerance above the smallest singular values drops them from the count
    singular = torch.linalg.svdvals(matrix)
    assert rank_from_singular_values(singular, matrix.shape, tol=float(singular[0])) == 0


def test_rank_from_singular_values_rejects_bad_input():
    values = torch.tensor([3.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="shape must be"):
        rank_from_singular_values(values, (5, 3))
    with pytest.raises(ValueError, match="sorted largest first"):
        rank_from_singular_values(values.flip(0), (2, 3))
    with pytest.raises(ValueError, match="singular must be"):
        rank_from_singular_values(torch.ones(2, 2), (2, 2))
    with pytest.raises(ValueError, match="tol must be a number >= 0"):
        rank_from_singular_values(values, (2, 3), tol=-1.0)


def _fit_until_zero_error(make, x, y, lr, epochs, every, seed=0):
    """One network trained by training.fit with a stop that checks the training accuracy every
    `every` epochs, as sgd_to_zero_error documents."""
    with repro.seeded(seed):
        net = make()
    curve, epoch = [], [0]

    def zero_error(model):
        epoch[0] += 1
        if epoch[0] % every:
            return False
        curve.append(evaluate(model, x, y))
        return curve[-1] == 1.0

    fit(net, x, y, epochs=epochs, lr=lr, optimizer="sgd", progress=False, stop=zero_error)
    return net, curve


@pytest.mark.parametrize("make, lrs", [
    (lambda: SkipNet(64, 10, width=8, n_skip=40, activation="sigmoid"), (0.05, 0.5, 2.0)),
    (lambda: mlp([64, 32, 10], "softplus"), (0.05, 0.5, 1.0)),
], ids=["skipnet", "softplus mlp"])
def test_sgd_to_zero_error_trains_each_step_size_bit_for_bit_as_fit_alone(make, lrs):
    d = data.digits()
    x, y = d.x_train[:100], d.y_train[:100]
    models = []
    for _ in lrs:
        with repro.seeded(0):
            models.append(make())
    curves = sgd_to_zero_error(models, x, y, lrs, epochs=60, batch_size=64, check_every=5)
    assert curves[0][-1] < 1.0 and len(curves[0]) == 12  # the small step runs out of budget
    assert curves[-1][-1] == 1.0 and len(curves[-1]) < 12  # the large one stops at zero error
    for model, curve, lr in zip(models, curves, lrs):
        alone, alone_curve = _fit_until_zero_error(make, x, y, lr, 60, 5)
        assert curve == alone_curve
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), alone.parameters()))
    # control: the batches of another seed give other weights, so the equality above is not vacuous
    with repro.seeded(0):
        other = make()
    sgd_to_zero_error([other], x, y, lrs[:1], epochs=60, check_every=5, seed=1)
    assert not torch.equal(next(other.parameters()), next(models[0].parameters()))


def test_sgd_to_zero_error_rejects_bad_input():
    x, y = torch.rand(6, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    net = mlp([3, 4, 2])
    with pytest.raises(ValueError, match="one step size per model"):
        sgd_to_zero_error([net], x, y, [0.1, 0.2], epochs=2)
    with pytest.raises(ValueError, match="lrs"):
        sgd_to_zero_error([net], x, y, [-0.1], epochs=2)
    with pytest.raises(ValueError, match="share parameters"):
        sgd_to_zero_error([net, net], x, y, [0.1, 0.2], epochs=2)
    with pytest.raises(ValueError, match=r"x must be \(N, d\)"):
        sgd_to_zero_error([net], x, y[:5], [0.1], epochs=2)
    with pytest.raises(ValueError, match="epochs"):
        sgd_to_zero_error([net], x, y, [0.1], epochs=0)


def test_architectures_trained_side_by_side_are_each_trained_as_alone():
    d = data.digits()
    x, y = d.x_train[:40] - d.x_train[:40].mean(0), d.y_train[:40]
    makes = {"tanh": lambda: mlp([64, 20, 10], "tanh"),  # the explicit gradient
             "relu": lambda: mlp([64, 20, 10], "relu"),  # vmap and autograd
             "skip": lambda: SkipNet(64, 10, width=8, n_skip=30, activation="tanh")}
    same = dict(steps=200, lr=0.2, batch_size=10, check_every=20, progress=False)
    together = train_architectures_to_zero_error(makes, x, y, range(3), **same)
    assert list(together) == list(makes)
    for name, make in makes.items():
        alone = train_to_zero_error(make, x, y, range(3), **same)
        for field in ("relative_loss", "initial_loss", "train_accuracy", "steps_to_zero"):
            assert np.array_equal(getattr(together[name], field), getattr(alone, field)), (name, field)
    # control: the architectures' runs differ, so the equality above tells them apart
    assert np.abs(together["tanh"].relative_loss - together["relu"].relative_loss).max() > 1e-2
    with pytest.raises(ValueError, match="make_models must be a non-empty dict"):
        train_architectures_to_zero_error([makes["tanh"]], x, y, range(3), **same)
