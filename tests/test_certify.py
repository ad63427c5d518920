"""Guarantees are checked against attacks (no attack beats a certificate), dense sampling,
closed forms on linear models, a brute-force grid and a generic solver."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch import nn

from deepissues import attacks as A
from deepissues import certify as C
from deepissues import data
from deepissues.certify.regions import min_norm_in_polyhedron
from deepissues.nets import mlp
from deepissues.training import fit


def _trained(widths, activation, epochs=25, seed=0):
    torch.manual_seed(seed)
    d = data.digits()
    net = mlp(widths, activation)
    fit(net, d.x_train, d.y_train, epochs=epochs, lr=3e-3, progress=False, seed=seed)
    return net.eval(), d


@pytest.fixture(scope="module")
def softplus_net():
    return _trained([64, 32, 10], "softplus")


@pytest.fixture(scope="module")
def relu_net():
    return _trained([64, 24, 24, 10], "relu")


def _toy_net():
    """A ReLU net on [0, 1]^2 whose three classes all appear in the box."""
    torch.manual_seed(1)
    net = mlp([2, 8, 8, 3], init="he", bias_std=1.0)
    with torch.no_grad():
        net[0].weight.mul_(6)
        net[0].bias.sub_(3)
    return net.eval()


# ---------------------------------------------------------------- Cross-Lipschitz

@pytest.mark.parametrize("activation", ["softplus", "tanh"])
def test_no_attack_beats_the_cross_lipschitz_radius(activation):
    net, d = _trained([64, 32, 10], activation)
    x, y = d.x_test[:120], d.y_test[:120]
    radius = C.cross_lipschitz_radius(net, x, y).float()
    assert (radius > 0).float().mean() > 0.85
    for attack in (A.DeepFool(net), A.MinimalPerturbation(net, norm="l2", steps=20, restarts=2),
                   A.CarliniWagnerL2(net, steps=60, search_steps=5)):
        x_adv, success = attack(x, y)
        norms = (x_adv - x).norm(dim=1)
        assert not (success & (norms < radius)).any(), type(attack).__name__
    # PGD-L2 with restarts, at budgets that many points are certified for
    for eps in radius[radius > 0].quantile(torch.tensor([0.25, 0.5])).tolist():
        certified = radius > eps
        for seed in range(3):
            pgd = A.PGD(net, eps=eps, alpha=eps / 4, steps=40, norm="l2", seed=seed)
            fooled = net(pgd(x, y)).argmax(1) != y
            assert not (fooled & certified).any()


def test_cross_lipschitz_radius_is_zero_on_misclassified_points(softplus_net):
    net, d = softplus_net
    wrong = net(d.x_test).argmax(1) != d.y_test
    assert wrong.any()
    assert (C.cross_lipschitz_radius(net, d.x_test[wrong], d.y_test[wrong]) == 0).all()


def test_cross_lipschitz_radius_of_a_linear_model_is_margin_over_weight_difference():
    torch.manual_seed(0)
    lin = nn.Linear(5, 4).double()
    x = torch.randn(30, 5, dtype=torch.float64)
    logits = lin(x).detach()
    c = logits.argmax(1)
    W = lin.weight.detach()
    expected = torch.stack([min((logits[n, c[n]] - logits[n, j]) / (W[c[n]] - W[j]).norm()
                                for j in range(4) if j != c[n]) for n in range(30)])
    assert torch.allclose(C.cross_lipschitz_radius(lin, x, steps=80), expected, rtol=1e-9)


@pytest.mark.parametrize("activation", [nn.Softplus(), nn.Softplus(beta=4.0), nn.Tanh(), nn.Sigmoid()])
def test_gradient_difference_bound_is_exact_at_zero_and_dominates_the_ball(activation):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), activation, nn.Linear(12, 4)).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    c = torch.zeros(5, dtype=torch.long)

    def gradient_gaps(points, cls):
        jac = torch.func.vmap(torch.func.jacrev(net))(points)  # (M, K, d)
        return (jac[:, cls][:, None, :] - jac).norm(dim=2)

    exact = torch.stack([gradient_gaps(x[n:n + 1], 0)[0] for n in range(5)])
    assert torch.allclose(C.gradient_difference_bound(net, x, 0.0, c), exact, atol=1e-10)
    radius = 0.7
    bound = C.gradient_difference_bound(net, x, radius, c)
    for n in range(5):
        directions = torch.randn(4000, 6, dtype=torch.float64)
        directions = directions / directions.norm(dim=1, keepdim=True)
        points = x[n] + radius * torch.rand(4000, 1, dtype=torch.float64) ** (1 / 6) * directions
        points = torch.cat([points, x[n] + radius * directions[:500]])
        assert (gradient_gaps(points, 0).amax(0) <= bound[n] + 1e-10).all()


def _slope_range(activation, left, right):
    """The smallest and largest slope of a unimodal-slope activation on [left, right], by
    autograd at the ends and at 0, the peak of tanh's and sigmoid's slopes."""
    def slope(z):
        z = z.clone().requires_grad_()
        return torch.autograd.grad(activation(z).sum(), z)[0]

    ends = torch.stack([slope(left), slope(right)])
    inside = (left <= 0) & (right >= 0)
    peak = torch.where(inside, slope(torch.zeros_like(left)), ends.amax(0))
    return ends.amin(0), torch.maximum(ends.amax(0), peak)


@pytest.mark.parametrize("activation", [nn.Softplus(), nn.Tanh(), nn.Sigmoid()])
def test_gradient_difference_bound_is_the_termwise_maximum_over_the_slope_intervals(activation):
    """The bound as its docstring derives it, term by term: Σ_rs max over the interval ends of
    v_r v_s ⟨u_r, u_s⟩ t_r t_s, for every point, class pair and radius."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 9), activation, nn.Linear(9, 4)).double()
    x, c = torch.randn(7, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    U, b, W = net[0].weight.detach(), net[0].bias.detach(), net[2].weight.detach()
    for radius in (0.0, 0.3, 2.0):
        z, reach = x @ U.T + b, radius * U.norm(dim=1)
        lo, hi = _slope_range(activation, z - reach, z + reach)
        expected = torch.zeros(7, 4, dtype=torch.float64)
        for n in range(7):
            for j in range(4):
                v = W[c[n]] - W[j]
                pair = torch.outer(v, v) * (U @ U.T)
                ends = torch.maximum(pair * torch.outer(hi[n], hi[n]), pair * torch.outer(lo[n], lo[n]))
                expected[n, j] = ends.sum().clamp_min(0).sqrt()
        bound = C.gradient_difference_bound(net, x, radius, c)
        assert torch.allclose(bound, expected, rtol=1e-12, atol=1e-12)
    # control: the smaller end everywhere gives a smaller number, which the bound is not
    smaller = torch.minimum(pair * torch.outer(hi[n], hi[n]), pair * torch.outer(lo[n], lo[n])).sum().clamp_min(0).sqrt()
    assert bound[n, j] > smaller + 1e-6


def test_one_vs_rest_svm_outputs_are_sklearn_decision_functions():
    from sklearn.svm import SVC

    d = data.digits()
    x, y = d.x_train[:400], d.y_train[:400]
    machine = C.one_vs_rest_svm(x, y, gamma=0.05, C=10.0)
    for k in (0, 7):
        svm = SVC(kernel="rbf", gamma=0.05, C=10.0).fit(x.numpy(), (y.numpy() == k).astype(int))
        expected = svm.decision_function(d.x_test[:50].numpy())
        got = machine(d.x_test[:50])[:, k].detach().numpy()
        assert np.allclose(got, expected, atol=1e-4)


def test_kernel_bound_dominates_sampled_gradients_and_no_attack_beats_its_radius():
    d = data.digits()
    machine = C.one_vs_rest_svm(d.x_train[:600], d.y_train[:600], gamma=0.05, C=10.0).double()
    x, y = d.x_test[:40].double(), d.y_test[:40]
    c = machine(x).argmax(1)
    jac_x = torch.func.vmap(torch.func.jacrev(lambda p: machine(p[None])[0]))(x)
    exact = (jac_x[torch.arange(40), c][:, None] - jac_x).norm(dim=2)
    assert torch.allclose(C.kernel_gradient_difference_bound(machine, x, 0.0, c), exact, atol=1e-10)
    bound = C.kernel_gradient_difference_bound(machine, x, 0.5, c)
    for n in range(0, 40, 8):
        directions = torch.randn(2000, 64, dtype=torch.float64)
        points = x[n] + 0.5 * directions / directions.norm(dim=1, keepdim=True) * torch.rand(2000, 1) ** (1 / 64)
        jac = torch.func.vmap(torch.func.jacrev(lambda p: machine(p[None])[0]))(points)
        gaps = (jac[:, c[n]][:, None] - jac).norm(dim=2).amax(0)
        assert (gaps <= bound[n] + 1e-9).all()
    radius = C.cross_lipschitz_radius_kernel(machine, x, y)
    assert (radius > 0).float().mean() > 0.8
    machine = machine.float()
    x = x.float()
    for attack in (A.DeepFool(machine), A.MinimalPerturbation(machine, norm="l2", steps=20, restarts=1)):
        x_adv, success = attack(x, y)
        assert not (success & ((x_adv - x).norm(dim=1) < radius.float())).any()


def test_closed_form_needs_one_hidden_layer_and_a_smooth_activation():
    with pytest.raises(TypeError, match="smooth activation"):
        C.cross_lipschitz_radius(mlp([4, 8, 3], "relu"), torch.rand(2, 4))
    with pytest.raises(TypeError, match="one-hidden-layer"):
        C.cross_lipschitz_radius(mlp([4, 8, 8, 3], "softplus"), torch.rand(2, 4))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        C.cross_lipschitz_radius(mlp([4, 8, 3], "softplus"), torch.rand(2, 5))
    with pytest.raises(TypeError, match="KernelMachine"):
        C.cross_lipschitz_radius_kernel(mlp([4, 8, 3], "softplus"), torch.rand(2, 4))


# ---------------------------------------------------------------- interval bounds

@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_interval_bounds_contain_the_logits_of_sampled_points(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        net, x = mlp([16, 20, 20, 5], "relu"), torch.rand(6, 16)
    else:
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))
        x = torch.rand(6, 1, 4, 4)
    eps = 0.1
    lb, ub = C.interval_bounds(net, x, eps)
    with torch.no_grad():
        for n in range(len(x)):
            noise = torch.rand(3000, *x.shape[1:]) * 2 - 1
            noise[:1000] = noise[:1000].sign()  # corners of the ball
            points = (x[n] + eps * noise).clamp(0, 1)
            out = net(points)
            assert (out >= lb[n] - 1e-5).all() and (out <= ub[n] + 1e-5).all()


