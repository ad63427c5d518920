"""Chapter times on a quiet machine and beside one other CPU-bound process.

A student's laptop with a browser open, or a shared CI runner, is a busy machine. This script
executes every chapter twice the way ``make book`` does (a chapter per core while a core is idle,
one torch thread each): once quiet and once beside ``python -c "while True: pass"``, and writes
benchmarks/busy_machine.md with each chapter's wall and CPU time in both, and the ratio busy / quiet
of its wall time, which must stay within 2; and for the whole step, its wall time and the most
chapters that ran at once. A failed chapter (say, a cell past the 300 s timeout) is marked as such.

    .venv/bin/python benchmarks/busy_machine.py     # two full executions: about 11 min on two cores

Each configuration's records are kept in _build/busy_machine/, so a second run only writes the
table; delete that folder to measure again.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_times import RECORDS  # noqa: E402
from host import describe, machine, reference_seconds, spinning  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "_build" / "busy_machine"


def measured(busy):
    """({chapter: record or None (failed)}, {"wall_s", "log"} of the step) of one forced execution
    of every chapter."""
    target = KEPT / ("busy" if busy else "quiet")
    if not target.exists():
        print(f"executing every chapter, {'busy' if busy else 'quiet'}…", flush=True)
        shutil.rmtree(RECORDS, ignore_errors=True)  # a chapter that fails leaves no record
        with spinning(busy):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "tools.execute_chapters", "--force"], cwd=ROOT,
                                  env={**os.environ, "DEEPISSUES_STATIC": "1", "OMP_NUM_THREADS": "1"},
                                  capture_output=True, text=True)
            wall_s = time.perf_counter() - start
        shutil.copytree(RECORDS, target)
        (target / "step.json").write_text(json.dumps({"wall_s": round(wall_s, 1), "log": done.stdout + done.stderr}))
    found = {p.stem: json.loads(p.read_text()) for p in sorted(target.glob("[0-9][0-9]-*.json"))}
    chapters = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))]
    return {c: found.get(c) for c in chapters}, json.loads((target / "step.json").read_text())


def most_at_once(records):
    """The most chapters that ran at once: how many were still running, with over 2 s to go, as
    each started. A record gives its end, ``executed``, to the second, and its ``wall_s``; a
    chapter that starts when another ends overlaps it by under a second in these figures."""
    spans = []
    for record in filter(None, records.values()):
        end = datetime.datetime.fromisoformat(record["executed"]).timestamp()
        spans.append((end - record["wall_s"], end))
    return max((sum(start <= moment < end - 2 for start, end in spans) for moment, _ in spans), default=0)


def table(quiet, busy):
    lines = ["| chapter | quiet wall s | quiet CPU s | busy wall s | busy CPU s | wall busy / quiet |",
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
    (quiet, quiet_step), (busy, busy_step) = measured(False), measured(True)
    text = "\n".join([
        "# Chapter times on a busy machine", "",
        f"Measured {datetime.date.today()} on {machine()}: every chapter executed as `make book` does, "
        "one torch thread each, a chapter beside another only while a core is idle, quiet and beside "
        "`python -c \"while True: pass\"`. " + describe(reference_seconds()), "",
        "| the whole step | quiet | busy |", "|---|---:|---:|",
        f"| wall time | {quiet_step['wall_s']:.0f} s | {busy_step['wall_s']:.0f} s |",
        f"| most chapters at once | {most_at_once(quiet)} | {most_at_once(busy)} |", "",
        table(quiet, busy)])
    (ROOT / "benchmarks" / "busy_machine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
