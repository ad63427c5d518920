"""Chapter 07, failures: parities.

Linear-periodic targets, the continuous cousin of parities (Section 2 of the paper).

The target is h_w(x) = sin(2π w·x) with x ~ N(0, I_d) and w uniform on the sphere of radius r.
For large r, E_x[h_w(x) g(x)] is exponentially small for any smooth g, so the gradient of the
loss barely depends on which w is the target: as for parities, it carries almost no information.

For the linear predictor θ·x with square loss the target's part of the gradient is
−E_x[x sin(2π w·x)] = −2π w e^{−2π² r²} (Stein's lemma), so its variance over targets is exactly
4π² r² e^{−4π² r²}.

For any predictor p, at small r, sin(2π w·x) ≈ 2π w·x, so the target's part is about
−2π M w with M = E_x[∇p(x) xᵀ], and its variance over w uniform on the sphere of radius r is, to
leading order, 4π² r² ‖M‖²_F / d. For the linear predictor M = I and this is 4π² r².

The sine's linearisation ψ(z) = 2πz is not periodic and has no such collapse: its part of the
gradient is −2π M w at every r, whose variance 4π² r² ‖M‖²_F / d grows with r (exactly 4π² r²
for the linear predictor). It is the control of the chapter's claim that the periodic targets'
variance collapses.
"""

import math

import torch

from ..checks import nonnegative, one_of, positive_int
from ..autodiff import per_sample_gradients
from .parities import parity_net
from .. import repro

__all__ = ["linear_periodic_dataset", "random_directions", "linear_periodic_variance_closed_form",
           "leading_order_variance", "periodic_gradient_variance"]


def linear_periodic_dataset(n, d, r, seed=0):
    """Points x ~ N(0, I_d) and labels y = sin(2π w*·x), with w* uniform on the sphere of radius r.

    Parameters
    ----------
    n : int >= 1, the number of points.
    d : int >= 1, their dimension.
    r : float >= 0, the radius.
    seed : int.

    Returns
    -------
    X : (n, d) tensor.
    y : (n,) tensor.
    w : (d,) tensor, the target direction (‖w‖ = r).
    """
    positive_int("n", n)
    w = random_directions(1, d, r, seed)[0]
    X = torch.randn(n, d, generator=repro.generator(seed + 1))
    return X, torch.sin(2 * math.pi * X @ w), w


def random_directions(m, d, r, seed=0):
    """Points uniform on the sphere of radius r.

    Parameters
    ----------
    m : int >= 1, the number of points.
    d : int >= 1, their dimension.
    r : float >= 0, the radius.
    seed : int.

    Returns
    -------
    (m, d) tensor.
    """
    positive_int("m", m)
    positive_int("d", d)
    nonnegative("r", r)
    w = torch.randn(m, d, generator=repro.generator(seed), dtype=torch.float64)
    return (r * w / w.norm(dim=1, keepdim=True)).float()


def linear_periodic_variance_closed_form(r):
    """Variance over targets of the square-loss gradient of the linear predictor: 4π² r² e^{−4π² r²}.

    Parameters
    ----------
    r : float >= 0.

    Returns
    -------
    float.
    """
    nonnegative("r", r)
    return 4 * math.pi ** 2 * r ** 2 * math.exp(-4 * math.pi ** 2 * r ** 2)


