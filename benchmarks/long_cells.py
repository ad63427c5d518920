"""The chapters' code cells that run longer than a few seconds, and whether each shows a progress bar.

    make book                                     # writes each chapter's record in _build/executed/
    .venv/bin/python benchmarks/long_cells.py     # writes benchmarks/long_cells.json
    (an argument names another checkout's root, whose records and chapters are read instead)

A reader running a chapter should see that a long cell is working. Every cell that took more
than ``LONG_S`` seconds when the book executed its chapters (``tools/execute_chapters.py``, one
thread per chapter) is listed with its time and the first line of its source, and ``tests/test_progress.py`` checks that each listed cell still shows a tqdm bar in a
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
sys.path.insert(0, str(ROOT))
from tools import execute_chapters  # noqa: E402  (the book's executor reads the chapters as the book does)

RECORD = Path(__file__).resolve().parent / "long_cells.json"
LONG_S = 5.0
SHOWS_PROGRESS = re.compile(r"progress_bar\(|progress=True")


def shows_progress(source):
    """Whether a cell's code draws a tqdm bar in a live kernel."""
    return bool(SHOWS_PROGRESS.search(source))


def code_cells(chapter):
    """The code cells' sources of ``notebooks/<chapter>.md``, numbered as nbval numbers them."""
    return [c.source for c in jupytext.read(ROOT / "notebooks" / f"{chapter}.md").cells if c.cell_type == "code"]


def book_cell_times(root=ROOT):
    """{chapter: {code-cell index: seconds}} from the book's execution records under ``root``,
    whose cells are numbered among all the notebook's cells; here they are numbered among its
    code cells, as nbval and :func:`code_cells` number them. Refuses records that are out of date."""
    root = Path(root)
    execute_chapters.book_defaults()  # the environment make book keys its records under
    stale = execute_chapters.stale(root)
    if stale:
        sys.exit(f"the execution records of {', '.join(p.stem for p in stale)} are missing or out of date: "
                 f"run `make book`")
    times = {}
    for path in execute_chapters.chapters(root):
        record = execute_chapters.read_record(path, root)
        cells = execute_chapters.read_chapter(path, root).cells
        code_index = {i: sum(c.cell_type == "code" for c in cells[:i]) for i, c in enumerate(cells)
                      if c.cell_type == "code"}
        times[path.stem] = {str(code_index[int(i)]): seconds for i, seconds in record["cell_s"].items()}
    return times


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
    times = book_cell_times(sys.argv[1] if len(sys.argv) > 1 else ROOT)
    found = long_cells(times)
    scale = os.environ.get("DEEPISSUES_SCALE", "small")
    record = {"measured": f"{datetime.date.today()} on {os.cpu_count()} CPU cores ({platform.machine()}), "
                          f"1 torch thread per chapter, scale {scale}, by make book",
              "threshold_s": LONG_S, "cells": found}
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    for cell in found:
        print(f"{cell['chapter']:32s} cell {cell['cell']:3d} {cell['seconds']:6.1f} s  "
              f"{'bar' if cell['progress'] else 'NO BAR'}  {cell['first_line'][:60]}")


if __name__ == "__main__":
    main()
