"""Numbers in a chapter's prose that come from its run: ``glue`` them, never type them.

In the book, a value glued in a code cell appears in the text through myst-nb's role, e.g.
``{glue:text}`clean_accuracy:.0%``` renders the measured accuracy as "95%". Where myst-nb is not
installed (Colab installs ``deepissues`` alone) the value is printed instead; the ``.ipynb``
mirrors already carry the number of the build that wrote them in place of the role.
"""

__all__ = ["glue"]


def glue(name, value, display=False):
    """Make ``value`` available to the chapter's prose under ``name``.

    Parameters
    ----------
    name : str, the key the prose refers to, e.g. ``{glue:text}`name:.3f```.
    value : a number (or any object whose ``repr`` is a Python literal); NumPy and torch scalars
        are turned into Python numbers.
    display : bool, also show the value under the cell (myst-nb's own option).

    Returns
    -------
    None, so that a hidden cell that only glues shows nothing on the page (a value returned by a
    cell's last line would be printed under it).

    Examples
    --------
    >>> glue("clean_accuracy", 0.953)   # the prose writes {glue:text}`clean_accuracy:.2f`
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (the key the prose uses), got {name!r}")
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        # a NumPy or torch scalar: its repr, e.g. np.float64(0.64), is not a literal the prose can format
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # outside the book build: show the number plainly, as the book records it
        print(f"{name} = {_pretty(value)}")
        return None
    myst_glue(name, value, display=display)


def _pretty(value):
    """IPython's text of ``value`` (what myst-nb records for the book), or its repr without IPython."""
    try:
        from IPython.lib.pretty import pretty
    except ImportError:
        return repr(value)
    return pretty(value)
