"""Autodiff helpers that the attacks, defences, certificates, curvature and theory share.

Chapters 05, 06 and 13–14 rest on them: the mode a model is evaluated in, and the gradients of
its logits with respect to its input.
"""

import contextlib

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = ["eval_mode", "logits_and_jacobian", "per_sample_gradients"]


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode (dropout off, batch norm on running statistics) and restore its
    previous mode afterwards, even if the body raises.

    Parameters
    ----------
    model : nn.Module

    Yields
    ------
    model, in eval mode.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def logits_and_jacobian(model, x, create_graph=False):
    """The logits at x and their gradients with respect to the flattened input.

    One backward pass per class: K passes for K logits, cheap for the ten classes of the book.

    Parameters
    ----------
    model : nn.Module or callable mapping (N, ...) inputs to (N, K) logits; each output row must
        depend on its own input row only (no batch norm in training mode).
    x : (N, ...) floating-point tensor.
    create_graph : bool. With True the gradients stay differentiable in the model's parameters
        (for a regulariser on them); otherwise both outputs are detached.

    Returns
    -------
    logits : (N, K) tensor.
    jacobian : (N, K, d) tensor, d the number of input features; ``jacobian[n, k]`` is the
        gradient of logit k at x[n].

    Examples
    --------
    >>> lin = nn.Linear(3, 2)
    >>> _, jac = logits_and_jacobian(lin, torch.zeros(4, 3))
    >>> jac.shape, torch.equal(jac[0], lin.weight.detach())
    (torch.Size([4, 2, 3]), True)
    """
    if not callable(model):
        raise TypeError(f"model must be an nn.Module or a callable returning logits, got {type(model).__name__}")
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError(f"x must be a floating-point batch (N, ...), got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}"
                         f"{' of dtype ' + str(x.dtype) if torch.is_tensor(x) else ''}")
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (N, K), got {tuple(logits.shape)}")
    rows = [torch.autograd.grad(logits[:, k].sum(), x, create_graph=create_graph,
                                retain_graph=create_graph or k < logits.shape[1] - 1)[0].flatten(1)
            for k in range(logits.shape[1])]
    return (logits, torch.stack(rows, 1)) if create_graph else (logits.detach(), torch.stack(rows, 1))


def per_sample_gradients(model, x):
    """A scalar-output model's outputs and, for each input, the gradient of its output with
    respect to all the parameters (with ``torch.func``: one vectorised pass, no loop).

    Parameters
    ----------
    model : nn.Module mapping (N, ...) inputs to (N, 1) outputs.
    x : (N, ...) tensor.

    Returns
    -------
    outputs : (N,) tensor, detached.
    gradients : (N, P) tensor, P the number of parameters; row n is ∇_θ model(x[n]), the
        parameters flattened in the order of ``model.named_parameters()``.

    Examples
    --------
    >>> lin = nn.Linear(2, 1)
    >>> out, g = per_sample_gradients(lin, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> g.tolist()   # ∂(w·x + b)/∂(w, b) = (x, 1)
    [[1.0, 2.0, 1.0], [3.0, 4.0, 1.0]]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not torch.is_tensor(x) or x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x must be a batch (N, ...) with N >= 1, got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    params = {k: v.detach() for k, v in model.named_parameters()}
    with torch.no_grad():
        outputs = model(x)
    if outputs.shape != (len(x), 1):
        raise ValueError(f"model must return one output per input, shape ({len(x)}, 1), got {tuple(outputs.shape)}")

    def output(prm, point):
        return functional_call(model, prm, (point[None],))[0, 0]

    grads = vmap(grad(output), in_dims=(None, 0))(params, x)
    return outputs[:, 0], torch.cat([grads[k].reshape(len(x), -1) for k in params], 1)
