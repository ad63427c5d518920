"""Flat activations: the staircase and its gradients against brute force and the identity, and
training from a flat stretch."""

import numpy as np
import pytest
import torch

from deepissues import failures as F
from deepissues.failures.flat import STEPS

# ----- linear-periodic ----------------------------------------------------------------------------


# ----- decomposition vs end-to-end ----------------------------------------------------------------


# ----- architecture and conditioning --------------------------------------------------------------


# ----- flat activations ---------------------------------------------------------------------------


def test_the_true_gradient_of_a_staircase_is_zero_almost_everywhere():
    z = torch.tensor(STEPS)
    t = torch.linspace(-6, 6, 5001, dtype=torch.float64)
    h = 1e-6
    away = (t[:, None] - z.double()).abs().min(1).values > 10 * h
    finite_difference = (F.staircase(t + h, z) - F.staircase(t - h, z)) / (2 * h)
    assert away.sum() > 4900 and bool((finite_difference[away] == 0).all())
    # and the model trained with it never moves
    target = F.staircase_target(d=10)
    model, curve = F.train_staircase("true-gradient", 50, target=target, progress=False)
    torch.manual_seed(0)
    fresh = F.StaircaseModel("true-gradient", 10, target[2])
    assert torch.equal(model.net.weight, fresh.net.weight) and len({c[1] for c in curve}) == 1
    assert curve[0][0] == 1  # the curve starts after the first step, near the initial error


def test_staircase_values_match_a_brute_force_floor_onto_the_steps():
    z = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    t = torch.tensor([-3.0, -1.0, -0.1, 0.0, 0.3, 0.5, 1.9, 2.0, 7.0])
    brute = [max([s for s in z.tolist() if s <= v], default=z[0].item()) for v in t.tolist()]
    assert F.staircase(t, z).tolist() == brute


def test_forward_only_gradient_equals_that_of_the_identity():
    target = F.staircase_target(d=6, seed=2)
    X, y, _ = F.staircase_dataset(64, target, seed=3)
    w = torch.randn(6, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    t = X @ w + b
    loss = 0.5 * (F.ForwardOnlyStaircase.apply(t, target[2]) - y).pow(2).mean()
    gw, gb = torch.autograd.grad(loss, (w, b))
    residual = F.staircase(t, target[2]) - y             # ∂loss/∂ŷ at the staircase's output
    np.testing.assert_allclose(gw.detach().numpy(), (residual[:, None] * X).mean(0).detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(gb.item(), residual.mean().item(), atol=1e-6)


def test_the_smooth_staircase_approaches_the_staircase_away_from_its_steps():
    z = torch.tensor(STEPS)
    t = torch.linspace(-6, 6, 3001)
    # each sigmoid rises within about Δz/L (<= 0.15 here) below its step
    away = (t[:, None] - z).abs().min(1).values > 0.25
    assert float((F.smooth_staircase(t, z) - F.staircase(t, z))[away].abs().max()) < 1e-2


def test_a_bias_that_puts_the_data_on_a_flat_stretch_stops_non_flat_but_not_forward_only():
    target = F.staircase_target(d=100, seed=0)     # chapter 10's target; its lowest step is −2.7
    X, y, _ = F.staircase_dataset(2000, target, seed=1)
    norms = {}
    for method in ("non-flat", "forward-only"):
        for bias in (-3.0, 0.0):
            torch.manual_seed(0)
            model = F.StaircaseModel(method, 100, target[2], bias_init=bias)
            loss = (model(X) - y).pow(2).mean()
            norms[method, bias] = float(torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))]).norm())
    # from bias −3 every point sits below the lowest step, on the sigmoids' flat tail
    assert norms["non-flat", -3.0] < 1e-3 * norms["non-flat", 0.0]
    # negative control: forward-only's backward pass is the identity's, so the same start
    # gets a gradient as large as from a good one
    assert norms["forward-only", -3.0] > 0.5 * norms["forward-only", 0.0]


def test_forward_only_fits_the_staircase_better_than_the_alternatives():
    target = F.staircase_target(d=20, seed=1)
    errors = {m: F.train_staircase(m, 1500, target=target, progress=False)[1][-1][1]
              for m in ("forward-only", "non-flat", "end-to-end")}
    assert errors["forward-only"] < 0.5 * min(errors["non-flat"], errors["end-to-end"])


# ----- bad input ----------------------------------------------------------------------------------

