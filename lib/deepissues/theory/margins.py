"""Chapter 14, margins and Jacobians.

Margins and Jacobians (Sokolić, Giryes, Sapiro and Rodrigues 2017).

A classifier's input margin at x, the distance to the nearest input it classifies differently,
bounds its robustness and, through the number of such balls needed to cover the data, its
generalisation error. The input margin is at least the output margin divided by how fast the
outputs can change: if ‖J(z)‖₂ ≤ L on the segment from x to x + δ, the gap
f_y − f_j, whose gradient is (e_y − e_j)ᵀJ with norm ≤ √2 ‖J‖₂, falls by at most √2 L ‖δ‖, so

    ‖δ‖ ≥ (f_y(x) − max_{j≠y} f_j(x)) / (√2 L)

for every δ that changes the decision. Penalising ‖J‖_F at the training points (which bounds
‖J‖₂) is the Jacobian regulariser. :func:`fit_mlps` trains many ReLU networks with it at once,
one per (λ, seed), as one batched computation.
"""

import copy
import math

import torch
from torch import nn

from ..checks import nonnegative, one_of, positive_int
from ..attacks import DeepFool, margin
from ..autodiff import logits_and_jacobian
from ..nets import mlp
from ..progress import progress_bar
from .. import repro

__all__ = ["jacobian_norm", "jacobian_penalty", "output_margin", "jacobian_margin_bound", "lipschitz_upper_bound",
           "margin_report", "fit_mlps"]


def jacobian_norm(model, x, ord="fro"):
    """Per-sample norm of the Jacobian of the logits with respect to the input.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) tensor.
    ord : "fro" (Frobenius) or 2 (spectral).

    Returns
    -------
    (N,) tensor.

    Examples
    --------
    >>> lin = torch.nn.Linear(3, 2)
    >>> bool(torch.allclose(jacobian_norm(lin, torch.rand(4, 3)), torch.linalg.matrix_norm(lin.weight.detach())))
    True
    """
    one_of("ord", ord, ("fro", 2))
    _, jac = logits_and_jacobian(model, x)
    return jac.flatten(1).norm(dim=1) if ord == "fro" else torch.linalg.matrix_norm(jac, ord=2)


def jacobian_penalty(model, x):
    """The Jacobian regulariser: the mean over x of ‖J(x)‖_F², differentiable in the model's
    parameters. Its signature fits ``training.fit(..., penalty=...)`` once scaled, e.g.
    ``penalty=lambda m, xb: 0.1 * jacobian_penalty(m, xb)``.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) floating-point tensor.

    Returns
    -------
    scalar tensor.
    """
    _, jac = logits_and_jacobian(model, x, create_graph=True)
    return jac.pow(2).sum((1, 2)).mean()


