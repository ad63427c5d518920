import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from deepissues import certify as C
from deepissues.nets import mlp


def _sampled_margins(net, x, y, eps, samples=3000):
    """min over sampled points of the ball ∩ [0, 1]^d (a third of them corners) of f_y − f_j: an
    upper bound on the true minimum that every sound lower bound must stay below."""
    noise = torch.rand(len(x), samples, x.shape[1], dtype=x.dtype) * 2 - 1
    noise[:, : samples // 3] = noise[:, : samples // 3].sign()
    with torch.no_grad():
        out = net((x[:, None] + eps * noise).clamp(0, 1))
    return (out.gather(2, y[:, None, None].expand(-1, samples, 1)) - out).amin(1)


def _triangle_lp(net, x, y, j, eps):
    """min f_y − f_j over the ball with each ReLU replaced by its convex hull on the exact interval
    of its input (one hidden layer: a box through one affine map is exact), as a generic LP."""
    W1, b1 = net[0].weight.detach().double().numpy(), net[0].bias.detach().double().numpy()
    W2, b2 = net[2].weight.detach().double().numpy(), net[2].bias.detach().double().numpy()
    lo, hi = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    l, u = W1 @ mid + b1 - np.abs(W1) @ rad, W1 @ mid + b1 + np.abs(W1) @ rad
    d, h = len(x), len(b1)
    # variables (x', a); a >= W1 x' + b1, a >= 0, and on unstable units a <= u (z − l)/(u − l)
    rows, rhs = [np.hstack([W1, -np.eye(h)])], [-b1]
    for i in range(h):
        if l[i] < 0 < u[i]:
            s = u[i] / (u[i] - l[i])
            row = np.zeros(d + h)
            row[:d], row[d + i] = -s * W1[i], 1.0
            rows.append(row[None]), rhs.append([s * (b1[i] - l[i])])
    bounds = list(zip(lo, hi)) + [(max(li, 0), max(ui, 0)) if li >= 0 or ui <= 0 else (0, ui) for li, ui in zip(l, u)]
    # a unit always on has a = z: its upper bound is the equality's other half
    for i in np.flatnonzero(l >= 0):
        row = np.zeros(d + h)
        row[:d], row[d + i] = -W1[i], 1.0
        rows.append(row[None]), rhs.append([b1[i]])
    cost = np.r_[np.zeros(d), W2[y] - W2[j]]
    result = linprog(cost, A_ub=np.vstack(rows), b_ub=np.concatenate(rhs), bounds=bounds, method="highs")
    assert result.status == 0
    return result.fun + b2[y] - b2[j]


def _reference_lower(C, k, weights, biases, hidden, lo, hi):
    """min over the box [lo, hi] (N, d) of C @ z_k, C (N, K, width), z_k the output of linear
    layer k, by CROWN's plain backward pass; hidden[j] = (l, u) of z_j, (N, width) each, for j < k."""
    A, c = C @ weights[k], C @ biases[k]
    for j in reversed(range(k)):
        l, u = (bound[:, None, :] for bound in hidden[j])
        unstable = (l < 0) & (u > 0)
        upper_slope = torch.where(unstable, u / (u - l), (l >= 0).double())
        lower_slope = torch.where(unstable, (u > -l).double(), (l >= 0).double())
        c = c + (A.clamp(max=0) * torch.where(unstable, -upper_slope * l, 0.0)).sum(-1)
        A = A.clamp(min=0) * lower_slope + A.clamp(max=0) * upper_slope
        c, A = c + A @ biases[j], A @ weights[j]
    return c + (A.clamp(min=0) * lo[:, None, :] + A.clamp(max=0) * hi[:, None, :]).sum(-1)


def _reference_crown(net, lo, hi, y, widen=0.0):
    """CROWN as first written: every hidden layer's bounds, the first one's included, from a
    backward pass with the specification [I; −I] (lower bounds of z and of −z) for every point,
    (N, 2·width, width); ``widen`` loosens the first layer's bounds by that much on each side.
    Returns the hidden bounds, a list of (l, u) of (N, width), and the (N, K) margin bounds."""
    weights = [layer.weight.detach() for layer in net if isinstance(layer, nn.Linear)]
    biases = [layer.bias.detach() for layer in net if isinstance(layer, nn.Linear)]
    hidden = []
    for k in range(len(weights) - 1):
        width = len(biases[k])
        both = torch.cat([torch.eye(width), -torch.eye(width)]).double().expand(len(lo), -1, -1)
        lower = _reference_lower(both, k, weights, biases, hidden, lo, hi)
        l, u = lower[:, :width], -lower[:, width:]
        hidden.append((l - widen, u + widen) if k == 0 else (l, u))
    eye = torch.eye(len(biases[-1]), dtype=torch.float64)
    margins = _reference_lower(eye[y][:, None, :] - eye, len(weights) - 1, weights, biases, hidden, lo, hi)
    return hidden, margins.scatter(1, y[:, None], float("inf"))


@pytest.mark.parametrize("widths", [[6, 16, 4], [6, 16, 16, 4], [6, 12, 12, 12, 4]])
def test_crown_bounds_lie_below_every_sampled_margin(widths):
    torch.manual_seed(0)
    net, x = mlp(widths).double(), torch.rand(20, 6, dtype=torch.float64)
    y = net(x).argmax(1)
    for eps in (0.02, 0.1):
        crown = C.margin_lower_bounds(net, x, y, eps, method="CROWN")
        sampled = _sampled_margins(net, x, y, eps)
        rivals = torch.isfinite(crown)
        assert (crown[rivals] <= sampled[rivals] + 1e-9).all()
        # negative control: a radius of 0 leaves nothing to relax, so the bound is the margin itself,
        # and at eps > 0 it lies strictly below that
        at_zero = C.margin_lower_bounds(net, x, y, 0.0, method="CROWN")
        with torch.no_grad():
            margins = net(x).gather(1, y[:, None]) - net(x)
        torch.testing.assert_close(at_zero[rivals], margins[rivals])
        assert (crown[rivals] < margins[rivals]).all()


def test_crown_hidden_bounds_contain_every_sampled_pre_activation():
    torch.manual_seed(1)
    net, x = mlp([5, 10, 10, 3]).double(), torch.rand(8, 5, dtype=torch.float64)
    eps = 0.1
    bounds = C.crown_hidden_bounds(net, (x - eps).clamp(0, 1), (x + eps).clamp(0, 1))
    points = (x[:, None] + eps * (torch.rand(8, 2000, 5, dtype=torch.float64) * 2 - 1)).clamp(0, 1)
    with torch.no_grad():
        z1 = net[0](points)
        z2 = net[2](net[1](z1))
    for (l, u), z in zip(bounds, (z1, z2)):
        assert (l[:, None] <= z + 1e-9).all() and (z <= u[:, None] + 1e-9).all()
    # the first layer's bounds are exact: a box through one affine map (its corners attain them)
    mid, rad = x, torch.full_like(x, eps)
    lo, hi = (mid - rad).clamp(0, 1), (mid + rad).clamp(0, 1)
    W, b = net[0].weight, net[0].bias
    exact_low = (W.clamp(min=0) @ lo.T + W.clamp(max=0) @ hi.T).T + b
    torch.testing.assert_close(bounds[0][0], exact_low.detach())


def test_crown_on_one_hidden_layer_lies_below_the_triangle_relaxation_and_the_exact_margin():
    torch.manual_seed(2)
    net = mlp([4, 10, 3]).double()
    x = torch.rand(6, 4, dtype=torch.float64)
    y = net(x).argmax(1)
    eps = 0.15
    crown = C.margin_lower_bounds(net, x, y, eps, method="CROWN")
    exact = C.exact_margins(net, x, y, eps)
    for n in range(len(x)):
        lps = {j: _triangle_lp(net, x[n].numpy(), int(y[n]), j, eps) for j in range(3) if j != y[n]}
        for j, lp in lps.items():
            # CROWN's lower line is one line under the hull: never above the hull's LP
            assert crown[n, j].item() <= lp + 1e-7
        # the hull relaxes the exact program, so its LP is a lower bound on the exact margin
        assert min(lps.values()) <= exact[n].item() + 1e-6
    # negative control: with every unit stable (a tiny ball) CROWN, the LP and the exact margin coincide
    tiny = 1e-4
    crown_tiny = C.margin_lower_bounds(net, x, y, tiny, method="CROWN")
    exact_tiny = C.exact_margins(net, x, y, tiny)
    torch.testing.assert_close(crown_tiny.amin(1), exact_tiny, atol=1e-6, rtol=0)
    assert (crown.amin(1) < exact - 1e-4).any()


def test_crown_of_a_linear_model_is_the_dual_norm_formula_like_ibp():
    torch.manual_seed(3)
    lin = nn.Sequential(nn.Linear(10, 3))
    x, y, eps = torch.rand(8, 10) * 0.5 + 0.25, torch.randint(0, 3, (8,)), 0.1
    torch.testing.assert_close(C.margin_lower_bounds(lin, x, y, eps, method="CROWN"),
                               C.margin_lower_bounds(lin, x, y, eps, method="IBP"))


def test_crown_refuses_what_it_cannot_bound():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    with pytest.raises(TypeError, match="alternating nn.Linear and nn.ReLU"):
        C.margin_lower_bounds(conv, torch.rand(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), 0.1, method="CROWN")
    with pytest.raises(ValueError, match="method must be one of"):
        C.certified_accuracy(mlp([4, 3]), torch.rand(2, 4), torch.zeros(2, dtype=torch.long), 0.1, method="LP")


def test_crown_handles_layers_without_bias():
    torch.manual_seed(6)
    net = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.Linear(6, 3, bias=False)).double()
    x = torch.rand(10, 4, dtype=torch.float64)
    y = net(x).argmax(1)
    crown = C.margin_lower_bounds(net, x, y, 0.1, method="CROWN")
    rivals = torch.isfinite(crown)
    assert (crown[rivals] <= _sampled_margins(net, x, y, 0.1)[rivals] + 1e-9).all()
    with torch.no_grad():
        margins = net(x).gather(1, y[:, None]) - net(x)
    # negative control: the bound at radius 0 is the margin itself, not a looser number
    torch.testing.assert_close(C.margin_lower_bounds(net, x, y, 0.0, method="CROWN")[rivals], margins[rivals])


