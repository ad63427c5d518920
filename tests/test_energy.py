"""Local entropy against its closed form for a quadratic and quadrature in 1-D; sharpness
against the top eigenvalue; Entropy-SGD against plain gradient descent where they must agree,
and against SGD on a double well."""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from deepissues.nets import mlp
from deepissues.theory import (EntropySGD, double_well, double_well_finals, fit_entropy_sgd, flat_loss, flatness, local_entropy,
                               sharpness)

H = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)


def quadratic(points):
    return 0.5 * (points ** 2 * H).sum(-1)


def test_local_entropy_of_a_quadratic_matches_its_closed_form():
    x, gamma, beta = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64), 0.5, 2.0
    estimate, se = local_entropy(quadratic, x, gamma, beta, samples=200000)
    ratio = H / gamma
    closed = float((-0.5 * torch.log1p(ratio) - beta * H * x ** 2 / (2 * (1 + ratio))).sum())
    assert abs(estimate - closed) < 4 * se + 1e-3


def test_local_entropy_matches_quadrature_on_the_double_well():
    gamma, beta = 1.0, 4.0
    for x0 in (-1.0, 0.0, 2.0):
        integrand = lambda t: math.exp(-beta * float(double_well(torch.tensor(t))) - beta * gamma * (t - x0) ** 2 / 2)
        with warnings.catch_warnings():  # quad's roundoff notice on the narrow bump; the value is fine
            warnings.simplefilter("ignore")
            area = quad(integrand, -15, 15, points=[-1, 2], limit=200)[0]
        exact = math.log(area) - 0.5 * math.log(2 * math.pi / (beta * gamma))
        estimate, se = local_entropy(lambda p: double_well(p[:, 0]), torch.tensor([x0], dtype=torch.float64), gamma,
                                     beta, samples=100000)
        assert abs(estimate - exact) < 4 * se + 1e-3


def test_the_wide_valley_has_more_local_entropy_until_the_scope_shrinks_to_a_point():
    def entropies(gamma):
        return [local_entropy(lambda p: double_well(p[:, 0]), torch.tensor([c], dtype=torch.float64), gamma)[0]
                for c in (-1.0, 2.0)]
    assert double_well(torch.tensor(-1.0)) < double_well(torch.tensor(2.0))
    sharp, wide = entropies(1.0)
    assert wide > sharp + 0.1
    sharp, wide = entropies(1e4)  # F -> -beta f(x) as gamma grows: the deeper minimum wins again
    assert sharp > wide + 0.2


def test_sharpness_of_a_quadratic_is_half_the_top_eigenvalue_times_r_squared():
    x, r = torch.zeros(3, dtype=torch.float64), 0.1
    found = sharpness(quadratic, x, r)
    assert found == pytest.approx(0.5 * 4.0 * r ** 2, rel=1e-4)
    deltas = torch.randn(2000, 3, dtype=torch.float64)
    deltas *= r * torch.rand(2000, 1, dtype=torch.float64) / deltas.norm(dim=1, keepdim=True)
    assert found >= float(quadratic(deltas).max())


def _quadratic_run(optimiser, x, steps, closure_calls):
    def closure():
        optimiser.zero_grad()
        loss = quadratic(x)
        loss.backward()
        closure_calls.append(1)
        return loss
    for _ in range(steps):
        optimiser.step(closure)
    return x.detach().clone()


def test_one_langevin_step_without_noise_is_a_gradient_step():
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    calls = []
    end = _quadratic_run(EntropySGD([x], lr=1.0, langevin_steps=1, langevin_lr=0.1, noise=0.0, alpha=1.0), x, 5, calls)
    assert torch.allclose(end, torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64) * (1 - 0.1 * H) ** 5)
    assert len(calls) == 5


def test_noiseless_inner_loop_matches_its_linear_recursion_with_scoping():
    lr, gamma, scoping, eta, steps, alpha = 0.7, 0.5, 0.1, 0.05, 10, 0.75
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    end = _quadratic_run(EntropySGD([x], lr=lr, gamma=gamma, scoping=scoping, langevin_steps=steps, langevin_lr=eta,
                                    noise=0.0, alpha=alpha), x, 3, [])
    h, w = H.numpy(), np.array([1.0, -2.0, 3.0])
    for t in range(3):
        g, inner, mean = gamma * (1 + scoping) ** t, w.copy(), w.copy()
        for _ in range(steps):
            inner = inner - eta * (h * inner - g * (w - inner))
            mean = (1 - alpha) * mean + alpha * inner
        w = w - lr * (w - mean)
    assert np.allclose(end.numpy(), w, atol=1e-12)


