import numpy as np
import pytest
import torch
from torch import nn

from deepissues.training import History, evaluate, fit, sample_batches, train_steps


def test_fit_recovers_the_least_squares_solution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * torch.randn(200, 1, generator=g)
    design = np.c_[x.numpy(), np.ones(200)]
    exact, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, x, y, loss="mse", epochs=300, batch_size=200, lr=0.05, progress=False)
    learned = np.r_[model.weight.detach().numpy()[0], model.bias.detach().numpy()]
    np.testing.assert_allclose(learned, exact[:, 0], atol=1e-3)
    assert history.loss[-1] < history.loss[0]
    residual = np.mean((design @ exact - y.numpy()) ** 2)
    assert history.loss[-1] == pytest.approx(residual, rel=1e-2)


def test_fit_is_deterministic_and_logs_validation():
    x = torch.rand(64, 4)
    y = (x.sum(1) > 2).long()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        runs.append(fit(model, x, y, epochs=3, batch_size=16, val=(x, y), seed=3, progress=False))
    assert runs[0].loss == runs[1].loss
    assert len(runs[0]) == 3 and len(runs[0].metrics["val_accuracy"]) == 3


def test_evaluate_matches_hand_counts_and_restores_the_mode():
    model = nn.Sequential(nn.Identity())
    out = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5], [0.2, 0.1]])
    y = torch.tensor([0, 1, 1, 1])
    model.train()
    assert evaluate(model, out, y) == 0.5
    assert model.training
    target = torch.zeros(4, 2)
    assert evaluate(model, out, target, metric="mse") == pytest.approx((out ** 2).mean().item())
    assert evaluate(model, out, target, metric="rmse") == pytest.approx((out ** 2).mean().sqrt().item())


def test_history_log():
    h = History()
    h.log("val_accuracy", 0.5)
    assert h.metrics == {"val_accuracy": [0.5]}


def test_training_bad_input():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="same positive number of rows"):
        fit(model, torch.zeros(3, 2), torch.zeros(2, 1), loss="mse", progress=False)
    with pytest.raises(TypeError, match="must be tensors"):
        fit(model, np.zeros((3, 2)), torch.zeros(3, 1), loss="mse", progress=False)
    with pytest.raises(ValueError, match="loss must be one of"):
        fit(model, torch.zeros(3, 2), torch.zeros(3, 1), loss="l7", progress=False)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        fit(model, torch.zeros(3, 2), torch.zeros(3, 1), loss="mse", epochs=0, progress=False)
    with pytest.raises(ValueError, match="metric must be"):
        evaluate(model, torch.zeros(3, 2), torch.zeros(3, 1), metric="f1")


def test_fit_hooks_add_the_penalty_perturb_the_batches_and_stop_early():
    x, y = torch.rand(40, 4), torch.randint(0, 2, (40,))
    runs = {}
    for name, kwargs in {"plain": {}, "penalty": {"penalty": lambda m, xb: torch.tensor(5.0)}}.items():
        torch.manual_seed(0)
        runs[name] = fit(nn.Linear(4, 2), x, y, epochs=3, batch_size=10, progress=False, **kwargs).loss
    np.testing.assert_allclose(np.array(runs["penalty"]) - np.array(runs["plain"]), 5.0, rtol=1e-6)
    seen = []

    def perturb(xb, yb):
        seen.append(len(xb))
        return torch.zeros_like(xb)

    model = nn.Linear(4, 2)
    fit(model, x, y, epochs=2, batch_size=10, progress=False, perturb=perturb)
    assert seen == [10] * 8
    asked = []

    def stop_after_four(model):
        asked.append(model)
        return len(asked) == 4

    assert len(fit(nn.Linear(4, 2), x, y, epochs=50, progress=False, stop=stop_after_four)) == 4