def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        F.k_tuples(10, 0)
    with pytest.raises(ValueError, match="d must be an int >= 1"):
        F.linear_periodic_dataset(10, 0, 1.0)
    with pytest.raises(ValueError, match="r must be a number >= 0"):
        F.periodic_gradient_variance(3, -1.0)
    with pytest.raises(ValueError, match=r"expected images of shape \(n, 2, 14, 14\)"):
        F.TupleNet(2, size=14, channels=4)(torch.zeros(3, 3, 14, 14))
    with pytest.raises(ValueError, match=r"expected curves of shape \(m, 20\)"):
        F.PWLEncoder(20, "conv")(torch.zeros(4, 21))
    with pytest.raises(ValueError, match="a preconditioner is required"):
        F.PWLEncoder(20, "conv+conditioning")
    with pytest.raises(ValueError, match="strictly increasing"):
        F.staircase(torch.zeros(3), [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="market must be a 1-D tensor of stocks in"):
        F.stocks_batch(5, torch.tensor([0, 7]), 3)
    with pytest.raises(ValueError, match="approach must be one of"):
        F.stocks_gradients("greedy", 5, 3, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        F.train_staircase("sign", 10)
    with pytest.raises(ValueError, match=r"schedule must be one of \('cosine', 'constant'\), got 'step'"):
        F.train_staircase("forward-only", 10, schedule="step")
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        F.stocks_snr_closed_form(5, 1)


def test_a_fixed_training_sample_is_one_sample_cycled_in_fresh_orders():
    from deepissues import repro
    from deepissues.failures.flat import StaircaseModel, _loss
    from deepissues.training import sample_batches

    target = F.staircase_target(d=10, seed=1)
    model, curve = F.train_staircase("forward-only", 40, target=target, batch_size=16, seed=2, progress=False,
                                     n_train=48, schedule="constant")
    # the same run, written out: the sample, its batches, Adam
    with repro.seeded(2):
        manual = StaircaseModel("forward-only", 10, target[2])
    # the constant schedule is the paper's: Adam at a fixed rate of 1e-3
    opt = torch.optim.Adam(manual.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, foreach=True)
    X, y, _ = F.staircase_dataset(48, target, seed=5)
    draw = sample_batches((X, y), 16, seed=4)
    for step in range(1, 41):
        opt.zero_grad()
        _loss(manual, *draw(step)).backward()
        opt.step()
    for a, b in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(a, b)
    # Control: fresh batches train another model.
    fresh, _ = F.train_staircase("forward-only", 40, target=target, batch_size=16, seed=2, progress=False,
                                 schedule="constant")
    assert not torch.allclose(fresh.net.weight, model.net.weight)


def test_runs_side_by_side_are_bit_for_bit_the_runs_trained_alone():
    target = F.staircase_target(d=10, seed=1)
    runs = [{"method": "true-gradient"}, {"method": "non-flat", "bias_init": -3.0}, {"method": "end-to-end"},
            {"method": "multi-class", "n_train": 40}, {"method": "forward-only", "n_train": 300, "lr": 0.02},
            {"method": "forward-only"}]
    budgets = [30, 30, 30, 30, 30, 20]   # the last run stops early, with its own cosine schedule
    together = F.train_staircases(runs, budgets, target=target, batch_size=32, seed=3, progress=False)
    alone = []
    for run, n in zip(runs, budgets):
        settings = {key: value for key, value in run.items() if key != "method"}
        alone.append(F.train_staircase(run["method"], n, target=target, batch_size=32, seed=3, progress=False,
                                       **settings))

    def same(a, b):
        return a[1] == b[1] and all(torch.equal(p, q) for p, q in zip(a[0].parameters(), b[0].parameters()))

    # the reference is train_staircase, the loop of one run through training.train_steps
    assert all(same(a, b) for a, b in zip(together, alone))
    assert [len(curve) for _, curve in together] == [30, 30, 30, 30, 30, 20]  # every step
    # negative control: the check tells runs apart; every other pairing differs
    assert not any(same(together[i], alone[j]) for i in range(len(runs)) for j in range(len(runs)) if i != j)
    # and the runs moved, except the true gradient's, which is zero
    torch.manual_seed(3)
    start = F.StaircaseModel("forward-only", 10, target[2])
    assert torch.equal(together[0][0].net.weight, start.net.weight)
    assert not torch.equal(together[5][0].net.weight, start.net.weight)


def test_runs_side_by_side_reject_bad_input():
    with pytest.raises(ValueError, match="runs must be a non-empty list of dicts"):
        F.train_staircases([], 10)
    with pytest.raises(ValueError, match="each run must be a dict with the key 'method'"):
        F.train_staircases([{"bias_init": 0.0}], 10)
    with pytest.raises(ValueError, match="each run must be a dict with the key 'method'"):
        F.train_staircases([{"method": "forward-only", "steps": 3}], 10)
    with pytest.raises(ValueError, match="method must be one of"):
        F.train_staircases([{"method": "sign"}], 10)
    with pytest.raises(ValueError, match=r"iterations must be an int or a sequence of one per run \(2\), got 1"):
        F.train_staircases([{"method": "forward-only"}, {"method": "non-flat"}], [10])
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        F.train_staircases([{"method": "forward-only"}], 0)
    with pytest.raises(ValueError, match="n_train must be an int >= 1"):
        F.train_staircases([{"method": "forward-only", "n_train": 0}], 10)
