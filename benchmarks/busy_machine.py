"""Chapter times on a quiet machine and beside one other CPU-bound process.

A student's laptop with a browser open, or a shared CI runner, is a busy machine. This script
executes every chapter twice the way ``make book`` does (``JOBS`` chapters at a time, one torch
thread each): once quiet and once beside ``python -c "while True: pass"``, and writes
benchmarks/busy_machine.md with each chapter's wall and CPU time in both, and the ratio busy / quiet
of its wall time, which must stay within 2. A failed chapter (say, a cell past the 300 s timeout)
is marked as such.

    .venv/bin/python benchmarks/busy_machine.py     # two full executions: about 10 min on two cores

Each configuration's records are kept in _build/busy_machine/, so a second run only writes the
table; delete that folder to measure again.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_times import RECORDS  # noqa: E402
from host import machine, spinning  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "_build" / "busy_machine"


def measured(busy):
    """{chapter: record or None (failed)} of one forced execution of every chapter."""
    target = KEPT / ("busy" if busy else "quiet")
    if not target.exists():
        print(f"executing every chapter, {'busy' if busy else 'quiet'}…", flush=True)
        shutil.rmtree(RECORDS, ignore_errors=True)  # a chapter that fails leaves no record
        with spinning(busy):
            subprocess.run([sys.executable, "-m", "tools.execute_chapters", "--force"], cwd=ROOT,
                           env={**os.environ, "DEEPISSUES_STATIC": "1", "OMP_NUM_THREADS": "1"})
        shutil.copytree(RECORDS, target)
    found = {p.stem: json.loads(p.read_text()) for p in sorted(target.glob("*.json"))}
    chapters = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))]
    return {c: found.get(c) for c in chapters}


def table(quiet, busy):
    lines = [f"Measured {datetime.date.today()} on {machine()}: every chapter executed as `make book` does, "
             "two at a time on one torch thread each, quiet and beside `python -c \"while True: pass\"`.", "",
             "| chapter | quiet wall s | quiet CPU s | busy wall s | busy CPU s | wall busy / quiet |",
             "|---|---:|---:|---:|---:|---:|"]
    for chapter in quiet:
        q, b = quiet[chapter], busy[chapter]
        if q is None or b is None:
            lines.append(f"| {chapter} | {'**failed**' if q is None else q['wall_s']} | | "
                         f"{'**failed**' if b is None else b['wall_s']} | | - |")
            continue
        ratio = b["wall_s"] / q["wall_s"]
        lines.append(f"| {chapter} | {q['wall_s']:.1f} | {q['cpu_s']:.1f} | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | "
                     f"{ratio:.2f}{'' if ratio <= 2 else ' **over 2**'} |")
    return "\n".join(lines) + "\n"


def main():
    text = "# Chapter times on a busy machine\n\n" + table(measured(False), measured(True))
    (ROOT / "benchmarks" / "busy_machine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
