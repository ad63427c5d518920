"""APGD-T, the targeted attack of the worst case (deepissues.attacks.targeted)."""

import numpy as np
import pytest
import torch
from torch import nn

from deepissues import attacks as A
from deepissues.attacks.targeted import _dlr_loss
from deepissues.certify import margin_lower_bounds


def chapter_06_list(net, eps, norm):
    """The untargeted attacks of chapter 06's worst case (its ``linf_attacks`` and ``l2_attacks``)."""
    if norm == "linf":
        return [A.FGSM(net, eps=eps), A.PGD(net, eps=eps, alpha=eps / 4, steps=20),
                A.Square(net, eps=eps, n_queries=1000), A.DeepFool(net, norm="linf"),
                A.MinimalPerturbation(net, norm="linf", steps=20)]
    return [A.PGD(net, eps=eps, alpha=eps / 4, steps=20, norm="l2"), A.Square(net, eps=eps, norm="l2", n_queries=1000),
            A.DeepFool(net), A.MinimalPerturbation(net, norm="l2", steps=20)]


def trap(n=10):
    """A ReLU network on 8×8 images where the untargeted gradient leads to a class it cannot reach.

    With d = x − 1/2, a = u·d (u all ones) and b = v·d (v a ±1 checkerboard, so u·v = 0):
    z_0 = 0 (the label), z_1 = a − 8, z_2 = 0.1·b + 10·relu(b − 3.2) − 12, z_3 = −20.
    Class 1 leads the others, and its logit grows fastest, so every untargeted loss (cross-entropy,
    the margin, the linearised distances) points along u; but over the ball a <= eps·‖u‖_dual
    (6.4 in L∞ at 0.1, 7.2 in L2 at 0.9), short of the 8 class 1 needs. Class 2 is reachable
    along v (b up to the same 6.4 or 7.2, and past 3.2 its logit jumps by 10 per unit), but its
    gradient is 10 times smaller at the start and along u it does not grow at all; square
    windows of one sign, as Square draws them, barely move b on a checkerboard. The points lie
    in the plane orthogonal to u and v, within [0.3, 0.7], so the box does not bind.
    """
    u = torch.ones(64)
    v = (torch.arange(8)[:, None] + torch.arange(8)[None, :]).remainder(2).flatten().float() * 2 - 1
    first, last = nn.Linear(64, 3), nn.Linear(3, 4)
    with torch.no_grad():
        first.weight.copy_(torch.stack([u, v, v]))
        # a + 10 and b + 10 stay positive over the ball, so those two units are linear there
        first.bias.copy_(-first.weight.sum(1) * 0.5 + torch.tensor([10.0, 10.0, -3.2]))
        last.weight.copy_(torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 0.1, 10], [0, 0, 0]]))
        last.bias.copy_(torch.tensor([0.0, -10 - 8, -1 - 12, -20]))
    noise = torch.randn(n, 64, generator=torch.Generator().manual_seed(0))
    plane = torch.stack([u, v]) / 8
    noise = noise - noise @ plane.T @ plane
    x = 0.5 + 0.2 * noise / noise.abs().amax(1, keepdim=True)
    return nn.Sequential(first, nn.ReLU(), last).eval(), x, torch.zeros(n, dtype=torch.long)


BUDGETS = {"linf": (0.1, 0.13), "l2": (0.9, 1.05)}  # class 1 out of reach, and within reach


# ----- the property: a point in the ball and the box, and only real successes -----------------------

@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_apgdt_stays_in_its_ball_and_the_box_and_reports_only_real_successes(norm, eps, digits_mlp):
    model, x, y = digits_mlp
    atk = A.APGDT(model, eps=eps, norm=norm, steps=20, n_target_classes=3)
    x_adv = atk(x, y)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert A.perturbation_norms(x, x_adv)[norm].max() <= eps + 1e-6
    with torch.no_grad():
        pred, clean = model(x_adv).argmax(1), model(x).argmax(1)
    assert torch.equal(atk.success, pred != y)             # a success is a changed prediction, and only that
    wrong = clean != y
    assert wrong.any() and atk.success[wrong].all() and torch.equal(x_adv[wrong], x[wrong])
    hit = atk.success & ~wrong
    assert (atk.target[hit] >= 0).all() and (atk.target[hit] != y[hit]).all()
    # it is an attack: at least as many breaks as PGD of the same steps on this network
    pgd = A.PGD(model, eps=eps, alpha=eps / 4, steps=20, norm=norm)
    assert int(hit.sum()) >= int(((model(pgd(x, y)).argmax(1) != y) & ~wrong).sum()) > 10


# ----- the positive test: targets break what the untargeted list leaves ----------------------------

