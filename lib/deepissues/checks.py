"""Argument checks shared by the modules: one clear message for each kind of bad input."""

import math

import numpy as np


def positive_int(name, value, least=1):
    """``value`` if it is an int >= ``least`` (bools refused), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return value


def nonnegative(name, value, strict=False):
    """``value`` if it is a number >= 0 (> 0 with ``strict``), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isnan(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be a number {'>' if strict else '>='} 0, got {value!r}")
    return value


NORMS = ("l1", "l2", "linf")  # the perturbation norms the attacks and certificates know


def check_norm(norm, allowed=NORMS):
    """``norm`` if it is one of ``allowed`` (by default :data:`NORMS`), else a ValueError: an
    unknown name must never fall through to some default norm."""
    if norm not in allowed:
        raise ValueError(f"norm must be one of {allowed}, got {norm!r}")
    return norm
