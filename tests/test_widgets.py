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