@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_targeted_runs_break_points_the_untargeted_list_of_chapter_06_leaves_standing(norm):
    net, x, y = trap()
    eps, reachable = BUDGETS[norm]
    if norm == "linf":   # class 1 is provably out of reach: IBP is exact on its margin here
        assert margin_lower_bounds(net, x, y, eps)[:, 1].min() > 1.5
    untargeted = A.worst_case_accuracy(net, chapter_06_list(net, eps, norm), x, y, eps=eps, norm=norm)
    assert untargeted.accuracy == 1.0 and not any(b.any() for b in untargeted.broken.values())
    both = A.worst_case_accuracy(net, [A.APGDT(net, eps=eps, norm=norm, steps=20, n_target_classes=3)], x, y,
                                 known=untargeted)
    assert int(both.broken["APGDT"].sum()) == len(x) and both.accuracy == 0.0   # 10 of 10 against 0 of 10
    # controls: attacking only the runner-up class 1, as the untargeted loss does, breaks nothing;
    only_first = A.APGDT(net, eps=eps, norm=norm, steps=20, n_target_classes=1)
    only_first(x, y)
    assert not only_first.success.any()
    # and once class 1 is within reach, the untargeted PGD of the list breaks every point
    pgd = A.PGD(net, eps=reachable, alpha=reachable / 4, steps=20, norm=norm)
    assert A.robust_accuracy(net, pgd, x, y) == 0.0


# ----- the negative control: nothing breaks where a certificate says nothing can -------------------

def test_apgdt_breaks_nothing_that_a_certificate_protects(digits_mlp):
    net, x, y = trap()
    assert margin_lower_bounds(net, x, y, 0.04).min() > 0     # every class certified out of reach
    atk = A.APGDT(net, eps=0.04, steps=50, n_target_classes=3)
    x_adv = atk(x, y)
    assert not atk.success.any() and (x_adv - x).abs().max() > 0.039   # it moved, to the edge, in vain
    model, x, y = digits_mlp
    certified = margin_lower_bounds(model, x, y, 0.02, method="CROWN").min(1).values > 0
    assert certified.sum() >= 20
    atk = A.APGDT(model, eps=0.02, steps=20, n_target_classes=9)
    atk(x, y)
    assert not (atk.success & certified).any()
    # control: the same attack breaks points at the same budget, only none of the certified ones
    assert (atk.success & (model(x).argmax(1) == y)).any()


def test_at_eps_zero_apgdt_returns_the_inputs_and_breaks_only_misclassified_points(digits_mlp):
    model, x, y = digits_mlp
    atk = A.APGDT(model, eps=0.0, steps=5, n_target_classes=2)
    x_adv = atk(x, y)
    assert torch.equal(x_adv, x)
    assert torch.equal(atk.success, model(x).argmax(1) != y)


# ----- the loss, determinism, eval mode and bad input ----------------------------------------------

def test_the_dlr_loss_equals_its_formula_is_scale_free_and_positive_once_the_target_leads():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 6, generator=g, dtype=torch.float64) * 3
    y, t = torch.randint(0, 6, (50,), generator=g), torch.randint(0, 6, (50,), generator=g)
    t = torch.where(t == y, (t + 1) % 6, t)
    z = np.sort(logits.numpy(), axis=1)[:, ::-1]
    rows = np.arange(50)
    want = -(logits.numpy()[rows, y] - logits.numpy()[rows, t]) / (z[:, 0] - (z[:, 2] + z[:, 3]) / 2)
    np.testing.assert_allclose(_dlr_loss(logits, y, t).numpy(), want, rtol=1e-9)
    np.testing.assert_allclose(_dlr_loss(7 * logits - 2, y, t).numpy(), want, rtol=1e-9)
    leads = logits.gather(1, t[:, None])[:, 0] > logits.gather(1, y[:, None])[:, 0]
    assert torch.equal(_dlr_loss(logits, y, t) > 0, leads) and leads.any() and (~leads).any()


def test_apgdt_is_deterministic_given_its_seed(digits_mlp):
    model, x, y = digits_mlp
    runs = [A.APGDT(model, eps=0.1, steps=10, n_target_classes=2, seed=s)(x, y) for s in (0, 0, 1)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_apgdt_puts_the_model_in_eval_mode_and_restores_it():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 5)

        def forward(self, x):
            seen.append(self.training)
            return self.lin(x)

    model = Spy().train()
    A.APGDT(model, eps=0.1, steps=3, n_target_classes=2)(torch.rand(6, 4), torch.zeros(6, dtype=torch.long))
    assert seen and not any(seen)
    assert model.training


def test_apgdt_refuses_bad_arguments_with_errors_that_name_them(digits_mlp):
    model, x, y = digits_mlp
    for kwargs, match in [({"eps": -0.1}, "eps must be a number >= 0"),
                          ({"norm": "l1"}, r"norm must be one of \('linf', 'l2'\)"),
                          ({"steps": 0}, "steps must be an int >= 1"),
                          ({"n_target_classes": 0}, "n_target_classes must be an int >= 1"),
                          ({"n_restarts": 1.5}, "n_restarts must be an int >= 1"),
                          ({"loss": "ce"}, r"loss must be one of \('dlr', 'margin'\)"),
                          ({"rho": 1.5}, r"rho must be in \(0, 1\]")]:
        with pytest.raises(ValueError, match=match):
            A.APGDT(model, **kwargs)
    three = nn.Linear(64, 3)
    with pytest.raises(ValueError, match="loss='dlr' needs a model with at least 4 classes, got 3"):
        A.APGDT(three)(x, y % 3)
    A.APGDT(three, loss="margin", steps=2)(x, y % 3)   # the margin loss works with any K >= 2
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        A.APGDT(model)(x * 2 - 0.5, y)
