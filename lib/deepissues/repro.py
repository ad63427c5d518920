"""Reproducibility: seeds, the device, and the experiment scale."""

import os
import random

import numpy as np
import torch

SCALES = ("small", "full")


def seed_everything(seed=0):
    """Seed Python, NumPy and PyTorch so that two runs print the same numbers.

    Parameters
    ----------
    seed : int, non-negative.

    Returns
    -------
    torch.Generator seeded with ``seed``, for code that wants its own stream.

    Example
    -------
    >>> g = seed_everything(0)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def default_device():
    """The GPU when one is present, else the CPU (a ``torch.device``)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def scale():
    """The experiment scale: "small" (default, CPU-sized) or "full" (``DEEPISSUES_SCALE=full``)."""
    value = os.environ.get("DEEPISSUES_SCALE", "small").strip().lower() or "small"
    if value not in SCALES:
        raise ValueError(f"DEEPISSUES_SCALE must be one of {SCALES}, got {value!r}")
    return value


def by_scale(small, full):
    """Pick a setting by the current scale, e.g. ``epochs = by_scale(20, 200)``."""
    return full if scale() == "full" else small
