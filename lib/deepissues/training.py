"""Training and evaluation with a progress bar and a history of losses and metrics."""

from dataclasses import dataclass, field

import torch
from torch import nn

from .autodiff import eval_mode
from .checks import one_of, positive_int
from .progress import progress_bar
from . import repro

__all__ = ["LOSSES", "OPTIMIZERS", "METRICS", "History", "fit", "train_steps", "sample_batches", "evaluate"]

LOSSES = {"cross_entropy": nn.functional.cross_entropy, "mse": nn.functional.mse_loss}
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
METRICS = ("accuracy", "mse", "rmse", "cross_entropy")  # what evaluate scores


@dataclass
class History:
    """What happened during :func:`fit`.

    Attributes
    ----------
    loss : list of floats; ``loss[e]`` is the mean training loss of epoch e.
    metrics : dict; ``metrics[name][e]`` is the metric ``name`` ("val_accuracy", ...) after epoch e.
    """

    loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.loss)

    def log(self, name, value):
        self.metrics.setdefault(name, []).append(float(value))


def fit(model, x, y, *, loss="cross_entropy", epochs=10, batch_size=64, lr=1e-3, optimizer="adam",
        weight_decay=0.0, val=None, metric=None, seed=0, progress=True, penalty=None, perturb=None, stop=None):
    """Train ``model`` on (x, y) with mini-batches, for epochs over the fixed set.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to outputs.
    x : (N, ...) tensor.
    y : (N,) labels for cross-entropy or (N, k) targets for mse.
    loss : "cross_entropy", "mse" or a callable loss(output, y).
    epochs, batch_size : ints >= 1.
    lr : float, the learning rate.
    optimizer : "adam" or "sgd".
    weight_decay : float, the optimiser's L2 penalty.
    val : optional (x_val, y_val) evaluated after every epoch with ``metric``.
    metric : name for :func:`evaluate`; default "accuracy" for cross-entropy, else "rmse".
        Checked before the first epoch.
    seed : int, fixes the order of the mini-batches.
    progress : show a tqdm bar over epochs.
    penalty : optional callable(model, x_batch) -> scalar tensor added to each batch's loss
        (a regulariser such as the Cross-Lipschitz penalty).
    perturb : optional callable(x_batch, y_batch) -> inputs to train on instead (an attack, for
        adversarial training).
    stop : optional callable(model) -> bool, asked after every epoch; training ends at the first
        True, so ``len(history)`` is the number of epochs run.

    Returns
    -------
    :class:`History`.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> x, y = torch.eye(4), torch.arange(4)
    >>> history = fit(mlp([4, 4]), x, y, epochs=200, lr=0.05, progress=False)
    >>> len(history), history.loss[-1] < history.loss[0], evaluate(mlp([4, 4]), x, y) <= 1.0
    (200, True, True)
    """
    loss_fn = _loss(loss)
    _check_xy(x, y)
    positive_int("epochs", epochs)  # a bool is refused: fit(epochs=True) trained one epoch
    positive_int("batch_size", batch_size)
    one_of("optimizer", optimizer, OPTIMIZERS)
    metric = metric or ("accuracy" if loss == "cross_entropy" else "rmse")
    one_of("metric", metric, METRICS)  # checked now, not after the first epoch
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



