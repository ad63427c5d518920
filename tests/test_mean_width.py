"""The Gaussian mean width against closed forms, and a random layer's distortion against brute force."""

import numpy as np
import pytest
from scipy import integrate, stats

from deepissues import repro
from deepissues.theory import gaussian_mean_width, relu_embedding_distortion, relu_layer_distance


def _sphere_in_subspace(k, d, n, seed=0):
    """n points spread over the unit sphere of a random k-dimensional subspace of R^d."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, k)))[0]
    if k == 2:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        coords = np.stack([np.cos(t), np.sin(t)], 1)
    else:
        coords = rng.normal(size=(n, k))
        coords /= np.linalg.norm(coords, axis=1, keepdims=True)
    return coords @ basis.T


@pytest.mark.parametrize("k, n", [(2, 2000), (3, 40_000)])
def test_mean_width_of_a_sphere_in_a_subspace_is_twice_the_mean_norm_of_a_k_dimensional_gaussian(k, n):
    exact = 2 * stats.chi(k).mean()  # 2 E‖g_k‖
    width, stderr = gaussian_mean_width(_sphere_in_subspace(k, 10, n), draws=4000)
    assert abs(width - exact) < 4 * stderr + 0.005 * exact  # the sampled sphere is a polytope just inside it
    # Control: four points of the circle, a square, have a visibly smaller width.
    if k == 2:
        square, _ = gaussian_mean_width(_sphere_in_subspace(2, 10, 4), draws=4000)
        assert square < 0.95 * exact


def test_mean_width_of_the_simplex_vertices_is_twice_the_expected_gaussian_maximum():
    d = 7
    # E max of d standard normals, by quadrature of x d Φ(x)^(d-1) φ(x)
    expected_max = integrate.quad(lambda x: x * d * stats.norm.cdf(x) ** (d - 1) * stats.norm.pdf(x), -10, 10)[0]
    width, stderr = gaussian_mean_width(np.eye(d), draws=20_000, seed=3)
    assert abs(width - 2 * expected_max) < 4 * stderr
    # Control: a segment's width scales with its length, the simplex's edges are √2 long.
    segment, _ = gaussian_mean_width(np.eye(d)[:2], draws=20_000, seed=3)
    assert segment == pytest.approx(np.sqrt(2) * np.sqrt(2 / np.pi), rel=0.03)


def _brute_distortion(points, width, seed, trials):
    """Pair by pair, with the layers drawn in the same order."""
    rng = np.random.default_rng(seed)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    errors = []
    for _ in range(trials):
        features = np.maximum(unit @ rng.normal(scale=1 / np.sqrt(width), size=(unit.shape[1], width)), 0)
        worst = 0.0
        for a in range(len(unit)):
            for b in range(a + 1, len(unit)):
                theta = np.arccos(np.clip(unit[a] @ unit[b], -1, 1))
                worst = max(worst, abs(np.sum((features[a] - features[b]) ** 2) - relu_layer_distance(1, 1, theta)))
        errors.append(worst)
    return float(np.median(errors))


def test_relu_embedding_distortion_equals_the_pairwise_brute_force():
    x = np.random.default_rng(1).normal(size=(12, 5)) * 3.0
    for width in (8, 200):
        fast = relu_embedding_distortion(x, width, trials=3, seed=4)
        assert fast == pytest.approx(_brute_distortion(x, width, repro.offset_seed(4), 3), rel=1e-9)


def test_relu_embedding_distortion_falls_like_one_over_root_width_and_needs_the_closed_form():
    x = np.random.default_rng(2).normal(size=(30, 10))
    narrow, wide = (relu_embedding_distortion(x, m, trials=9) for m in (100, 6400))
    assert narrow / wide == pytest.approx(8, rel=0.35)  # √(6400/100)
    # Control: against the input's own squared distances, which a ReLU layer does not keep, the
    # error does not vanish with width.
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    features = np.maximum(unit @ np.random.default_rng(0).normal(scale=1 / 80, size=(10, 6400)), 0)
    i, j = np.triu_indices(30, 1)
    squared = ((features[i] - features[j]) ** 2).sum(1)
    assert np.abs(squared - ((unit[i] - unit[j]) ** 2).sum(1)).max() > 10 * wide
