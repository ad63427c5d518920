"""How long the book takes to build, and each chapter to execute, against the budgets.

Runs ``make book`` twice: first with every chapter executed (``EXECUTE_ARGS=--force``), which is
what a clean clone pays, then after a prose-only edit (one sentence added to a chapter and taken
out again afterwards), which must execute nothing. Reads each chapter's wall and CPU time from
the records ``tools/execute_chapters.py`` writes, and writes benchmarks/book_times.md: the machine
and the speed of one of its cores (``benchmarks/host.py``), both wall times, and per chapter the
CPU time of its kernel (one thread) against 60 s and the wall time it took beside the other
chapters; benchmarks/book_times.json keeps the same numbers, and the README's timing rows, between
its ``book-times`` markers, are rewritten from them (a test checks that they are current).

    .venv/bin/python benchmarks/book_times.py [--no-build]

``--no-build`` reads the last build's records instead. ``benchmarks/busy_machine.py`` times the
chapters beside another busy process.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import describe, machine, measured_shares, reference_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "_build" / "executed"
OUTPUT = ROOT / "benchmarks" / "book_times.md"
MEASURED = ROOT / "benchmarks" / "book_times.json"  # the same numbers, for the README and its test
CHAPTER_BUDGET, BOOK_CPU_BUDGET = 60.0, 480.0  # CPU s per chapter, CPU s for all of them
BOOK_WALL_BUDGET, PROSE_WALL_BUDGET = 360.0, 90.0  # wall s: a full make book, a rebuild after prose
PROSE_EDIT = ("notebooks/11-error-decomposition.md", "\n## The record\n",
              "\n## The record\n\nA sentence added by benchmarks/book_times.py, and taken out again.\n")
README_TABLE = re.compile(r"(<!-- book-times -->\n).*?(<!-- /book-times -->)", re.S)


def records():
    """{chapter: its execution record} from the last make book."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RECORDS.glob("[0-9][0-9]-*.json"))}


def timed_make(*args):
    start = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "book", *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def prose_rebuild():
    """Wall time of make book after one sentence of prose is added to a chapter (then removed)."""
    path, old, new = ROOT / PROSE_EDIT[0], *PROSE_EDIT[1:]
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{PROSE_EDIT[0]} no longer contains {old!r}: update PROSE_EDIT")
    before = records()
    path.write_text(text.replace(old, new, 1))
    try:
        seconds = timed_make()
    finally:
        path.write_text(text)
    again = [c for c, r in records().items() if r["executed"] != before.get(c, {}).get("executed")]
    if again:
        raise RuntimeError(f"a prose edit executed {again} again")
    timed_make()  # once more, so that the built pages are the sources' again, without the sentence
    return seconds


def table(chapters, full_s, prose_s, reference_s=None, shares=None):
    cpu = sum(r["cpu_s"] for r in chapters.values())
    def mark(ok):
        return "within" if ok else "**over**"
    lines = [f"Measured {datetime.date.today()} on {machine()}, `make book` at the default scale, quiet, "
             f"chapters executed {os.cpu_count()} at a time on one thread each.", ""]
    if reference_s is not None:
        lines += [describe(reference_s, shares), ""]
    if full_s is not None:
        lines += [f"- `make book` executing every chapter: **{full_s:.0f} s** wall "
                  f"({mark(full_s <= BOOK_WALL_BUDGET)} {BOOK_WALL_BUDGET:.0f} s)."]
    if prose_s is not None:
        lines += [f"- `make book` after a prose-only edit: **{prose_s:.0f} s** wall, no chapter executed "
                  f"({mark(prose_s <= PROSE_WALL_BUDGET)} {PROSE_WALL_BUDGET:.0f} s)."]
    lines += ["", "| chapter | CPU s | wall s | budget (CPU) |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {mark(r['cpu_s'] <= CHAPTER_BUDGET)} "
              f"{CHAPTER_BUDGET:.0f} s |" for name, r in chapters.items()]
    lines += [f"| **all {len(chapters)} chapters** | **{cpu:.0f}** | {sum(r['wall_s'] for r in chapters.values()):.0f} | "
              f"{mark(cpu <= BOOK_CPU_BUDGET)} {BOOK_CPU_BUDGET:.0f} s |"]
    return "\n".join(lines) + "\n"


def readme_rows(measured=None):
    """The README's table for make book, from benchmarks/book_times.json (a test compares them)."""
    measured = measured or json.loads(MEASURED.read_text())
    chapters, full_s, prose_s = measured["chapters"], measured["full_s"], measured["prose_s"]
    cpu = sum(r["cpu_s"] for r in chapters.values())
    slowest = max(chapters.items(), key=lambda item: item[1]["cpu_s"])
    return ("| `make book` | wall time | what runs |\n|---|---|---|\n"
            f"| every chapter executed | {full_s / 60:.0f} min ({full_s:.0f} s) | "
            f"the chapters' kernels: {cpu:.0f} s of CPU, the slowest {slowest[0]} ({slowest[1]['cpu_s']:.0f} s) |\n"
            f"| after a prose-only edit | {prose_s:.0f} s | no chapter executes again |\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="read the last build's records")
    args = parser.parse_args()
    full_s = prose_s = shares = None
    reference_s = reference_seconds()
    if not args.no_build:
        with measured_shares() as shares:
            full_s = timed_make("EXECUTE_ARGS=--force")
        prose_s = prose_rebuild()
    chapters = {name: {k: r[k] for k in ("cpu_s", "wall_s")} for name, r in records().items()}
    text = "# Book build and chapter times\n\n" + table(chapters, full_s, prose_s, reference_s, shares)
    OUTPUT.write_text(text)
    if full_s is not None:
        MEASURED.write_text(json.dumps({"machine": machine(), "date": str(datetime.date.today()), "full_s": full_s,
                                        "prose_s": prose_s, "reference_s": reference_s, "cpu_shares": shares,
                                        "chapters": chapters}, indent=1))
        readme = ROOT / "README.md"
        readme.write_text(README_TABLE.sub(lambda m: m.group(1) + readme_rows() + m.group(2), readme.read_text()))
    print(text)


if __name__ == "__main__":
    main()
