"""Argument checks shared by the modules: one clear message for each kind of bad input.

Every check returns the value it accepted, so that it can wrap an assignment, and raises a
``ValueError`` (``TypeError`` for a wrong type) that names the argument, what was expected and
what came.
"""

import math

import numpy as np

__all__ = ["positive_int", "nonnegative", "one_of", "has_shape", "xy_pair", "NORMS", "check_norm"]


def positive_int(name, value, least=1):
    """``value`` if it is an int >= ``least`` (bools refused), else a ValueError naming ``name``.

    Parameters
    ----------
    name : str, the argument's name for the message.
    value : the argument.
    least : int, the smallest value accepted.

    Returns
    -------
    value, unchanged.

    Examples
    --------
    >>> positive_int("steps", True)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an int >= 1, got True
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return value


def nonnegative(name, value, strict=False):
    """``value`` if it is a number >= 0 (> 0 with ``strict``), else a ValueError naming ``name``.

    Parameters
    ----------
    name : str, the argument's name for the message.
    value : the argument; bools and NaN are refused.
    strict : bool, whether 0 is refused too.

    Returns
    -------
    value, unchanged.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isnan(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be a number {'>' if strict else '>='} 0, got {value!r}")
    return value


def one_of(name, value, allowed):
    """``value`` if it is one of ``allowed``, else a ValueError naming ``name`` and the choices.

    Parameters
    ----------
    name : str, the argument's name for the message.
    value : the argument.
    allowed : iterable of the accepted values (a dict's keys, a tuple of names, ...).

    Returns
    -------
    value, unchanged.

    Examples
    --------
    >>> one_of("optimizer", "sgd", ("adam", "sgd"))
    'sgd'
    >>> one_of("optimizer", "SGD", ("adam", "sgd"))
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of ('adam', 'sgd'), got 'SGD'
    """
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value against a dict or set of names
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def has_shape(name, value, shape):
    """``value`` if it is a tensor or array of the given ``shape``, else an error naming ``name``.

    Parameters
    ----------
    name : str, the argument's name for the message.
    value : the argument.
    shape : tuple of ints and strings: an int is a fixed size; a string ("N", "d") is any size,
        the same wherever the same string appears.

    Returns
    -------
    value, unchanged.

    Examples
    --------
    >>> import torch
    >>> has_shape("x", torch.zeros(3, 4), ("N", 4)).shape
    torch.Size([3, 4])
    >>> has_shape("y", torch.zeros(3, 1), ("N",))
    Traceback (most recent call last):
    ...
    ValueError: y must have shape (N,), got (3, 1)
    """
    found = getattr(value, "shape", None)
    if found is None:
        raise TypeError(f"{name} must be a tensor or array of shape {_describe(shape)}, got {type(value).__name__}")
    found, sizes = tuple(found), {}
    ok = len(found) == len(shape)
    for want, got in zip(shape, found) if ok else ():
        if isinstance(want, str):
            ok = ok and sizes.setdefault(want, got) == got
        else:
            ok = ok and want == got
    if not ok:
        raise ValueError(f"{name} must have shape {_describe(shape)}, got {found}")
    return value


def xy_pair(name, value):
    """``value`` as ``(x, y)`` if it is a pair of tensors with the same positive number of rows,
    else an error naming ``name`` (the data of a loss, for example).

    Parameters
    ----------
    name : str, the argument's name for the message.
    value : the argument.

    Returns
    -------
    (x, y).

    Examples
    --------
    >>> import torch
    >>> xy_pair("data", (torch.zeros(3, 2),))
    Traceback (most recent call last):
    ...
    ValueError: data must be a pair (x, y) of tensors with the same number of rows >= 1, got a tuple of length 1
    """
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) \
            else type(value).__name__
        raise ValueError(f"{name} must be a pair (x, y) of tensors with the same number of rows >= 1, got {got}")
    x, y = value
    if not (hasattr(x, "shape") and hasattr(y, "shape")) or len(x) == 0 or len(x) != len(y):
        raise ValueError(f"{name} must be a pair (x, y) of tensors with the same number of rows >= 1, got "
                         f"{getattr(x, 'shape', type(x).__name__)} and {getattr(y, 'shape', type(y).__name__)}")
    return x, y


def _describe(shape):
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


NORMS = ("l1", "l2", "linf")  # the perturbation norms the attacks and certificates know


def check_norm(norm, allowed=NORMS):
    """``norm`` if it is one of ``allowed``, else a ValueError: an unknown name must never fall
    through to some default norm.

    Parameters
    ----------
    norm : the argument.
    allowed : tuple of names, by default :data:`NORMS`.

    Returns
    -------
    norm, unchanged.
    """
    return one_of("norm", norm, allowed)
