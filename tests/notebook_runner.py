"""Run every chapter in notebooks/ as a test: jupytext turns it into a notebook, nbval executes it.

nbval runs in lax mode (set in pyproject.toml), so a chapter fails when a cell raises,
and claim-check cells raise when a claim stops reproducing. The time each chapter took is
printed at the end of the run, and the time of each code cell is recorded in
``_build/nbtest/cell_times.json`` (``benchmarks/long_cells.py`` reads it).
"""

import json
import os
import pathlib

import jupytext
from nbval.plugin import IPyNbFile

from deepissues.repro import scale

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONVERTED = ROOT / "_build" / "nbtest"
BUDGET_S = 90
_timings = {}
_cell_times = {}  # {chapter: {code-cell index: seconds}}


def pytest_configure(config):
    # Kernels inherit these: widgets render their static default, as in the built book, and torch
    # runs on one thread unless told otherwise, as make sets it (benchmarks/busy_machine.md).
    os.environ.setdefault("DEEPISSUES_STATIC", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".md" and file_path.parent == ROOT / "notebooks":
        CONVERTED.mkdir(parents=True, exist_ok=True)
        target = CONVERTED / f"{file_path.stem}.ipynb"
        jupytext.write(jupytext.read(file_path), target)
        return IPyNbFile.from_parent(parent, path=target)
    return None


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _timings[path] = _timings.get(path, 0.0) + report.duration
        cell = report.nodeid.split("::")[-1]
        if report.when == "call" and cell.startswith("Cell "):  # nbval numbers the code cells from 0
            _cell_times.setdefault(pathlib.Path(path).stem, {})[int(cell.split()[1])] = report.duration


def pytest_sessionfinish(session):
    if not _cell_times:
        return
    target = CONVERTED / "cell_times.json"
    record = json.loads(target.read_text()) if target.exists() else {}
    if record.get("scale") != scale() or record.get("threads") != os.environ.get("OMP_NUM_THREADS"):
        record = {"scale": scale(), "threads": os.environ.get("OMP_NUM_THREADS"), "cells": {}}
    record["cells"].update({chapter: {str(i): s for i, s in cells.items()} for chapter, cells in _cell_times.items()})
    target.write_text(json.dumps(record, indent=1, sort_keys=True))  # a chapter run alone replaces only its own times


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    terminalreporter.section(f"chapter execution times (scale: {scale()})")
    for path, seconds in sorted(_timings.items()):
        over = scale() == "small" and seconds > BUDGET_S  # the budget is for the default scale
        flag = f"  OVER the {BUDGET_S} s budget" if over else ""
        terminalreporter.write_line(f"{pathlib.Path(path).stem:40s} {seconds:7.1f} s{flag}")
