"""Chapter 16, real-life challenges.

Learning without labels, then with a few: an autoencoder as the pretext task, and a linear
probe on its code ("the revolution will not be supervised", LeCun).

A linear autoencoder's optimum is the principal subspace (Baldi and Hornik 1989), so PCA is the
reference the tests hold it to; the ReLU autoencoder used in the book is its nonlinear version.

Two encoders of the same shape serve as the chapter's controls: :func:`untrained_encoder`, the
pretrained encoder's own starting weights (what a probe gets from the architecture alone), and
:func:`supervised_encoder`, trained with every label (a code a linear probe must do well on).
"""

import numpy as np
import torch
from torch import nn

from .checks import positive_int
from .nets import mlp
from .training import fit
from . import repro

__all__ = ["autoencoder", "pretrain_autoencoder", "untrained_encoder", "supervised_encoder", "few_labels",
           "linear_probe"]


def autoencoder(d_in, code, hidden=64, activation=nn.ReLU):
    """An autoencoder and its encoder.

    Parameters
    ----------
    d_in : int >= 1, the inputs.
    code : int >= 1, the code's width.
    hidden : int >= 1, the hidden layers' width.
    activation : nn.Module class put between layers, or None for a linear autoencoder with no
        hidden layer.

    Returns
    -------
    encoder : nn.Sequential d_in → hidden → code.
    model : nn.Sequential, the encoder followed by the decoder code → hidden → d_in.
    """
    positive_int("d_in", d_in)
    positive_int("code", code)
    if activation is None:
        encoder, decoder = nn.Linear(d_in, code), nn.Linear(code, d_in)
    else:
        positive_int("hidden", hidden)
        encoder = nn.Sequential(nn.Linear(d_in, hidden), activation(), nn.Linear(hidden, code))
        decoder = nn.Sequential(activation(), nn.Linear(code, hidden), activation(), nn.Linear(hidden, d_in))
    return encoder, nn.Sequential(encoder, decoder)


def pretrain_autoencoder(x, code=16, hidden=64, epochs=150, lr=3e-3, activation=nn.ReLU, seed=0, progress=True):
    """Train an autoencoder on the unlabelled rows of x with the squared error.

    Parameters
    ----------
    x : (N, d) tensor.
    code, hidden : ints >= 1, the widths (see :func:`autoencoder`).
    epochs : int >= 1.
    lr : float > 0.
    activation : nn.Module class or None.
    seed : int, fixes the initialisation and the batches.
    progress : show a progress bar.

    Returns
    -------
    encoder : nn.Sequential, frozen and in eval mode.
    error : float, the final reconstruction error (mean over entries).
    """
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(f"x must be (N, d) with N >= 1, got {tuple(x.shape)}")
    with repro.seeded(seed):
        encoder, model = autoencoder(x.shape[1], code, hidden, activation)
        fit(model, x, x, loss="mse", epochs=epochs, lr=lr, seed=seed, progress=progress)
    with torch.no_grad():
        error = float(((model(x) - x) ** 2).mean())
    return encoder.eval().requires_grad_(False), error


def untrained_encoder(d_in, code=16, hidden=64, activation=nn.ReLU, seed=0):
    """The encoder that :func:`pretrain_autoencoder` starts from with the same arguments and seed,
    before any training: a random code of the same shape, the control for what pretraining adds.

    Parameters
    ----------
    d_in : int >= 1, the inputs.
    code, hidden : ints >= 1, the widths (see :func:`autoencoder`).
    activation : nn.Module class or None.
    seed : int, the seed :func:`pretrain_autoencoder` would be given.

    Returns
    -------
    encoder : nn.Sequential d_in → hidden → code, frozen and in eval mode.
    """
    with repro.seeded(seed):
        encoder, _ = autoencoder(d_in, code, hidden, activation)
    return encoder.eval().requires_grad_(False)


def supervised_encoder(x, y, code=16, hidden=64, epochs=20, lr=1e-2, batch_size=32, seed=0, progress=False):
    """An encoder of the autoencoder's shape trained *with* labels: the network
    ``nets.mlp([d, hidden, code, classes])`` fitted by cross-entropy on every labelled row, cut
    before its last ReLU and layer, so that its code is linear in the last hidden layer as the
    autoencoder's is. A code learned from all the labels is one a linear probe must do well on.

    Parameters
    ----------
    x : (N, d) tensor.
    y : (N,) int64 labels 0 .. classes − 1.
    code, hidden : ints >= 1, the widths.
    epochs, batch_size : ints >= 1.
    lr : float > 0, Adam's step.
    seed : int, fixes the initialisation and the batches.
    progress : show a progress bar.

    Returns
    -------
    encoder : nn.Sequential d → hidden → code, frozen and in eval mode.
    """
    if x.dim() != 2 or len(x) == 0 or y.shape != (len(x),):
        raise ValueError(f"x must be (N, d) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    positive_int("code", code)
    positive_int("hidden", hidden)
    with repro.seeded(seed):
        model = mlp([x.shape[1], hidden, code, int(y.max()) + 1])
        fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return model[:3].eval().requires_grad_(False)


def few_labels(y, per_class, seed=0):
    """Indices of ``per_class`` examples of every class in y, drawn without replacement.

    Parameters
    ----------
    y : (N,) labels.
    per_class : int >= 1.
    seed : int.

    Returns
    -------
    (per_class · classes,) int array.
    """
    positive_int("per_class", per_class)
    y = np.asarray(y)
    rng = repro.numpy_rng(seed)
    chosen = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than per_class={per_class}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.concatenate(chosen)


def linear_probe(features_train, y_train, features_test, y_test):
    """Test accuracy of a multinomial logistic regression fitted on frozen features (scikit-learn,
    L2 penalty C = 1).

    Parameters
    ----------
    features_train : (N, k) tensor or array.
    y_train : (N,) labels.
    features_test : (M, k) tensor or array.
    y_test : (M,) labels.

    Returns
    -------
    float in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression

    as_numpy = lambda a: a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    train, test = as_numpy(features_train), as_numpy(features_test)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"features must be (N, k) with the same k, got {train.shape} and {test.shape}")
    if len(train) != len(as_numpy(y_train)) or len(test) != len(as_numpy(y_test)):
        raise ValueError(f"features and labels must have the same number of rows, got {len(train)} and "
                         f"{len(as_numpy(y_train))} (train), {len(test)} and {len(as_numpy(y_test))} (test)")
    probe = LogisticRegression(max_iter=3000).fit(train, as_numpy(y_train))
    return float(probe.score(test, as_numpy(y_test)))