def test_interval_bounds_of_a_linear_model_are_the_dual_norm_formula():
    torch.manual_seed(0)
    lin = nn.Linear(10, 3).requires_grad_(False)
    x, y, eps = torch.rand(8, 10) * 0.5 + 0.25, torch.randint(0, 3, (8,)), 0.1
    lb, ub = C.interval_bounds(lin, x, eps)
    out, slack = lin(x), eps * lin.weight.abs().sum(1)
    assert torch.allclose(lb, out - slack, atol=1e-6) and torch.allclose(ub, out + slack, atol=1e-6)
    margins = C.margin_lower_bounds(nn.Sequential(lin), x, y, eps)
    W = lin.weight
    for n in range(8):
        for j in range(3):
            if j != y[n]:
                expected = out[n, y[n]] - out[n, j] - eps * (W[y[n]] - W[j]).abs().sum()
                assert margins[n, j] == pytest.approx(float(expected), abs=1e-5)


def test_ibp_certified_accuracy_never_exceeds_robust_accuracy_under_pgd(relu_net):
    net, d = relu_net
    x, y = d.x_test[:200], d.y_test[:200]
    for eps in (0.005, 0.02, 0.05):
        certified = C.certified_accuracy(net, x, y, eps)
        robust = A.robust_accuracy(net, A.PGD(net, eps=eps, alpha=eps / 4, steps=20), x, y)
        assert certified <= robust + 1e-9
    assert C.certified_accuracy(net, x, y, 0.0) == pytest.approx(float((net(x).argmax(1) == y).float().mean()))


