"""Jacobian norms against autograd's full Jacobian; the margin bound against the exact distance
to a linear model's decision boundary and, with a global Lipschitz bound, against every input
DeepFool finds for a ReLU network; the side-by-side trainer against training.fit one run at a
time."""

import math

import pytest
import torch
from torch import nn

from deepissues import repro, training
from deepissues.attacks import DeepFool
from deepissues.nets import mlp
from deepissues.theory import (jacobian_margin_bound, jacobian_norm, jacobian_penalty, lipschitz_upper_bound,
                               margin_report, output_margin)
from deepissues.theory.margins import _squared_jacobian_norms, _stacked_relu_forward, fit_mlps


def _net(seed=0, activation="tanh"):
    torch.manual_seed(seed)
    return mlp([5, 8, 8, 3], activation=activation).double()


def test_jacobian_norm_equals_autograds_full_jacobian():
    model, x = _net(), torch.randn(6, 5, dtype=torch.float64)
    full = [torch.autograd.functional.jacobian(model, x[i:i + 1])[0, :, 0, :] for i in range(6)]
    assert torch.allclose(jacobian_norm(model, x), torch.stack([j.norm() for j in full]), atol=1e-12)
    assert torch.allclose(jacobian_norm(model, x, ord=2), torch.stack([torch.linalg.matrix_norm(j, 2) for j in full]),
                          atol=1e-12)


def test_jacobian_penalty_is_the_mean_squared_norm_and_has_correct_gradients():
    model, x = _net(1), torch.randn(4, 5, dtype=torch.float64)
    assert jacobian_penalty(model, x).item() == pytest.approx(float((jacobian_norm(model, x) ** 2).mean()), rel=1e-12)
    weight = model[0].weight
    assert torch.autograd.gradcheck(lambda w: _penalty_with_first_weight(model, x, w), (weight.detach().clone().requires_grad_(),))


def _penalty_with_first_weight(model, x, w):
    params = dict(model.named_parameters())
    params["0.weight"] = w
    wrapped = lambda inputs: torch.func.functional_call(model, params, (inputs,))
    return jacobian_penalty(wrapped, x)


def test_output_margin_by_brute_force():
    logits, y = torch.tensor([[3.0, 1.0, 2.5], [0.0, 2.0, 1.0]]), torch.tensor([0, 2])
    assert torch.allclose(output_margin(logits, y), torch.tensor([0.5, -1.0]))


def _linear(weight, bias):
    model = nn.Linear(weight.shape[1], weight.shape[0]).double()
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return model


def _exact_linear_margin(model, x, y):
    logits, W = model(x).detach(), model.weight.detach()
    gaps = [(logits[:, c] - logits[:, j]) / (W[c] - W[j]).norm() for c, j in
            ((c, j) for c in range(W.shape[0]) for j in range(W.shape[0]))]
    K = W.shape[0]
    table = torch.stack(gaps, 1).view(-1, K, K)
    table[:, torch.arange(K), torch.arange(K)] = math.inf
    return table[torch.arange(len(x)), y].amin(1).clamp_min(0)


def test_margin_bound_is_tight_for_a_symmetric_two_class_linear_model():
    torch.manual_seed(2)
    w = torch.randn(1, 4, dtype=torch.float64)
    model = _linear(torch.cat([w, -w]), torch.tensor([0.3, -0.3], dtype=torch.float64))
    x = torch.randn(20, 4, dtype=torch.float64)
    y = model(x).argmax(1)
    assert torch.allclose(jacobian_margin_bound(model, x, y), _exact_linear_margin(model, x, y), atol=1e-12)


def test_margin_bound_never_exceeds_the_exact_margin_of_a_multiclass_linear_model():
    torch.manual_seed(3)
    model = _linear(torch.randn(5, 6, dtype=torch.float64), torch.randn(5, dtype=torch.float64))
    x = torch.randn(200, 6, dtype=torch.float64)
    y = torch.randint(0, 5, (200,))
    bound, exact = jacobian_margin_bound(model, x, y), _exact_linear_margin(model, x, y)
    assert (bound <= exact + 1e-12).all() and (bound[exact == 0] == 0).all() and (bound > 0).any()


def test_with_a_global_lipschitz_bound_no_deepfool_point_lies_inside_the_margin_bound():
    model = _net(4, activation="relu")
    lipschitz = lipschitz_upper_bound(model)
    x = torch.rand(100, 5, dtype=torch.float64)
    y = model(x).argmax(1)
    bound = jacobian_margin_bound(model, x, y, jacobian_bound=lipschitz)
    x_adv, success = DeepFool(model, steps=100, overshoot=0.02)(x, y)
    assert success.sum() > 50 and (bound > 0).all()
    assert ((x_adv - x).flatten(1).norm(dim=1)[success] >= bound[success]).all()


def test_lipschitz_upper_bound_dominates_every_sampled_jacobian():
    model = _net(5, activation="relu")
    x = 3 * torch.randn(2000, 5, dtype=torch.float64)
    assert jacobian_norm(model, x, ord=2).max() <= lipschitz_upper_bound(model)
    with pytest.raises(TypeError, match="1-Lipschitz"):
        lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 2)))


def test_margin_report_orders_the_three_margins_soundly():
    model = _net(4, activation="relu")
    x = torch.rand(80, 5, dtype=torch.float64)
    y = model(x).argmax(1)
    report = margin_report(model, x, y)
    assert len(report["distance"]) > 40 and all(len(v) == len(report["distance"]) for v in report.values())
    assert (report["global"] <= report["distance"] + 1e-9).all() and (report["global"] <= report["estimate"] + 1e-12).all()