def test_evaluate_refuses_labels_of_the_wrong_shape():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(50, 4)
    predicted = model(x).argmax(1)
    assert evaluate(model, x, predicted) == 1.0     # a model scored against its own predictions
    with pytest.raises(ValueError, match=r"y must be \(N,\) class labels for metric 'accuracy', got shape \(50, 1\)"):
        evaluate(model, x, predicted[:, None])        # before: 0.107 or so, by broadcasting (50, 1) against (50,)
    with pytest.raises(ValueError, match=r"y must have the model's output shape \(50, 3\) for metric 'mse', got \(50,\)"):
        evaluate(model, x, torch.randn(50), metric="mse")
    with pytest.raises(ValueError, match="metric must be"):
        evaluate(model, x, predicted, metric="f1")


def test_fit_refuses_an_unknown_metric_before_training():
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=r"metric must be one of \('accuracy', 'mse', 'rmse', 'cross_entropy'\), got 'f1'"):
        fit(model, torch.randn(20, 4), torch.randint(0, 3, (20,)), epochs=1, val=(torch.randn(5, 4), torch.randint(0, 3, (5,))),
            metric="f1", progress=False)
    assert torch.equal(model.weight, before)   # before: one epoch of training, then the error


# ----- train_steps and sample_batches --------------------------------------------------------------

def _hand_loop(model, opt, batches, steps):
    for step in range(1, steps + 1):
        x, y = batches(step)
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_train_steps_takes_the_same_steps_as_a_hand_written_loop():
    def fresh(step):
        g = torch.Generator().manual_seed(step)
        x = torch.randn(8, 3, generator=g)
        return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])

    models = []
    for use_train_steps in (True, False):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        if use_train_steps:
            curve = train_steps(model, lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), fresh, 30, opt,
                                record=lambda m: m.bias.item(), record_every=10, record_first=True, progress=False)
        else:
            _hand_loop(model, opt, fresh, 30)
        models.append(model)
    assert torch.equal(models[0].weight, models[1].weight) and torch.equal(models[0].bias, models[1].bias)
    assert [step for step, _ in curve] == [1, 10, 20, 30] and curve[-1][1] == models[0].bias.item()
    # control: one step fewer leaves other weights
    torch.manual_seed(0)
    short = nn.Linear(3, 1)
    _hand_loop(short, torch.optim.SGD(short.parameters(), lr=0.1), fresh, 29)
    assert not torch.equal(short.weight, models[0].weight)


def test_train_steps_records_in_eval_mode_without_gradients_and_steps_the_scheduler():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    decay = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    seen = []
    train_steps(model, lambda m, x: m(x).sum(), lambda step: torch.ones(1, 2), 3, opt, scheduler=decay,
                record=lambda m: seen.append((m.training, torch.is_grad_enabled())) or 0.0, record_every=1,
                progress=False)
    assert seen == [(False, False)] * 3 and model.training
    assert opt.param_groups[0]["lr"] == 0.125
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        train_steps(model, lambda m, x: m(x).sum(), lambda step: torch.ones(1, 2), 3, "adam")
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        train_steps(model, lambda m, x: m(x).sum(), lambda step: torch.ones(1, 2), 0, opt)


def test_sample_batches_cover_each_pass_once_or_draw_with_replacement():
    x, y = torch.arange(10), torch.arange(10) * 2
    draw = sample_batches((x, y), 5, seed=3)
    first = [draw(step) for step in (1, 2)]
    assert sorted(torch.cat([b[0] for b in first]).tolist()) == list(range(10))
    assert all(torch.equal(b[1], 2 * b[0]) for b in first)  # rows stay paired
    again = sample_batches((x, y), 5, seed=3)
    assert torch.equal(again(1)[0], first[0][0])  # the seed fixes the order
    # control: with replacement, 200 draws of 5 from 10 repeat rows within a batch
    replaced = sample_batches(x, 5, seed=3, replace=True)
    assert any(len(set(replaced(step).tolist())) < 5 for step in range(1, 201))
    with pytest.raises(ValueError, match="batch_size must be at most"):
        sample_batches(x, 11)
    with pytest.raises(ValueError, match="share a positive first dimension"):
        sample_batches((x, y[:3]), 2)
