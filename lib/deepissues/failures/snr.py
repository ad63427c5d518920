"""Chapter 08, failures: decomposition.

The signal-to-noise ratio of a stochastic gradient, and its standard error."""

import torch

from ..checks import positive_int

__all__ = ["gradient_snr", "gradient_snr_stderr"]


def gradient_snr(grads):
    """Unbiased estimate of ‖E g‖² / E‖g − E g‖² from independent samples of a stochastic gradient.

    ‖mean‖² overestimates ‖E g‖² by tr(Cov)/n, so we subtract the unbiased variance over n:
    signal = ‖ḡ‖² − tr(S)/n with S the sample covariance, noise = tr(S). Both are unbiased;
    the ratio is consistent (its bias vanishes as n grows).

    Parameters
    ----------
    grads : (n_samples, n_params) tensor, n_samples >= 2.

    Returns
    -------
    float; may be slightly negative when the signal is below the estimator's noise.

    Examples
    --------
    >>> g = torch.tensor([[1.0, 0.0], [3.0, 0.0], [1.0, 2.0], [3.0, 2.0]])
    >>> round(gradient_snr(g), 3)  # mean (2, 1), per-coordinate variances 4/3 each
    1.625
    """
    _check_grads(grads)
    g = grads.double()
    n = g.shape[0]
    noise = g.var(0, unbiased=True).sum()
    signal = g.mean(0).pow(2).sum() - noise / n
    return float(signal / noise)


def gradient_snr_stderr(grads, groups=20):
    """The standard error of :func:`gradient_snr`, by the delete-a-group jackknife.

    The samples are cut into ``groups`` contiguous groups; the estimate is recomputed without each
    group in turn, and the spread of those m estimates, scaled by (m − 1)/m, estimates the variance
    of the estimate on all n samples. It assumes nothing about the gradients' distribution: with
    heavy-tailed or nearly one-dimensional noise (ReLU features with a large common mean) the
    Gaussian formula would mislead.

    Each left-out estimate is :func:`gradient_snr` of the remaining samples, computed from
    per-group sums rather than by passing over them again: with c = g − ḡ the samples centred on
    their overall mean (in float64), the samples without group j have mean ḡ + μ_j and
    per-coordinate unbiased variance (Σc² − Σ_j c² − n_j' μ_j²) / (n_j' − 1), where μ_j is their
    mean of c and n_j' their number. That is one pass over the samples instead of ``groups``; the
    values agree with the direct recomputation to float64 rounding.

    Parameters
    ----------
    grads : (n_samples, n_params) tensor, the independent samples given to :func:`gradient_snr`.
    groups : int >= 2, at most n_samples // 2.

    Returns
    -------
    float >= 0.

    Examples
    --------
    >>> g = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0)) + 0.1
    >>> # Gaussian closed form: √(2 tr Σ²/n² + 4 μᵀΣμ/n) / tr Σ = √(2.5e-6 + 1e-4) / 5 ≈ 0.0020
    >>> 0.0015 < gradient_snr_stderr(g) < 0.0026
    True
    """
    _check_grads(grads)
    positive_int("groups", groups, least=2)
    n = grads.shape[0]
    if groups > n // 2:
        raise ValueError(f"groups must be at most n_samples // 2 = {n // 2} so that each group has two samples, "
                         f"got {groups}")
    left_out = _left_out_snrs(grads.double(), torch.arange(n) * groups // n, groups)
    return float(((groups - 1) / groups * (left_out - left_out.mean()).pow(2).sum()).sqrt())


def _left_out_snrs(g, cuts, groups):
    """:func:`gradient_snr` of the samples g (n, p), float64, without each group in turn: (groups,).

    ``cuts`` (n,) gives each sample's group in [0, groups)."""
    centre = g.mean(0)
    c = g - centre                                                            # (n, p)
    sums = torch.zeros(groups, g.shape[1], dtype=g.dtype).index_add_(0, cuts, c)
    squares = torch.zeros(groups, g.shape[1], dtype=g.dtype).index_add_(0, cuts, c * c)
    kept = (len(g) - torch.bincount(cuts, minlength=groups)).to(g.dtype)[:, None]   # (groups, 1)
    mean = (sums.sum(0) - sums) / kept                                        # of c, without group j
    noise = ((squares.sum(0) - squares - kept * mean.pow(2)) / (kept - 1)).sum(1)
    signal = (centre + mean).pow(2).sum(1) - noise / kept[:, 0]
    return signal / noise


def _check_grads(grads):
    if not torch.is_tensor(grads) or grads.dim() != 2 or grads.shape[0] < 2:
        raise ValueError(f"grads must be a (n_samples >= 2, n_params) tensor, got "
                         f"{tuple(grads.shape) if torch.is_tensor(grads) else type(grads).__name__}")
