"""Architecture and conditioning: the ramp matrix, its condition number, whitening, and the PWL autoencoder's curves."""

import numpy as np
import pytest
import torch

from deepissues import failures as F
from deepissues.failures.conditioning import TRUE_FILTER, filter_inputs


def test_second_differences_invert_the_ramp_matrix_and_the_filter_recovers_the_kinks():
    n = 30
    W, D = F.pwl_matrix(n), F.second_difference_matrix(n)
    np.testing.assert_allclose((W @ D).numpy(), np.eye(n), atol=1e-12)
    np.testing.assert_allclose(np.linalg.inv(W.numpy()), D.numpy(), atol=1e-9)
    f, p = F.pwl_curves(50, n, seed=1)
    assert (p != 0).sum(1).max() <= 3
    np.testing.assert_allclose((filter_inputs(f) @ torch.tensor(TRUE_FILTER)).numpy(), p.numpy(), atol=1e-4)


def test_condition_number_matches_a_dense_eigensolver_and_grows_at_least_like_n_to_the_3_5():
    W = F.pwl_matrix(40).numpy()
    eig = np.linalg.eigvalsh(W.T @ W)
    assert F.pwl_condition_number(40) == pytest.approx(eig[-1] / eig[0], rel=1e-6)
    ns = np.array([50, 100, 200, 400])
    kappa = np.array([F.pwl_condition_number(int(n)) for n in ns])
    slope = np.polyfit(np.log(ns), np.log(kappa), 1)[0]
    assert 3.5 <= slope <= 4.1
    assert np.all(kappa >= 0.8 * ns ** 3 * (ns - 2))  # the bound in the paper's proof


def test_whitening_makes_the_convolutional_hessian_the_identity():
    f, _ = F.pwl_curves(500, 60, seed=3)
    P = F.whitening(f)
    phi = filter_inputs(f).reshape(-1, 3).double() @ P
    np.testing.assert_allclose((phi.T @ phi / len(phi)).numpy(), np.eye(3), atol=1e-8)


def test_conv_with_conditioning_recovers_the_true_filter_and_the_others_do_not_yet():
    enc, curve = F.train_pwl_encoder("conv+conditioning", 600, n=60, progress=False)
    np.testing.assert_allclose(enc.filter.detach().numpy(), TRUE_FILTER, atol=1e-3)
    assert curve[-1][1] < 1e-6
    _, dense = F.train_pwl_encoder("dense", 600, n=60, progress=False)
    _, conv = F.train_pwl_encoder("conv", 600, n=60, progress=False)
    assert dense[-1][1] > 1e4 * curve[-1][1] and conv[-1][1] > 1e4 * curve[-1][1]


def test_random_pwl_curves_have_at_most_the_asked_kinks_and_the_drawn_slope_changes():
    theta, c = F.random_pwl_code(200, 60, pieces=3, seed=5)
    assert float(theta.min()) >= 0 and float(theta.max()) < 60 and float(c.abs().max()) <= 1
    f = F.random_pwl_curves(200, 60, pieces=3, seed=5).double()
    second = f[:, 2:] - 2 * f[:, 1:-1] + f[:, :-2]
    # sampled at integers, a kink at θ bends the curve at the two samples around θ and no others
    assert int((second.abs() > 1e-3).sum(1).max()) <= 6   # 1e-3: above float32 rounding at |f| ~ 100
    # negative control: curves drawn with five kinks bend at more than six samples
    five = F.random_pwl_curves(200, 60, pieces=5, seed=5).double()
    assert int(((five[:, 2:] - 2 * five[:, 1:-1] + five[:, :-2]).abs() > 1e-3).sum(1).max()) > 6
    # the slope changes add up to the change of slope from the first to the last sample, for
    # curves whose kinks all lie between them (sampled slopes are taken at x = 0.5 and n − 1.5)
    inside = ((theta > 1) & (theta < 58)).all(1)
    slope_change = (f[:, -1] - f[:, -2]) - (f[:, 1] - f[:, 0])
    np.testing.assert_allclose(slope_change[inside].numpy(), c[inside].sum(1).double().numpy(), atol=1e-5)


def test_train_pwl_autoencoder_learns_the_curves_and_reports_its_error_on_fresh_curves():
    n = 40
    model, curve = F.train_pwl_autoencoder(300, n=n, n_train=2000, progress=False)
    fresh = F.random_pwl_curves(1000, n, seed=1)
    with torch.no_grad():
        assert curve[-1][1] == pytest.approx(float((model(fresh) - fresh).pow(2).mean()), rel=1e-5)
    # an untrained network outputs about 0, so its error is about the curves' mean square;
    # 300 steps bring it far below that
    energy = float(fresh.pow(2).mean())
    assert curve[-1][1] < 0.05 * energy
    # negative control: one step leaves the error at the curves' own energy
    assert F.train_pwl_autoencoder(1, n=n, n_train=2000, progress=False)[1][-1][1] > 0.9 * energy


def test_the_code_rebuilds_the_autoencoders_curves_and_a_kink_shift_costs_as_the_ramps_say():
    theta, c = F.random_pwl_code(50, 100, seed=4)
    assert torch.equal(F.pwl_curves_from_code(theta, c, 100), F.random_pwl_curves(50, 100, seed=4))
    assert F.kink_shift_error(theta, c, 0.0) == 0.0  # the exact code reconstructs exactly
    # one kink of slope change c moved by s changes the curve by c·s on the far side of both
    # positions (and by less in between), so its squared error is about c²s²(n − θ): check one ramp
    one_theta, one_c = torch.tensor([[40.0]]), torch.tensor([[0.5]])
    moved = F.pwl_curves_from_code(one_theta + 2.0, one_c, 100) - F.pwl_curves_from_code(one_theta, one_c, 100)
    assert float(moved.pow(2).sum()) == pytest.approx(0.25 * 4 * (100 - 42) + 0.25 * 1, rel=1e-6)
    # the error grows with the shift (negative control: a larger shift cannot cost less)
    errors = [F.kink_shift_error(theta, c, s) for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(errors, errors[1:]))


def test_white_inputs_are_well_conditioned_and_keep_the_exact_encoder():
    # on white inputs the plain convolution needs no preconditioner: it recovers the filter itself,
    # where on the paper's curves (the test above) it has not yet
    enc, curve = F.train_pwl_encoder("conv", 600, n=60, progress=False, data="white")
    np.testing.assert_allclose(enc.filter.detach().numpy(), TRUE_FILTER, atol=1e-3)
    assert curve[-1][1] < 1e-6 * curve[0][1]
    # the targets are the inputs' second differences: the exact filter has zero error
    exact = F.PWLEncoder(60, "conv")
    with torch.no_grad():
        exact.weight.copy_(torch.tensor(TRUE_FILTER))
    f, p = F.conditioning._white_curves(50, 60, seed=1)
    with torch.no_grad():
        assert float((exact(f) - p).pow(2).max()) < 1e-8
