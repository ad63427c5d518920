import numpy as np
import pytest
import torch

from deepissues import attacks as A
from deepissues import certify as C
from deepissues.expressivity import linear_regions_2d
from deepissues.nets import mlp
from deepissues.training import fit


@pytest.fixture(scope="module")
def plane_net():
    """A two-hidden-layer ReLU net on [0, 1]^2, trained so that all three classes meet in the box."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(300, 2, generator=generator, dtype=torch.float64)
    y = (x[:, 0] > x[:, 1]).long() + (x.sum(1) > 1.2).long()
    torch.manual_seed(0)
    net = mlp([2, 8, 8, 3]).double()
    fit(net, x, y, epochs=100, lr=1e-2, progress=False)
    return net.eval(), x[:12], net(x[:12]).argmax(1)


def brute_force_margins(net, x, y, eps):
    """min over the box of f_y − max_{j≠y} f_j, from the exact linear regions of the box: the
    network is affine on each polygon, so the minimum sits at one of its vertices."""
    margins = []
    for point, label in zip(x.numpy(), y.tolist()):
        lo, hi = np.clip(point - eps, 0, 1), np.clip(point + eps, 0, 1)
        best = np.inf
        for region in linear_regions_2d(net, (lo[0], hi[0], lo[1], hi[1])):
            logits = region.polygon @ region.weight.T + region.bias
            rivals = np.delete(logits, label, axis=1)
            best = min(best, float((logits[:, label] - rivals.max(1)).min()))
        margins.append(best)
    return np.array(margins)


@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_exact_margins_equal_brute_force_on_two_dimensional_inputs(plane_net, eps):
    net, x, y = plane_net
    np.testing.assert_allclose(C.exact_margins(net, x, y, eps).numpy(), brute_force_margins(net, x, y, eps), atol=1e-6)


def test_exact_margin_at_radius_zero_is_the_margin_of_the_point(plane_net):
    net, x, y = plane_net
    with torch.no_grad():
        logits = net(x)
    clean = logits.gather(1, y[:, None])[:, 0] - logits.scatter(1, y[:, None], -np.inf).amax(1)
    np.testing.assert_allclose(C.exact_margins(net, x, y, 0.0).numpy(), clean.numpy(), atol=1e-7)


def test_negative_control_brute_force_tells_radii_apart(plane_net):
    net, x, y = plane_net
    small, large = brute_force_margins(net, x, y, 0.03), brute_force_margins(net, x, y, 0.3)
    assert (large < small - 1e-3).any()
    assert not np.allclose(C.exact_margins(net, x, y, 0.3).numpy(), small, atol=1e-3)


def test_exact_margin_changes_sign_at_the_exact_linf_radius(plane_net):
    net, x, y = plane_net
    radius, _ = C.exact_min_perturbation(net, x, "linf")
    assert torch.isfinite(radius).all() and (radius > 1e-3).all()
    below = torch.stack([C.exact_margins(net, x[i:i + 1], y[i:i + 1], float(r) * 0.99)[0] for i, r in enumerate(radius)])
    above = torch.stack([C.exact_margins(net, x[i:i + 1], y[i:i + 1], float(r) * 1.01)[0] for i, r in enumerate(radius)])
    assert (below > 0).all()
    # the other side of the same radius: the control that makes the test able to fail
    assert (above < 0).all()


def test_bounds_exact_and_attack_are_ordered_on_a_digits_sized_network():
    torch.manual_seed(4)
    net = mlp([16, 12, 12, 4])
    x = torch.rand(25, 16)
    y = net(x).argmax(1)
    for eps in (0.02, 0.08):
        exact = C.exact_margins(net, x, y, eps)
        with torch.no_grad():
            ibp = C.margin_lower_bounds(net, x, y, eps).amin(1).double()
            crown = C.margin_lower_bounds(net, x, y, eps, method="CROWN").amin(1).double()
            x_adv = A.PGD(net, eps=eps, alpha=eps / 4, steps=40)(x, y)
            logits = net(x_adv).double()
        attacked = logits.gather(1, y[:, None])[:, 0] - logits.scatter(1, y[:, None], -np.inf).amax(1)
        assert (ibp <= exact + 1e-5).all() and (crown <= exact + 1e-5).all()
        assert (exact <= attacked + 1e-5).all()
        # negative control: the bounds are not exact here, so somewhere they sit strictly below
        assert (ibp < exact - 1e-4).any()


def test_exact_margins_refuse_bad_networks_and_points():
    net = mlp([3, 4, 2])
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        C.exact_margins(net, torch.full((1, 3), 2.0), torch.zeros(1, dtype=torch.long), 0.1)
    with pytest.raises(TypeError, match="only nn.Linear and nn.ReLU"):
        C.exact_margins(mlp([3, 4, 2], "tanh"), torch.rand(1, 3), torch.zeros(1, dtype=torch.long), 0.1)


def test_the_ladder_decides_exactly_what_the_program_decides_on_every_point():
    torch.manual_seed(5)
    net = mlp([16, 12, 12, 4])
    x = torch.rand(30, 16)
    y = net(x).argmax(1)
    y[:3] = (y[:3] + 1) % 4  # three misclassified points: robust nowhere
    radii = [0.0, 0.02, 0.06, 0.12]
    ladder = C.certification_ladder(net, x, y, radii)
    for k, eps in enumerate(radii):
        # the independent answer: the program on every point, no shortcut
        torch.testing.assert_close(ladder.robust["exact"][k], C.exact_margins(net, x, y, eps) > 0)
    for rung in ("IBP", "CROWN"):
        assert not (ladder.robust[rung] & ~ladder.robust["exact"]).any()
    assert not (ladder.robust["exact"] & ~ladder.robust["PGD"]).any()
    assert not ladder.robust["exact"][:, :3].any()
    # negative control: the shortcut had something to decide, and IBP is not exact here
    assert ladder.programs > 0
    assert (ladder.robust["exact"] & ~ladder.robust["IBP"]).any()
    assert ladder.accuracy("exact") == ladder.robust["exact"].float().mean(1).tolist()


@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_exactly_robust_is_the_sign_of_the_brute_force_margin(plane_net, eps):
    net, x, y = plane_net
    margins = brute_force_margins(net, x, y, eps)
    decided = np.abs(margins) > 1e-6  # the solver's tolerance: a margin at 0 may go either way
    robust = C.exactly_robust(net, x, y, eps).numpy()
    np.testing.assert_array_equal(robust[decided], margins[decided] > 0)
    # the programs agree with the optimisation they replace
    np.testing.assert_array_equal(robust, C.exact_margins(net, x, y, eps).numpy() > 0)


def test_exactly_robust_tells_robust_points_from_broken_ones():
    # negative control: on a net where both answers occur, a constant answer, or one that
    # ignored the label, would fail
    torch.manual_seed(5)
    net = mlp([16, 12, 12, 4])
    x = torch.rand(30, 16)
    y = net(x).argmax(1)
    y[:3] = (y[:3] + 1) % 4  # misclassified: robust nowhere, not even at radius 0
    for eps in (0.0, 0.06, 0.12):
        robust = C.exactly_robust(net, x, y, eps)
        assert torch.equal(robust, C.exact_margins(net, x, y, eps) > 0)
        assert not robust[:3].any()
    assert robust.any() and not robust.all()
    assert C.exactly_robust(net, x, y, 0.0)[3:].all()


def test_exactly_robust_refuses_bad_points():
    net = mlp([3, 4, 2])
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        C.exactly_robust(net, torch.full((1, 3), 2.0), torch.zeros(1, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="y must be"):
        C.exactly_robust(net, torch.rand(1, 3), torch.full((1,), 5), 0.1)
