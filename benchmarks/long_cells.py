"""The chapters' code cells that run longer than a few seconds, and whether each shows a progress bar.

    make test                                     # the notebook tests write _build/nbtest/cell_times.json
    .venv/bin/python benchmarks/long_cells.py     # writes benchmarks/long_cells.json

A reader running a chapter should see that a long cell is working. Every cell that took more
than ``LONG_S`` seconds in the notebook tests is listed with its time and the first line of its
source, and ``tests/test_progress.py`` checks that each listed cell still shows a tqdm bar in a
live kernel: it calls ``progress_bar`` or passes ``progress=True`` to the library (bars are off
on the static pages either way). Timing a cell in a test would fail on a slower machine; this
record is measured once, here, and the test reads it.
"""

import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "_build" / "nbtest" / "cell_times.json"
RECORD = Path(__file__).resolve().parent / "long_cells.json"
LONG_S = 5.0
SHOWS_PROGRESS = re.compile(r"progress_bar\(|progress=True")


def shows_progress(source):
    """Whether a cell's code draws a tqdm bar in a live kernel."""
    return bool(SHOWS_PROGRESS.search(source))


def code_cells(chapter):
    """The code cells' sources of ``notebooks/<chapter>.md``, numbered as nbval numbers them."""
    return [c.source for c in jupytext.read(ROOT / "notebooks" / f"{chapter}.md").cells if c.cell_type == "code"]


def long_cells(times, threshold=LONG_S):
    """[{chapter, cell, seconds, first_line, progress}] for every cell over ``threshold`` seconds."""
    found = []
    for chapter, cells in sorted(times.items()):
        sources = code_cells(chapter)
        for index, seconds in sorted(cells.items(), key=lambda item: int(item[0])):
            if seconds > threshold:
                source = sources[int(index)]
                found.append({"chapter": chapter, "cell": int(index), "seconds": round(seconds, 1),
                              "first_line": source.splitlines()[0], "progress": shows_progress(source)})
    return found


def main():
    if not TIMES.exists():
        sys.exit(f"{TIMES} is missing: run `make test` (its notebook tests write it)")
    measured = json.loads(TIMES.read_text())
    found = long_cells(measured["cells"])
    record = {"measured": f"{datetime.date.today()} on {os.cpu_count()} CPU cores ({platform.machine()}), "
                          f"{measured['threads']} torch thread(s), scale {measured['scale']}, in the notebook tests",
              "threshold_s": LONG_S, "cells": found}
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    for cell in found:
        print(f"{cell['chapter']:32s} cell {cell['cell']:3d} {cell['seconds']:6.1f} s  "
              f"{'bar' if cell['progress'] else 'NO BAR'}  {cell['first_line'][:60]}")


if __name__ == "__main__":
    main()
