"""The notebook tests compare each chapter's outputs with the book's (tests/notebook_runner.py).

nbval runs in lax mode, where it compares only the cells tagged ``nbval-check-output``; the runner
tags every code cell of the book's executed notebook. These tests run nbval, as the notebook tests
do, on a two-cell notebook whose reference outputs are the true ones, and on its negative control,
the same notebook with one reference number changed, which must fail.
"""

import subprocess
import sys

import nbformat

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
