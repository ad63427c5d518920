"""Run every chapter in notebooks/ as a test, and check that it prints what the book printed.

nbval executes each chapter; a chapter fails when a cell raises, and claim-check cells raise when
a claim stops reproducing. When ``make book`` has executed the chapter under the current key (its
code, the library, the pins and the environment: ``tools/execute_chapters.py``), nbval runs the
book's executed notebook instead of the bare chapter, with every code cell tagged
``nbval-check-output``: each cell must print exactly what it printed for the book (figures' pixels
aside), which is the determinism rule of the house, "two runs print the same numbers". Without such
a reference a chapter only runs (nbval's lax mode, set in pyproject.toml), and the summary says so;
with ``DEEPISSUES_COMPARE_OUTPUTS=1`` (as ``make test`` sets it) a missing reference is an error.

The time each chapter took is printed at the end of the run, and the time of each code cell is
recorded in ``_build/nbtest/cell_times.json`` (``benchmarks/long_cells.py`` reads it).
"""

import json
import os
import pathlib

import jupytext
import nbformat
from nbval.plugin import IPyNbFile

from deepissues.repro import scale

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONVERTED = ROOT / "_build" / "nbtest"
BUDGET_S = 90
_timings = {}
_cell_times = {}  # {chapter: {code-cell index: seconds}}
_unchecked = []  # chapters run without the book's outputs to compare with


def pytest_configure(config):
    # Kernels inherit these: widgets render their static default, as in the built book, and torch
    # runs on one thread unless told otherwise, as make sets it (benchmarks/busy_machine.md).
    os.environ.setdefault("DEEPISSUES_STATIC", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PYTHONHASHSEED", "0")  # as the book's kernels: the outputs are compared


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".md" and file_path.parent == ROOT / "notebooks":
        CONVERTED.mkdir(parents=True, exist_ok=True)
        target = CONVERTED / f"{file_path.stem}.ipynb"
        reference = book_outputs(file_path)
        if reference is None:
            if os.environ.get("DEEPISSUES_COMPARE_OUTPUTS") == "1":
                raise RuntimeError(f"{file_path.name}: no executed notebook of the book under the current key "
                                   f"to compare with; run `make book` first")
            _unchecked.append(file_path.stem)
            reference = jupytext.read(file_path)
        _write_atomically(reference, target)
        return IPyNbFile.from_parent(parent, path=target)
    return None


def _write_atomically(notebook, target):
    """Write ``notebook`` to ``target`` so that no reader sees half a file: under pytest-xdist every
    worker collects (and so writes) every chapter."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    nbformat.write(notebook, partial)
    os.replace(partial, target)


def book_outputs(path):
    """The book's executed notebook of chapter ``path``, every code cell tagged for nbval to
    compare its outputs; None when the book's cache holds none under the current key."""
    from tools import execute_chapters

    if execute_chapters.stale(ROOT, [path]):
        return None
    from jupyter_cache import get_cache

    notebook = execute_chapters.read_chapter(path)
    _, notebook = get_cache(str(execute_chapters.cache_path())).merge_match_into_notebook(notebook)
    return compared(notebook)


def compared(notebook):
    """``notebook`` with every code cell tagged for nbval to compare its outputs, even in lax mode,
    except the cells that a chapter tags ``nbval-ignore-output``."""
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if cell.cell_type == "code" and "nbval-ignore-output" not in tags and "nbval-check-output" not in tags:
            tags.append("nbval-check-output")
    return notebook


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _timings[path] = _timings.get(path, 0.0) + report.duration
        cell = report.nodeid.split("::")[-1]
        if report.when == "call" and cell.startswith("Cell "):  # nbval numbers the code cells from 0
            _cell_times.setdefault(pathlib.Path(path).stem, {})[int(cell.split()[1])] = report.duration


def pytest_sessionfinish(session):
    if not _cell_times or hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller writes
        return
    target = CONVERTED / "cell_times.json"
    record = json.loads(target.read_text()) if target.exists() else {}
    if record.get("scale") != scale() or record.get("threads") != os.environ.get("OMP_NUM_THREADS"):
        record = {"scale": scale(), "threads": os.environ.get("OMP_NUM_THREADS"), "cells": {}}
    record["cells"].update({chapter: {str(i): s for i, s in cells.items()} for chapter, cells in _cell_times.items()})
    target.write_text(json.dumps(record, indent=1, sort_keys=True))  # a chapter run alone replaces only its own times


def pytest_terminal_summary(terminalreporter):
    if _unchecked and not hasattr(terminalreporter.config, "workerinput"):
        terminalreporter.section("chapters run without comparing their outputs")
        terminalreporter.write_line(f"{', '.join(_unchecked)}: the book's cache holds no executed notebook under the "
                                    f"current key, so their outputs were not compared (run `make book` first)")
    if not _timings:
        return
    terminalreporter.section(f"chapter execution times (scale: {scale()})")
    for path, seconds in sorted(_timings.items()):
        over = scale() == "small" and seconds > BUDGET_S  # the budget is for the default scale
        flag = f"  OVER the {BUDGET_S} s budget" if over else ""
        terminalreporter.write_line(f"{pathlib.Path(path).stem:40s} {seconds:7.1f} s{flag}")