def test_bad_input_is_refused():
    model, x = _net(), torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="ord"):
        jacobian_norm(model, x, ord=1)
    with pytest.raises(ValueError, match="logits must be"):
        output_margin(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="jacobian_bound"):
        jacobian_margin_bound(model, x, torch.zeros(3, dtype=torch.long), jacobian_bound=0.0)


def _one_at_a_time(widths, x, y, lam, seed, **kwargs):
    """The reference: one network, trained by training.fit with the autograd Jacobian penalty."""
    with repro.seeded(seed):
        model = mlp(widths).double()
    penalty = (lambda m, xb: lam * jacobian_penalty(m, xb)) if lam else None
    training.fit(model, x, y, seed=seed, penalty=penalty, progress=False, **kwargs)
    return model


def _digits_like(n=22, d=6, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=generator, dtype=torch.float64),
            torch.randint(0, classes, (n,), generator=generator))


@pytest.mark.parametrize("widths", [[6, 3], [6, 9, 3], [6, 9, 7, 3]])
def test_the_closed_form_jacobian_equals_autograds_for_stacked_relu_networks(widths):
    x, _ = _digits_like(n=7)
    with repro.seeded(0):
        models = [mlp(widths).double() for _ in range(3)]
    weights = [torch.stack([m[i].weight.detach() for m in models]) for i in range(0, len(models[0]), 2)]
    biases = [torch.stack([m[i].bias.detach() for m in models]) for i in range(0, len(models[0]), 2)]
    xs = torch.stack([x, x.flip(0), 1 - x])
    logits, active = _stacked_relu_forward(weights, biases, xs)
    squared = _squared_jacobian_norms(weights, active)
    for model, points, out, row in zip(models, xs, logits, squared):
        torch.testing.assert_close(out, model(points), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(row.expand(len(points)), jacobian_norm(model, points) ** 2, rtol=1e-12, atol=1e-12)
    if active:  # Control: with every unit taken as active (a linear network) the norms come out otherwise.
        assert not torch.allclose(_squared_jacobian_norms(weights, [torch.ones_like(a) for a in active]), squared)


@pytest.mark.parametrize("widths", [[6, 9, 3], [6, 9, 7, 3]])
def test_fit_mlps_equals_training_fit_with_the_jacobian_penalty_run_by_run(widths):
    x, y = _digits_like()
    kwargs = dict(epochs=4, batch_size=5, lr=0.02)  # 22 points: a last partial batch of 2
    trained = fit_mlps(widths, x, y, seeds=[3, 0], lambdas=[0.0, 0.05, 0.5], progress=False, **kwargs)
    assert list(trained) == [(lam, seed) for lam in (0.0, 0.05, 0.5) for seed in (3, 0)]
    for (lam, seed), model in trained.items():
        reference = _one_at_a_time(widths, x, y, lam, seed, **kwargs)
        for ours, theirs in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-10)
    # Controls: the penalty and the seed's batches both change the weights far beyond that tolerance.
    unpenalised = _one_at_a_time(widths, x, y, 0.0, 3, **kwargs)
    other_batches = fit_mlps(widths, x, y, seeds=[3], lambdas=[0.05], progress=False,
                             **{**kwargs, "batch_size": 6})
    for model in (unpenalised, other_batches[0.05, 3]):
        gap = max((a - b).abs().max() for a, b in zip(model.parameters(), trained[0.05, 3].parameters()))
        assert gap > 1e-4


def test_fit_mlps_applies_weight_decay_as_adam_does_and_leaves_the_global_stream_alone():
    x, y = _digits_like(seed=1)
    kwargs = dict(epochs=3, batch_size=8, lr=0.01, weight_decay=0.1)
    before = torch.random.get_rng_state()
    model = fit_mlps([6, 9, 3], x, y, seeds=[2], progress=False, **kwargs)[0.0, 2]
    assert torch.equal(torch.random.get_rng_state(), before)
    reference = _one_at_a_time([6, 9, 3], x, y, 0.0, 2, **kwargs)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-10)
    # Control: without the decay the weights differ.
    plain = _one_at_a_time([6, 9, 3], x, y, 0.0, 2, **{**kwargs, "weight_decay": 0.0})
    assert max((a - b).abs().max() for a, b in zip(model.parameters(), plain.parameters())) > 1e-4


def test_fit_mlps_refuses_bad_input():
    x, y = _digits_like()
    with pytest.raises(ValueError, match="x must be an"):
        fit_mlps([6, 3], x[0], y, seeds=[0])
    with pytest.raises(ValueError, match="widths"):
        fit_mlps([6], x, y, seeds=[0])
    with pytest.raises(ValueError, match="columns"):
        fit_mlps([5, 3], x, y, seeds=[0])
    with pytest.raises(ValueError, match=r"y must be \(22,\) int labels in \[0, 2\)"):
        fit_mlps([6, 2], x, y, seeds=[0])
    with pytest.raises(ValueError, match="without repeats"):
        fit_mlps([6, 3], x, y, seeds=[0, 0])
    with pytest.raises(ValueError, match="each lambda must be a number >= 0"):
        fit_mlps([6, 3], x, y, seeds=[0], lambdas=[-0.1])
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        fit_mlps([6, 3], x, y, seeds=[0], epochs=0)
