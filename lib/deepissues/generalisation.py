"""Chapter 04, generalisation.

The generalisation puzzle (Zhang et al. 2017): networks that fit random labels and random
inputs perfectly, yet generalise on real data. Corruptions of a data set, and memorisation."""

import torch

from .checks import nonnegative, one_of, positive_int
from .training import evaluate, fit
from . import repro

__all__ = ["CORRUPTIONS", "corrupt", "train_until_memorised"]

CORRUPTIONS = ("none", "random_labels", "shuffled_pixels", "random_pixels", "gaussian")


def corrupt(x, y, kind, fraction=1.0, classes=10, seed=0):
    """A corrupted copy of (x, y), as in Zhang et al. (2017).

    Parameters
    ----------
    x : (N, d) tensor of inputs in [0, 1].
    y : (N,) int labels in [0, classes).
    kind : "none"; "random_labels": a share ``fraction`` of the labels replaced by uniform random
        ones; "shuffled_pixels": one random permutation of the pixels applied to every image;
        "random_pixels": a different permutation for each image; "gaussian": every input replaced
        by Gaussian noise with the data's mean and standard deviation (per pixel), clipped to [0, 1].
    fraction : float in [0, 1], for "random_labels".
    classes : int >= 2, the number of classes random labels are drawn from.
    seed : int.

    Returns
    -------
    (x, y) tensors of the same shapes.
    """
    one_of("kind", kind, CORRUPTIONS)
    nonnegative("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if x.dim() != 2 or len(x) != len(y):
        raise ValueError(f"x must be (N, d) rows matching y, got {tuple(x.shape)} and {tuple(y.shape)}")
    positive_int("classes", classes, least=2)
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise ValueError(f"classes must exceed every label: labels lie in [{int(y.min())}, {int(y.max())}], "
                         f"got classes={classes}")
    g = repro.generator(seed)
    x, y = x.clone(), y.clone()
    if kind == "random_labels":
        hit = torch.rand(len(y), generator=g) < fraction
        y[hit] = torch.randint(0, classes, (int(hit.sum()),), generator=g)
    elif kind == "shuffled_pixels":
        x = x[:, torch.randperm(x.shape[1], generator=g)]
    elif kind == "random_pixels":
        order = torch.argsort(torch.rand(x.shape, generator=g), dim=1)
        x = x.gather(1, order)
    elif kind == "gaussian":
        x = (x.mean(0) + x.std(0) * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def train_until_memorised(model, x, y, max_epochs=500, **fit_kwargs):
    """Train with :func:`~deepissues.training.fit` until every training point is classified
    correctly, or for ``max_epochs``.

    Parameters
    ----------
    model : nn.Module returning logits.
    x : (N, ...) inputs.
    y : (N,) labels.
    max_epochs : int >= 1.
    **fit_kwargs : passed to :func:`~deepissues.training.fit` (lr, batch_size, ...).

    Returns
    -------
    epochs : int, the epochs run.
    memorised : bool, whether every training point is classified correctly.
    history : :class:`~deepissues.training.History`.
    """
    positive_int("max_epochs", max_epochs)
    history = fit(model, x, y, epochs=max_epochs, stop=lambda m: evaluate(m, x, y) == 1.0, **fit_kwargs)
    return len(history), evaluate(model, x, y) == 1.0, history