def test_negative_eps_is_refused():
    with pytest.raises(ValueError, match="eps must be"):
        C.interval_bounds(mlp([4, 3]), torch.rand(2, 4), -0.1)
    with pytest.raises(TypeError, match="layer 1 is Dropout"):
        C.interval_bounds(nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.Linear(4, 2)), torch.rand(2, 4), 0.1)


# ---------------------------------------------------------------- exact minimal perturbation

@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_exact_minimal_perturbation_matches_a_dense_grid(norm):
    net = _toy_net()
    torch.manual_seed(2)
    x = torch.rand(6, 2)
    dist, points = C.exact_min_perturbation(net, x, norm)
    grid = torch.cartesian_prod(*[torch.linspace(0, 1, 801)] * 2)
    with torch.no_grad():
        pred, cls = net(grid).argmax(1), net(x).argmax(1)
        at_points = net(points.float())
    step = 1 / 800
    tol = {"l1": 2 * step, "l2": 1.5 * step, "linf": step}[norm]
    for n in range(len(x)):
        diff = grid[pred != cls[n]] - x[n]
        brute = {"l1": diff.abs().sum(1), "l2": diff.norm(dim=1), "linf": diff.abs().amax(1)}[norm].min()
        assert float(brute) - tol <= float(dist[n]) <= float(brute) + 1e-9
        gap = at_points[n, cls[n]] - at_points[n].scatter(0, cls[n:n + 1], -np.inf).max()
        assert abs(float(gap)) < 1e-4  # the returned point is on the decision boundary


