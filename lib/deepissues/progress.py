"""Progress bars for long loops, and whether the output is for a static page.

Kept apart from ``widgets`` so that the training code can show a bar without loading pyplot.
"""

import os

from tqdm.auto import tqdm

__all__ = ["is_static", "progress_bar"]


def is_static():
    """Whether the output is for a static page.

    Returns
    -------
    bool, True when ``DEEPISSUES_STATIC=1``, as when the book is built or the chapters are tested.
    """
    return os.environ.get("DEEPISSUES_STATIC", "") not in ("", "0")


def progress_bar(iterable, desc, enabled=True):
    """A tqdm bar over ``iterable``; off on a static page, where a notebook bar would be a dead widget.

    Parameters
    ----------
    iterable : what to loop over.
    desc : str, the bar's label.
    enabled : bool, False turns it off.

    Returns
    -------
    a tqdm iterator over ``iterable``.
    """
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    return tqdm(iterable, desc=desc, disable=not enabled or is_static(), leave=False)