def output_margin(logits, y):
    """f_y − max_{j≠y} f_j for each row; negative where the point is misclassified.

    Parameters
    ----------
    logits : (N, K) tensor, K >= 2.
    y : (N,) labels.

    Returns
    -------
    (N,) tensor.
    """
    if logits.dim() != 2 or logits.shape[1] < 2 or y.shape != (len(logits),):
        raise ValueError(f"logits must be (N, K) with K >= 2 and y (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    return margin(logits, y)


def jacobian_margin_bound(model, x, y, jacobian_bound=None):
    """The input-margin bound output margin / (√2 L) of Sokolić et al., 0 where x is misclassified.

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, K) logits.
    x : (N, ...) tensor.
    y : (N,) labels.
    jacobian_bound : None, a float or an (N,) tensor: L, a bound on ‖J‖₂ over the region the
        perturbations may reach. None takes ‖J(x)‖₂ at the point itself, which makes the result
        a first-order estimate for a non-linear model and an exact bound for an affine one.

    Returns
    -------
    (N,) tensor.
    """
    logits, jac = logits_and_jacobian(model, x)
    if jacobian_bound is None:
        lipschitz = torch.linalg.matrix_norm(jac, ord=2)
    else:
        lipschitz = torch.as_tensor(jacobian_bound, dtype=logits.dtype)
        if (lipschitz <= 0).any():
            raise ValueError("jacobian_bound must be > 0")
    return output_margin(logits, y).clamp_min(0) / (math.sqrt(2) * lipschitz)


def lipschitz_upper_bound(model):
    """The product of the spectral norms of the Linear layers: a bound on ‖J(x)‖₂ at every x.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and 1-Lipschitz activations (ReLU, Tanh, Sigmoid,
        Softplus, Identity).

    Returns
    -------
    float.
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    bound = 1.0
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            bound *= torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item()
        elif not isinstance(layer, (torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.Softplus, torch.nn.Identity)):
            raise TypeError(f"only Linear layers and 1-Lipschitz activations are supported, got {type(layer).__name__}")
    return bound


def margin_report(model, x, y, steps=100):
    """Input margins three ways, at the points of (x, y) that the model classifies correctly and
    where DeepFool succeeds: "distance" DeepFool's distance to the boundary inside [0, 1]^d (an
    upper bound on the margin), "estimate" the first-order m(x)/(√2‖J(x)‖₂), and "global" the
    sound bound with :func:`lipschitz_upper_bound`.

    Parameters
    ----------
    model : nn.Sequential as for :func:`lipschitz_upper_bound`.
    x : (N, d) tensor in [0, 1].
    y : (N,) labels.
    steps : int >= 1, DeepFool's steps.

    Returns
    -------
    dict of (n,) tensors, n the points kept.
    """
    right = model(x).argmax(1) == y
    x_right, y_right = x[right], y[right]
    x_adv, hit = DeepFool(model, steps=steps)(x_right, y_right)
    return {"distance": (x_adv - x_right).flatten(1).norm(dim=1)[hit].detach(),
            "estimate": jacobian_margin_bound(model, x_right, y_right)[hit],
            "global": jacobian_margin_bound(model, x_right, y_right, lipschitz_upper_bound(model))[hit]}


def fit_mlps(widths, x, y, seeds, lambdas=(0.0,), *, epochs=10, batch_size=64, lr=1e-3, weight_decay=0.0,
             progress=True):
    """Train one ReLU network ``nets.mlp(widths)`` per pair (λ, seed) with Adam on the
    cross-entropy plus λ times :func:`jacobian_penalty`, all pairs side by side: their weights
    are stacked, and each step is one batched computation (``torch.bmm``) for all of them.

    Run (λ, seed) is, up to float rounding, the network that this loop trains::

        with repro.seeded(seed):
            model = nets.mlp(widths)
        training.fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                     seed=seed, penalty=(lambda m, xb: lam * jacobian_penalty(m, xb)) if lam else None)

    with the same initial weights, the same mini-batches (those of ``training.fit`` with
    ``seed``, a last partial batch included) and the same Adam steps. The penalty uses the
    closed form of a ReLU network's input Jacobian, J(x) = W_L D_{L-1}(x) W_{L-1} ... D_1(x) W_1,
    D_l the 0/1 diagonal of layer l's active units (autograd's second derivative of a ReLU is
    0 too); with one hidden layer, ‖J(x)‖_F² = mᵀ((W_2ᵀW_2) ∘ (W_1W_1ᵀ))m, m the active units.

    Parameters
    ----------
    widths : sequence of ints [d, h_1, ..., K], as for ``nets.mlp`` (ReLU activations).
    x : (N, d) floating-point tensor.
    y : (N,) int labels in [0, K).
    seeds : iterable of distinct ints >= 0; the initial weights and the batches of each.
    lambdas : iterable of distinct floats >= 0, the penalty's weights λ.
    epochs, batch_size : ints >= 1.
    lr : float > 0, Adam's learning rate.
    weight_decay : float >= 0, Adam's L2 penalty.
    progress : show a tqdm bar over epochs.

    Returns
    -------
    dict mapping (λ, seed) to a trained ``nn.Sequential``, λ-major in the order given.

    Example
    -------
    >>> x, y = torch.eye(4), torch.arange(4)
    >>> trained = fit_mlps([4, 8, 4], x, y, seeds=[0, 1], lambdas=[0.0, 0.1], epochs=50, lr=0.05, progress=False)
    >>> sorted(trained), all(bool((net(x).argmax(1) == y).all()) for net in trained.values())
    ([(0.0, 0), (0.0, 1), (0.1, 0), (0.1, 1)], True)
    """
    if not torch.is_tensor(x) or x.dim() != 2 or len(x) == 0 or not x.is_floating_point():
        raise ValueError(f"x must be an (N, d) floating-point tensor with N >= 1, got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    seeds = [positive_int("each seed", seed, least=0) for seed in seeds]
    lambdas = [nonnegative("each lambda", lam) for lam in lambdas]
    if not seeds or len(set(seeds)) != len(seeds) or not lambdas or len(set(lambdas)) != len(lambdas):
        raise ValueError(f"seeds and lambdas must be non-empty and without repeats, got {seeds} and {lambdas}")
    positive_int("epochs", epochs)
    positive_int("batch_size", batch_size)
    nonnegative("lr", lr, strict=True)
    nonnegative("weight_decay", weight_decay)
    start = {}
    for seed in seeds:
        with repro.seeded(seed):  # the initial weights of nets.mlp after seed_everything(seed)
            start[seed] = mlp(widths).to(device=x.device, dtype=x.dtype)
    if x.shape[1] != widths[0]:
        raise ValueError(f"x must have widths[0] = {widths[0]} columns, got {x.shape[1]}")
    classes = widths[-1]
    if not torch.is_tensor(y) or y.shape != (len(x),) or y.is_floating_point() or (y < 0).any() or (y >= classes).any():
        raise ValueError(f"y must be ({len(x)},) int labels in [0, {classes}), got "
                         f"{tuple(y.shape) if torch.is_tensor(y) else type(y).__name__}")
    runs = [(lam, seed) for lam in lambdas for seed in seeds]
    layers = [[layer for layer in start[seed] if isinstance(layer, nn.Linear)] for _, seed in runs]
    weights = [torch.stack([run[i].weight.detach() for run in layers]).requires_grad_() for i in range(len(widths) - 1)]
    biases = [torch.stack([run[i].bias.detach() for run in layers]).requires_grad_() for i in range(len(widths) - 1)]
    lam = torch.tensor([lam for lam, _ in runs], dtype=x.dtype, device=x.device)
    penalised = lam > 0  # the runs whose Jacobians are computed at all
    optimizer = torch.optim.Adam(weights + biases, lr=lr, weight_decay=weight_decay)
    generators = {seed: repro.generator(seed) for seed in seeds}  # as training.fit draws its batches
    row = torch.tensor([seeds.index(seed) for _, seed in runs], device=x.device)
    for _ in progress_bar(range(epochs), "training", enabled=progress):
        order = torch.stack([torch.randperm(len(x), generator=generators[seed]) for seed in seeds])
        order = order.to(x.device)[row]                                              # (R, N): each run's seed's
        for at in range(0, len(x), batch_size):
            batch = order[:, at:at + batch_size]                                   # (R, b)
            logits, active = _stacked_relu_forward(weights, biases, x[batch])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y[batch].flatten(), reduction="none")
            loss = loss.view(batch.shape).mean(1).sum()  # the runs share no weights: each gets its own gradient
            if penalised.any():
                norms = _squared_jacobian_norms([w[penalised] for w in weights], [a[penalised] for a in active])
                loss = loss + (lam[penalised] * norms.mean(1)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    trained = {}
    with torch.no_grad():
        for r, (lam_r, seed) in enumerate(runs):
            model = copy.deepcopy(start[seed])
            for layer, weight, bias in zip((l for l in model if isinstance(l, nn.Linear)), weights, biases):
                layer.weight.copy_(weight[r])
                layer.bias.copy_(bias[r])
            trained[lam_r, seed] = model
    return trained


def _stacked_relu_forward(weights, biases, x):
    """Logits (R, b, K) of R stacked ReLU networks on their own batches x (R, b, d), and each
    hidden layer's active units, (R, b, h_l) 0/1 tensors."""
    active = []
    for weight, bias in zip(weights[:-1], biases[:-1]):
        pre = torch.baddbmm(bias[:, None], x, weight.transpose(1, 2))
        active.append((pre > 0).to(pre.dtype))  # where autograd's ReLU passes gradients
        x = torch.relu(pre)
    return torch.baddbmm(biases[-1][:, None], x, weights[-1].transpose(1, 2)), active