def test_exact_minimal_perturbation_of_a_linear_model_is_the_closed_form():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(3, 2)).requires_grad_(False)
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [-1.0, 1.0, 0.0]]) * 0.3)
        lin[0].bias.copy_(torch.tensor([0.05, 0.0]))
    x = torch.full((1, 3), 0.5)
    dist, _ = C.exact_min_perturbation(lin, x, "l2")
    w = lin[0].weight[0] - lin[0].weight[1]
    margin = abs(float(lin(x)[0, 0] - lin(x)[0, 1]))
    assert float(dist[0]) == pytest.approx(margin / float(w.norm()), rel=1e-6)
    dist_inf, _ = C.exact_min_perturbation(lin, x, "linf")
    assert float(dist_inf[0]) == pytest.approx(margin / float(w.abs().sum()), rel=1e-6)


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_least_distance_program_equals_a_generic_solver(norm):
    rng = np.random.default_rng(0)
    for _ in range(15):
        d, m = 5, 4
        G, h = rng.normal(size=(m, d)), rng.normal(size=m) - 0.3
        x = rng.random(d)
        delta = min_norm_in_polyhedron(G, h, -x, 1 - x, norm)
        fun = {"l1": lambda r: np.abs(r).sum(), "l2": lambda r: r @ r, "linf": lambda r: np.abs(r).max()}[norm]
        best = None
        for start in rng.normal(size=(8, d)) * 0.3:
            res = minimize(fun, np.clip(start, -x, 1 - x), method="SLSQP", bounds=list(zip(-x, 1 - x)),
                           constraints=[{"type": "ineq", "fun": lambda r: h - G @ r}],
                           options={"ftol": 1e-12, "maxiter": 500})
            if res.success and (h - G @ res.x).min() > -1e-7 and (best is None or res.fun < best):
                best = res.fun
        if delta is None:
            assert best is None
            continue
        assert (G @ delta <= h + 1e-7).all() and (delta >= -x - 1e-9).all() and (delta <= 1 - x + 1e-9).all()
        if best is not None:
            assert fun(delta) <= best + 1e-6


# ---------------------------------------------------------------- sandwich and ordering

