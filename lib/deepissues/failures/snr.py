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
    cuts = torch.arange(n) * groups // n
    left_out = torch.tensor([gradient_snr(grads[cuts != i]) for i in range(groups)], dtype=torch.float64)
    return float(((groups - 1) / groups * (left_out - left_out.mean()).pow(2).sum()).sqrt())


def _check_grads(grads):
    if not torch.is_tensor(grads) or grads.dim() != 2 or grads.shape[0] < 2:
        raise ValueError(f"grads must be a (n_samples >= 2, n_params) tensor, got "
                         f"{tuple(grads.shape) if torch.is_tensor(grads) else type(grads).__name__}")
