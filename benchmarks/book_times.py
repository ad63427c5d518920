"""How long each chapter takes to execute in a full book build, against the budgets.

Runs ``make book`` (unless --no-build reuses the last build), reads every chapter's execution
time from the build's Sphinx environment (myst-nb records it), and writes the table to
benchmarks/book_times.md: per chapter against 90 s, and the total against 10 minutes.

    .venv/bin/python benchmarks/book_times.py [--no-build]
"""

import argparse
import datetime
import os
import pickle
import platform
import subprocess
from pathlib import Path

from myst_nb.sphinx_ import NbMetadataCollector

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_BUDGET, BOOK_BUDGET = 90.0, 600.0


def chapter_times(environment=ROOT / "_build" / ".doctrees" / "environment.pickle"):
    """{chapter docname: execution seconds} from a built book's Sphinx environment."""
    with open(environment, "rb") as handle:
        env = pickle.load(handle)
    data = NbMetadataCollector.get_doc_data(env)
    return {doc: data[doc]["exec_data"]["runtime"] for doc in sorted(data)
            if doc.startswith("notebooks/") and data[doc].get("exec_data")}


def table(times):
    total = sum(times.values())
    lines = [f"Measured {datetime.date.today()} on {os.cpu_count()} CPU cores ({platform.machine()}), "
             f"`make book` at the default scale.", "",
             "| chapter | seconds | budget |", "|---|---:|---|"]
    lines += [f"| {doc.split('/')[-1]} | {t:.1f} | {'within 90 s' if t <= CHAPTER_BUDGET else '**over 90 s**'} |"
              for doc, t in times.items()]
    lines += [f"| **all {len(times)} chapters** | **{total:.0f}** | "
              f"{'within 600 s' if total <= BOOK_BUDGET else '**over 600 s**'} |"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="read the last build instead of running make book")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["make", "book"], cwd=ROOT, check=True)
    text = "# Chapter execution times\n\n" + table(chapter_times())
    (ROOT / "benchmarks" / "book_times.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