def test_certificate_exact_region_attack_deepfool_are_ordered_point_by_point():
    net, d = _trained([64, 12, 10], "relu", epochs=40)
    x, y = d.x_test[:12], d.y_test[:12]
    x, y = x[net(x).argmax(1) == y], y[net(x).argmax(1) == y]
    for norm in ("linf", "l2"):
        exact, _ = C.exact_min_perturbation(net, x, norm)
        x_r, ok_r = A.RegionAttack(net, norm=norm, steps=4, samples=6)(x, y)
        x_d, ok_d = A.DeepFool(net, norm=norm)(x, y)
        region = A.perturbation_norms(x, x_r)[norm].double()
        deepfool = A.perturbation_norms(x, x_d)[norm].double()
        assert ok_r.all() and ok_d.all()
        assert (exact <= region + 1e-6).all()
        assert (region <= deepfool + 1e-6).all()
        assert (region <= exact * 1.05 + 1e-4).float().mean() >= 0.75  # usually it finds the optimum
        # without DeepFool's start its result is its own: it still reaches the optimum on most points
        x_n, ok_n = A.RegionAttack(net, norm=norm, steps=4, samples=6, init=None)(x, y)
        alone = A.perturbation_norms(x, x_n)[norm].double()
        assert ok_n.all() and (exact <= alone + 1e-6).all()
        assert (alone <= exact * 1.05 + 1e-4).float().mean() >= 0.75
        if norm == "linf":
            ibp = C.certified_radius(net, x, y).double()
            assert (ibp <= exact + 1e-6).all()


def test_region_attack_alone_is_no_worse_than_deepfool_on_most_points_of_a_digits_mlp(relu_net):
    """Without DeepFool's point as its start (init=None), so that the comparison can fail."""
    net, d = relu_net
    x, y = d.x_test[:25], d.y_test[:25]
    x_r, ok_r = A.RegionAttack(net, norm="l2", steps=4, samples=8, init=None)(x, y)
    x_d, ok_d = A.DeepFool(net)(x, y)
    region, deepfool = (x_r - x).norm(dim=1), (x_d - x).norm(dim=1)
    assert ok_r.all()
    # per point, not by the median: one point decides a median of 25 (0.469 against 0.465 here)
    assert (region[ok_d] <= deepfool[ok_d] + 1e-6).float().mean() >= 0.8
    assert (net(x_r).argmax(1) != y).all()


def test_region_attack_and_exact_search_need_a_relu_network():
    with pytest.raises(TypeError, match="only nn.Linear and nn.ReLU"):
        A.RegionAttack(mlp([4, 8, 3], "tanh"))
    with pytest.raises(ValueError, match="norm must be one of"):
        C.exact_min_perturbation(mlp([2, 4, 2]), torch.rand(1, 2), norm="l3")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        C.exact_min_perturbation(mlp([2, 4, 2]), torch.rand(1, 2) + 1, norm="l2")


# ---------------------------------------------------------------- far from the data

def test_relu_confidence_on_alpha_x_climbs_to_one(relu_net):
    net, d = relu_net
    conf, _ = C.confidence_far_away(net, d.x_test[:100], [1.0, 1e3])
    assert conf[0].mean() < 0.99 and (conf[1] > 0.999).float().mean() > 0.95


def test_confidence_of_a_linear_model_matches_its_softmax():
    lin = nn.Linear(4, 3)
    x = torch.rand(5, 4)
    conf, pred = C.confidence_far_away(lin, x, [2.0])
    expected = lin(2 * x).softmax(1)
    assert torch.allclose(conf[0], expected.max(1).values) and (pred[0] == expected.argmax(1)).all()


def test_fooling_images_reach_high_confidence_for_every_class(relu_net):
    net, _ = relu_net
    images, conf = A.fooling_images(net, torch.arange(10), (64,), steps=150)
    assert images.min() >= 0 and images.max() <= 1
    assert (conf > 0.99).all()
    assert torch.allclose(conf, net(images).softmax(1)[torch.arange(10), torch.arange(10)], atol=1e-6)


