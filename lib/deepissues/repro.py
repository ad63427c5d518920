"""Reproducibility: seeds, the device, and the experiment scale.

Every seed the book uses passes through :func:`offset_seed`, so that ``DEEPISSUES_SEED=s`` moves
all of them at once (seed ``k`` becomes ``k + 1000 s``) and a claim can be re-run on other draws.
"""

import contextlib
import os
import random

import numpy as np
import torch

from .checks import one_of

__all__ = ["SCALES", "seed_offset", "offset_seed", "generator", "numpy_rng", "seeded", "seed_everything",
           "default_device", "scale", "by_scale"]

SCALES = ("small", "full")
SEED_STRIDE = 1000  # offsets move seeds by this much, so loops over seeds 0..999 never collide


def seed_offset():
    """The seed offset ``s`` from ``DEEPISSUES_SEED``.

    Returns
    -------
    int >= 0, 0 when the variable is unset.
    """
    value = os.environ.get("DEEPISSUES_SEED", "0").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"DEEPISSUES_SEED must be a non-negative integer, got {value!r}")
    return int(value)


def offset_seed(seed):
    """The seed actually used for the book's seed ``seed``: ``seed + 1000 * seed_offset()``.

    Parameters
    ----------
    seed : int, non-negative; the seed as written in a chapter or a ``seed=`` argument.

    Returns
    -------
    int, equal to ``seed`` when ``DEEPISSUES_SEED`` is unset.

    Example
    -------
    >>> offset_seed(3)  # with DEEPISSUES_SEED unset
    3
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed) + SEED_STRIDE * seed_offset()


def generator(seed, device=None):
    """A ``torch.Generator`` seeded with ``offset_seed(seed)``.

    Parameters
    ----------
    seed : int >= 0.
    device : torch device or None (the CPU).

    Returns
    -------
    torch.Generator.
    """
    return torch.Generator(device=device or "cpu").manual_seed(offset_seed(seed))


def numpy_rng(seed):
    """A NumPy ``Generator`` seeded with ``offset_seed(seed)``.

    Parameters
    ----------
    seed : int >= 0.

    Returns
    -------
    numpy.random.Generator.
    """
    return np.random.default_rng(offset_seed(seed))


@contextlib.contextmanager
def seeded(seed):
    """Run the body on PyTorch's global generator seeded with ``offset_seed(seed)``, then give
    the caller's random state back: what the body draws (a network's initial weights) is fixed
    by ``seed``, and the caller's next draws are those it would have made without the call.

    Library functions use this instead of ``torch.manual_seed``, which would reseed the global
    stream for everything after them.

    Parameters
    ----------
    seed : int, non-negative.

    Examples
    --------
    >>> before = torch.random.get_rng_state()
    >>> with seeded(0):
    ...     first = torch.rand(2)
    >>> with seeded(0):
    ...     torch.equal(torch.rand(2), first)
    True
    >>> torch.equal(torch.random.get_rng_state(), before)
    True
    """
    seed = offset_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def seed_everything(seed=0):
    """Seed Python, NumPy and PyTorch so that two runs print the same numbers.

    Parameters
    ----------
    seed : int, non-negative. The generators receive ``offset_seed(seed)``.

    Returns
    -------
    torch.Generator seeded like the global one, for code that wants its own stream.

    Example
    -------
    >>> g = seed_everything(0)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = offset_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def default_device():
    """The device full-scale runs use.

    Returns
    -------
    torch.device: the GPU when one is present, else the CPU.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def scale():
    """The experiment scale.

    Returns
    -------
    str: "small" (default, CPU-sized) or "full" (``DEEPISSUES_SCALE=full``).
    """
    value = os.environ.get("DEEPISSUES_SCALE", "small").strip().lower() or "small"
    one_of("DEEPISSUES_SCALE", value, SCALES)
    return value


def by_scale(small, full):
    """Pick a setting by the current scale, e.g. ``epochs = by_scale(20, 200)``.

    Parameters
    ----------
    small : the value at the default scale.
    full : the value with ``DEEPISSUES_SCALE=full``.

    Returns
    -------
    one of the two.
    """
    return full if scale() == "full" else small