def train_steps(model, loss, batches, steps, optimizer, *, scheduler=None, record=None, record_every=None,
                record_first=False, progress=True, description="training"):
    """Take ``steps`` optimiser steps, each on the batch ``batches(step)``, and record a score
    along the way: the one loop of the failure chapters, which train for a number of steps on
    fresh batches rather than for epochs over a fixed set (for that, see :func:`fit`).

    The loop draws nothing itself: randomness comes from ``batches`` (fresh draws from the
    caller's own generators, or :func:`sample_batches`) and from the model's initialisation,
    which the caller seeds, with :func:`deepissues.repro.seeded`.

    Parameters
    ----------
    model : nn.Module being trained.
    loss : callable(model, batch) -> scalar tensor.
    batches : callable(step) -> batch, for step = 1, ..., steps.
    steps : int >= 1.
    optimizer : torch.optim.Optimizer over the model's parameters.
    scheduler : optional learning-rate scheduler, stepped after every optimiser step.
    record : optional callable(model) -> float, evaluated without gradients and in eval mode at
        every ``record_every``-th step and at the last step.
    record_every : int >= 1; default ``steps // 50`` (at least 1).
    record_first : bool, also record at step 1.
    progress : show a tqdm bar (off when the book is built).
    description : the bar's label.

    Returns
    -------
    list of (step, record(model)) pairs, in order; empty without ``record``.

    Examples
    --------
    >>> w = torch.nn.Linear(1, 1, bias=False)
    >>> opt = torch.optim.SGD(w.parameters(), lr=0.5)
    >>> curve = train_steps(w, lambda m, x: (m(x) - 2 * x).pow(2).mean(), lambda step: torch.ones(4, 1), 20,
    ...                     opt, record=lambda m: m.weight.item(), record_every=10, progress=False)
    >>> [(step, round(value, 4)) for step, value in curve]
    [(10, 2.0), (20, 2.0)]
    """
    for name, fn in (("loss", loss), ("batches", batches)):
        if not callable(fn):
            raise TypeError(f"{name} must be a callable, got {type(fn).__name__}")
    positive_int("steps", steps)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if record is not None and not callable(record):
        raise TypeError(f"record must be a callable(model) -> float or None, got {type(record).__name__}")
    every = max(1, steps // 50) if record_every is None else positive_int("record_every", record_every)
    curve = []
    model.train()
    for step in progress_bar(range(1, steps + 1), description, enabled=progress):
        value = loss(model, batches(step))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if record is not None and (step % every == 0 or step == steps or (record_first and step == 1)):
            with torch.no_grad(), eval_mode(model):
                curve.append((step, float(record(model))))
    return curve


def sample_batches(tensors, batch_size, seed=0, replace=False):
    """Batches drawn from a fixed sample, for :func:`train_steps`.

    Parameters
    ----------
    tensors : tensor or tuple of tensors with the same first dimension N.
    batch_size : int >= 1 (at most N without ``replace``).
    seed : int, fixes the draws (through :func:`deepissues.repro.generator`).
    replace : with False, cycle over the sample in a fresh random order each pass (epochs, as
        :func:`fit` does); with True, draw each batch's rows independently and uniformly.

    Returns
    -------
    callable(step) -> a batch (a tensor, or a tuple like ``tensors``); call it with steps
    1, 2, 3, ... in order.

    Examples
    --------
    >>> draw = sample_batches(torch.arange(6), 3)
    >>> sorted(torch.cat([draw(1), draw(2)]).tolist())   # the first pass covers the sample once
    [0, 1, 2, 3, 4, 5]
    """
    single = torch.is_tensor(tensors)
    tensors = (tensors,) if single else tuple(tensors)
    if not tensors or not all(torch.is_tensor(t) for t in tensors):
        raise TypeError("tensors must be a tensor or a non-empty tuple of tensors")
    n = len(tensors[0])
    if n == 0 or any(len(t) != n for t in tensors):
        raise ValueError(f"tensors must share a positive first dimension, got {[len(t) for t in tensors]}")
    positive_int("batch_size", batch_size)
    if not replace and batch_size > n:
        raise ValueError(f"batch_size must be at most the sample's {n} rows without replace, got {batch_size}")
    generator = repro.generator(seed)
    order, at = torch.empty(0, dtype=torch.long), 0

    def draw(step):
        nonlocal order, at
        if replace:
            rows = torch.randint(0, n, (batch_size,), generator=generator)
        else:
            if at + batch_size > len(order):  # a new pass; a batch never straddles two passes
                order, at = torch.randperm(n, generator=generator), 0
            rows, at = order[at:at + batch_size], at + batch_size
        batch = tuple(t[rows] for t in tensors)
        return batch[0] if single else batch

    return draw

def evaluate(model, x, y, metric="accuracy"):
    """Score ``model`` on (x, y) without gradients, in eval mode (the mode is restored after).

    Parameters
    ----------
    model : nn.Module.
    x : (N, ...) tensor.
    y : (N,) labels for "accuracy" and "cross_entropy"; targets of the model's output shape for
        "mse" and "rmse". Any other shape is an error, never a broadcast.
    metric : "accuracy" (argmax of the outputs against labels), "mse", "rmse" or "cross_entropy".

    Returns
    -------
    float.
    """
    _check_xy(x, y)
    one_of("metric", metric, METRICS)
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
        raise ValueError(f"loss must be one of {tuple(LOSSES)} or a callable, got {loss!r}")
    return LOSSES[loss]


def _check_xy(x, y):
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same positive number of rows, got {len(x)} and {len(y)}")
