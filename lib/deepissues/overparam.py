"""Chapters 03 and 04, overparameterisation and generalisation.

Over-parameterisation: random features fitted by least squares (the "rand" baseline of Nguyen
and Hein), the rank of a layer's features, and magnitude pruning (Han et al. 2016).

Nguyen and Hein (2017, 2018) show that a layer at least as wide as the number of training points
N has full-rank features for almost all weights, and then every critical point of the loss in
the remaining layers is global: with N linearly independent features, least squares on top of
them fits *any* targets exactly. :func:`train_to_zero_error` trains many seeds of a network by
plain SGD on the square loss at once and records when each reaches zero training error, the
theorems' promise put to the test.
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .checks import nonnegative, one_of, positive_int
from .nets import ACTIVATIONS
from . import repro
from .progress import progress_bar
from .training import evaluate

__all__ = ["random_features", "random_features_fit", "feature_singular_values", "feature_rank",
           "rank_from_singular_values", "sgd_to_zero_error",
           "train_architectures_to_zero_error",
           "prune_by_magnitude", "SkipNet", "fit_output_layer", "ZeroErrorRuns", "train_to_zero_error", "bottleneck_loss"]


def random_features(width, activation, d_in, seed=0):
    """A random hidden layer Linear(d_in, width) + activation, drawn as PyTorch's default
    initialisation with a fixed seed, frozen.

    Parameters
    ----------
    width : int >= 1.
    activation : a name from ``nets.ACTIVATIONS``.
    d_in : int >= 1.
    seed : int.

    Returns
    -------
    nn.Sequential without gradients.
    """
    positive_int("width", width)
    one_of("activation", activation, ACTIVATIONS)
    with repro.seeded(seed):  # a fixed draw that leaves the caller's random state alone
        layer = nn.Sequential(nn.Linear(d_in, width), ACTIVATIONS[activation]())
    return layer.requires_grad_(False)


def random_features_fit(width, activation, X, y, seed=0, classes=None):
    """Fit the output layer on frozen random features by least squares.

    Parameters
    ----------
    width : int >= 1, the number of random features.
    activation : a name from ``nets.ACTIVATIONS``.
    X : (N, d) float tensor.
    y : (N,) int labels (fitted as one-hot targets) or (N, k) targets.
    seed : int, fixes the random layer.
    classes : int or None, the number of classes for labels (default max + 1).

    Returns
    -------
    model : ``nn.Sequential(features, Linear(width, k))`` whose output layer is the minimum-norm
        least-squares solution (with a bias).
    train_residual : float, the largest absolute residual on the training targets (0 up to
        rounding when the features have rank N).
    """
    if X.dim() != 2 or len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X must be (N, d) with N >= 1 and y must have N rows, got {tuple(X.shape)} "
                         f"and {tuple(y.shape)}")
    targets = _targets(y, classes)
    features = random_features(width, activation, X.shape[1], seed)
    with torch.random.fork_rng():  # its initial values are overwritten, so draw nothing globally
        head = nn.Linear(width, targets.shape[1])
    with torch.no_grad():
        residual = _least_squares_into(head, features(X), targets)
    return nn.Sequential(*features, head), residual


def _targets(y, classes):
    return nn.functional.one_hot(y.long(), classes or int(y.max()) + 1).double() if y.dim() == 1 else y.double()


def _least_squares_into(head, features, targets):
    """Set the Linear layer ``head`` to the minimum-norm least-squares fit of ``targets`` on
    ``features`` (with a bias); return the largest absolute residual."""
    phi = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(phi, targets, driver="gelsd").solution
    head.weight.copy_(solution[:-1].T)
    head.bias.copy_(solution[-1])
    return float((phi @ solution - targets).abs().max())


def feature_singular_values(model, X, layer=-2):
    """Singular values, largest first, of the (N, width) feature matrix that ``model[: layer + 1]``
    produces on X, computed in float64.

    The features come from a float64 copy of the model, not from the model itself: at the
    interpolation threshold (width N) the smallest singular value of a random softplus layer on
    the digits is about 3e-8 of the largest, below float32's resolution (1.2e-7), so float32
    features would bury it in rounding noise.

    Parameters
    ----------
    model : nn.Sequential.
    X : (N, d) tensor.
    layer : int, the index of the last layer that makes the features.

    Returns
    -------
    (min(N, width),) float64 tensor.
    """
    return torch.linalg.svdvals(_features64(model, X, layer))


def feature_rank(model, X, layer=-2, tol=None):
    """Rank of the (N, width) feature matrix that ``model[: layer + 1]`` produces on X.

    The features are computed in float64 (see ``feature_singular_values``). A singular value
    counts when it exceeds ``tol``: by default NumPy's ``σ_max · max(N, width) · eps`` with
    float64's eps, the rounding level of float64 features.

    Parameters
    ----------
    model : nn.Sequential.
    X : (N, d) tensor.
    layer : int, the index of the last layer that makes the features.
    tol : float >= 0 or None.

    Returns
    -------
    int.

    Examples
    --------
    >>> from deepissues import data
    >>> linear = nn.Sequential(nn.Linear(64, 600), nn.Identity(), nn.Linear(600, 10))
    >>> feature_rank(linear, data.digits().x_train[:600])  # a linear map of the pixels and a bias
    60
    """
    features = _features64(model, X, layer)
    return rank_from_singular_values(torch.linalg.svdvals(features), features.shape, tol)


def rank_from_singular_values(singular, shape, tol=None):
    """The rank of a matrix from its singular values, as :func:`feature_rank` counts it, so that
    a caller who has the singular values (from :func:`feature_singular_values`) need not compute
    them again.

    Parameters
    ----------
    singular : (min(N, width),) float tensor, the singular values, largest first.
    shape : (N, width), the matrix's shape.
    tol : float >= 0 or None; by default NumPy's ``σ_max · max(N, width) · eps`` with float64's
        eps.

    Returns
    -------
    int, the number of singular values above ``tol``.

    Example
    -------
    >>> rank_from_singular_values(torch.tensor([2.0, 1.0, 1e-20], dtype=torch.float64), (3, 5))
    2
    """
    if not isinstance(singular, torch.Tensor) or singular.dim() != 1 or len(singular) == 0:
        raise ValueError(f"singular must be a non-empty 1-d tensor, got {getattr(singular, 'shape', singular)!r}")
    if len(shape) != 2 or len(singular) != min(shape):
        raise ValueError(f"shape must be (N, width) with min(N, width) = {len(singular)} singular values, "
                         f"got {tuple(shape)}")
    if (singular < 0).any() or (singular[:-1] < singular[1:]).any():
        raise ValueError("singular must be non-negative and sorted largest first")
    if tol is None:
        tol = float(singular[0]) * max(shape) * torch.finfo(torch.float64).eps
    else:
        nonnegative("tol", tol)
    return int((singular > tol).sum())


def _features64(model, X, layer):
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    if X.dim() != 2 or len(X) == 0:
        raise ValueError(f"X must be (N, d) with N >= 1, got {tuple(X.shape)}")
    stop = layer + 1 if layer >= 0 else len(model) + layer + 1
    if not 0 < stop <= len(model):
        raise ValueError(f"layer must index one of the model's {len(model)} modules, got {layer}")
    prefix = copy.deepcopy(model[:stop]).double()  # a float64 copy: the caller's model is untouched
    with torch.no_grad():
        return prefix(X.double())


def prune_by_magnitude(model, fraction):
    """A copy of ``model`` with the smallest ``fraction`` of its weights set to zero.

    The threshold is global over the weight matrices and kernels (parameters with dim >= 2);
    biases are kept, as Han et al. (2016) do. The pruned weights get a gradient hook that zeroes
    their gradient, so that fine-tuning the copy (Han et al. retrain after pruning) keeps them
    at zero with SGD or Adam.

    Parameters
    ----------
    model : nn.Module, left unchanged.
    fraction : float in [0, 1).

    Returns
    -------
    pruned : the pruned copy.
    removed : float, the fraction actually removed (ties can make it differ a little).
    """
    nonnegative("fraction", fraction)
    if fraction >= 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    pruned = copy.deepcopy(model)
    weights = [p for p in pruned.parameters() if p.dim() >= 2]
    if not weights:
        raise ValueError("the model has no weight matrices to prune")
    magnitudes = torch.cat([p.detach().abs().flatten() for p in weights])
    k = int(fraction * len(magnitudes))
    if k == 0:
        return pruned, 0.0
    threshold = magnitudes.kthvalue(k).values
    removed = 0
    with torch.no_grad():
        for p in weights:
            mask = p.abs() <= threshold
            removed += int(mask.sum())
            p[mask] = 0
            p.register_hook(lambda grad, keep=~mask: grad * keep)
    return pruned, removed / len(magnitudes)


class SkipNet(nn.Module):
    """A fully connected network whose output also reads ``n_skip`` units of the first hidden
    layer directly, as in Nguyen, Mukkamala and Hein (2019): with n_skip >= N such skip units,
    the loss has no suboptimal strict local minima.

    The first hidden layer has ``n_skip + width`` units; its first ``n_skip`` go straight to the
    output, the other ``width`` feed a second hidden layer of ``width`` units, which feeds the
    output too. With ``n_skip = 0`` it is a plain two-hidden-layer network.

    Parameters
    ----------
    d_in : int >= 1, the inputs.
    n_classes : int >= 1, the outputs.
    width : int >= 1.
    n_skip : int >= 0.
    activation : a name from ``nets.ACTIVATIONS``.
    """

    def __init__(self, d_in, n_classes, width=32, n_skip=0, activation="sigmoid"):
        super().__init__()
        positive_int("width", width)
        positive_int("n_skip", n_skip, least=0)
        one_of("activation", activation, ACTIVATIONS)
        self.n_skip = n_skip
        self.first = nn.Linear(d_in, n_skip + width)
        self.second = nn.Linear(width, width)
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(n_skip + width, n_classes)

    def features(self, x):
        """(N, n_skip + width): the skip units, then the last hidden layer: what the output reads."""
        h1 = self.act(self.first(x))
        h2 = self.act(self.second(h1[:, self.n_skip:]))
        return torch.cat([h1[:, :self.n_skip], h2], 1)

    def forward(self, x):
        return self.out(self.features(x))


def sgd_to_zero_error(models, x, y, lrs, *, epochs, batch_size=64, check_every=5, seed=0):
    """Train each model by plain SGD on the cross-entropy at its own step size, all side by side,
    until its training accuracy is 1 at a check or the epochs run out.

    For each model this is, bit for bit, ``training.fit(model, x, y, epochs=epochs,
    batch_size=batch_size, lr=lr, optimizer="sgd", seed=seed, stop=...)`` with a ``stop`` that
    evaluates the training accuracy after every ``check_every`` epochs and ends training at 1:
    the same mini-batches (one permutation of the training set per epoch from
    ``repro.generator(seed)``, cut into batches, the last one partial), the same mean
    cross-entropy and torch.optim.SGD's update ``w.add_(grad, alpha=-lr)``. The models share one
    backward pass per batch, which changes no gradient: each loss depends on its own model's
    weights only. A model leaves the group at its first check with zero training error.

    Parameters
    ----------
    models : sequence of nn.Module mapping (n, d) inputs to (n, k) logits, trained in place; no
        two may share a parameter.
    x : (N, d) float tensor.
    y : (N,) int labels.
    lrs : sequence of floats > 0, one step size per model.
    epochs : int >= 1, the budget.
    batch_size : int >= 1.
    check_every : int >= 1, the epochs between two checks of the training accuracy.
    seed : int >= 0, fixes the order of the mini-batches.

    Returns
    -------
    list of lists of floats: per model, its training accuracy at each check; a model reached
    zero training error where its last entry is 1.0, after ``check_every * len(curve)`` epochs.

    Example
    -------
    >>> x, y = torch.eye(4), torch.arange(4)
    >>> with repro.seeded(0):
    ...     models = [nn.Linear(4, 4) for _ in range(2)]
    >>> curves = sgd_to_zero_error(models, x, y, [0.5, 1e-6], epochs=20, check_every=5)
    >>> curves[0], len(curves[1]), curves[1][-1] < 1  # the tiny step never gets there
    ([1.0], 4, True)
    """
    models, lrs = list(models), [float(lr) for lr in lrs]
    if not models or len(lrs) != len(models):
        raise ValueError(f"lrs must give one step size per model: {len(lrs)} for {len(models)} models")
    for lr in lrs:
        nonnegative("each of lrs", lr, strict=True)
    positive_int("epochs", epochs)
    positive_int("batch_size", batch_size)
    positive_int("check_every", check_every)
    if x.dim() != 2 or len(x) == 0 or y.shape != (len(x),) or y.is_floating_point():
        raise ValueError(f"x must be (N, d) with N >= 1 and y (N,) int labels, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    params = [list(model.parameters()) for model in models]
    if len({id(p) for group in params for p in group}) != sum(map(len, params)):
        raise ValueError("models must not share parameters")
    for model in models:
        model.train()
    generator, active, curves = repro.generator(seed), list(range(len(models))), [[] for _ in models]
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            inputs, labels = x[batch], y[batch]
            loss = sum(nn.functional.cross_entropy(models[i](inputs), labels) for i in active)
            grads = iter(torch.autograd.grad(loss, [p for i in active for p in params[i]]))
            with torch.no_grad():
                for i in active:
                    for weight in params[i]:
                        weight.add_(next(grads), alpha=-lrs[i])
        if epoch % check_every == 0:
            for i in list(active):
                curves[i].append(evaluate(models[i], x, y))
                if curves[i][-1] == 1.0:
                    active.remove(i)
            if not active:
                break
    return curves


def fit_output_layer(model, X, y, classes=None):
    """"rand" in Nguyen et al.: keep every weight up to the output as it is (random at
    initialisation) and set the output layer ``model.out`` to the minimum-norm least-squares fit
    of one-hot targets on ``model.features(X)``.

    Parameters
    ----------
    model : a :class:`SkipNet` (anything with ``features(x)`` and an nn.Linear ``out``).
    X : (N, d) tensor.
    y : (N,) int labels.
    classes : int or None (max label + 1).

    Returns
    -------
    float, the largest absolute training residual.
    """
    if not hasattr(model, "features") or not isinstance(getattr(model, "out", None), nn.Linear):
        raise TypeError("model must have a features(x) method and an nn.Linear output layer .out")
    with torch.no_grad():
        return _least_squares_into(model.out, model.features(X), _targets(y, classes))


@dataclass(frozen=True)
class ZeroErrorRuns:
    """What :func:`train_to_zero_error` measured, one column per seed.

    Attributes
    ----------
    check_steps : (C,) int array, the steps after which the whole training set was evaluated,
        0 (the initialisation) first.
    relative_loss : (C, S) float array, the training square loss over its value at step 0.
    initial_loss : (S,) float array, that value: the square loss at initialisation.
    train_accuracy : (C, S) float array, the fraction of training points classified correctly.
    steps_to_zero : (S,) int array, the first checked step at which every training point is
        correct and the relative loss is below ``tol``; -1 where no check got there.
    tol : float, the relative loss that counts as zero.
    """

    check_steps: np.ndarray
    relative_loss: np.ndarray
    initial_loss: np.ndarray
    train_accuracy: np.ndarray
    steps_to_zero: np.ndarray
    tol: float

    @property
    def reached(self):
        """(S,) bool array: which seeds reached zero training error."""
        return self.steps_to_zero >= 0


def train_to_zero_error(make_model, x, y, seeds, *, steps, lr, batch_size=None, tol=1e-3, check_every=100,
                        progress=True):
    """Train one network per seed by plain SGD on the square loss, all seeds at once, and record
    when each reaches zero training error: every point classified correctly and the square loss
    below ``tol`` times its initial value.

    The loss is the mean over points of ``||f(x) - onehot(y)||^2``. Each seed's network is drawn
    by ``make_model()`` under ``repro.seeded(seed)``; its mini-batches come from its own
    ``repro.generator(seed)``, one random permutation of the training set per epoch cut into
    consecutive batches (a last, partial batch is dropped). A seed's run is therefore the same
    whichever seeds train beside it. The update is ``w -= lr * grad``: no momentum, no decay.

    Parameters
    ----------
    make_model : callable with no arguments returning an nn.Module that maps (n, d) inputs to
        (n, k) outputs; it is moved to ``x``'s device and dtype.
    x : (N, d) float tensor, the training inputs.
    y : (N,) int tensor of labels in [0, k), k the networks' outputs.
    seeds : iterable of distinct ints >= 0, one network each.
    steps : int >= 1, SGD steps per seed.
    lr : float > 0, the step size.
    batch_size : int in [1, N], or None for the full batch (gradient descent).
    tol : float in (0, 1), the relative loss that counts as zero.
    check_every : int >= 1, evaluate the whole training set after every ``check_every`` steps
        (and after the last).
    progress : bool, show a progress bar.

    Returns
    -------
    ZeroErrorRuns, with S = len(seeds) columns.

    Example
    -------
    >>> x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    >>> y = torch.arange(8) % 2
    >>> runs = train_to_zero_error(lambda: nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)),
    ...                            x, y, seeds=[0, 1], steps=2000, lr=0.1, progress=False)
    >>> runs.relative_loss.shape, bool(runs.reached.all())
    ((21, 2), True)
    """
    (runs,) = _train_side_by_side([make_model], x, y, seeds, steps=steps, lr=lr, batch_size=batch_size,
                                  tol=tol, check_every=check_every, progress=progress)
    return runs


def train_architectures_to_zero_error(make_models, x, y, seeds, *, steps, lr, batch_size=None, tol=1e-3,
                                      check_every=100, progress=True):
    """:func:`train_to_zero_error` for several architectures at once, in one loop over the steps.

    Each architecture's runs are, bit for bit, what ``train_to_zero_error(make_model, x, y,
    seeds, ...)`` returns for it alone: its seeds draw the same networks and the same
    mini-batches (a seed's batches depend only on the seed), and no architecture's update reads
    another's weights. Only the work of the loop is shared: drawing and gathering the batches, and
    one update call for all the weights.

    Parameters
    ----------
    make_models : dict of name -> callable with no arguments returning an nn.Module, as
        ``make_model`` in :func:`train_to_zero_error`.
    x, y, seeds, steps, lr, batch_size, tol, check_every, progress : as in
        :func:`train_to_zero_error`.

    Returns
    -------
    dict of name -> ZeroErrorRuns, in ``make_models``' order.
    """
    if not isinstance(make_models, dict) or not make_models:
        raise ValueError(f"make_models must be a non-empty dict of name -> callable, got {make_models!r}")
    runs = _train_side_by_side(list(make_models.values()), x, y, seeds, steps=steps, lr=lr,
                               batch_size=batch_size, tol=tol, check_every=check_every, progress=progress)
    return dict(zip(make_models, runs))


class _Stack:
    """One architecture's S networks in :func:`_train_side_by_side`: their stacked weights, how to
    compute their gradient on a batch, and the record of their checks."""

    def __init__(self, make_model, seeds, x, y):
        self.params, self.buffers, base = _stacked(make_model, seeds, x)
        self.outputs = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), in_dims=(0, 0, None))
        with torch.no_grad():
            self.classes = self.outputs(self.params, self.buffers, x[:1]).shape[-1]
        if int(y.max()) >= self.classes:
            raise ValueError(f"y's labels must lie below the networks' {self.classes} outputs, got label "
                             f"{int(y.max())}")
        self.batch_losses = vmap(lambda p, b, xb, tb: ((functional_call(base, (p, b), (xb,)) - tb) ** 2).sum(1)
                                 .mean())
        self.explicit = _ExplicitStack.of(base) if not self.buffers else None
        self.targets = nn.functional.one_hot(y.long(), self.classes).to(x.dtype)
        self.start, accuracy = self.measure(x, y)
        self.record = {0: (torch.ones_like(self.start), accuracy)}

    def measure(self, x, y):
        with torch.no_grad():
            out = self.outputs(self.params, self.buffers, x)
            return ((out - self.targets) ** 2).sum(2).mean(1), (out.argmax(2) == y).to(x.dtype).mean(1)

    def grads(self, inputs, index):
        """The gradient on the batch ``inputs = x[index]``, index (S, B)."""
        if self.explicit is None:
            losses = self.batch_losses(self.params, self.buffers, inputs, self.targets[index])
            return torch.autograd.grad(losses.sum(), list(self.params.values()))  # seeds share no weights
        # the same numbers, bit for bit, without vmap's and autograd's per-call overhead
        return self.explicit.square_loss_grads(self.params, inputs, self.targets[index])


def _train_side_by_side(make_models, x, y, seeds, *, steps, lr, batch_size, tol, check_every, progress):
    n, seeds = _zero_error_inputs(x, y, seeds)
    positive_int("steps", steps)
    positive_int("check_every", check_every)
    nonnegative("lr", lr, strict=True)
    batch_size = n if batch_size is None else positive_int("batch_size", batch_size)
    if batch_size > n:
        raise ValueError(f"batch_size must be at most the {n} training points, got {batch_size}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
    stacks = [_Stack(make_model, seeds, x, y) for make_model in make_models]
    weights = [w for stack in stacks for w in stack.params.values()]
    batches = _epoch_batches(seeds, n, batch_size, x.device)
    for step in progress_bar(range(1, steps + 1), "SGD", enabled=progress):
        index = next(batches)
        inputs = x[index]
        grads = [g for stack in stacks for g in stack.grads(inputs, index)]
        with torch.no_grad():  # w -= lr * grad, one call for all the weights
            torch._foreach_sub_(weights, torch._foreach_mul(grads, lr))
        if step % check_every == 0 or step == steps:
            for stack in stacks:
                loss, accuracy = stack.measure(x, y)
                stack.record[step] = (loss / stack.start, accuracy)
    return [_zero_error_runs(stack.record, stack.start, tol) for stack in stacks]


# the activations whose backward pass reads only their output, with the kernels autograd calls
_EXPLICIT_ACTIVATIONS = {nn.Tanh: (torch.tanh, torch.ops.aten.tanh_backward),
                         nn.Sigmoid: (torch.sigmoid, torch.ops.aten.sigmoid_backward)}


class _ExplicitStack:
    """The gradient of the square loss for S networks of one architecture at once, written out
    as batched matrix products.

    It computes what :func:`train_to_zero_error`'s general path computes, ``vmap`` over
    ``functional_call`` differentiated by autograd, bit for bit: the same products, in the same
    layout, and the activations' own backward kernels (``tanh_backward``, ``sigmoid_backward``).
    It only skips their overhead per call, which dominates for networks this small. It covers
    two architectures, and :meth:`of` returns None for any other:

    - an ``nn.Sequential`` of ``nn.Linear`` layers with biases and ``nn.Tanh`` or ``nn.Sigmoid``
      activations (what ``nets.mlp`` builds with "tanh" or "sigmoid");
    - a :class:`SkipNet` with one of those activations.

    Parameters
    ----------
    layers : list of ("linear", name) and ("activation", (forward, backward)) steps, or None
        for a SkipNet.
    skip : (n_skip, (forward, backward)) for a SkipNet, else None.
    """

    def __init__(self, layers=None, skip=None):
        self.layers, self.skip = layers, skip

    @classmethod
    def of(cls, model):
        """The explicit form of ``model``'s architecture, or None where it has none."""
        if type(model) is SkipNet:
            act = _EXPLICIT_ACTIVATIONS.get(type(model.act))
            return None if act is None else cls(skip=(model.n_skip, act))
        if type(model) is not nn.Sequential:
            return None
        layers = []
        for name, module in model.named_children():
            if type(module) is nn.Linear and module.bias is not None:
                layers.append(("linear", name))
            elif type(module) in _EXPLICIT_ACTIVATIONS:
                layers.append(("activation", _EXPLICIT_ACTIVATIONS[type(module)]))
            else:
                return None
        return cls(layers=layers) if layers else None

    def square_loss_grads(self, params, x, targets):
        """The gradient of ``sum_s mean_b ||f_s(x[s, b]) - targets[s, b]||^2``.

        Parameters
        ----------
        params : dict of stacked parameters, each (S, ...), as ``stack_module_state`` makes them.
        x : (S, B, d) tensor, each network's batch.
        targets : (S, B, k) tensor.

        Returns
        -------
        list of tensors shaped as ``params.values()``, in their order.
        """
        with torch.no_grad():
            if self.skip is None:
                grads, out, backward = self._sequential(params, x)
            else:
                grads, out, backward = self._skipnet(params, x)
            # autograd's order: d(mean)/d(out) = 1/B, times the square's derivative 2 (out - t)
            share = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) / x.shape[1]
            backward(share[:, None, None].expand_as(out) * (2 * (out - targets)))
        return [grads[name] for name in params]

    @staticmethod
    def _linear(params, name, inputs):
        return torch.baddbmm(params[name + ".bias"][:, None], inputs, params[name + ".weight"].transpose(1, 2))

    @staticmethod
    def _linear_backward(params, name, inputs, grad, grads, to_inputs=True):
        """Store the layer's parameter gradients in ``grads``; return the gradient of its input."""
        grads[name + ".weight"] = torch.bmm(inputs.transpose(1, 2), grad).transpose(1, 2)
        grads[name + ".bias"] = grad.sum(1)
        return torch.bmm(grad, params[name + ".weight"]) if to_inputs else None

    def _sequential(self, params, x):
        values, grads = [x], {}
        for kind, what in self.layers:
            values.append(self._linear(params, what, values[-1]) if kind == "linear" else what[0](values[-1]))

        def backward(grad):
            for position in range(len(self.layers) - 1, -1, -1):
                kind, what = self.layers[position]
                if kind == "linear":
                    grad = self._linear_backward(params, what, values[position], grad, grads, position > 0)
                else:
                    grad = what[1](grad, values[position + 1])

        return grads, values[-1], backward

    def _skipnet(self, params, x):
        n_skip, (act, act_backward) = self.skip
        grads = {}
        h1 = act(self._linear(params, "first", x))
        deep = h1[:, :, n_skip:]
        h2 = act(self._linear(params, "second", deep))
        features = torch.cat([h1[:, :, :n_skip], h2], 2)

        def backward(grad):
            to_features = self._linear_backward(params, "out", features, grad, grads)
            to_deep = self._linear_backward(params, "second", deep,
                                            act_backward(to_features[:, :, n_skip:], h2), grads)
            to_h1 = torch.cat([to_features[:, :, :n_skip], to_deep], 2)
            self._linear_backward(params, "first", x, act_backward(to_h1, h1), grads, to_inputs=False)

        return grads, self._linear(params, "out", features), backward


