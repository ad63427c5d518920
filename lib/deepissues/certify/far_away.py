"""Chapter 06, robustness guarantees.

Confidence far away from the data (Hein, Andriushchenko and Bitterwolf 2019).

A ReLU network is affine on each of finitely many linear regions, and the outermost regions are
unbounded. Along a ray αx, the logits eventually grow linearly in α, so unless two of them grow
at the same rate the softmax confidence tends to 1: the network is sure of itself on inputs that
look like nothing it was trained on.
"""

import torch

from .. import checks
from ..autodiff import eval_mode

__all__ = ["confidence_far_away"]


def confidence_far_away(model, x, alphas):
    """Largest softmax probability of ``model`` on α·x for each α: how sure a network stays far from
    its data (Hein et al. 2019).

    Parameters
    ----------
    model : nn.Module returning logits.
    x : (N, ...) tensor.
    alphas : sequence of numbers >= 0, the scales.

    Returns
    -------
    confidences : (len(alphas), N) tensor.
    predictions : (len(alphas), N) tensor of predicted classes.
    """
    alphas = [checks.nonnegative("alphas", float(a)) for a in alphas]
    if not alphas:
        raise ValueError("alphas must hold at least one value")
    with torch.no_grad(), eval_mode(model):
        probs = torch.stack([model(a * x).softmax(1) for a in alphas])
    conf, pred = probs.max(2)
    return conf, pred