def test_dropout_layers_count_as_the_identity_for_the_guarantee():
    torch.manual_seed(0)
    with_dropout = mlp([6, 8, 3], "softplus", dropout=0.5).eval()
    plain = nn.Sequential(with_dropout[0], with_dropout[1], with_dropout[3])
    x = torch.rand(10, 6)
    assert torch.equal(C.cross_lipschitz_radius(with_dropout, x), C.cross_lipschitz_radius(plain, x))


# ---------------------------------------------------------------- no silent wrong answer

def test_bounds_refuse_inputs_outside_the_box_they_clip_to():
    torch.manual_seed(0)
    net = mlp([4, 8, 3])
    x = torch.rand(20, 4) * 2 + 1              # in [1, 3]: outside [0, 1]
    lb, ub = C.interval_bounds(net, x, 0.01, clip=False)
    with torch.no_grad():
        f = net(x)
    assert bool(((lb <= f + 1e-6) & (f <= ub + 1e-6)).all())   # without clipping the bounds hold at x
    for call in (lambda: C.interval_bounds(net, x, 0.01), lambda: C.margin_lower_bounds(net, x, f.argmax(1), 0.01),
                 lambda: C.certified_accuracy(net, x, f.argmax(1), 0.01)):
        with pytest.raises(ValueError, match=r"x must lie in the box \[0, 1\].*clip=False"):
            call()                              # before: bounds of the clipped point, f(x) outside them


def test_certified_radius_follows_the_inputs_dtype_and_checks_its_arguments(relu_net):
    net, d = relu_net
    x, y = d.x_test[:20], d.y_test[:20]
    single = C.certified_radius(net, x, y)
    double = C.certified_radius(net.double(), x.double(), y)
    net.float()
    assert single.dtype == torch.float32 and double.dtype == torch.float64
    np.testing.assert_allclose(double.numpy(), single.numpy(), atol=1e-6)   # bisection to 2^-30 of eps_max
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        C.certified_radius(net, x, y, steps=0)
    with pytest.raises(ValueError, match="eps_max must be a number > 0, got -1"):
        C.certified_radius(net, x, y, eps_max=-1)


def test_fooling_images_take_the_models_dtype(relu_net):
    net, _ = relu_net
    single, conf32 = A.fooling_images(net, torch.arange(3), (64,), steps=20)
    double, conf64 = A.fooling_images(net.double(), torch.arange(3), (64,), steps=20)
    net.float()
    assert single.dtype == torch.float32 and double.dtype == torch.float64
    np.testing.assert_allclose(double.numpy(), single.numpy(), atol=1e-4)   # the same noise, the same ascent


def test_row_bound_lies_below_every_program_it_prunes():
    from deepissues.certify.regions import _row_bound
    rng = np.random.default_rng(0)
    for norm in ("l1", "l2", "linf"):
        for _ in range(20):
            G, x = rng.normal(size=(6, 5)), rng.uniform(size=5)
            h = G @ x + rng.normal(size=6)
            delta = min_norm_in_polyhedron(G, h - G @ x, -x, 1 - x, norm)
            if delta is not None:
                assert _row_bound(G, h - G @ x, norm) <= C.norm_np(delta, norm) + 1e-7


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pruned_exact_search_equals_the_search_that_solves_every_program(norm, monkeypatch):
    from deepissues.certify import regions
    torch.manual_seed(5)
    net = mlp([8, 6, 6, 3]).eval()
    x = torch.rand(4, 8)
    pruned = C.exact_min_perturbation(net, x, norm)
    assert torch.isfinite(pruned[0]).all()  # every point has a boundary in the box to find
    monkeypatch.setattr(regions, "_beyond", lambda best, bound: False)
    every = C.exact_min_perturbation(net, x, norm)
    assert torch.equal(pruned[0], every[0]) and torch.equal(pruned[1], every[1])
    # negative control: pruning on a bound that is not one (ten times the true bound) changes answers
    monkeypatch.setattr(regions, "_beyond", lambda best, bound: 10 * bound > best)
    wrong = C.exact_min_perturbation(net, x, norm)
    assert not torch.equal(wrong[0], every[0])