def bottleneck_loss(y, width, classes=None):
    """The smallest square loss, mean over points of ``||f(x) - onehot(y)||^2``, that a network
    whose last hidden layer has ``width`` units can reach on labels ``y``, whatever its weights.

    Its outputs ``W h + b`` lie in an affine subspace of dimension at most ``width``, so by
    Eckart and Young the loss is at least the mean of the targets' squared distances to the best
    such subspace: ``(1/N)`` times the sum of the smallest ``k - width`` eigenvalues of the
    centred one-hot targets' scatter matrix. It is 0 once ``width >= k - 1`` (or the number of
    distinct labels minus one): below that, training must stall above it.

    Parameters
    ----------
    y : (N,) int tensor of labels.
    width : int >= 0, the units of the last hidden layer.
    classes : int or None, the number of outputs k (default ``max(y) + 1``).

    Returns
    -------
    float >= 0.

    Example
    -------
    >>> y = torch.arange(10)  # one point per class: the centred targets have 9 equal eigenvalues 1
    >>> round(bottleneck_loss(y, 5), 6)  # the four left out, over the 10 points
    0.4
    >>> bottleneck_loss(y, 9)
    0.0
    """
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or len(y) == 0 or y.is_floating_point() or (y < 0).any():
        raise ValueError(f"y must be (N,) non-negative int labels with N >= 1, got {getattr(y, 'shape', y)!r}")
    positive_int("width", width, least=0)
    targets = _targets(y, classes)
    centred = targets - targets.mean(0)
    eigenvalues = torch.linalg.eigvalsh(centred.T @ centred)  # ascending
    rounding = eigenvalues[-1] * len(eigenvalues) * torch.finfo(eigenvalues.dtype).eps
    left_out = eigenvalues[:max(targets.shape[1] - width, 0)]
    return float(left_out[left_out > rounding].sum()) / len(y)  # centring leaves one eigenvalue 0 exactly


