import itertools
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from torch import nn

from deepissues import expressivity as E
from deepissues.nets import mlp


def random_net(widths, seed, bias_std=0.5):
    torch.manual_seed(seed)
    return mlp(widths, init="he", bias_std=bias_std)


def crossings(net):
    """Pairwise intersections of the lines of a one-hidden-layer net (its first layer's units)."""
    W, b = net[0].weight.detach().double().numpy(), net[0].bias.detach().double().numpy()
    points = [np.linalg.solve(W[[i, j]], -b[[i, j]]) for i, j in itertools.combinations(range(len(W)), 2)]
    return np.array(points)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 12])
def test_one_hidden_layer_count_equals_zaslavsky(n):
    net = random_net([2, n, 1], seed=n)
    pts = crossings(net) if n > 1 else np.zeros((1, 2))
    lo, hi = pts.min(axis=0) - 1.0, pts.max(axis=0) + 1.0
    # the box must also be crossed by every line: widen it past the crossing hull
    box = (lo[0] - 1, hi[0] + 1, lo[1] - 1, hi[1] + 1)
    if n == 1:
        box = (-50, 50, -50, 50)
    assert E.count_linear_regions_2d(net, box) == E.shallow_max_regions(n, 2) == 1 + n + comb(n, 2)


def test_shallow_max_regions_closed_forms():
    assert [E.shallow_max_regions(n, 2) for n in range(6)] == [1, 2, 4, 7, 11, 16]
    assert E.shallow_max_regions(3, 5) == 2 ** 3  # n <= n0: every pattern
    assert E.shallow_max_regions(10, 1) == 11  # n breakpoints on a line


@pytest.mark.parametrize("widths,seed", [([2, 6, 6, 1], 0), ([2, 5, 5, 5, 1], 1), ([2, 10, 4, 8, 3], 2)])
def test_deep_regions_tile_the_box_and_contain_every_sampled_pattern(widths, seed):
    net = random_net(widths, seed)
    box = (-2.0, 1.5, -1.0, 2.5)
    regions = E.linear_regions_2d(net, box)
    assert sum(r.size for r in regions) == pytest.approx(3.5 * 3.5, rel=1e-9)
    assert all(r.size > 0 for r in regions)
    exact = {tuple(r.pattern) for r in regions}
    assert len(exact) == len(regions)  # a pattern fixes every layer's linear map: its region is convex, so one piece
    xs = np.linspace(box[0], box[1], 301)
    ys = np.linspace(box[2], box[3], 301)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    sampled = {tuple(p) for p in E.activation_pattern(net, grid).numpy()}
    assert sampled <= exact


def test_each_region_holds_its_pattern_and_affine_map():
    net = random_net([2, 7, 7, 2], seed=3)
    regions = E.linear_regions_2d(net, (-1, 1, -1, 1))
    rng = np.random.default_rng(0)
    for r in regions:
        w = rng.dirichlet(np.ones(len(r.polygon)))
        point = (w @ r.polygon)[None]  # a random interior point of the convex polygon
        assert np.array_equal(E.activation_pattern(net, point).numpy()[0], r.pattern)
        out = net(torch.as_tensor(point, dtype=torch.float32)).detach().double().numpy()[0]
        np.testing.assert_allclose(out, r.weight @ point[0] + r.bias, rtol=1e-4, atol=1e-5)


def test_counts_never_exceed_the_upper_bound():
    for seed, widths in enumerate([[3], [4, 4], [6, 3, 5], [2, 8, 8]]):
        net = random_net([2, *widths, 1], seed, bias_std=1.0)
        count = E.count_linear_regions_2d(net, (-20, 20, -20, 20))
        assert count <= E.deep_upper_bound(widths, 2)


def test_bounds_by_hand():
    assert E.deep_lower_bound([4, 4, 4], 2) == 2 ** 2 * 2 ** 2 * 11
    assert E.deep_lower_bound([5], 2) == 16
    assert E.deep_upper_bound([5], 2) == 16
    assert E.deep_upper_bound([3, 1, 4], 2) == 7 * 2 * 5  # the width-1 layer caps the dimension at 1
    with pytest.raises(ValueError, match="width >= n0"):
        E.deep_lower_bound([4, 1, 4], 2)


@pytest.mark.parametrize("folds,lines", [(0, 3), (1, 2), (2, 4), (3, 3)])
def test_montufar_construction_attains_the_deep_lower_bound(folds, lines):
    net = E.montufar_net(folds, lines)
    bound = E.deep_lower_bound([4] * folds + [lines], 2)
    assert E.count_linear_regions_2d(net, (0, 1, 0, 1)) == bound


