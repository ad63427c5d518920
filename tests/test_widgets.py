"""Widgets: a static figure and a note without a kernel, sliders with one."""

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from deepissues import widgets  # noqa: E402


def test_static_mode_draws_the_default_once(monkeypatch):
    monkeypatch.setenv("DEEPISSUES_STATIC", "1")
    calls = []

    def draw(depth, width):
        calls.append((depth, width))
        return plt.figure()

    assert not widgets.is_live()
    widgets.interactive_figure(draw, {"depth": 3, "width": 8}, depth=(1, 6, 1), width=(2, 16, 1))
    assert calls == [(3, 8)]
    plt.close("all")


def test_live_mode_builds_sliders_at_the_defaults(monkeypatch):
    monkeypatch.setattr(widgets, "is_live", lambda: True)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    widgets.interactive_figure(lambda depth, scale: plt.figure(), {"depth": 3, "scale": 0.5},
                               depth=(1, 6, 1), scale=(0.1, 1.0, 0.1))
    (box,) = shown
    sliders = box.children[0].children
    assert [(s.description, s.value, type(s).__name__) for s in sliders] == [
        ("depth", 3, "IntSlider"), ("scale", 0.5, "FloatSlider")]
    plt.close("all")


def test_every_control_needs_a_default():
    with pytest.raises(ValueError, match="missing \\['width'\\]"):
        widgets.interactive_figure(lambda **k: None, {"depth": 1}, depth=(1, 2, 1), width=(1, 2, 1))


def test_static_mode_in_a_notebook_shows_the_figure_then_a_note_naming_the_defaults(monkeypatch):
    monkeypatch.setenv("DEEPISSUES_STATIC", "1")
    events = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr(plt, "show", lambda: events.append("figure"))
    monkeypatch.setattr("IPython.display.display", lambda obj: events.append(obj.data))
    widgets.interactive_figure(lambda depth, width: plt.figure(), {"depth": 3, "width": 8},
                               depth=(1, 6, 1), width=(2, 16, 1))
    assert events[0] == "figure"
    assert 'class="deepissues-widget-static"' in events[1]
    assert "shown at depth = 3, width = 8." in events[1]
    plt.close("all")


def test_a_plain_script_draws_the_figure_once_and_shows_no_note(monkeypatch):
    # the control of the test above: no IPython, no page to annotate (the doctest does not depend
    # on whether an earlier test left an IPython shell behind)
    events = []
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    monkeypatch.setattr("IPython.display.display", lambda obj: events.append(obj))
    widgets.interactive_figure(lambda depth: events.append(f"drawn at {depth}"), {"depth": 3}, depth=(1, 6, 1))
    assert events == ["drawn at 3"]


def test_two_value_sliders_work_live_as_in_ipywidgets_interact(monkeypatch):
    # chapter 05 gives index=(0, N - 1): a live kernel must build it, as ipywidgets.interact does
    import ipywidgets

    monkeypatch.setattr(widgets, "is_live", lambda: True)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    widgets.interactive_figure(lambda index, eps: plt.figure(), {"index": 5, "eps": 0.1},
                               index=(0, 99), eps=(0.0, 0.3))
    sliders = shown[0].children[0].children
    reference = ipywidgets.interactive(lambda index, eps: None, index=(0, 99), eps=(0.0, 0.3)).children
    assert [(s.min, s.max, type(s).__name__) for s in sliders] == [(r.min, r.max, type(r).__name__) for r in reference[:2]]
    assert sliders[0].step == 1 and sliders[0].value == 5 and sliders[1].value == 0.1
    plt.close("all")


@pytest.mark.parametrize("spec, value, message", [
    ((0, 1, 2, 3), 0, "must be \\(min, max\\), \\(min, max, step\\)"),
    (("a", "b"), 0, "must be \\(min, max\\)"),
    ((1, 0), 0, "min < max"),
    ((0, 1, 0), 0, "step > 0"),
    ((0, 10), 11, "must lie in \\[0, 10\\], got 11"),
])
def test_a_bad_slider_is_refused_when_the_static_figure_is_drawn(monkeypatch, spec, value, message):
    monkeypatch.setenv("DEEPISSUES_STATIC", "1")  # the book build: the error must come here too
    drawn = []
    with pytest.raises(ValueError, match=message):
        widgets.interactive_figure(lambda index: drawn.append(index), {"index": value}, index=spec)
    assert drawn == []


def _line_plot(slope, noise):
    """A figure that follows ``slope`` and ignores ``noise`` (the negative control)."""
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, slope])
    ax.set_ylim(-2, 2)
    return fig


_show = plt.show


def _show_live(monkeypatch, plot, defaults, **controls):
    monkeypatch.setattr(widgets, "is_live", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    widgets.interactive_figure(plot, defaults, **controls)
    return widgets.live_figures()[-1]


def test_moving_a_wired_slider_redraws_a_different_figure_and_restores_it(monkeypatch):
    figure = _show_live(monkeypatch, _line_plot, {"slope": 1.0, "noise": 0}, slope=(-1.0, 1.0, 0.5))
    assert widgets.move_each_control(figure) == {"slope": 0.5}  # at the top of its range: one step down
    assert figure.controls["slope"].value == 1.0 and plt.show is _show  # restored
    plt.close("all")


def test_a_plot_that_shows_its_own_figure_is_followed_too(monkeypatch):
    def shows_itself(slope, noise):
        _line_plot(slope, noise)
        plt.show()

    figure = _show_live(monkeypatch, shows_itself, {"slope": 0.0, "noise": 0}, slope=(-1.0, 1.0, 0.5))
    assert widgets.move_each_control(figure) == {"slope": 0.5}
    plt.close("all")


def test_a_slider_the_plot_ignores_is_caught(monkeypatch):
    # negative control: the noise slider is wired, but the figure does not depend on it
    figure = _show_live(monkeypatch, _line_plot, {"slope": 1.0, "noise": 2}, slope=(-1.0, 1.0, 0.5),
                        noise=(0, 5))
    with pytest.raises(AssertionError, match="'noise' from 2 to 3 left the figure unchanged"):
        widgets.move_each_control(figure)
    plt.close("all")


def test_a_control_that_is_not_wired_to_the_plot_is_caught(monkeypatch):
    figure = _show_live(monkeypatch, _line_plot, {"slope": 1.0, "noise": 0}, slope=(-1.0, 1.0, 0.5))
    figure.controls = {"slope": type(figure.controls["slope"])(value=0.0, min=-1.0, max=1.0, step=0.5)}
    with pytest.raises(AssertionError, match="and back showed no figure"):
        widgets.move_each_control(figure)
    with pytest.raises(TypeError, match="figure must be a LiveFigure"):
        widgets.move_each_control(figure.controls)
    plt.close("all")