def test_entropy_sgd_lands_in_the_wide_valley_more_often_than_sgd():
    barrier = -0.3  # the top between the two basins of double_well
    sgd = (double_well_finals("sgd", -0.5) > barrier).double().mean()
    entropy = (double_well_finals("entropy-sgd", -0.5, gamma=0.1, scoping=0.03, noise=1.0) > barrier).double().mean()
    assert entropy > sgd + 0.3


def test_flat_loss_is_the_models_loss_at_its_parameters_and_moves_with_them():
    torch.manual_seed(0)
    model = mlp([4, 6, 3])
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    loss_at, x0 = flat_loss(model, torch.nn.functional.cross_entropy, (x, y))
    assert float(loss_at(x0).detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(model(x), y).detach()), rel=1e-6)
    step = 0.1 * torch.randn_like(x0)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters((x0 + step).float(), model.parameters())
    assert float(loss_at(x0 + step).detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(model(x), y).detach()), rel=1e-5)
    assert loss_at(torch.stack([x0, x0 + step])).shape == (2,)


def test_bad_input_is_refused():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="closure"):
        EntropySGD([x]).step()
    with pytest.raises(ValueError, match="alpha"):
        EntropySGD([x], alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        EntropySGD([x], gamma=0)
    with pytest.raises(ValueError, match="x must be"):
        local_entropy(quadratic, torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="loss must map"):
        local_entropy(lambda p: p.sum(), torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="method"):
        double_well_finals("adam", 0.0)


def test_flatness_of_a_linear_least_squares_model_at_its_minimum_is_known_in_closed_form():
    torch.manual_seed(0)
    X = torch.randn(50, 3, dtype=torch.float64)
    model = torch.nn.Linear(3, 1, bias=False).double()
    y = model(X).detach()  # the model sits at the minimum, loss 0
    measures = flatness(model, torch.nn.functional.mse_loss, (X, y), gamma=10.0, radius=0.2)
    h = np.linalg.eigvalsh(2 * X.T.numpy() @ X.numpy() / 50)
    assert measures["top eigenvalue"] == pytest.approx(h[-1], rel=1e-6)
    assert measures["trace"] == pytest.approx(h.sum(), rel=0.15)
    assert 0.995 * 0.5 * h[-1] * 0.2 ** 2 <= measures["sharpness"] <= 0.5 * h[-1] * 0.2 ** 2 + 1e-12
    assert measures["local entropy"] == pytest.approx(-0.5 * np.log1p(h / 10.0).sum(), abs=0.02)


def test_fit_entropy_sgd_lowers_the_loss_and_stops_when_asked():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = mlp([4, 16, 2])
    before = float(torch.nn.functional.cross_entropy(model(x), y).detach())
    losses = fit_entropy_sgd(model, x, y, rounds=30, batch_size=16, progress=False, lr=1.0, gamma=0.03, langevin_lr=0.1)
    after = float(torch.nn.functional.cross_entropy(model(x), y).detach())
    assert len(losses) == 30 and after < before - 0.05
    rounds = fit_entropy_sgd(model, x, y, rounds=30, progress=False, stop=lambda m: True)
    assert len(rounds) == 1


def test_landscape_finals_follow_the_closed_forms_on_a_quadratic_bowl():
    from deepissues.theory import landscape_finals

    q, lr, steps = 0.5, 0.05, 50 * 20
    bowl = lambda x: 0.5 * q * (x ** 2).sum(-1)
    start = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    sgd = landscape_finals("sgd", bowl, start, trials=3, lr=lr, gradient_noise=0.0)
    torch.testing.assert_close(sgd, (1 - lr * q) ** steps * start.expand(3, 3))
    # Langevin: the discrete Ornstein-Uhlenbeck process has stationary variance lr ε² / (1 − (1 − lr q)²)
    eps = 0.5
    langevin = landscape_finals("langevin", bowl, start, trials=2000, lr=lr, noise=eps, gradient_noise=0.0)
    stationary = lr * eps ** 2 / (1 - (1 - lr * q) ** 2)
    assert float(langevin.var(0).mean()) == pytest.approx(stationary, rel=0.08)
    # Control: without thermal noise the runs do not spread at all.
    still = landscape_finals("langevin", bowl, start, trials=50, lr=lr, noise=0.0, gradient_noise=0.0)
    assert float(still.var(0).max()) < 1e-20


def test_sharp_and_wide_has_a_deeper_sharp_well_off_the_valley_floor():
    from deepissues.theory import sharp_and_wide

    c = torch.zeros(50, dtype=torch.float64)
    c[0] = 3.0
    at_centre, at_floor = float(sharp_and_wide(c, c)), float(sharp_and_wide(torch.zeros(50, dtype=torch.float64), c))
    assert at_centre == pytest.approx(0.5 * 0.05 * 9 - 2.0) and at_floor == pytest.approx(-2 * np.exp(-50), abs=1e-12)
    assert at_centre < at_floor
    # Control: a shallow well is no longer the deeper minimum.
    assert float(sharp_and_wide(c, c, sharp_depth=0.1)) > at_floor


def test_landscape_finals_outer_step_is_entropy_sgds_and_lr_its_inner_step():
    from deepissues.theory import landscape_finals

    # noiseless, one inner step on a bowl q/2 x^2 at scope gamma: the inner step from x gives
    # x' = x - lr q x, the mean (alpha = 1) is x', and the outer step moves x by outer_lr (x - x')
    q, lr, outer, gamma = 0.5, 0.1, 0.3, 0.2
    bowl = lambda x: 0.5 * q * x ** 2
    end = landscape_finals("entropy-sgd", bowl, 1.0, trials=2, rounds=1, langevin_steps=1, lr=lr,
                           noise=0.0, gradient_noise=0.0, outer_lr=outer, alpha=1.0, gamma=gamma,
                           scoping=0.0)
    torch.testing.assert_close(end, torch.full((2,), 1.0 - outer * lr * q, dtype=torch.float64))
    # control: the default outer step 1 moves x all the way to x', a different point
    full = landscape_finals("entropy-sgd", bowl, 1.0, trials=2, rounds=1, langevin_steps=1, lr=lr,
                            noise=0.0, gradient_noise=0.0, alpha=1.0, gamma=gamma, scoping=0.0)
    torch.testing.assert_close(full, torch.full((2,), 1.0 - lr * q, dtype=torch.float64))
    with pytest.raises(TypeError, match="outer_lr"):
        landscape_finals("entropy-sgd", bowl, 1.0, lr=lr, langevin_lr=0.1)


def test_gibbs_mean_matches_the_closed_form_of_a_quadratic_and_quadrature_on_the_double_well():
    from deepissues.theory.energy import _gibbs_mean as gibbs_mean

    # for f = h/2 x'^2 the Gibbs measure is Gaussian with mean gamma x / (h + gamma), at any beta
    h, gamma, beta = 4.0, 0.5, 3.0
    anchors = torch.tensor([-2.0, 0.3, 1.5], dtype=torch.float64)
    mean = gibbs_mean(lambda z: 0.5 * h * z ** 2, anchors, gamma, beta)
    torch.testing.assert_close(mean, gamma * anchors / (h + gamma))
    # the double well against scipy's quadrature
    gamma, beta, x0 = 0.3, 2.0, -0.5
    weight = lambda t: math.exp(-beta * float(double_well(torch.tensor(t)))
                                - beta * gamma * (t - x0) ** 2 / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = quad(weight, -15, 15, points=[-1, 2], limit=200)[0]
        first = quad(lambda t: t * weight(t), -15, 15, points=[-1, 2], limit=200)[0]
    assert float(gibbs_mean(double_well, x0, gamma, beta)[0]) == pytest.approx(first / z, abs=1e-6)
    # control: the mean is not the anchor (the well pulls it) nor the loss's minimiser
    assert abs(first / z - x0) > 0.1 and abs(first / z + 1.0) > 0.1


def test_exact_local_entropy_descent_reaches_the_wide_valley_only_at_a_wide_scope():
    from deepissues.theory.energy import _local_entropy_descent as local_entropy_descent

    wide = local_entropy_descent(double_well, -0.5, rounds=50, gamma=0.1, scoping=0.03, noise=1.0)
    assert float(wide[0]) > 1.0  # at a wide scope the smoothed loss is lowest in the wide valley
    # control: at a narrow scope the smoothed loss is the loss, and descent stays in the sharp basin
    narrow = local_entropy_descent(double_well, -0.5, rounds=50, gamma=10.0, scoping=0.03,
                                   noise=1.0)
    assert float(narrow[0]) < -0.3
    # one step at outer_lr = 1 lands on the Gibbs mean
    from deepissues.theory.energy import _gibbs_mean as gibbs_mean
    one = local_entropy_descent(double_well, -0.5, rounds=1, gamma=0.1, scoping=0.0, noise=1.0)
    torch.testing.assert_close(one, gibbs_mean(double_well, -0.5, 0.1, 2.0))
    # the public route: landscape_finals' method "local-entropy", every run alike
    finals = double_well_finals("local-entropy", -0.5, trials=3, noise=1.0, gamma=0.1, scoping=0.03)
    torch.testing.assert_close(finals, wide.expand(3))
