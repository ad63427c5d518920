"""The notebook tests compare each chapter's outputs with the book's (tests/notebook_runner.py).

nbval runs in lax mode, where it compares only the cells tagged ``nbval-check-output``; the runner
tags every code cell of the book's executed notebook. These tests run nbval, as the notebook tests
do, on a two-cell notebook whose reference outputs are the true ones, and on its negative control,
the same notebook with one reference number changed, which must fail.
"""

import subprocess
import sys

import nbformat
import pytest

from .notebook_runner import compared


def _notebook(printed):
    cells = [nbformat.v4.new_code_cell("x = 6 * 7"), nbformat.v4.new_code_cell("print(x)")]
    cells[0].execution_count, cells[1].execution_count = 1, 2
    cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{printed}\n")]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                          "display_name": "Python 3"}})


def _nbval(tmp_path, notebook):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                           "-q", str(path)], cwd=tmp_path, capture_output=True, text=True)


def test_every_code_cell_is_compared_but_those_a_chapter_exempts():
    notebook = _notebook(42)
    notebook.cells.append(nbformat.v4.new_markdown_cell("prose"))
    notebook.cells[0].metadata["tags"] = ["nbval-ignore-output"]
    tags = [cell.metadata.get("tags", []) for cell in compared(notebook).cells]
    assert tags == [["nbval-ignore-output"], ["nbval-check-output"], []]


def test_the_same_outputs_pass_and_a_changed_number_fails(tmp_path):
    same = _nbval(tmp_path, compared(_notebook(42)))
    assert same.returncode == 0, same.stdout
    changed = _nbval(tmp_path, compared(_notebook(43)))  # the negative control
    assert changed.returncode != 0 and "Cell outputs differ" in changed.stdout
    untagged = _nbval(tmp_path, _notebook(43))  # lax mode alone compares nothing
    assert untagged.returncode == 0, untagged.stdout


# The live run (tests/notebook_runner.live): a student's kernel, with its widgets driven.

def _cells(*sources_and_printed):
    """A notebook of code cells, each (source, what it printed for the book or None)."""
    cells = []
    for count, (source, printed) in enumerate(sources_and_printed, start=1):
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        if isinstance(printed, str):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
        elif printed is not None:  # outputs as they are
            cell.outputs = printed
        cells.append(cell)
    return compared(nbformat.v4.new_notebook(cells=cells, metadata=_notebook(0).metadata))


def _live_nbval(tmp_path, notebook, runner="LiveNotebook"):
    """nbval over ``notebook`` made live, collected by the runner's class (or nbval's own)."""
    import os

    from .notebook_runner import ROOT, live

    (tmp_path / "conftest.py").write_text(
        f"from tests.notebook_runner import {runner}\n"
        "def pytest_collect_file(file_path, parent):\n"
        "    if file_path.suffix == '.live':\n"
        f"        return {runner}.from_parent(parent, path=file_path)\n")
    nbformat.write(live(notebook), tmp_path / "chapter.live")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEEPISSUES_STATIC": "1", "MPLBACKEND": "agg"}
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p",
                           "no:cacheprovider", "-q", "chapter.live"], cwd=tmp_path, capture_output=True,
                          text=True, env=env)


FIGURE = """\
import matplotlib.pyplot as plt
from deepissues import widgets
def plot(slope, noise):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, {follows}])
    ax.set_ylim(-3, 3)
    return fig
widgets.interactive_figure(plot, {{"slope": 1.0, "noise": 0}}, slope=(-1.0, 1.0, 0.5), noise=(0, 2))"""
LIVE = "from deepissues.widgets import is_live\nprint(is_live())"
BAR = "from deepissues.progress import progress_bar\nprint(sum(progress_bar(range(3), 'sum')))"


STUDENT_IMPORTS = "import torch, ipywidgets, pandas, sklearn, mlxtend"
GLUE = "from deepissues.glue import glue\nprint('a')\nglue('share', 0.5)\nprint('b')"


def _glued(value):
    """What the book's kernel printed for GLUE, with myst-nb recording ``value``."""
    record = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": repr(value)},
                                    metadata={"scrapbook": {"name": "share",
                                                            "mime_prefix": "application/papermill.record/"}})
    return [nbformat.v4.new_output("stream", name="stdout", text="a\n"), record,
            nbformat.v4.new_output("stream", name="stdout", text="b\n")]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """One live nbval run over eight cells; cells 3, 5 and 7 are negative controls and must fail."""
    notebook = _cells((LIVE.replace("print(", "assert ("), None),  # the book printed False here
                      (BAR, "3\n"),
                      (FIGURE.format(follows="slope + noise"), "a static figure\n"),
                      (FIGURE.format(follows="slope"), None),  # negative control: ignores noise
                      (STUDENT_IMPORTS, None),
                      ("import myst_nb", None),  # negative control: a tool of the book
                      (GLUE, _glued(0.5)),  # printed where the book recorded it, in its place
                      (GLUE, _glued(0.6)))  # negative control: the book glued another value
    run = _live_nbval(tmp_path_factory.mktemp("live"), notebook)
    failed = {line.split("::Cell ")[1].split()[0] for line in run.stdout.splitlines()
              if line.startswith("FAILED") and "::Cell " in line}
    return run.stdout, failed


def test_the_live_run_shows_sliders_and_bars_and_drives_every_slider(live_run, tmp_path):
    stdout, failed = live_run
    assert "3 failed, 5 passed" in stdout and failed == {"3", "5", "7"}, stdout
    assert "'noise' from 0 to 1 left the figure unchanged" in stdout
    # negative control: nbval's own cells compare the progress bar's widget view, which the book lacks
    plain = _live_nbval(tmp_path, _cells((BAR, "3\n")), runner="IPyNbFile")
    assert plain.returncode != 0 and "Unexpected output fields" in plain.stdout


def test_the_live_run_refuses_the_books_tools_as_a_students_kernel_lacks_them(live_run):
    from .notebook_runner import book_only_modules

    blocked = book_only_modules()
    assert {"myst_nb", "jupyter_book", "sphinx", "pytest", "nbval", "nbgrader", "foolbox"} <= blocked
    assert not {"torch", "numpy", "deepissues", "ipywidgets", "pandas", "sklearn", "mlxtend", "tqdm"} & blocked
    stdout, failed = live_run
    assert "5" in failed and "4" not in failed and "No module named 'myst_nb'" in stdout
    # control: the same import in the book's own environment works
    assert subprocess.run([sys.executable, "-c", "import myst_nb"]).returncode == 0


def test_the_live_run_prints_each_glued_value_where_the_book_recorded_it(live_run):
    stdout, failed = live_run
    assert "6" not in failed and "7" in failed  # 0.5 as the book glued it passes; 0.6 does not
