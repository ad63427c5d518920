"""Chapter 15, random weights: the data's structure.

Giryes, Sapiro and Bronstein (2016) measure the complexity of a data set K by its Gaussian mean
width (Vershynin's definition)

    ω(K) = E sup_{x, y ∈ K} ⟨g, x − y⟩,   g ~ N(0, I_d),

and show that a random ReLU layer whose number of units m grows like ω(K)² (times a power of
1/δ) keeps the data's pairwise distances within δ of the closed form (:func:`relu_layer_distance`). Data with structure, of small
mean width, needs narrower layers than unstructured data of the same dimension. For a unit sphere
in a k-dimensional subspace ω = 2 E‖g_k‖ = 2√2 Γ((k+1)/2) / Γ(k/2), below 2√k (1.60
against 2 at k = 1, 4.26 against 4.47 at k = 5; the two meet as k grows); for n points in general position on the sphere of
R^d it is about 2√(2 log n) when n ≪ e^d.
"""

import numpy as np

from ..checks import positive_int
from .. import repro
from .random_weights import pairwise_angles, relu_layer_distance

__all__ = ["gaussian_mean_width", "relu_embedding_distortion"]


def gaussian_mean_width(points, draws=2000, seed=0):
    """Monte Carlo estimate of the Gaussian mean width of a finite set of points.

    For a finite set the supremum is a maximum: ⟨g, x − y⟩ is largest for the points with the
    largest and the smallest projection on g, so each draw costs one matrix product.

    Parameters
    ----------
    points : (n, d) array, n >= 1.
    draws : int >= 2, the number of Gaussian vectors g.
    seed : int.

    Returns
    -------
    width : float, the mean of max_x ⟨g, x⟩ − min_y ⟨g, y⟩ over the draws.
    stderr : float, its standard error.

    Examples
    --------
    >>> width, stderr = gaussian_mean_width(np.array([[0.0, 0.0], [3.0, 4.0]]), draws=20_000)
    >>> bool(abs(width - 5 * np.sqrt(2 / np.pi)) < 4 * stderr)  # a segment: ‖b − a‖ √(2/π)
    True
    """
    points = _points(points)
    positive_int("draws", draws, least=2)
    g = repro.numpy_rng(seed).normal(size=(draws, points.shape[1]))
    projections = g @ points.T
    spans = projections.max(1) - projections.min(1)
    return float(spans.mean()), float(spans.std(ddof=1) / np.sqrt(draws))


def relu_embedding_distortion(points, width, trials=5, seed=0):
    """How far one random ReLU layer's squared distances stray from their closed form.

    The points are scaled to unit norm (angles are what a bias-free ReLU layer sees). For each of
    ``trials`` layers x ↦ max(0, Wx) with i.i.d. N(0, 1/width) weights, the error is the largest
    |‖f(x) − f(y)‖² − E‖f(x) − f(y)‖²| over all pairs, the additive δ of Giryes et al.'s theorem;
    the median over the trials is returned.

    Parameters
    ----------
    points : (n, d) array of non-zero rows, n >= 2.
    width : int >= 1, the layer's units m.
    trials : int >= 1.
    seed : int.

    Returns
    -------
    float >= 0.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(20, 8))
    >>> relu_embedding_distortion(x, 4000) < relu_embedding_distortion(x, 40)
    True
    """
    points = _points(points, least=2)
    positive_int("width", width)
    positive_int("trials", trials)
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("points must have non-zero rows, since they are scaled to unit norm")
    unit = points / norms
    i, j = np.triu_indices(len(unit), 1)  # the pair order of pairwise_angles
    expected = relu_layer_distance(1.0, 1.0, pairwise_angles(unit))
    rng = repro.numpy_rng(seed)
    errors = []
    for _ in range(trials):
        features = np.maximum(unit @ rng.normal(scale=1 / np.sqrt(width), size=(unit.shape[1], width)), 0)
        gram = features @ features.T
        squared = np.diag(gram)[i] + np.diag(gram)[j] - 2 * gram[i, j]  # ‖f(x) − f(y)‖² from the Gram matrix
        errors.append(np.abs(squared - expected).max())
    return float(np.median(errors))


def _points(points, least=1):
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or len(points) < least or not np.all(np.isfinite(points)):
        raise ValueError(f"points must be a finite (n >= {least}, d) array, got shape {points.shape}")
    return points