def _zero_error_inputs(x, y, seeds):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or len(x) == 0 or not x.is_floating_point():
        raise ValueError(f"x must be an (N, d) float tensor with N >= 1, got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.is_floating_point() or (y < 0).any():
        raise ValueError(f"y must be ({len(x)},) non-negative int labels, got {getattr(y, 'shape', type(y).__name__)}")
    seeds = [positive_int("each seed", seed, least=0) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds!r}")
    return len(x), seeds


def _stacked(make_model, seeds, x):
    """The seeds' networks as one dict of stacked parameters, one of buffers, and a weightless
    copy of the architecture to call them with."""
    models = []
    for seed in seeds:
        with repro.seeded(seed):
            models.append(make_model().to(device=x.device, dtype=x.dtype))
    params, buffers = stack_module_state(models)
    return params, buffers, copy.deepcopy(models[0]).to("meta")


def _epoch_batches(seeds, n, batch_size, device):
    """Yield (S, batch_size) index tensors: per seed, a fresh permutation each epoch, cut up."""
    generators = [repro.generator(seed) for seed in seeds]
    while True:
        order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[:, start:start + batch_size]


def _zero_error_runs(record, start, tol):
    check_steps = np.array(sorted(record))
    relative = torch.stack([record[s][0] for s in check_steps]).cpu().double().numpy()
    accuracy = torch.stack([record[s][1] for s in check_steps]).cpu().double().numpy()
    done = (relative < tol) & (accuracy == 1)
    first = np.where(done.any(0), check_steps[done.argmax(0)], -1)
    return ZeroErrorRuns(check_steps, relative, start.cpu().double().numpy(), accuracy, first, tol)
