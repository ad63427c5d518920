"""Interactive output (sliders) that degrades to a static page when the book is built."""

import matplotlib.pyplot as plt

from .progress import is_static

__all__ = ["is_live", "interactive_figure", "static_note"]


def is_live():
    """Whether sliders can work here.

    Returns
    -------
    bool, True inside a Jupyter kernel, unless the output is for a static page (``is_static``).
    """
    if is_static():
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

    Examples
    --------
    Outside a kernel the figure is drawn once, at the defaults, with a note below it:

    >>> interactive_figure(lambda depth: print("drawn at depth", depth), {"depth": 3}, depth=(1, 6, 1))
    drawn at depth 3
    <IPython.core.display.HTML object>
    """
    if not callable(plot):
        raise TypeError(f"plot must be a callable that draws a figure, got {type(plot).__name__}")
    missing = set(controls) - set(defaults)
    if missing:
        raise ValueError(f"every control needs a value in defaults; missing {sorted(missing)}")
    if is_live():
        _live(plot, defaults, controls)
    else:
        plot(**defaults)
        _show_static_note(defaults, controls)


def static_note(defaults, controls):
    """HTML that tells a reader of the static page that the figure above has sliders when run.

    Parameters
    ----------
    defaults : dict {setting: value} the static figure was drawn at.
    controls : dict {setting: slider spec}; every setting needs a default.

    Returns
    -------
    str, an HTML paragraph naming the settings.
    """
    if not set(controls) <= set(defaults):
        raise ValueError(f"controls and defaults must name the same settings; no default for "
                         f"{sorted(set(controls) - set(defaults))}")
    settings = ", ".join(f"{name} = {defaults[name]}" for name in controls)
    return (f'<p class="deepissues-widget-static">Interactive figure, shown at {settings}. '
            "Run this chapter (Binder, Colab or Jupyter) to move the sliders.</p>")


def _show_static_note(defaults, controls):
    from IPython import get_ipython

    if get_ipython() is None:  # a plain script: no page to annotate
        return
    from IPython.display import HTML, display

    plt.show()  # the figure first, then the note under it
    display(HTML(static_note(defaults, controls)))


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