@pytest.mark.parametrize("k", range(1, 9))
def test_sawtooth_has_two_to_the_k_pieces(k):
    net = E.sawtooth_net(k)
    pieces = E.linear_pieces_1d(net, [0.0], [1.0])
    assert len(pieces) == 2 ** k
    slopes = [float(p.weight[0, 0]) for p in pieces]
    assert all(abs(abs(s) - 2 ** k) < 1e-6 for s in slopes)
    ends = np.array([p.polygon[:, 0] for p in pieces])
    np.testing.assert_allclose(ends[:, 0], np.arange(2 ** k) / 2 ** k, atol=1e-12)


def test_1d_count_matches_dense_sampling_along_a_line_in_ten_dimensions():
    net = random_net([10, 12, 12, 12, 1], seed=4)
    a, b = -np.ones(10), np.linspace(1, 2, 10)
    pieces = E.linear_pieces_1d(net, a, b)
    t = np.linspace(0, 1, 200_001)
    pats = E.activation_pattern(net, a + t[:, None] * (b - a)).numpy()
    runs = 1 + int(np.any(pats[1:] != pats[:-1], axis=1).sum())
    shortest = min(p.size for p in pieces)
    assert shortest > 2 / 200_000  # every piece is wider than the grid, so sampling sees them all
    assert runs == len(pieces)
    lengths = sum(p.size for p in pieces)
    assert lengths == pytest.approx(1.0, abs=1e-12)


def test_1d_count_agrees_with_2d_regions_crossed_by_a_segment():
    net = random_net([2, 6, 6, 1], seed=5)
    a, b = np.array([-1.0, -0.3]), np.array([1.0, 0.4])
    along = E.linear_pieces_1d(net, a, b)
    regions = E.linear_regions_2d(net, (-1, 1, -1, 1))
    t = np.array([(p.polygon[0, 0] + p.polygon[1, 0]) / 2 for p in along])
    mids = a + t[:, None] * (b - a)
    patterns = {tuple(r.pattern) for r in regions}
    assert all(tuple(p) in patterns for p in E.activation_pattern(net, mids).numpy())


def test_region_maps_agree_with_the_exact_walk_and_contain_the_region():
    """region_maps (from a pattern, layer by layer) against linear_regions_2d (cell splitting):
    the same affine map on every region, and the region's vertices satisfy G z <= h."""
    net = random_net([2, 6, 5, 3], seed=4)
    steps = E.relu_layers(net)
    regions = E.linear_regions_2d(net, (-1, 1, -1, 1))
    for r in regions:
        G, h, A, c = E.region_maps(steps, r.pattern)
        np.testing.assert_allclose(A, r.weight, atol=1e-12)
        np.testing.assert_allclose(c, r.bias, atol=1e-12)
        assert (r.polygon @ G.T <= h + 1e-9).all()
    # control: a neighbour's pattern gives another map, and some of this region leaves its polyhedron
    r, other = regions[0], next(q for q in regions[1:] if (q.pattern != regions[0].pattern).sum() == 1)
    G, h, A, _ = E.region_maps(net, other.pattern)
    assert not np.allclose(A, r.weight)
    assert (r.polygon @ G.T > h + 1e-9).any()
    with pytest.raises(ValueError, match="pattern must have one entry per ReLU"):
        E.region_maps(net, r.pattern[:-1])


def test_activation_pattern_matches_a_manual_forward_pass():
    net = random_net([3, 4, 5, 2], seed=6)
    x = torch.randn(50, 3, dtype=torch.float64)
    h1 = x @ net[0].weight.double().T + net[0].bias.double()
    h2 = h1.clamp_min(0) @ net[2].weight.double().T + net[2].bias.double()
    expected = torch.cat([h1 > 0, h2 > 0], dim=1)
    assert torch.equal(E.activation_pattern(net, x), expected)


