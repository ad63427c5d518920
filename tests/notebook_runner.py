"""Run every chapter in notebooks/ as a test, live as a student runs it, and check that it prints what
the book printed.

nbval executes each chapter; a chapter fails when a cell raises, and claim-check cells raise when
a claim stops reproducing. The kernel runs the chapter as Colab would (``live``):
``DEEPISSUES_STATIC`` is off, so every widget builds its sliders and every loop its progress bar;
each figure's sliders are then moved one step and back, and the figure must change
(``widgets.move_each_control``); a failed claim still raises (``DEEPISSUES_CLAIMS_RAISE=1``); and
the modules that only the book's and the tests' tools bring cannot be imported, since a student's
kernel lacks them (``book_only_modules``). The book itself was executed static, so this second
execution checks what the first cannot. When ``make book`` has executed the chapter under the current key (its
code, the library, the pins and the environment: ``tools/execute_chapters.py``), nbval runs the
book's executed notebook instead of the bare chapter, with every code cell tagged
``nbval-check-output``: each cell must print exactly what it printed for the book (figures' pixels
aside), which is the determinism rule of the house, "two runs print the same numbers". Without such
a reference a chapter only runs (nbval's lax mode, set in pyproject.toml), and the summary says so;
with ``DEEPISSUES_COMPARE_OUTPUTS=1`` (as ``make test`` sets it) a missing reference is an error.

The time each chapter took is printed at the end of the run, and the time of each code cell is
recorded in ``_build/nbtest/cell_times.json`` (``benchmarks/long_cells.py`` reads it).
"""

import functools
import json
import os
import pathlib
from importlib import metadata

import jupytext
import nbformat
from nbval.plugin import IPyNbCell, IPyNbFile
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deepissues.repro import scale

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONVERTED = ROOT / "_build" / "nbtest"
BUDGET_S = 90
_timings = {}
_cell_times = {}  # {chapter: {code-cell index: seconds}}
_unchecked = []  # chapters run without the book's outputs to compare with


def pytest_configure(config):
    # Kernels inherit these (the chapters' first cell then turns the static mode off: ``live``);
    # torch runs on one thread unless told otherwise, as make sets it (benchmarks/busy_machine.md).
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
        _write_atomically(live(reference), target)
        return LiveNotebook.from_parent(parent, path=target)
    return None


# What the first code cell runs before the chapter: the live mode, claims that raise, and no tool
# that a student's kernel lacks.
LIVE_SETUP = """\
import os as _os, sys as _sys, importlib.machinery as _machinery
_os.environ.update(DEEPISSUES_STATIC="0", DEEPISSUES_CLAIMS_RAISE="1")
class _StudentsPathFinder(_machinery.PathFinder):  # finds no module of the book's own tools
    absent = frozenset({names!r})
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] in cls.absent else super().find_spec(name, path, target)
_sys.meta_path[:] = [_StudentsPathFinder if f is _machinery.PathFinder else f for f in _sys.meta_path]
"""
# What a cell that shows an interactive figure runs after it: each slider moved, the figure followed.
# The random generators are restored after, so that the chapter's later draws match the book's.
DRIVE_WIDGETS = """
import random as _random, numpy as _np, torch as _torch
from deepissues.widgets import live_figures as _live_figures, move_each_control as _move_each_control
_states = _random.getstate(), _np.random.get_state(), _torch.random.get_rng_state()
_move_each_control(_live_figures()[-1])
_random.setstate(_states[0]); _np.random.set_state(_states[1]); _torch.random.set_rng_state(_states[2])"""


def live(notebook, blocked=None):
    """``notebook`` set to run as a student's live kernel runs it, for nbval.

    Its first code cell starts with ``LIVE_SETUP``; the book's glued values are printed, as the live
    kernel prints them (``as_printed``); every cell that calls ``interactive_figure`` ends
    with ``DRIVE_WIDGETS`` and is exempt from the output comparison, since live it shows sliders
    where the book shows the static figure. Cells are neither added nor removed, so nbval's cell
    numbers stay the chapter's.

    Parameters
    ----------
    notebook : nbformat notebook (changed in place and returned).
    blocked : set of str, top-level modules the kernel refuses; default ``book_only_modules()``.
    """
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if code:
        names = sorted(book_only_modules() if blocked is None else blocked)
        code[0].source = LIVE_SETUP.format(names=names) + code[0].source
    for cell in code:
        cell.outputs = [as_printed(output) for output in cell.get("outputs", [])]
        if "interactive_figure(" in cell.source:
            cell.source += DRIVE_WIDGETS
            tags = cell.metadata.setdefault("tags", [])
            tags[:] = [t for t in tags if t != "nbval-check-output"] + ["nbval-ignore-output"]
    return notebook


@functools.cache
def book_only_modules():
    """Top-level modules installed here that no dependency of ``deepissues`` brings.

    They come with the book's, the tests' and the teachers' extras (myst-nb, Jupyter Book, pytest,
    nbgrader, the peer libraries ...). A student's kernel has the package's dependencies, and the
    kernel itself with pip and setuptools, so those are kept.

    Returns
    -------
    set of str.
    """
    kept = _closure(["deepissues", "ipykernel", "pip", "setuptools"])
    return {module for module, dists in metadata.packages_distributions().items()
            if not any(canonicalize_name(d) in kept for d in dists)}


def _closure(roots):
    """The canonical names of ``roots`` and of every distribution they require, without extras."""
    seen, todo = set(), [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def is_widget_view(output):
    """Whether an output is a widget's view: a slider or a progress bar, whose model id is random."""
    return "application/vnd.jupyter.widget-view+json" in output.get("data", {})


GLUE_RECORD = "application/papermill.record/text/plain"


def as_printed(output):
    """A reference output as the live kernel shows it: a value myst-nb glued for the book is
    printed as ``name = value`` where myst-nb is absent (``deepissues.glue``)."""
    if GLUE_RECORD not in output.get("data", {}):
        return output
    name = output["metadata"]["scrapbook"]["name"]
    return nbformat.v4.new_output("stream", name="stdout", text=f"{name} = {output['data'][GLUE_RECORD]}\n")


class LiveCell(IPyNbCell):
    """A code cell whose widget views (sliders, progress bars, shown live only) are left out of the
    comparison with the book's static outputs."""

    def compare_outputs(self, test, ref, skip_compare=None):
        return super().compare_outputs([o for o in test if not is_widget_view(o)], ref, skip_compare)


class LiveNotebook(IPyNbFile):
    """nbval's notebook, with ``LiveCell`` cells."""

    def collect(self):
        for cell in super().collect():
            yield LiveCell.from_parent(self, name=cell.name, cell_num=cell.cell_num, cell=cell.cell,
                                       options=cell.options)


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
