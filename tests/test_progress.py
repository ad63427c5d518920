"""Progress bars: off on a static page, and importing the training code does not load pyplot."""

from deepissues import progress


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
