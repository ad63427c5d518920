"""Chapter times on a quiet machine and beside one other CPU-bound process, with torch's default
threads and with the thread count the Makefile sets.

A student's laptop with a browser open, or a shared CI runner, is a busy machine: torch's
threads then spin against the other process. This script builds the book (``make book``) four
times, quiet and busy, at ``OMP_NUM_THREADS`` = the number of cores and = 1, and writes the
table to benchmarks/busy_machine.md. Each chapter must stay within twice its quiet time when busy.

    .venv/bin/python benchmarks/busy_machine.py     # about 30 min on two cores
"""

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_times import chapter_times  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUSY = [sys.executable, "-c", "while True: pass"]


def build(threads, busy):
    """{chapter: seconds} of one ``make book`` at ``threads`` torch threads, beside a busy loop or not."""
    spinner = subprocess.Popen(BUSY) if busy else None
    try:
        subprocess.run(["make", "book"], cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        if spinner is not None:
            spinner.kill()
    return chapter_times()


def table(runs, cores):
    columns = [(cores, False), (cores, True), (1, False), (1, True)]
    lines = [f"Measured {datetime.date.today()} on {cores} CPU cores ({platform.machine()}), `make book` at the "
             "default scale; busy: beside `python -c \"while True: pass\"`. Seconds per chapter.", "",
             "| chapter | " + " | ".join(f"{t} thread{'s' * (t > 1)}, {'busy' if b else 'quiet'}" for t, b in columns)
             + " | busy / quiet, 1 thread |",
             "|---|" + "---:|" * (len(columns) + 1)]
    for chapter in runs[columns[0]]:
        times = [runs[c][chapter] for c in columns]
        ratio = times[3] / times[2]
        lines.append(f"| {chapter.split('/')[-1]} | " + " | ".join(f"{t:.1f}" for t in times)
                     + f" | {ratio:.2f}{'' if ratio <= 2 else ' **over 2**'} |")
    totals = [sum(runs[c].values()) for c in columns]
    lines.append("| **all chapters** | " + " | ".join(f"**{t:.0f}**" for t in totals) + f" | {totals[3] / totals[2]:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    cores = os.cpu_count()
    runs = {}
    for threads in (cores, 1):
        for busy in (False, True):
            print(f"make book at {threads} thread(s), {'busy' if busy else 'quiet'}…", flush=True)
            runs[threads, busy] = build(threads, busy)
    text = "# Chapter times on a busy machine\n\n" + table(runs, cores)
    (ROOT / "benchmarks" / "busy_machine.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