def test_bad_input_gets_clear_errors():
    tanh_net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    with pytest.raises(TypeError, match="layer 1 is Tanh"):
        E.count_linear_regions_2d(tanh_net, (0, 1, 0, 1))
    with pytest.raises(TypeError, match="nn.Sequential"):
        E.count_linear_regions_2d(nn.Linear(2, 1), (0, 1, 0, 1))
    net = mlp([2, 3, 1])
    with pytest.raises(ValueError, match="positive area"):
        E.count_linear_regions_2d(net, (0, 0, 0, 1))
    with pytest.raises(ValueError, match="positive area"):
        E.count_linear_regions_2d(net, (1, 0, 0, 1))
    with pytest.raises(ValueError, match="2 inputs"):
        E.count_linear_regions_2d(mlp([3, 3, 1]), (0, 1, 0, 1))
    with pytest.raises(ValueError, match="zero length"):
        E.count_linear_regions_1d(net, [0.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        E.count_linear_regions_1d(net, [0.0], [1.0])
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        E.activation_pattern(net, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="expects 4 inputs, gets 3"):
        E.relu_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        E.sawtooth_net(0)


def test_shallow_interpolant_equals_numpy_interp():
    knots = np.array([-1.0, -0.4, 0.1, 0.3, 1.0])
    values = np.array([0.5, -1.0, 2.0, 0.0, 1.5])
    net = E.shallow_interpolant(knots, values)
    x = np.linspace(-1, 1, 1001)
    out = net(torch.as_tensor(x[:, None], dtype=torch.float32)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, np.interp(x, knots, values), atol=1e-5)
    assert E.count_linear_regions_1d(net, [-1.0], [1.0]) == len(knots) - 1
    with pytest.raises(ValueError, match="strictly increasing"):
        E.shallow_interpolant([0.0, 0.0], [1.0, 2.0])


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=3), seed=st.integers(0, 10_000),
       half=st.floats(0.1, 5.0))
def test_regions_of_any_small_net_tile_the_box_within_the_upper_bound(widths, seed, half):
    net = random_net([2, *widths, 1], seed, bias_std=1.0)
    regions = E.linear_regions_2d(net, (-half, half, -half, half))
    assert sum(r.size for r in regions) == pytest.approx(4 * half * half, rel=1e-9)
    assert len(regions) <= E.deep_upper_bound(widths, 2)
    centres = np.array([r.polygon.mean(axis=0) for r in regions])
    found = E.activation_pattern(net, centres).numpy()
    assert all(np.array_equal(f, r.pattern) for f, r in zip(found, regions))


def test_fit_side_by_side_moves_each_net_as_fit_alone_would():
    from deepissues.training import fit

    x = torch.linspace(-1, 1, 60)[:, None]
    y = torch.sin(3 * x)
    for widths in ([1, 6, 1], [1, 4, 4, 1]):
        nets = [random_net(widths, seed) for seed in range(3)]
        alone = [random_net(widths, seed) for seed in range(3)]
        fewer = [random_net(widths, seed) for seed in range(3)]
        errors = E.fit_side_by_side(nets, x, y, steps=100, lr=1e-2)
        for net, single, short in zip(nets, alone, fewer):
            history = fit(single, x, y, loss="mse", epochs=100, batch_size=len(x), lr=1e-2, progress=False)
            fit(short, x, y, loss="mse", epochs=99, batch_size=len(x), lr=1e-2, progress=False)
            ours = torch.cat([p.detach().flatten() for p in net.parameters()])
            theirs = torch.cat([p.detach().flatten() for p in single.parameters()])
            one_short = torch.cat([p.detach().flatten() for p in short.parameters()])
            assert torch.allclose(ours, theirs, atol=1e-4)
            # negative control: one Adam step fewer is told apart at this tolerance
            assert not torch.allclose(ours, one_short, atol=1e-4)
        # the error reported is each net's loss before its last step, as fit records it
        np.testing.assert_allclose(errors[-1], history.loss[-1], rtol=1e-4)


def test_fit_side_by_side_refuses_mixed_shapes_and_bad_data():
    x, y = torch.zeros(5, 1), torch.zeros(5, 1)
    with pytest.raises(ValueError, match="same shape"):
        E.fit_side_by_side([mlp([1, 3, 1]), mlp([1, 4, 1])], x, y, 1)
    with pytest.raises(ValueError, match="non-empty list"):
        E.fit_side_by_side([], x, y, 1)
    with pytest.raises(ValueError, match=r"x must be an \(N, 1\) tensor"):
        E.fit_side_by_side([mlp([1, 3, 1])], torch.zeros(5, 2), y, 1)
    with pytest.raises(ValueError, match="same N"):
        E.fit_side_by_side([mlp([1, 3, 1])], x, torch.zeros(4, 1), 1)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        E.fit_side_by_side([mlp([1, 3, 1])], x, y, 0)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        E.fit_side_by_side([mlp([1, 3, 1])], x, y, 1, lr=0)
    with pytest.raises(TypeError, match="layer 1 is Tanh"):
        E.fit_side_by_side([nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1))], x, y, 1)