def leading_order_variance(d, r, width=None, init="default", n_samples=4096, seed=0, sample_seed=None):
    """The small-r variance over targets of the network's square-loss gradient at initialisation:
    4π² r² ‖M‖²_F / d with M = E_x[∇p(x) xᵀ] (P × d), estimated on ``n_samples`` Gaussian inputs.

    This is a Taylor expansion (sin z ≈ z), so it holds for any network; with ``sample_seed`` it
    is estimated on inputs independent of those of :func:`periodic_gradient_variance`.

    Parameters
    ----------
    d : int >= 1, the input dimension.
    r : float >= 0, the target's frequency radius.
    width : int or None, the width of :func:`~deepissues.failures.parity_net`.
    init : "default" or "he".
    n_samples : int >= 2.
    seed : int, fixes the network as in :func:`periodic_gradient_variance` (whose ``variance``
        this approximates as r → 0).
    sample_seed : int or None (``seed``), fixes the inputs; with ``seed`` they are the inputs of
        :func:`periodic_gradient_variance` of the same ``seed``.

    Returns
    -------
    dict with ``variance`` (the leading-order term) and ``alignment`` = ‖M‖²_F / d (1 for the
    linear predictor).
    """
    positive_int("d", d)
    nonnegative("r", r)
    positive_int("n_samples", n_samples, least=2)
    sample_seed = seed if sample_seed is None else sample_seed
    X = torch.randn(n_samples, d, generator=repro.generator(sample_seed + 1), dtype=torch.float64)
    with repro.seeded(seed):  # the same network as periodic_gradient_variance
        net = parity_net(d, width, init).double()
    grads = per_sample_gradients(net, X)[1]
    alignment = float((grads.T @ X / n_samples).pow(2).sum()) / d
    return {"variance": 4 * math.pi ** 2 * r ** 2 * alignment, "alignment": alignment}


def periodic_gradient_variance(d, r, model="net", width=None, n_targets=256, n_samples=4096, seed=0, init="default",
                               psi="sin"):
    """Sampled variance, over targets w, of the square-loss gradient at a fixed initialisation.

    The target h_w(x) = ψ(w·x) enters the gradient only through −E_x[h_w(x) ∇p(x)], whose mean
    over w is zero (ψ is odd, and w and −w are equally likely). For each of ``n_targets`` sampled
    w we estimate its squared norm with the unbiased U-statistic over ``n_samples`` Gaussian
    inputs (all pairs of distinct samples), so the estimate has no bias. For |ψ| <= 1 its
    standard error at zero variance is at most √2·G²/(n·√n_targets), returned as ``resolution``:
    smaller estimates are noise.

    Parameters
    ----------
    d : int >= 1, the input dimension.
    r : float >= 0, the targets' radius.
    model : "net" (:func:`~deepissues.failures.parity_net` with ``width`` and ``init``, seeded by
        ``seed``) or "linear" (θ·x, whose gradient is x).
    width : int or None.
    n_targets : int >= 1, targets sampled.
    n_samples : int >= 2, inputs sampled.
    seed : int.
    init : "default" or "he".
    psi : "sin" (ψ(z) = sin 2πz, the linear-periodic targets) or "linear" (ψ(z) = 2πz, the
        sine's linearisation: the same targets at small r, but not periodic, so nothing makes
        their variance collapse; for the linear predictor it is 4π² r²).

    Returns
    -------
    dict with ``variance``, ``resolution`` (the estimator's standard error at zero variance) and
    ``G2`` = E_x ‖∇p(x)‖².
    """
    positive_int("d", d)
    nonnegative("r", r)
    positive_int("n_targets", n_targets)
    positive_int("n_samples", n_samples, least=2)
    one_of("model", model, ("net", "linear"))
    one_of("psi", psi, ("sin", "linear"))
    X = torch.randn(n_samples, d, generator=repro.generator(seed + 1), dtype=torch.float64)
    if model == "linear":
        grads = X
    else:
        with repro.seeded(seed):
            net = parity_net(d, width, init).double()
        grads = per_sample_gradients(net, X)[1]
    projections = X @ random_directions(n_targets, d, r, seed + 2).double().T                  # (n, m)
    H = torch.sin(2 * math.pi * projections) if psi == "sin" else 2 * math.pi * projections
    n = len(X)
    # ‖Σ_i h(x_i) ∇p(x_i)‖² − Σ_i h(x_i)² ‖∇p(x_i)‖², all pairs i ≠ j, without the n × n kernel
    squared_norms = grads.pow(2).sum(1)
    per_target = ((grads.T @ H).pow(2).sum(0) - (H.pow(2) * squared_norms[:, None]).sum(0)) / (n * (n - 1))
    G2 = float(squared_norms.mean())
    return {"variance": float(per_target.mean()), "resolution": G2 * math.sqrt(2) / (n * math.sqrt(n_targets)), "G2": G2}
