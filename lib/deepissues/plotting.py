"""One figure style for the book, and the plots that several chapters share."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from . import repro

__all__ = ["PALETTE", "use_style", "describe", "png_with_alt_text", "plot_regions"]

# Okabe and Ito's palette, safe for the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style():
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "font.size": 10,
        "axes.titlesize": 11,
        "legend.frameon": False,
        "image.cmap": "viridis",
    })


def describe(fig, text):
    """Give a figure the alt text that the book's page shows for it.

    The text travels inside the figure's PNG, as its ``Description`` chunk, which the book's
    ``alt_text`` extension copies into the page; so it can carry the numbers the figure shows,
    computed when the chapter runs. In a notebook kernel this also installs
    :func:`png_with_alt_text` as the PNG formatter for figures (after the inline backend's own,
    which the first figure of a kernel installs).

    Parameters
    ----------
    fig : matplotlib Figure or Axes (its figure is described).
    text : str, at least one sentence of six words or more, ending in a full stop, that says what
        the figure shows.

    Returns
    -------
    None, so that a chapter cell may end with it without showing the figure twice.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> describe(fig, "A straight line rises from (0, 0) to (1, 1).")
    >>> from PIL import Image; import io
    >>> Image.open(io.BytesIO(png_with_alt_text(fig))).info["Description"]
    'A straight line rises from (0, 0) to (1, 1).'
    >>> plt.close(fig)
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    fig = fig.figure if isinstance(fig, Axes) else fig
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure or Axes, got {type(fig).__name__}")
    words = " ".join(str(text).split())
    if len(words.split()) < 6 or not words.endswith("."):
        raise ValueError(f"text must be a sentence of at least six words ending in a full stop, got {text!r}")
    fig._deepissues_alt_text = words
    _install_formatter()


def png_with_alt_text(fig):
    """The figure as PNG bytes, as the notebook shows it, with its alt text (if any) as the PNG's
    ``Description``.

    Parameters
    ----------
    fig : matplotlib Figure.

    Returns
    -------
    bytes.
    """
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    text = getattr(fig, "_deepissues_alt_text", None)
    return print_figure(fig, "png", metadata={"Description": text} if text else None)


def _install_formatter():
    try:
        from IPython import get_ipython
    except ImportError:  # outside IPython the text stays on the figure, unused
        return
    shell = get_ipython()
    if shell is not None:
        from matplotlib.figure import Figure

        shell.display_formatter.formatters["image/png"].for_type(Figure, png_with_alt_text)


def plot_regions(regions, ax=None, title=None, seed=0):
    """Draw 2-D linear regions as coloured polygons.

    Parameters
    ----------
    regions : list of :class:`deepissues.expressivity.Region` with 2-D polygons.
    ax : matplotlib axes (a new figure when None).
    title : optional title; the region count is appended.
    seed : fixes the shuffled colours, so that neighbours rarely share one.

    Returns
    -------
    The axes.
    """
    regions = list(regions)
    if not all(hasattr(r, "polygon") for r in regions):
        raise TypeError("regions must be a list of expressivity.Region (from linear_regions_2d), got "
                        f"{sorted({type(r).__name__ for r in regions})}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    if regions and regions[0].polygon.shape[1] != 2:
        raise ValueError("plot_regions draws 2-D regions; use linear_pieces_1d's output with a line plot")
    colours = np.array(mpl.colors.to_rgba_array(PALETTE[:7]))
    order = repro.numpy_rng(seed).integers(0, len(colours), size=len(regions))
    ax.add_collection(PolyCollection([r.polygon for r in regions], facecolors=colours[order],
                                     edgecolors="white", linewidths=0.4, alpha=0.85))
    corners = np.concatenate([r.polygon for r in regions]) if regions else np.zeros((1, 2))
    ax.set_xlim(corners[:, 0].min(), corners[:, 0].max())
    ax.set_ylim(corners[:, 1].min(), corners[:, 1].max())
    ax.set_aspect("equal")
    ax.locator_params(nbins=5)
    ax.grid(False)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    label = f"{len(regions)} regions"
    ax.set_title(f"{title}: {label}" if title else label)
    return ax
