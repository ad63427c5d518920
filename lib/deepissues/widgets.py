"""Interactive figures that also render a static default, so the HTML book is complete without a kernel."""

import os

import matplotlib.pyplot as plt


def is_live():
    """True inside a Jupyter kernel, unless ``DEEPISSUES_STATIC=1`` (set when the book is built)."""
    if os.environ.get("DEEPISSUES_STATIC", "") not in ("", "0"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def interactive_figure(plot, defaults, **controls):
    """Show ``plot(**kwargs)`` with sliders when live, or once at ``defaults`` when static.

    Parameters
    ----------
    plot : callable(**kwargs) that draws a matplotlib figure and returns it.
    defaults : dict, the keyword arguments of the static figure (and the sliders' start).
    controls : name=(min, max, step) for a slider (int or float from the types), or an
        ipywidgets control. Every name must have a default.

    Nothing is returned, so that the figure is not shown twice at the end of a cell.

    Example
    -------
    >>> interactive_figure(draw, {"depth": 3}, depth=(1, 6, 1))  # doctest: +SKIP
    """
    missing = set(controls) - set(defaults)
    if missing:
        raise ValueError(f"every control needs a value in defaults; missing {sorted(missing)}")
    if is_live():
        _live(plot, defaults, controls)
    else:
        plot(**defaults)


def _live(plot, defaults, controls):
    import ipywidgets as w
    from IPython.display import display

    sliders = {name: _control(name, spec, defaults[name]) for name, spec in controls.items()}

    def draw(**changed):
        plot(**{**defaults, **changed})
        plt.show()

    box = w.VBox([w.HBox(list(sliders.values())), w.interactive_output(draw, sliders)])
    display(box)


def _control(name, spec, value):
    import ipywidgets as w

    if isinstance(spec, w.ValueWidget):
        spec.value = value
        return spec
    lo, hi, step = spec
    kind = w.IntSlider if all(isinstance(v, int) for v in (lo, hi, step, value)) else w.FloatSlider
    return kind(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False)