def _squared_jacobian_norms(weights, active):
    """‖J(x)‖_F² (R, b) of R stacked ReLU networks at b points each, from their weights and
    active units; differentiable in the weights. (R, 1) for linear networks, whose J is W."""
    if len(weights) == 1:
        return weights[0].pow(2).sum((1, 2))[:, None]
    if len(weights) == 2:  # mᵀ((W_2ᵀW_2) ∘ (W_1W_1ᵀ))m: (h, h) Gram matrices instead of b Jacobians
        gram = torch.bmm(weights[1].transpose(1, 2), weights[1]) * torch.bmm(weights[0], weights[0].transpose(1, 2))
        return (torch.bmm(active[0], gram) * active[0]).sum(2)
    runs, points, classes = len(weights[0]), active[0].shape[1], weights[-1].shape[1]
    rows = weights[-1][:, None] * active[-1][:, :, None]                           # (R, b, K, h): W_L D
    for weight, mask in zip(reversed(weights[1:-1]), reversed(active[:-1])):
        rows = torch.bmm(rows.flatten(1, 2), weight).view(runs, points, classes, -1) * mask[:, :, None]
    jacobian = torch.bmm(rows.flatten(1, 2), weights[0])                         # (R, b·K, d)
    return jacobian.view(runs, points, -1).pow(2).sum(2)
