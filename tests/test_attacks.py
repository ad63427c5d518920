import copy

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize
from torch import nn

from deepissues import attacks as A
from deepissues.attacks.projections import min_norm_step, project_l1_box


# ---------------------------------------------------------------- exact projections

def _random_case(seed, d=6):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) * (rng.random(d) > 0.2)
    x = rng.random(d) * (rng.random(d) > 0.3)          # some coordinates sit on the wall 0
    return w, rng.random() * 1.5, -x, 1 - x


def _lp_min_norm(w, b, lo, up, norm):
    """min ‖r‖ s.t. w·r >= b, lo <= r <= up as a linear program (L1, L∞) or SLSQP (L2)."""
    d = len(w)
    if norm == "l1":   # r = p - q, p, q >= 0
        res = linprog(np.ones(2 * d), A_ub=[np.r_[-w, w]], b_ub=[-b],
                      bounds=[(0, max(u, 0)) for u in up] + [(0, max(-l, 0)) for l in lo])
        return res.fun if res.status == 0 else None
    if norm == "linf":  # variables r and t
        A = [np.r_[-w, 0]] + [np.r_[np.eye(d)[i], -1] for i in range(d)] + [np.r_[-np.eye(d)[i], -1] for i in range(d)]
        res = linprog(np.r_[np.zeros(d), 1], A_ub=A, b_ub=np.r_[-b, np.zeros(2 * d)],
                      bounds=list(zip(lo, up)) + [(0, None)])
        return res.fun if res.status == 0 else None
    res = minimize(lambda r: r @ r, np.clip(w, lo, up), jac=lambda r: 2 * r, method="SLSQP",
                   bounds=list(zip(lo, up)), constraints=[{"type": "ineq", "fun": lambda r: w @ r - b}],
                   options={"ftol": 1e-14, "maxiter": 500})
    return np.sqrt(res.fun) if res.success and w @ res.x >= b - 1e-7 else None


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_min_norm_step_equals_a_generic_solver(norm):
    for seed in range(40):
        w, b, lo, up = _random_case(seed)
        r, ok = min_norm_step(*(torch.tensor(v)[None] for v in (w, np.array(b), lo, up)), norm=norm)
        r = r[0].numpy()
        expected = _lp_min_norm(w, b, lo, up, norm)
        reach = np.sum(np.abs(w) * np.where(w > 0, up, -lo))
        assert bool(ok) == (reach >= b), seed
        assert np.all(r >= lo - 1e-12) and np.all(r <= up + 1e-12)
        if expected is not None and reach > b + 1e-6:
            got = {"l1": np.abs(r).sum(), "l2": np.linalg.norm(r), "linf": np.abs(r).max()}[norm]
            assert w @ r >= b - 1e-9
            assert got == pytest.approx(expected, rel=1e-5, abs=1e-7), seed


