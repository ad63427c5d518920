"""Progress bars: off on a static page, on in a kernel, shown by every cell measured longer than a few
seconds (benchmarks/long_cells.json), and importing the training code does not load pyplot."""

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


def _long_cells_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "long_cells.py"
    spec = importlib.util.spec_from_file_location("long_cells", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_cell_measured_longer_than_a_few_seconds_shows_a_progress_bar():
    import json

    bench = _long_cells_benchmark()
    record = json.loads(bench.RECORD.read_text())
    assert record["cells"], "the record lists no long cell: was it measured?"
    for cell in record["cells"]:
        # at its index, or else found by its first line alone, so that cells added before it do not lose it
        sources = bench.code_cells(cell["chapter"])
        starts = [source.splitlines()[:1] == [cell["first_line"]] for source in sources]
        found = [sources[cell["cell"]]] if cell["cell"] < len(sources) and starts[cell["cell"]] else \
            [source for source, start in zip(sources, starts) if start]
        assert len(found) == 1, (f"{cell['chapter']}: the cell timed at {cell['seconds']} s, starting "
                                 f"{cell['first_line']!r}, has changed since it was timed: run benchmarks/long_cells.py")
        assert bench.shows_progress(found[0]), f"{cell['chapter']} cell {cell['cell']} ({cell['seconds']} s) shows no bar"


def test_long_cells_are_found_and_their_bars_recognised():
    bench = _long_cells_benchmark()
    times = {"07-failures-parities": {"0": 0.5, "1": 12.0}}
    (cell,) = bench.long_cells(times)
    assert cell["cell"] == 1 and cell["first_line"] == bench.code_cells("07-failures-parities")[1].splitlines()[0]
    assert bench.long_cells(times, threshold=20.0) == []
    assert bench.shows_progress("for d in progress_bar(dims, 'd'):") and bench.shows_progress("fit(m, x, y, progress=True)")
    # control: a loop without a bar, and a bar switched off
    assert not bench.shows_progress("for d in dims:\n    fit(m, x, y)") and not bench.shows_progress("fit(progress=False)")
