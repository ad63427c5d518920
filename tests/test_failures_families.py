"""Failure families 1 (linear-periodic), 2, 3 and 4, each against a closed form, brute force or a
property that does not come from the code under test."""


import numpy as np
import pytest
import torch

from deepissues import failures as F
from deepissues.failures.conditioning import TRUE_FILTER, filter_inputs
from deepissues.failures.flat import STEPS


# ----- linear-periodic ----------------------------------------------------------------------------

def test_linear_periodic_gradient_variance_matches_steins_closed_form():
    for r in (0.1, 0.25, 0.4):
        got = F.periodic_gradient_variance(8, r, model="linear")
        assert got["variance"] == pytest.approx(F.linear_periodic_variance_closed_form(r),
                                                abs=3 * got["resolution"], rel=0.05)


def test_linear_periodic_variance_falls_below_the_estimators_resolution_for_large_r():
    small = F.periodic_gradient_variance(8, 0.1)
    large = F.periodic_gradient_variance(8, 1.5)
    assert small["variance"] > 100 * small["resolution"]
    assert abs(large["variance"]) < 3 * large["resolution"]


@pytest.mark.parametrize("init", ["default", "he"])
def test_the_networks_small_r_variance_is_the_leading_order_term_for_either_initialisation(init):
    # at r = 0.02 the next order is a relative 4π²r² ≈ 1.6%; the sampled variance must agree within 5%
    leading = F.leading_order_variance(10, 0.02, init=init)
    sampled = F.periodic_gradient_variance(10, 0.02, init=init)
    assert sampled["variance"] == pytest.approx(leading["variance"], rel=0.05)
    # negative control: at r = 0.5 the leading order overstates the variance many times over
    assert F.periodic_gradient_variance(10, 0.5, init=init)["variance"] < 0.2 * F.leading_order_variance(10, 0.5, init=init)["variance"]


def test_the_alignment_of_the_initialisations_differs_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    default = F.leading_order_variance(10, 0.1)["alignment"]
    after = torch.rand(2)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(2), after)  # the seeded network was drawn from a forked generator
    he = F.leading_order_variance(10, 0.1, init="he")["alignment"]
    assert he > 3 * default  # Kaiming-normal's larger output weights align the gradient more with x


def test_linear_periodic_dataset_has_the_asked_radius_and_labels():
    X, y, w = F.linear_periodic_dataset(200, 5, 2.0, seed=3)
    assert float(w.norm()) == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(y.numpy(), np.sin(2 * np.pi * X.numpy() @ w.numpy()), atol=1e-5)


# ----- decomposition vs end-to-end ----------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 10, 50])
def test_stocks_second_moment_ratio_and_snr_match_their_closed_forms(k):
    d = 8
    e2e = F.stocks_gradients("end-to-end", 4000, d, k)
    dec = F.stocks_gradients("decomposition", 4000, d, k)
    ratio = float(e2e.pow(2).sum(1).mean() / dec.pow(2).sum(1).mean())
    assert ratio == pytest.approx(F.stocks_second_moment_ratio(k), rel=0.03)
    snr = F.stocks_snr_closed_form(d, k)
    assert F.gradient_snr(e2e) == pytest.approx(snr["end-to-end"], rel=0.1)
    assert F.gradient_snr(dec) == pytest.approx(snr["decomposition"], rel=0.1)


def test_stocks_mean_gradients_agree_and_gains_have_the_stated_law():
    market = F.stocks_market(6, 4, seed=1)
    X, Z, Y = F.stocks_batch(20000, market, 4, seed=2)
    assert torch.equal(Y.argmax(1), market[X.argmax(1)])
    assert bool((Z[Y > 0] == 1).all()) and abs(float(Z[Y == 0].mean())) < 0.02
    e2e = F.stocks_gradients("end-to-end", 20000, 6, 4, seed=1)
    dec = F.stocks_gradients("decomposition", 20000, 6, 4, seed=1)
    assert float((e2e.mean(0) - dec.mean(0)).abs().max()) < 0.01


def _orientation_from_pixels(image):
    rows, cols = torch.nonzero(image, as_tuple=True)
    return float(((rows - rows.float().mean()) * (cols - cols.float().mean())).float().mean())


def test_train_stocks_reaches_the_best_portfolio_and_reports_its_loss_on_fresh_draws():
    d, k = 20, 5
    policy, curve = F.train_stocks("decomposition", 300, d=d, k=k, progress=False)
    # recompute the reported loss independently: −E[p·z] on the 5 000 validation draws
    X, Z, _ = F.stocks_batch(5000, F.stocks_market(d, k, 0), k, seed=1)
    with torch.no_grad():
        assert curve[-1][1] == pytest.approx(float(-(policy(X) * Z).sum(1).mean()), abs=1e-6)
    # all money on the concerned stock gains +1 for sure, the best possible: the run gets there
    assert curve[-1][1] < -0.95
    # negative control: with a vanishing step the policy stays near the uniform portfolio,
    # whose expected gain is 1/k (the concerned stock's +1; the others average 0)
    frozen = F.train_stocks("decomposition", 300, d=d, k=k, lr=1e-7, progress=False)[1]
    assert abs(frozen[-1][1] + 1 / k) < 0.03 and abs(frozen[-1][1] - frozen[0][1]) < 1e-3


def test_line_segment_labels_agree_with_the_drawn_orientation():
    images, labels = F.line_segment_images(400, size=28, seed=5)
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    covariances = torch.tensor([_orientation_from_pixels(im) for im in images])
    clear = covariances.abs() > 2             # near-axis segments have no visible slope
    assert clear.sum() > 200
    agree = (torch.sign(covariances[clear]) == labels[clear]).float().mean()
    assert agree > 0.97


def test_k_tuple_primary_label_is_the_parity_of_the_intermediate_labels():
    images, intermediate, primary = F.k_tuples(300, 3, size=14, seed=2)
    assert images.shape == (300, 3, 14, 14)
    expected = torch.where((intermediate > 0).sum(1) % 2 == 1, 1.0, -1.0)
    assert torch.equal(primary, expected)
    # the same images come out as from line_segment_images, so the labels belong to them
    flat, labels = F.line_segment_images(900, size=14, seed=2)
    assert torch.equal(images.reshape(900, 14, 14), flat) and torch.equal(intermediate.flatten(), labels)


def test_decomposition_learns_k_3_tuples_where_end_to_end_stays_at_chance():
    kwargs = dict(size=14, channels=8, batch_size=64, lr=3e-3, progress=False, test_size=1000)
    dec = F.train_tuples(3, 300, "decomposition", **kwargs)[1][-1][1]
    e2e = F.train_tuples(3, 300, "end-to-end", **kwargs)[1][-1][1]
    assert dec > 0.7 and abs(e2e - 0.5) < 0.06


# ----- architecture and conditioning --------------------------------------------------------------

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


# ----- flat activations ---------------------------------------------------------------------------

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
