"""How long `make test` takes, and where its time goes.

    .venv/bin/python benchmarks/test_times.py            # runs make test, keeps the cache
    .venv/bin/python benchmarks/test_times.py --clean    # first removes _build, as a clean clone has none
    .venv/bin/python benchmarks/test_times.py --log FILE # tables a log that make test wrote earlier
    .venv/bin/python benchmarks/test_times.py --busy     # beside one CPU-bound process: test_times_busy.md

Runs ``make test`` in this checkout (its output goes to ``_build/make_test.log`` as well as to the
terminal), then writes benchmarks/test_times.md: the machine and the speed of one of its cores
(``benchmarks/host.py``), the wall time, whether the book's chapters were executed or taken from
the cache, and for each of the three pytest runs that make test starts side by side
(``test-unit``, ``test-notebooks`` and ``test-book``) its summary line and its slowest tests, as
pytest's ``--durations`` printed them. The budget is 15 minutes of wall time on two cores, quiet.
"""

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import describe, machine, measured_shares, reference_seconds, spinning  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "test_times.md"
BUSY_OUTPUT = ROOT / "benchmarks" / "test_times_busy.md"  # make test beside python -c "while True: pass"
LOG = ROOT / "_build" / "make_test.log"
RECORD = ROOT / "benchmarks" / "book_times.json"  # the chapters' CPU seconds on the record's hour
BUDGET_S = 15 * 60
# not anchored at the line's start: the two runs share the terminal, so a progress dot of one can
# precede the other's header
SUMMARY = re.compile(r"=+ (\d+ (?:failed|passed|errors?)\b.*) in ([\d.]+)s.*=+$", re.M)  # failures first, if any
SLOWEST = re.compile(r"=+ slowest \d+ durations =+\n((?:[\d.]+s \w+ +.+\n)+)")


def run_make_test():
    """Wall seconds and return code of ``make test``, its output copied to LOG."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with LOG.open("w") as log:
        process = subprocess.Popen(["make", "--no-print-directory", "test"], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = process.wait()
    return time.perf_counter() - start, code


def parse(text):
    """(chapters executed, chapters reused, [(summary, seconds, slowest lines)]) from make test's log."""
    # not anchored at the line's start: the book's step shares the terminal with the unit tests,
    # whose progress dots can precede its lines
    executed = len(chapters_cpu(text))
    reused = len(set(re.findall(r"\breused +(\d\d-[\w-]+)", text)))
    runs = [(m.group(1), float(m.group(2))) for m in SUMMARY.finditer(text)]
    slowest = [m.group(1).strip().splitlines() for m in SLOWEST.finditer(text)]
    if len(runs) != len(slowest):
        raise ValueError(f"the log has {len(runs)} pytest summaries but {len(slowest)} duration tables")
    return executed, reused, [(s, t, d) for (s, t), d in zip(runs, slowest)]


def chapters_cpu(text):
    """{chapter: CPU seconds} of the chapters the book's step executed, from make test's log."""
    return {name: float(cpu) for name, cpu in
            re.findall(r"\bexecuted (\d\d-[\w-]+): [\d.]+ s wall, ([\d.]+) s CPU", text)}


def hour_speed(text, record=None):
    """How the book's step's chapters ran against the record of ``benchmarks/book_times.json``:
    (their CPU seconds, the record's for the same chapters), or None when it executed none.

    The chapters are most of make test's work, so the ratio tells how fast this hour's cores ran the
    book's own work: above 1, slower than on the record's hour. The reference workload of ``host.py`` (small, and held in the cache) misses
    it: two runs of make test on the same machine whose reference read 0.36 CPU s took 366 and
    445 CPU s for the same chapters.
    """
    record = json.loads(RECORD.read_text()) if record is None else record
    ran = {name: cpu for name, cpu in chapters_cpu(text).items() if name in record["chapters"]}
    if not ran:
        return None
    return sum(ran.values()), sum(record["chapters"][name]["cpu_s"] for name in ran)


def table(wall_s, code, text, reference_s=None, shares=None, busy=False, record=None):
    executed, reused, runs = parse(text)
    within = "within" if wall_s <= BUDGET_S else "**over**"
    budget = f"the {BUDGET_S // 60} min budget is for a quiet machine" if busy else \
        f"{within} the {BUDGET_S // 60} min budget"
    load = "busy: beside one other CPU-bound process (`python -c \"while True: pass\"`)" if busy else "quiet"
    lines = ["# make test: wall time and its slowest tests", "",
             f"Measured {datetime.date.today()} on {machine()}, {load}, `OMP_NUM_THREADS=1`.", ""]
    if reference_s is not None:
        lines += [describe(reference_s, shares), ""]
    lines += [f"- `make test`: **{wall_s:.0f} s** wall ({wall_s / 60:.1f} min; {budget}), exit code {code}.",
              f"- The book's step executed {executed} chapters and took {reused} from the cache."]
    speed = hour_speed(text, record)
    if speed:
        cpu, recorded = speed
        lines.append(f"- Those chapters took **{cpu:.0f} CPU s**, {cpu / recorded:.2f} times their "
                     f"{recorded:.0f} s in `benchmarks/book_times.md` (above 1: this hour's cores ran the "
                     "book's own work slower than the record's).")
    lines.append("")
    for summary, seconds, slowest in runs:
        lines += [f"## {summary}: {seconds:.0f} s", "", "| seconds | phase | test |", "|---:|---|---|"]
        for line in slowest:
            seconds_s, phase, test = line.split(maxsplit=2)
            lines.append(f"| {seconds_s.rstrip('s')} | {phase} | `{test}` |")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove _build first, as in a clean clone")
    parser.add_argument("--log", type=Path, help="table this log of make test instead of running it")
    parser.add_argument("--busy", action="store_true", help="run make test beside one CPU-bound process")
    args = parser.parse_args()
    reference_s = shares = None
    if args.log:
        text, wall_s, code = args.log.read_text(), float("nan"), "unknown"
        match = re.search(r"^make test wall: ([\d.]+) s, exit (\d+)$", text, re.M)
        if match:
            wall_s, code = float(match.group(1)), int(match.group(2))
    else:
        if args.clean:
            subprocess.run(["make", "clean"], cwd=ROOT, check=True)
        reference_s = reference_seconds()
        with spinning(args.busy), measured_shares() as shares:
            wall_s, code = run_make_test()
        with LOG.open("a") as log:
            log.write(f"make test wall: {wall_s:.1f} s, exit {code}\n")
        text = LOG.read_text()
    output = BUSY_OUTPUT if args.busy else OUTPUT
    output.write_text(table(wall_s, code, text, reference_s, shares, args.busy))
    print(output.read_text())


if __name__ == "__main__":
    main()