@pytest.mark.parametrize("widths", [[8, 16, 5], [8, 16, 16, 5], [8, 12, 12, 12, 5]])
def test_crown_equals_the_plain_backward_pass_with_a_two_width_specification_at_every_layer(widths):
    # the fast path takes the first layer's bounds by interval arithmetic and each deeper layer's
    # from two width-sized passes; the plain algorithm above runs [I; −I] through every layer
    torch.manual_seed(7)
    net, x = mlp(widths).double(), torch.rand(12, 8, dtype=torch.float64)
    y = torch.randint(0, 5, (12,))
    for eps in (0.05, 0.3):
        lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
        hidden, margins = _reference_crown(net, lo, hi, y)
        with torch.no_grad():
            fast_hidden = C.crown_hidden_bounds(net, lo, hi)
            fast = C.margin_lower_bounds(net, x, y, eps, method="CROWN")
        torch.testing.assert_close(fast, margins, atol=1e-10, rtol=0)
        assert len(fast_hidden) == len(hidden) == len(widths) - 2
        for (l, u), (l_ref, u_ref) in zip(fast_hidden, hidden):
            torch.testing.assert_close(l, l_ref, atol=1e-10, rtol=0)
            torch.testing.assert_close(u, u_ref, atol=1e-10, rtol=0)
        if eps == 0.3:  # every branch of the relaxation is compared: each layer has every kind of unit
            for l, u in hidden:
                assert (l >= 0).any() and (u <= 0).any() and ((l < 0) & (u > 0)).any()
        # negative control: first-layer bounds looser by 1e-6 move the margins by far more than the
        # tolerance, so a fast path that got that layer slightly wrong would fail the comparison
        _, loosened = _reference_crown(net, lo, hi, y, widen=1e-6)
        rivals = torch.isfinite(margins)
        assert (loosened - margins)[rivals].abs().max() > 1e-8
