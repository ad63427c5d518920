import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from deepissues import expressivity, plotting, progress, widgets  # noqa: E402


def test_use_style_sets_the_colour_blind_palette():
    plotting.use_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle == plotting.PALETTE
    assert len(set(plotting.PALETTE)) == 8


def test_plot_regions_draws_one_polygon_per_region():
    regions = expressivity.linear_regions_2d(expressivity.montufar_net(1, 2), (0, 1, 0, 1))
    ax = plotting.plot_regions(regions, title="demo")
    (collection,) = ax.collections
    assert len(collection.get_paths()) == len(regions) == 16
    assert ax.get_title() == "demo: 16 regions"
    assert ax.get_xlim() == pytest.approx((0, 1)) and ax.get_ylim() == pytest.approx((0, 1))
    plt.close("all")


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


def test_plot_regions_refuses_1d_pieces():
    pieces = expressivity.linear_pieces_1d(expressivity.sawtooth_net(2), [0.0], [1.0])
    with pytest.raises(ValueError, match="2-D regions"):
        plotting.plot_regions(pieces)
    assert np.isclose(sum(p.size for p in pieces), 1.0)


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


def test_progress_bar_is_off_on_a_static_page_and_on_otherwise(monkeypatch):
    monkeypatch.setenv("DEEPISSUES_STATIC", "1")
    assert progress.progress_bar(range(3), "x").disable
    monkeypatch.setenv("DEEPISSUES_STATIC", "0")
    bar = progress.progress_bar(range(3), "x")
    assert not bar.disable and list(bar) == [0, 1, 2]
    assert progress.progress_bar(range(3), "x", enabled=False).disable


def test_the_training_code_shows_progress_without_loading_pyplot():
    import subprocess
    import sys

    code = "import sys, deepissues.training, deepissues.failures; print('matplotlib.pyplot' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
    # negative control: the widgets module does load it
    code = "import sys, deepissues.widgets; print('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"
