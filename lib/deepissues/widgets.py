"""Interactive output (sliders) that degrades to a static page when the book is built."""

import hashlib

import matplotlib.pyplot as plt

from .progress import is_static

__all__ = ["is_live", "interactive_figure", "static_note", "live_figures", "move_each_control"]

_LIVE = []  # the figures shown with sliders in this kernel, oldest first (see live_figures)


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
    controls : name=(min, max) or name=(min, max, step) for a slider, as ipywidgets' ``interact``
        takes them (an IntSlider when every number and the default are ints, else a FloatSlider;
        without a step, 1 for ints and (max - min) / 100 for floats), or an ipywidgets control.
        Every name must have a default within its range. A bad spec raises when the figure is
        drawn, live or static, so the book build catches what a student's live kernel would.

    Nothing is returned, so that the figure is not shown twice at the end of a cell.

    Examples
    --------
    Outside a kernel the figure is drawn once, at the defaults; in IPython (a terminal, say) a
    note follows it, while a plain script shows none:

    >>> from IPython.core.interactiveshell import InteractiveShell
    >>> shell = InteractiveShell.instance()  # IPython without a kernel
    >>> interactive_figure(lambda depth: print("drawn at depth", depth), {"depth": 3}, depth=(1, 6, 1))
    drawn at depth 3
    <IPython.core.display.HTML object>
    """
    if not callable(plot):
        raise TypeError(f"plot must be a callable that draws a figure, got {type(plot).__name__}")
    missing = set(controls) - set(defaults)
    if missing:
        raise ValueError(f"every control needs a value in defaults; missing {sorted(missing)}")
    for name, spec in controls.items():
        slider_range(name, spec, defaults[name])
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


class LiveFigure:
    """A figure shown with sliders: its controls.

    Attributes
    ----------
    controls : dict {setting: ipywidgets control}.
    """

    def __init__(self, controls):
        self.controls = controls


def live_figures():
    """The figures shown with sliders in this kernel, oldest first, for driving them from code.

    Returns
    -------
    list of :class:`LiveFigure`.
    """
    return list(_LIVE)


def move_each_control(figure):
    """Move each slider of a live figure one step and back, and check that the figure follows.

    The test of the live path: a slider that is not wired to the plot, or a plot that ignores
    its setting, leaves the image unchanged, and this raises. Each image is read when it is shown
    (``plt.show``, by the plot or after it), as its SHA-1 digest of RGBA pixels.

    Parameters
    ----------
    figure : :class:`LiveFigure`, e.g. ``live_figures()[-1]``.

    Returns
    -------
    dict {setting: the value it was moved to}.

    Raises
    ------
    AssertionError, when moving a control shows nothing, or shows the same image as its default.
    """
    if not isinstance(figure, LiveFigure):
        raise TypeError(f"figure must be a LiveFigure (from live_figures()), got {type(figure).__name__}")
    shown, show = [], plt.show

    def recording_show(*args, **kwargs):
        current = plt.gcf()
        if current.get_axes():  # a plot that showed its figure itself leaves an empty one to the caller
            current.canvas.draw()
            shown.append(hashlib.sha1(bytes(current.canvas.buffer_rgba())).hexdigest())
        return show(*args, **kwargs)

    moved = {}
    plt.show = recording_show
    try:
        for name, control in figure.controls.items():
            start = control.value
            control.value = moved[name] = _neighbour(control)
            away, shown[:] = list(shown), []
            control.value = start
            back, shown[:] = list(shown), []
            if not away or not back:
                raise AssertionError(f"moving {name!r} to {moved[name]!r} and back showed no figure: "
                                     f"the slider is not wired to the plot")
            if away == back:
                raise AssertionError(f"moving {name!r} from {start!r} to {moved[name]!r} left the figure unchanged")
    finally:
        plt.show = show
    return moved


def _neighbour(control):
    """A value one step from the control's own: up, or down at the top of its range."""
    if hasattr(control, "options"):
        values = [v for _, v in control.options] if control.options and isinstance(control.options[0], tuple) \
            else list(control.options)
        return values[(values.index(control.value) + 1) % len(values)]
    up = control.value + control.step
    return up if up <= control.max else control.value - control.step


def _live(plot, defaults, controls):
    import ipywidgets as w
    from IPython.display import display

    figure = LiveFigure({name: _control(name, spec, defaults[name]) for name, spec in controls.items()})

    def draw(**changed):
        plot(**{**defaults, **changed})
        plt.show()

    box = w.VBox([w.HBox(list(figure.controls.values())), w.interactive_output(draw, figure.controls)])
    _LIVE.append(figure)
    display(box)


def slider_range(name, spec, value):
    """(min, max, step) of the slider that ``spec`` asks for, checked; None for a ready widget.

    Parameters
    ----------
    name : str, the setting (for the error message).
    spec : (min, max) or (min, max, step) of numbers, or an object with a ``value`` (a widget).
    value : the setting's default, which must lie in [min, max].

    Returns
    -------
    tuple (min, max, step), or None when ``spec`` is a widget.

    Examples
    --------
    >>> slider_range("index", (0, 99), 5)
    (0, 99, 1)
    >>> slider_range("eps", (0.0, 0.3), 0.1)
    (0.0, 0.3, 0.003)
    """
    if hasattr(spec, "value") and not isinstance(spec, (tuple, list)):
        return None
    if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
        raise ValueError(f"control {name!r} must be (min, max), (min, max, step) or an ipywidgets control, "
                         f"got {spec!r}")
    ints = all(isinstance(v, int) for v in (*spec, value))
    lo, hi = spec[:2]
    step = spec[2] if len(spec) == 3 else (1 if ints else round((hi - lo) / 100, 12))
    if not lo < hi or step <= 0:
        raise ValueError(f"control {name!r} needs min < max and step > 0, got {spec!r}")
    if not lo <= value <= hi:
        raise ValueError(f"the default of {name!r} must lie in [{lo}, {hi}], got {value!r}")
    return lo, hi, step


def _control(name, spec, value):
    import ipywidgets as w

    bounds = slider_range(name, spec, value)
    if bounds is None:
        spec.value = value
        return spec
    lo, hi, step = bounds
    kind = w.IntSlider if all(isinstance(v, int) for v in (lo, hi, step, value)) else w.FloatSlider
    return kind(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False)