def test_l1_box_projection_equals_a_generic_qp():
    rng = np.random.default_rng(0)
    for _ in range(30):
        d = 6
        v, x = rng.normal(size=d) * 0.5, rng.random(d)
        eps = rng.random() * 1.5
        got = project_l1_box(torch.tensor(v)[None], eps, torch.tensor(-x)[None], torch.tensor(1 - x)[None])[0].numpy()
        # split δ = p - q so the L1 ball becomes a linear constraint
        bounds = [(0, 1 - xi) for xi in x] + [(0, xi) for xi in x]
        res = minimize(lambda z: np.sum((z[:d] - z[d:] - v) ** 2), np.zeros(2 * d), method="SLSQP",
                       bounds=bounds, constraints=[{"type": "ineq", "fun": lambda z: eps - z.sum()}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        want = res.x[:d] - res.x[d:]
        assert np.abs(got).sum() <= eps + 1e-9
        np.testing.assert_allclose(got, want, atol=1e-5)


# ---------------------------------------------------------------- validity of every attack

BOUNDED = {
    "fgsm": lambda m: (A.FGSM(m, eps=0.1), "linf", 0.1),
    "pgd-linf": lambda m: (A.PGD(m, eps=0.1, alpha=0.02, steps=10), "linf", 0.1),
    "pgd-l2": lambda m: (A.PGD(m, eps=0.8, alpha=0.2, steps=10, norm="l2"), "l2", 0.8),
    "pgd-l1": lambda m: (A.PGD(m, eps=2.0, alpha=0.5, steps=10, norm="l1"), "l1", 2.0),
    "square-linf": lambda m: (A.Square(m, eps=0.1, n_queries=100), "linf", 0.1),
    "square-l2": lambda m: (A.Square(m, eps=0.8, n_queries=100, norm="l2"), "l2", 0.8),
}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_bounded_attacks_stay_in_their_ball_and_the_box(name, digits_mlp):
    model, x, y = digits_mlp
    atk, norm, eps = BOUNDED[name](model)
    x_adv = atk(x, y)
    assert x_adv.shape == x.shape
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert A.perturbation_norms(x, x_adv)[norm].max() <= eps + 1e-6
    fooled = (model(x_adv).argmax(1) != y).float().mean()
    assert fooled > 0.2, f"{name} fooled only {fooled:.2f} of the points"


MINIMAL = {
    "deepfool-l2": lambda m: A.DeepFool(m),
    "deepfool-linf": lambda m: A.DeepFool(m, norm="linf"),
    "fab-l1": lambda m: A.MinimalPerturbation(m, norm="l1"),
    "fab-l2": lambda m: A.MinimalPerturbation(m, norm="l2"),
    "fab-linf": lambda m: A.MinimalPerturbation(m, norm="linf"),
    "cw": lambda m: A.CarliniWagnerL2(m, steps=30, search_steps=4),
}


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_minimal_attacks_report_exactly_the_changes_they_made(name, digits_mlp):
    model, x, y = digits_mlp
    x_adv, success = MINIMAL[name](model)(x, y)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(success, model(x_adv).argmax(1) != y)
        # clearly across the boundary: each point alone gets the same prediction as in the batch
        alone = torch.cat([model(row[None]).argmax(1) for row in x_adv])
    assert torch.equal(alone, model(x_adv).argmax(1))
    assert torch.equal(x_adv[~success], x[~success])
    assert success.float().mean() > 0.9


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_minimal_perturbations_of_a_linear_model_equal_the_closed_form(norm, linear_model):
    model, x, y = linear_model
    W, b = model.weight.detach().double(), model.bias.detach().double()
    f = x.double() @ W.T + b
    dual = {"l1": np.inf, "l2": 2, "linf": 1}[norm]
    gaps = f.gather(1, y[:, None]) - f                         # (N, K) >= 0
    wdiff = (W[y][:, None] - W[None]).norm(p=dual, dim=2)      # ‖w_y − w_j‖ in the dual norm
    exact = (gaps / wdiff).masked_fill(gaps == 0, float("inf")).min(1).values
    # the closed form ignores the box: keep points whose optimal step surely stays inside it
    inside = exact < (0.35 if norm == "l1" else 0.1)
    assert inside.sum() >= 10
    attacks = [A.MinimalPerturbation(model, norm=norm)] + ([A.DeepFool(model, norm=norm)] if norm != "l1" else [])
    for atk in attacks:
        x_adv, success = atk(x[inside], y[inside])
        assert success.all()
        got = A.perturbation_norms(x[inside], x_adv)[norm].double()
        np.testing.assert_allclose(got, exact[inside], rtol=1e-3, err_msg=type(atk).__name__)


def _clamped_deepfool(model, x, y, steps=50, overshoot=0.02):
    """DeepFool as usually written: the unconstrained step, then clipping to [0, 1]."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        out = model(x_adv)
        g_diff, = torch.autograd.grad((out[:, 1] - out[:, 0]).sum(), x_adv)
        gap = (out[:, 0] - out[:, 1]).detach()
        r = (gap.clamp_min(0) / g_diff.norm(dim=1) ** 2)[:, None] * g_diff
        x_adv = (x_adv.detach() + (1 + overshoot) * r).clamp(0, 1)
    return x_adv


def test_deepfool_does_not_stall_when_the_box_binds():
    # Class 1 gains most by *lowering* pixels that are already 0; only 4 pixels can help.
    model = nn.Linear(64, 2, bias=False)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[1, :60] = -5.0
        model.weight[1, 60:] = 0.05
    x = torch.zeros(8, 64)
    x[:, 60:] = 0.2
    y = torch.zeros(8, dtype=torch.long)
    model.bias = nn.Parameter(torch.tensor([0.05, 0.0]))
    assert (model(x).argmax(1) == 0).all()
    naive = _clamped_deepfool(model, x, y)
    assert (model(naive).argmax(1) == 0).all(), "the clipped textbook step should stall here"
    x_adv, success = A.DeepFool(model, steps=5)(x, y)
    assert success.all()
    # the exact answer: raise the 4 free pixels equally until 0.05·Σ = 0.05 - 0.04
    np.testing.assert_allclose(A.perturbation_norms(x, x_adv)["l2"], 0.2 / 2 * 1.0, rtol=1e-3)


# ---------------------------------------------------------------- strength

def test_pgd_is_at_least_as_strong_as_fgsm(digits_mlp):
    model, x, y = digits_mlp
    for eps in (0.05, 0.1, 0.2):
        pgd = A.robust_accuracy(model, A.PGD(model, eps=eps, alpha=eps / 4, steps=20), x, y)
        fgsm = A.robust_accuracy(model, A.FGSM(model, eps=eps), x, y)
        assert pgd <= fgsm, (eps, pgd, fgsm)


def test_square_gets_close_to_pgd_with_enough_queries(digits_mlp):
    model, x, y = digits_mlp
    pgd = A.robust_accuracy(model, A.PGD(model, eps=0.1, alpha=0.01, steps=50), x, y)
    square = A.Square(model, eps=0.1, n_queries=2000)
    assert A.robust_accuracy(model, square, x, y) <= pgd + 0.05
    assert square.queries.max() <= 2000 and square.queries.min() >= 1


def test_targeted_attacks_reach_their_targets(digits_mlp):
    model, x, y = digits_mlp
    target = (y + 1) % 10
    x_adv = A.PGD(model, eps=0.3, alpha=0.03, steps=40, targeted=True)(x, target)
    assert (model(x_adv).argmax(1) == target).float().mean() > 0.8
    for atk in (A.DeepFool(model, targeted=True), A.MinimalPerturbation(model, targeted=True),
                A.CarliniWagnerL2(model, steps=30, search_steps=4, targeted=True)):
        x_adv, success = atk(x, target)
        assert torch.equal(success, model(x_adv).argmax(1) == target)
        assert success.float().mean() > 0.8, type(atk).__name__


# ---------------------------------------------------------------- spatial

def test_rotation_by_90_degrees_and_whole_pixel_shifts_are_exact():
    img = torch.rand(2, 1, 6, 6)
    turned = A.rotate_translate(img, torch.tensor([90.0, 90.0]), torch.zeros(2, 2))
    # a positive angle turns the image counter-clockwise as displayed (rows downwards), as rot90 does
    assert torch.allclose(turned, torch.rot90(img, k=1, dims=(2, 3)), atol=1e-5)
    assert not torch.allclose(turned, torch.rot90(img, k=-1, dims=(2, 3)), atol=1e-2)
    shifted = A.rotate_translate(img, torch.zeros(2), torch.tensor([[1.0, 2.0], [1.0, 2.0]]))
    expected = torch.zeros_like(img)
    expected[:, :, 1:, 2:] = img[:, :, :-1, :-2]
    assert torch.allclose(shifted, expected, atol=1e-5)


def test_spatial_robust_accuracy_is_exact_over_the_grid(digits_mlp):
    """Brute force: a point survives the attack exactly when every transformation of the grid,
    sub-pixel shifts included, is classified correctly."""
    model, x, y = digits_mlp
    atk = A.Spatial(model, max_rotation=10, max_translation=0.25, n_rotations=5, n_translations=4)
    survived = model(atk(x, y)).argmax(1) == y
    every = torch.ones(len(x), dtype=torch.bool)
    margins = []
    for t in atk.transformations():
        moved = A.rotate_translate(x.view(-1, 1, 8, 8), t[0].expand(len(x)), t[1:].expand(len(x), 2))
        logits = model(moved.view(len(x), -1))
        every &= logits.argmax(1) == y
        margins.append(A.margin(logits, y))
    assert torch.equal(survived, every)
    assert 0 < survived.float().mean() < (model(x).argmax(1) == y).float().mean()  # neither trivial nor vacuous
    # the kept transformation is the one with the smallest margin
    kept = A.margin(model(atk(x, y)), y)
    assert torch.allclose(kept, torch.stack(margins).min(0).values, atol=1e-5)
    # control: a grid holding only the identity leaves the clean predictions
    identity = A.Spatial(model, max_rotation=0, max_translation=0, n_rotations=1, n_translations=1)
    assert torch.equal(model(identity(x, y)).argmax(1), model(x).argmax(1))


# ---------------------------------------------------------------- helpers

def test_perturbation_norms_equal_numpy():
    x, x_adv = torch.rand(5, 12), torch.rand(5, 12)
    x_adv[0] = x[0]
    got = A.perturbation_norms(x, x_adv)
    d = (x_adv - x).numpy()
    for key, p in (("l0", 0), ("l1", 1), ("l2", 2), ("linf", np.inf)):
        np.testing.assert_allclose(got[key], np.linalg.norm(d, ord=p, axis=1), rtol=1e-5)


def test_margin_uses_the_best_other_class_whatever_the_scale():
    logits = torch.tensor([[1e6, 1e6 - 1, -3.0], [2.0, 5.0, 4.0]])
    assert torch.equal(A.margin(logits, torch.tensor([0, 2])), torch.tensor([1.0, -1.0]))


def test_minimal_attack_robust_accuracy_falls_with_eps(digits_mlp):
    model, x, y = digits_mlp
    curve = [A.robust_accuracy(model, A.DeepFool(model), x, y, eps=e, norm="l2") for e in (0.0, 0.3, 0.6, 10.0)]
    clean = float((model(x).argmax(1) == y).float().mean())
    assert curve[0] == pytest.approx(clean) and curve == sorted(curve, reverse=True) and curve[-1] == 0


def test_transfer_to_a_copy_is_complete_and_to_an_unrelated_model_is_not(digits_mlp):
    model, x, y = digits_mlp
    attack = A.PGD(model, eps=0.2, alpha=0.02, steps=20)
    twin = A.transfer_attack(model, copy.deepcopy(model), attack, x, y)
    assert twin.fooled_source.sum() > 50
    assert torch.equal(twin.fooled_target, twin.fooled_source) and twin.transfer_rate == 1.0
    # negative control: a random linear model shares little of the source's boundary, so fewer of the
    # source's successes carry over; only the points both models get right count
    other = nn.Sequential(nn.Linear(64, 10))
    with torch.no_grad():
        other[0].weight.copy_(torch.randn(10, 64, generator=torch.Generator().manual_seed(5)))
        other[0].bias.zero_()
    result = A.transfer_attack(model, other, attack, x, y)
    both = (model(x).argmax(1) == y) & (other(x).argmax(1) == y)
    assert torch.equal(result.fooled_target, both & (other(result.x_adv).argmax(1) != y))
    assert torch.equal(result.fooled_source, both & (model(result.x_adv).argmax(1) != y))
    assert result.fooled_source.sum() >= 3 and result.transfer_rate < 1.0
    with pytest.raises(ValueError, match="built on source_model"):
        A.transfer_attack(other, model, A.FGSM(model, 0.1), x, y)


def test_the_model_is_in_eval_mode_during_the_attack_and_restored_after():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            seen.append(self.training)
            return self.lin(x)

    model = Spy().train()
    A.PGD(model, eps=0.1, alpha=0.05, steps=3)(torch.rand(5, 4), torch.zeros(5, dtype=torch.long))
    assert seen and not any(seen)
    assert model.training


# ---------------------------------------------------------------- bad input

def test_bad_input_gets_a_clear_error(digits_mlp):
    model, x, y = digits_mlp
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        A.PGD(model, eps=-0.1)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        A.FGSM(model, 0.1)(x * 2 - 0.5, y)
    with pytest.raises(ValueError, match=r"y must have shape \(100,\)"):
        A.FGSM(model, 0.1)(x, y[:, None])
    with pytest.raises(TypeError, match="integer tensor of labels"):
        A.FGSM(model, 0.1)(x, y.float())
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\) with K >= 2"):
        A.DeepFool(nn.Linear(64, 1))(x, torch.zeros(100, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in"):
        A.DeepFool(nn.Linear(64, 3))(x, y)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        A.FGSM(lambda z: z, 0.1)
    with pytest.raises(ValueError, match="norm must be one of"):
        A.DeepFool(model, norm="l1")
    with pytest.raises(ValueError, match="image_shape"):
        A.Square(model, eps=0.1, image_shape=(1, 4, 4))(x, y)


def test_minimal_norms_keeps_the_smallest_success_per_point():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.rand(20, 6), torch.randint(0, 3, (20,))
    deepfool, carlini = A.DeepFool(net), A.CarliniWagnerL2(net, steps=30, search_steps=3)
    separate = []
    for attack in (deepfool, carlini):
        x_adv, ok = attack(x, y)
        separate.append(torch.where(ok, (x_adv - x).norm(dim=1), torch.full((20,), float("inf"))))
    assert torch.equal(A.minimal_norms([deepfool, carlini], x, y, "l2"), torch.minimum(*separate))
    with pytest.raises(TypeError, match="attacks must be MinimalNormAttacks.*got PGD"):
        A.minimal_norms([A.PGD(net)], x, y)


def test_each_attack_class_returns_what_its_kind_promises():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    x, y = torch.rand(4, 16), torch.randint(0, 3, (4,))
    bounded = [A.FGSM(net), A.PGD(net, steps=2), A.Square(net, n_queries=5), A.Spatial(net, grid=False, k=2)]
    minimal = [A.DeepFool(net), A.MinimalPerturbation(net, steps=2), A.CarliniWagnerL2(net, steps=2, search_steps=1),
               A.RegionAttack(net, steps=1, samples=2)]
    for attack in bounded:
        assert isinstance(attack, A.BoundedAttack) and not isinstance(attack, A.MinimalNormAttack)
        out = attack(x, y)
        assert torch.is_tensor(out) and out.shape == x.shape
    for attack in minimal:
        assert isinstance(attack, A.MinimalNormAttack) and not isinstance(attack, A.BoundedAttack)
        x_adv, success = attack(x, y)
        assert x_adv.shape == x.shape and success.shape == (4,) and success.dtype == torch.bool


class CountingPGD(A.PGD):
    calls = 0

    def attack(self, x, y):
        CountingPGD.calls += 1
        return super().attack(x, y)


def test_the_evaluators_check_the_attack_kind_before_running_any_attack():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.rand(5, 6), torch.randint(0, 3, (5,))
    pgd = CountingPGD(net, steps=1)
    with pytest.raises(TypeError, match="MinimalNormAttacks"):
        A.minimal_norms([A.DeepFool(net), pgd], x, y)
    with pytest.raises(ValueError, match="BoundedAttack with its own eps"):
        A.robust_accuracy(net, pgd, x, y, eps=0.1, norm="linf")
    assert CountingPGD.calls == 0
    A.robust_accuracy(net, pgd, x, y)
    assert CountingPGD.calls == 1  # control: the same attack runs when it is used as it should be

    class Unknown(A.Attack):
        def attack(self, x, y):
            return x

    with pytest.raises(TypeError, match="BoundedAttack or a MinimalNormAttack, got Unknown"):
        A.robust_accuracy(net, Unknown(net), x, y)


# ----- no silent wrong answer ---------------------------------------------------------------------

def test_an_unknown_norm_is_an_error_not_linf(digits_mlp):
    model, x, y = digits_mlp
    delta = torch.full((2, 4), 0.5)
    assert A.norm_of(delta, "l2").tolist() == [1.0, 1.0] and A.norm_of(delta, "linf").tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"norm must be one of \('l1', 'l2', 'linf'\), got 'L2'"):
        A.norm_of(delta, "L2")   # before: 0.5, the L∞ norm, without a word
    deepfool = A.DeepFool(model)
    with pytest.raises(ValueError, match="norm must be one of"):
        A.robust_accuracy(model, deepfool, x, y, eps=0.5, norm="L2")   # before: 0.0 where "l2" gives 0.55
    with pytest.raises(ValueError, match="norm must be one of"):
        A.minimal_norms([deepfool], x, y, norm="euclidean")
    assert 0 < A.robust_accuracy(model, deepfool, x, y, eps=0.5, norm="l2") < 1


def test_robust_accuracy_refuses_an_attack_built_on_another_model(digits_mlp):
    model, x, y = digits_mlp
    other = copy.deepcopy(model)
    with pytest.raises(ValueError, match="attack must be built on model.*transfer_attack"):
        A.robust_accuracy(model, A.FGSM(other, eps=0.1), x, y)   # before: a transfer rate, silently
    assert A.robust_accuracy(model, A.FGSM(model, eps=0.1), x, y) < A.robust_accuracy(model, A.FGSM(model, eps=0.0), x, y)


# ----- worst case over attacks (AutoAttack's protocol) ---------------------------------------------

def _two_class_identity():
    """Predicts argmax(x) for x in R^2: (0.9, 0.1) is class 0 and (0.1, 0.9) class 1."""
    net = nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
        net.bias.zero_()
    return net


class BreakRows(A.BoundedAttack):
    """Moves the chosen rows to a point of the other class, by L∞ distance 0.8, and leaves the rest."""

    def __init__(self, model, rows, eps=0.8, norm="linf"):
        super().__init__(model)
        self.rows, self.eps, self.norm = rows, eps, norm

    def attack(self, x, y):
        x_adv = x.clone()
        x_adv[self.rows] = torch.tensor([0.1, 0.9])
        return x_adv


class ShiftRows(A.MinimalNormAttack):
    """Claims success on the chosen rows with a perturbation of L∞ norm 0.8."""

    def __init__(self, model, rows):
        super().__init__(model)
        self.rows = rows

    def attack(self, x, y):
        x_adv, success = x.clone(), torch.zeros(len(x), dtype=torch.bool)
        x_adv[self.rows] = torch.tensor([0.1, 0.9])
        success[self.rows] = True
        return x_adv, success


def test_worst_case_counts_a_point_broken_by_any_attack():
    net = _two_class_identity()
    x, y = torch.tensor([[0.9, 0.1]] * 6), torch.zeros(6, dtype=torch.long)
    first, second = BreakRows(net, [0, 1]), BreakRows(net, [2, 3])
    assert A.robust_accuracy(net, first, x, y) == A.robust_accuracy(net, second, x, y) == pytest.approx(4 / 6)
    result = A.worst_case_accuracy(net, [first, second], x, y)
    # control: attacks that break different points leave less than either alone
    assert result.accuracy == pytest.approx(2 / 6) and result.robust.tolist() == [False] * 4 + [True] * 2
    assert result.broken["BreakRows 1"].tolist() == [True, True] + [False] * 4
    assert (result.norm, result.eps) == ("linf", 0.8)
    # a minimal-norm attack counts only within the budget
    shift = ShiftRows(net, [4])
    assert A.worst_case_accuracy(net, [first, shift], x, y, eps=0.8, norm="linf").accuracy == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="every bounded attack must attack the threat model"):
        A.worst_case_accuracy(net, [first, shift], x, y, eps=0.5, norm="linf")
    assert A.worst_case_accuracy(net, [shift], x, y, eps=0.5, norm="linf").accuracy == 1.0


def test_worst_case_of_real_attacks_is_the_union_of_their_breaks_and_below_each(digits_mlp):
    model, x, y = digits_mlp
    attacks = [A.FGSM(model, eps=0.1), A.PGD(model, eps=0.1, steps=10), A.Square(model, eps=0.1, n_queries=50)]
    result = A.worst_case_accuracy(model, attacks, x, y)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
        fooled = [model(attack(x, y)).argmax(1) != y for attack in attacks]
    expected = clean & ~(fooled[0] | fooled[1] | fooled[2])
    assert torch.equal(result.robust, expected)
    assert all(result.accuracy <= A.robust_accuracy(model, attack, x, y) for attack in attacks)


def test_worst_case_given_a_known_result_equals_running_every_attack_at_once(digits_mlp):
    model, x, y = digits_mlp
    pgd, square, fgsm = A.PGD(model, eps=0.1, steps=10), A.Square(model, eps=0.1, n_queries=50), A.FGSM(model, eps=0.1)
    known = A.worst_case_accuracy(model, [pgd, square], x, y)
    merged = A.worst_case_accuracy(model, [fgsm], x, y, known=known)
    at_once = A.worst_case_accuracy(model, [pgd, square, fgsm], x, y)
    assert torch.equal(merged.robust, at_once.robust) and merged.accuracy == at_once.accuracy
    assert list(merged.broken) == ["PGD", "Square", "FGSM"]
    assert all(torch.equal(merged.broken[label], at_once.broken[label]) for label in at_once.broken)
    alone = A.worst_case_accuracy(model, [], x, y, known=known)
    assert torch.equal(alone.robust, known.robust) and (alone.norm, alone.eps) == ("linf", 0.1)
    # control: attacks that break different points; without the known result the second leaves more
    net = _two_class_identity()
    x, y = torch.tensor([[0.9, 0.1]] * 6), torch.zeros(6, dtype=torch.long)
    first = A.worst_case_accuracy(net, [BreakRows(net, [0, 1])], x, y)
    second = type("BreakOtherRows", (BreakRows,), {})(net, [2, 3])  # another label than the known attack's
    assert A.worst_case_accuracy(net, [second], x, y, known=first).accuracy == pytest.approx(2 / 6)
    assert A.worst_case_accuracy(net, [second], x, y).accuracy == pytest.approx(4 / 6)


def test_worst_case_refuses_a_known_result_it_cannot_merge(digits_mlp):
    model, x, y = digits_mlp
    known = A.worst_case_accuracy(model, [A.FGSM(model, eps=0.1)], x, y)
    with pytest.raises(ValueError, match="known must be in the threat model norm='linf', eps=0.2"):
        A.worst_case_accuracy(model, [A.PGD(model, eps=0.2, steps=2)], x, y, eps=0.2, norm="linf", known=known)
    with pytest.raises(ValueError, match="known must be a result on the same 50 points, got one on 100"):
        A.worst_case_accuracy(model, [A.PGD(model, eps=0.1, steps=2)], x[:50], y[:50], known=known)
    with pytest.raises(ValueError, match=r"known already holds the attacks labelled \['FGSM'\]"):
        A.worst_case_accuracy(model, [A.FGSM(model, eps=0.1)], x, y, known=known)
    with pytest.raises(TypeError, match="known must be a WorstCase from worst_case_accuracy, got float"):
        A.worst_case_accuracy(model, [A.FGSM(model, eps=0.1)], x, y, known=0.5)


def test_worst_case_refuses_attacks_outside_the_threat_model(digits_mlp):
    model, x, y = digits_mlp
    with pytest.raises(ValueError, match="has no Lp ball"):
        A.worst_case_accuracy(model, [A.Spatial(model, image_shape=(1, 8, 8))], x, y, eps=0.1, norm="linf")
    with pytest.raises(ValueError, match="must be untargeted"):
        A.worst_case_accuracy(model, [A.PGD(model, eps=0.1, targeted=True)], x, y)
    with pytest.raises(ValueError, match="eps and norm are needed"):
        A.worst_case_accuracy(model, [A.DeepFool(model)], x, y)
    with pytest.raises(ValueError, match="norm='l2', eps=0.5"):
        A.worst_case_accuracy(model, [A.PGD(model, eps=0.1), A.PGD(model, eps=0.5, norm="l2")], x, y)


# ----- speed without change: the faster code computes what the plain one did ------------------------

def _sorted_min_norm(w, b, lo, up, norm):
    """min_norm_step for L2 and L∞ the slow way, in numpy: sort the breakpoints cap_i / slope_i and
    walk them until the reach passes b (an independent route to the same exact step)."""
    aw, cap = np.abs(w), np.where(w > 0, up, -lo).clip(0)
    cap = np.where(aw > 0, cap, 0)
    slope = aw if norm == "l2" else (aw > 0).astype(float)
    if b <= 0 or (aw * cap).sum() < b:
        return None
    order = np.argsort(np.where(slope > 0, cap / np.where(slope > 0, slope, 1), np.inf), kind="stable")
    done, rest = 0.0, (aw * slope).sum()
    for i in order:                                   # saturate coordinates in order of their breakpoint
        brk = cap[i] / slope[i] if slope[i] > 0 else np.inf
        if done + brk * rest >= b:
            break
        done, rest = done + aw[i] * cap[i], rest - aw[i] * slope[i]
    lam = (b - done) / rest
    return np.sign(w) * np.minimum(lam * slope, cap)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_min_norm_step_without_a_sort_equals_walking_the_sorted_breakpoints(norm):
    rng = np.random.default_rng(1)
    n, d = 120, 300
    w = rng.normal(size=(n, d)) * (rng.random((n, d)) > 0.2)          # some zero weights
    x = rng.random((n, d)) * (rng.random((n, d)) > 0.3)               # some coordinates on the wall 0
    x = np.where(rng.random((n, d)) > 0.9, 1.0, x)                    # and some on the wall 1
    reach = (np.abs(w) * np.where(w > 0, 1 - x, x)).sum(1)
    b = reach * rng.uniform(-0.2, 1.2, n)                             # b <= 0, reachable and out of reach
    r, ok = min_norm_step(*(torch.tensor(v) for v in (w, b, -x, 1 - x)), norm=norm)
    assert ok.tolist() == (reach >= b).tolist()
    for i in range(n):
        want = _sorted_min_norm(w[i], b[i], -x[i], 1 - x[i], norm)
        if want is not None:
            np.testing.assert_allclose(r[i].numpy(), want, rtol=1e-9, atol=1e-12)
        elif b[i] <= 0:
            assert not r[i].any()
    # control: one Newton step (the box ignored when λ is chosen) falls short of b where the box binds
    aw, cap = np.abs(w), np.where(w > 0, 1 - x, x)
    slope = aw if norm == "l2" else (aw > 0).astype(float)
    first = np.minimum((b / (aw * slope).sum(1))[:, None] * slope, cap)
    reachable = (b > 0) & (reach >= b)
    short = (aw * first).sum(1) < b - 1e-9
    assert short[reachable].mean() > 0.5
    assert ((np.abs(w) * np.abs(r.numpy())).sum(1)[reachable] >= b[reachable] * (1 - 1e-9)).all()


def test_steps_to_the_boundaries_from_where_they_were_linearised_take_the_short_path(digits_mlp):
    from deepissues.attacks.minimal import steps_to_boundaries
    model, x, y = digits_mlp
    w, f = torch.randn(20, 3, 64), torch.randn(20, 3)
    short = steps_to_boundaries(w, f, x[:20], x[:20], "l2")
    general = steps_to_boundaries(w, f, x[:20], x[:20].clone(), "l2")   # another tensor: the general path
    assert all(torch.equal(a, b) for a, b in zip(short, general))
    moved = steps_to_boundaries(w, f, x[:20], x[:20].clone() * 0.9, "l2")  # control: another start differs
    assert not torch.equal(short[1], moved[1])


def _pgd_by_the_book(atk, x, y):
    """PGD as the plain loop writes it: project_ball_box at every step, x0 + δ recomputed, torch.where."""
    from deepissues.attacks.projections import project_ball_box
    x0 = x.flatten(1)
    delta = atk._start(x0) if atk.random_start else torch.zeros_like(x0)
    best, found = x0 + delta, torch.zeros(len(x0), dtype=torch.bool)
    with torch.enable_grad():
        for _ in range(atk.steps):
            grad, logits = atk.loss_gradient((x0 + delta).view(x.shape), y)
            fooled = atk.fooled(logits, y)
            best = torch.where((fooled | ~found)[:, None], x0 + delta, best)
            found |= fooled
            delta = project_ball_box(delta + atk._step(grad.flatten(1), x0 + delta), atk.eps, atk.norm, x0)
    fooled = atk.fooled(atk.model(x0 + delta), y)
    return torch.where((fooled | ~found)[:, None], x0 + delta, best).view(x.shape)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("linf", 0.3), ("l2", 1.0), ("l1", 3.0)])
def test_pgd_equals_the_plain_loop_to_the_bit(norm, eps, digits_mlp):
    model, x, y = digits_mlp
    atk = A.PGD(model, eps=eps, alpha=eps / 4, steps=10, norm=norm)
    for batch in (x[:64], x[64:], x[:64] * 0.5):   # the second batch of the same shape reuses the start
        with torch.no_grad():
            assert torch.equal(atk(batch, y[:len(batch)]), _pgd_by_the_book(atk, batch, y[:len(batch)]))
    # control: another seed starts elsewhere, and ends elsewhere
    other = A.PGD(model, eps=eps, alpha=eps / 4, steps=10, norm=norm, seed=1)
    assert not torch.equal(other(x, y), atk(x, y))


def test_the_linf_projection_as_one_clamp_equals_projecting_on_the_ball_and_the_box(digits_mlp):
    from deepissues.attacks.projections import project_ball_box
    model, x, _ = digits_mlp
    atk = A.PGD(model, eps=0.2)
    delta = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    project = atk._projection(x)
    assert torch.equal(project(delta), project_ball_box(delta, 0.2, "linf", x))
    # control: the ball alone lets points leave the box
    assert not torch.equal(delta.clamp(-0.2, 0.2), project_ball_box(delta, 0.2, "linf", x))


def _square_by_the_book(atk, x, y):
    """Square's query loop as written plainly: the points still standing are found again, and their
    images gathered, on every query. Returns (x_adv, queries)."""
    from deepissues.attacks.base import as_images
    from deepissues.attacks.projections import project_ball_box
    from deepissues import repro

    def project(cand, img):
        flat = img.flatten(1)
        return (flat + project_ball_box((cand - img).flatten(1), atk.eps, atk.norm, flat)).view_as(img)

    img = as_images(x, atk.image_shape)
    g = repro.generator(atk.seed)
    init = atk._init_linf if atk.norm == "linf" else atk._init_l2
    best = project((img + init(img, g)).clamp(0, 1), img)
    score = atk._score(best, x.shape[1:], y)
    queries = torch.ones(len(x), dtype=torch.long)
    propose = atk._propose_linf if atk.norm == "linf" else atk._propose_l2
    for i in range(1, atk.n_queries):
        todo = (score >= 0).nonzero()[:, 0]
        if len(todo) == 0:
            break
        cand = project(propose(best[todo] - img[todo], img[todo], atk._side(i, img.shape), g), img[todo])
        new = atk._score(cand, x.shape[1:], y[todo])
        better = new < score[todo]
        best[todo[better]], score[todo[better]] = cand[better], new[better]
        queries[todo] += 1
    return best.reshape(x.shape), queries


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_square_equals_its_plain_query_loop_to_the_bit(norm, eps, digits_mlp):
    model, x, y = digits_mlp
    atk = A.Square(model, eps=eps, norm=norm, n_queries=300)
    x_adv = atk(x, y)
    with torch.no_grad():
        plain, queries = _square_by_the_book(atk, x, y)
    assert torch.equal(x_adv, plain) and torch.equal(atk.queries, queries)
    assert ((queries > 1) & (queries < 300)).any() and int(queries.max()) == 300   # some fell on the way, some stood
    # control: the budget matters, so a loop that ran fewer queries would be caught
    assert not torch.equal(A.Square(model, eps=eps, norm=norm, n_queries=150)(x, y), x_adv)


def test_squares_windows_from_the_table_equal_the_windows_built_for_each_query():
    from deepissues.attacks.square import _window
    g = torch.Generator().manual_seed(0)
    for h, w, side in ((8, 8, 1), (8, 8, 3), (28, 28, 5), (7, 9, 2)):
        rows, cols = torch.randint(0, h - side + 1, (50,), generator=g), torch.randint(0, w - side + 1, (50,), generator=g)
        mask = _window(rows, cols, side, h, w)
        r, c = torch.arange(h), torch.arange(w)
        want = ((r[None] >= rows[:, None]) & (r[None] < rows[:, None] + side))[:, :, None] \
            & ((c[None] >= cols[:, None]) & (c[None] < cols[:, None] + side))[:, None, :]
        assert torch.equal(mask, want[:, None]) and int(mask[0].sum()) == side * side
        assert not torch.equal(_window(rows, cols, side + 1, h + 1, w + 1)[..., :h, :w], mask)   # control


def test_the_region_attack_solves_each_region_once_and_finds_what_it_found_before(monkeypatch):
    from deepissues import data, nets, repro, training
    import deepissues.attacks.region as region
    repro.seed_everything(0)
    split = data.digits()
    model = nets.mlp([64, 12, 10])
    training.fit(model, split.x_train, split.y_train, epochs=20, lr=3e-3, progress=False)
    x, y = split.x_test[:6], split.y_test[:6]
    calls = []
    solve = region.crossing_step
    monkeypatch.setattr(region, "crossing_step", lambda *a, **k: calls.append(1) or solve(*a, **k))
    kept = A.RegionAttack(model.eval(), norm="l2", steps=3, samples=6, init=None)(x, y)
    with_memo = len(calls)
    original = region.RegionAttack._best_in_region
    monkeypatch.setattr(region.RegionAttack, "_best_in_region",
                        lambda self, x_, z, label, margin, solved: original(self, x_, z, label, margin, {}))
    calls.clear()
    fresh = A.RegionAttack(model, norm="l2", steps=3, samples=6, init=None)(x, y)
    assert torch.equal(kept[0], fresh[0]) and torch.equal(kept[1], fresh[1])
    assert with_memo < len(calls) / 2   # control: without the memo the same programs are solved again


def test_carlini_wagners_adam_is_torchs_adam_to_the_bit_and_leaves_the_model_alone(digits_mlp):
    from deepissues.attacks.carlini import _Adam
    g = torch.Generator().manual_seed(0)
    start = torch.randn(30, 64, generator=g)
    ours, theirs, other = start.clone(), start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    adam = _Adam(ours, lr=0.1)
    reference, other_betas = torch.optim.Adam([theirs], lr=0.1), torch.optim.Adam([other], lr=0.1, betas=(0.9, 0.99))
    for _ in range(40):
        grad = torch.randn(30, 64, generator=g)
        adam.step(grad)
        theirs.grad, other.grad = grad.clone(), grad.clone()
        reference.step()
        other_betas.step()
    assert torch.equal(ours, theirs.detach())
    assert not torch.equal(ours, other.detach())   # control: the comparison sees another β2
    model, x, y = digits_mlp
    model.zero_grad(set_to_none=True)
    A.CarliniWagnerL2(model, steps=5, search_steps=2)(x[:10], y[:10])
    assert all(p.grad is None for p in model.parameters())   # the attack's gradients are the input's only


def test_a_worst_case_from_known_norms_equals_running_the_attacks(digits_mlp):
    model, x, y = digits_mlp
    minimal = [A.DeepFool(model), A.MinimalPerturbation(model, norm="l2", steps=10)]
    ran = A.worst_case_accuracy(model, minimal, x, y, eps=0.6, norm="l2")
    norms = {type(a).__name__: A.minimal_norms([a], x, y, "l2") for a in minimal}
    known = A.WorstCase.from_norms(model, norms, x, y, eps=0.6, norm="l2")
    assert torch.equal(known.robust, ran.robust) and known.accuracy == ran.accuracy
    assert all(torch.equal(known.broken[k], ran.broken[k]) for k in ran.broken) and (known.norm, known.eps) == ("l2", 0.6)
    pgd = A.PGD(model, eps=0.6, alpha=0.15, steps=10, norm="l2")
    merged = A.worst_case_accuracy(model, [pgd], x, y, known=known)
    at_once = A.worst_case_accuracy(model, [*minimal, pgd], x, y, eps=0.6, norm="l2")
    assert torch.equal(merged.robust, at_once.robust) and merged.accuracy <= known.accuracy
    assert list(merged.broken) == ["DeepFool", "MinimalPerturbation", "PGD"]
    # control: the same norms held to a smaller budget break fewer points
    tighter = A.WorstCase.from_norms(model, norms, x, y, eps=0.3, norm="l2")
    assert tighter.accuracy > known.accuracy
    with pytest.raises(ValueError, match=r"norms\['DeepFool'\] must be a \(100,\) tensor"):
        A.WorstCase.from_norms(model, {"DeepFool": norms["DeepFool"][:50]}, x, y, eps=0.6, norm="l2")
    with pytest.raises(ValueError, match="norms must be a non-empty dict"):
        A.WorstCase.from_norms(model, {}, x, y, eps=0.6, norm="l2")
    with pytest.raises(ValueError, match="norm must be one of"):
        A.WorstCase.from_norms(model, norms, x, y, eps=0.6, norm="L2")
