"""Model builders."""

import math

import torch
from torch import nn

from .checks import nonnegative, one_of

__all__ = ["ACTIVATIONS", "INITS", "mlp", "he_init_", "n_neurons"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}
INITS = ("default", "he")


def mlp(widths, activation="relu", init="default", bias_std=0.0, dropout=0.0):
    """A fully connected network: Linear, activation, ..., Linear (no activation at the end).

    Parameters
    ----------
    widths : sequence of ints [d_in, h_1, ..., h_L, d_out], at least two.
    activation : "relu", "tanh", "sigmoid", "softplus", or an nn.Module class.
    init : "default" keeps PyTorch's initialisation; "he" draws weights from N(0, 2 / fan_in)
        and biases from N(0, bias_std^2), as Hanin and Rolnick (2019) do.
    bias_std : float >= 0, used with init="he".
    dropout : float in [0, 1), the rate of an nn.Dropout after every activation (none at 0).

    Returns
    -------
    nn.Sequential.

    Example
    -------
    >>> mlp([2, 8, 8, 1])
    Sequential(...)
    """
    widths = list(widths)
    if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be at least two positive ints [d_in, ..., d_out], got {widths}")
    make = _activation(activation)
    one_of("init", init, INITS)
    if bias_std < 0:
        raise ValueError(f"bias_std must be >= 0, got {bias_std}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(make())
            if dropout:
                layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers)
    if init == "he":
        he_init_(model, bias_std)
    return model


def he_init_(model, bias_std=0.0):
    """Re-draw every Linear layer in place: weights N(0, 2 / fan_in), biases N(0, bias_std²).

    Parameters
    ----------
    model : nn.Module.
    bias_std : float >= 0 (0: zero biases).

    Returns
    -------
    model, re-initialised.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    nonnegative("bias_std", bias_std)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, math.sqrt(2.0 / layer.in_features))
                if layer.bias is not None:
                    layer.bias.normal_(0.0, bias_std) if bias_std > 0 else layer.bias.zero_()
    return model


def n_neurons(model):
    """The number of hidden units: the outputs of every Linear layer but the last.

    Parameters
    ----------
    model : nn.Module.

    Returns
    -------
    int.

    Examples
    --------
    >>> n_neurons(mlp([4, 8, 6, 3]))
    14
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    sizes = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    return sum(sizes[:-1])


def _activation(activation):
    if isinstance(activation, str):
        one_of("activation", activation, ACTIVATIONS)
        return ACTIVATIONS[activation]
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise TypeError(f"activation must be a name or an nn.Module class, got {type(activation).__name__}")
