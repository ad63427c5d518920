"""Chapter times on a quiet machine and beside one other CPU-bound process.

A student's laptop with a browser open, or a shared CI runner, is a busy machine. This script
executes every chapter the way ``make book`` does (a chapter per core while a core is idle, one
torch thread each) once quiet and once beside ``python -c "while True: pass"``, and, for
comparison, beside it with a chapter per core whatever the load. It writes
benchmarks/busy_machine.md with each chapter's wall and CPU time, and the ratio busy / quiet of its
wall time, which must stay within 2; and for the whole step, its wall time and the most chapters
that ran at once. A failed chapter (say, a cell past the 300 s timeout) is marked as such.

    .venv/bin/python benchmarks/busy_machine.py     # three full executions: about 17 min on two cores

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


# how each configuration runs the chapters: as make book does, or a chapter per core whatever the load
AS_MAKE_BOOK = ["-m", "tools.execute_chapters", "--force"]
EVERY_CORE = ["-c", "import sys; from tools.execute_chapters import book_defaults, run; book_defaults(); "
              "sys.exit(1 if run(force=True, free_cores=lambda: float('inf')) else 0)"]
CONFIGURATIONS = {"quiet": (False, AS_MAKE_BOOK), "busy": (True, AS_MAKE_BOOK), "busy-every-core": (True, EVERY_CORE)}


def measured(name):
    """({chapter: record or None (failed)}, {"wall_s", "reference_s", "log"} of the step) of one
    forced execution of every chapter in the configuration ``name`` of :data:`CONFIGURATIONS`."""
    busy, command = CONFIGURATIONS[name]
    target = KEPT / name
    if not (target / "step.json").exists():
        print(f"executing every chapter, {name}…", flush=True)
        shutil.rmtree(RECORDS, ignore_errors=True)  # a chapter that fails leaves no record
        shutil.rmtree(target, ignore_errors=True)
        with spinning(busy):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "DEEPISSUES_STATIC": "1", "OMP_NUM_THREADS": "1"})
            wall_s = time.perf_counter() - start
        RECORDS.mkdir(parents=True, exist_ok=True)  # none, if every chapter failed
        shutil.copytree(RECORDS, target)
        step = {"wall_s": round(wall_s, 1), "reference_s": reference_seconds(), "log": done.stdout + done.stderr}
        (target / "step.json").write_text(json.dumps(step))
    found = {p.stem: json.loads(p.read_text()) for p in sorted(target.glob("[0-9][0-9]-*.json"))}
    chapters = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))]
    return {c: found.get(c) for c in chapters}, json.loads((target / "step.json").read_text())


def most_at_once(records):
    """The most chapters that ran at once: one, and the others still running, with over 2 s to
    go, as it started. A record gives its end, ``executed``, to the second, and its ``wall_s``; a
    chapter that starts when another ends overlaps it by under a second in these figures."""
    spans = []
    for record in filter(None, records.values()):
        end = datetime.datetime.fromisoformat(record["executed"]).timestamp()
        spans.append((end - record["wall_s"], end))
    return max((1 + sum(start <= moment < end - 2 for j, (start, end) in enumerate(spans) if j != i)
                for i, (moment, _) in enumerate(spans)), default=0)


def ratio(record, quiet):
    """The wall time of ``record`` over that of ``quiet``, marked past 2; "-" where one failed."""
    if record is None or quiet is None:
        return "-"
    value = record["wall_s"] / quiet["wall_s"]
    return f"{value:.2f}{'' if value <= 2 else ' **over 2**'}"


def seconds(record, field):
    return "**failed**" if record is None else f"{record[field]:.1f}"


def table(quiet, busy, every_core):
    lines = ["| chapter | quiet wall s | quiet CPU s | busy wall s | busy CPU s | busy / quiet wall "
             "| every core: busy wall s | every core: busy / quiet wall |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for chapter in quiet:
        q, b, e = quiet[chapter], busy[chapter], every_core[chapter]
        lines.append(f"| {chapter} | {seconds(q, 'wall_s')} | {seconds(q, 'cpu_s')} | {seconds(b, 'wall_s')} "
                     f"| {seconds(b, 'cpu_s')} | {ratio(b, q)} | {seconds(e, 'wall_s')} | {ratio(e, q)} |")
    return "\n".join(lines) + "\n"


def main():
    runs = {name: measured(name) for name in CONFIGURATIONS}
    (quiet, _), (busy, _), (every_core, _) = runs.values()
    text = "\n".join([
        "# Chapter times on a busy machine", "",
        f"Measured {datetime.date.today()} on {machine()}: every chapter executed with one torch thread, "
        "quiet and beside `python -c \"while True: pass\"`, as `make book` runs them (a chapter beside "
        "another only while a core is idle) and, for comparison, a chapter per core whatever the load "
        "(\"every core\", as `make book` did before). " + describe(runs["quiet"][1]["reference_s"]), "",
        "The reference workload, timed after each configuration's run: "
        + ", ".join(f"{name} {step['reference_s']:.2f} CPU s" for name, (_, step) in runs.items()) + ".", "",
        "| the whole step | quiet | busy | every core: busy |", "|---|---:|---:|---:|",
        "| wall time | " + " | ".join(f"{step['wall_s']:.0f} s" for _, step in runs.values()) + " |",
        "| most chapters at once | " + " | ".join(str(most_at_once(records)) for records, _ in runs.values()) + " |",
        "", table(quiet, busy, every_core)])
    (ROOT / "benchmarks" / "busy_machine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
