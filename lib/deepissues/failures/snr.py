"""Chapter 08, failures: decomposition.

The signal-to-noise ratio of a stochastic gradient."""

import torch

__all__ = ["gradient_snr"]


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
    """
    if not torch.is_tensor(grads) or grads.dim() != 2 or grads.shape[0] < 2:
        raise ValueError(f"grads must be a (n_samples >= 2, n_params) tensor, got "
                         f"{tuple(grads.shape) if torch.is_tensor(grads) else type(grads).__name__}")
    g = grads.double()
    n = g.shape[0]
    noise = g.var(0, unbiased=True).sum()
    signal = g.mean(0).pow(2).sum() - noise / n
    return float(signal / noise)
