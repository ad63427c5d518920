"""Chapter times on a quiet machine and beside one other CPU-bound process, with torch's default
threads and with the thread count the Makefile sets.

A student's laptop with a browser open, or a shared CI runner, is a busy machine: torch's
threads then spin against the other process. This script builds the book (``make book``) four
times, quiet and busy, at ``OMP_NUM_THREADS`` = the number of cores and = 1, and writes the
table to benchmarks/busy_machine.md. Each chapter must stay within twice its quiet time when busy.

    .venv/bin/python benchmarks/busy_machine.py     # about 30 min on two cores

Each configuration's times are kept in _build/busy_machine/, so a second run only writes the table;
delete that folder to measure again.
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_times import chapter_times  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUSY = [sys.executable, "-c", "while True: pass"]


def build(threads, busy, log):
    """One ``make book`` at ``threads`` torch threads, beside a busy loop or not, its output in
    ``log``: {"times": {chapter: seconds}, "failed": [chapters whose execution failed, e.g. a cell
    past the 300 s timeout]}."""
    # a failed build leaves no environment; never read the one an earlier build left
    (ROOT / "_build" / ".doctrees" / "environment.pickle").unlink(missing_ok=True)
    spinner = subprocess.Popen(BUSY) if busy else None
    try:
        with open(log, "w") as output:
            subprocess.run(["make", "book"], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                           stdout=output, stderr=subprocess.STDOUT)
    finally:
        if spinner is not None:
            spinner.kill()
    failed = sorted(set(re.findall(r"ExecutionError: \S*/(notebooks/[\w-]+)\.md", Path(log).read_text())))
    try:
        times = chapter_times()
    except FileNotFoundError:  # the build stopped before Sphinx saved its environment
        times = {}
    return {"times": {c: t for c, t in times.items() if c not in failed}, "failed": failed}


def measured(threads, busy):
    """The chapter times of one configuration, kept in _build/busy_machine/ so that an interrupted
    run resumes where it stopped."""
    record = ROOT / "_build" / "busy_machine" / f"{threads}-{'busy' if busy else 'quiet'}.json"
    if not record.exists():
        print(f"make book at {threads} thread(s), {'busy' if busy else 'quiet'}…", flush=True)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(build(threads, busy, record.with_suffix('.log')), indent=1))
    return json.loads(record.read_text())


def table(runs, cores):
    columns = [(1, False), (1, True), (cores, False), (cores, True)]
    head = [f"{t} thread{'s' * (t > 1)}, {'busy' if b else 'quiet'}" for t, b in columns]
    lines = [f"Measured {datetime.date.today()} on {cores} CPU cores ({platform.machine()}), `make book` at the "
             "default scale; busy: beside `python -c \"while True: pass\"`. Seconds per chapter; the "
             "Makefile's setting is 1 thread.", "",
             "| chapter | " + " | ".join(head) + " | 1 thread, busy / quiet |", "|---|" + "---:|" * (len(columns) + 1)]
    chapters = sorted(set().union(*(runs[c]["times"] for c in columns), *(runs[c]["failed"] for c in columns)))

    def cell(column, chapter):
        if chapter in runs[column]["failed"]:
            return "**failed**"
        return f"{runs[column]['times'][chapter]:.1f}" if chapter in runs[column]["times"] else "not run"

    for chapter in chapters:
        quiet, busy = (runs[1, b]["times"].get(chapter) for b in (False, True))
        ratio = f"{busy / quiet:.2f}{'' if busy <= 2 * quiet else ' **over 2**'}" if quiet and busy else "-"
        lines.append(f"| {chapter.split('/')[-1]} | " + " | ".join(cell(c, chapter) for c in columns) + f" | {ratio} |")
    totals = [sum(runs[c]["times"].values()) for c in columns]
    lines.append("| **all chapters** | " + " | ".join("-" if runs[c]["failed"] else f"**{t:.0f}**"
                                                  for c, t in zip(columns, totals)) + " | |")
    if any(runs[c]["failed"] for c in columns):
        lines += ["", "**failed**: a cell passed the build's 300 s timeout and the build stopped there; the "
                  "chapters after it did not run."]
    return "\n".join(lines) + "\n"


def main():
    cores = os.cpu_count()
    # one thread first: the configuration the Makefile uses
    runs = {(threads, busy): measured(threads, busy) for threads in (1, cores) for busy in (False, True)}
    text = "# Chapter times on a busy machine\n\n" + table(runs, cores)
    (ROOT / "benchmarks" / "busy_machine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
