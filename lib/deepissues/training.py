"""Training and evaluation with a progress bar and a history of losses and metrics."""

from dataclasses import dataclass, field

import torch
from torch import nn

from .autodiff import eval_mode
from .progress import progress_bar
from . import repro

LOSSES = {"cross_entropy": nn.functional.cross_entropy, "mse": nn.functional.mse_loss}
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
METRICS = ("accuracy", "mse", "rmse", "cross_entropy")  # what evaluate scores


@dataclass
class History:
    """What happened during :func:`fit`: ``loss[e]`` is the mean training loss of epoch e,
    ``metrics[name][e]`` the metric ``name`` ("val_accuracy", ...) after epoch e."""

    loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.loss)

    def log(self, name, value):
        self.metrics.setdefault(name, []).append(float(value))


def fit(model, x, y, *, loss="cross_entropy", epochs=10, batch_size=64, lr=1e-3, optimizer="adam",
        weight_decay=0.0, val=None, metric=None, seed=0, progress=True, penalty=None, perturb=None, stop=None):
    """Train ``model`` on (x, y) with mini-batches and return a :class:`History`.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to outputs.
    x : (N, ...) tensor; y : (N,) labels for cross-entropy or (N, k) targets for mse.
    loss : "cross_entropy", "mse" or a callable loss(output, y).
    epochs, batch_size : positive ints.
    lr, weight_decay : learning rate and L2 penalty of the optimiser ("adam" or "sgd").
    val : optional (x_val, y_val) evaluated after every epoch with ``metric``.
    metric : name for :func:`evaluate`; default "accuracy" for cross-entropy, else "rmse".
    seed : int, fixes the order of the mini-batches.
    progress : show a tqdm bar over epochs.
    penalty : optional callable(model, x_batch) -> scalar tensor added to each batch's loss
        (a regulariser such as the Cross-Lipschitz penalty).
    perturb : optional callable(x_batch, y_batch) -> inputs to train on instead (an attack, for
        adversarial training).
    stop : optional callable(model) -> bool, asked after every epoch; training ends at the first
        True, so ``len(history)`` is the number of epochs run.

    Example
    -------
    >>> history = fit(mlp([64, 32, 10]), d.x_train, d.y_train, epochs=5)  # doctest: +SKIP
    """
    loss_fn = _loss(loss)
    _check_xy(x, y)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    metric = metric or ("accuracy" if loss == "cross_entropy" else "rmse")
    if metric not in METRICS:  # checked now, not after the first epoch
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = repro.generator(seed)
    history = History()
    model.train()
    bar = progress_bar(range(epochs), "training", enabled=progress)
    for _ in bar:
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            inputs = x[batch] if perturb is None else perturb(x[batch], y[batch]).detach()
            opt.zero_grad()
            value = loss_fn(model(inputs), y[batch])
            if penalty is not None:
                value = value + penalty(model, inputs)
            value.backward()
            opt.step()
            total += value.item() * len(batch)
        history.loss.append(total / len(x))
        if val is not None:
            history.log(f"val_{metric}", evaluate(model, *val, metric=metric))
        bar.set_postfix(loss=f"{history.loss[-1]:.4g}")
        if stop is not None and stop(model):
            break
    return history


def evaluate(model, x, y, metric="accuracy"):
    """Score ``model`` on (x, y) without gradients, in eval mode (the mode is restored after).

    metric : "accuracy" (argmax of the outputs against labels), "mse", "rmse" or "cross_entropy".
    Returns a float.
    """
    _check_xy(x, y)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric in ("accuracy", "cross_entropy") and y.dim() != 1:
        raise ValueError(f"y must be (N,) class labels for metric {metric!r}, got shape {tuple(y.shape)}")
    with torch.no_grad(), eval_mode(model):
        out = model(x)
    if metric in ("mse", "rmse") and out.shape != y.shape:
        raise ValueError(f"y must have the model's output shape {tuple(out.shape)} for metric {metric!r}, "
                         f"got {tuple(y.shape)}")
    if metric == "accuracy":
        return (out.argmax(dim=1) == y).float().mean().item()
    if metric == "mse":
        return nn.functional.mse_loss(out, y).item()
    if metric == "rmse":
        return nn.functional.mse_loss(out, y).sqrt().item()
    return nn.functional.cross_entropy(out, y).item()


def _loss(loss):
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    return LOSSES[loss]


def _check_xy(x, y):
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same positive number of rows, got {len(x)} and {len(y)}")
