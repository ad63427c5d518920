"""Which claims hold on other draws: every chapter re-run under other seed offsets.

``DEEPISSUES_SEED=s`` moves every seed the book uses by 1000 s (see ``deepissues.repro``). This
script executes every chapter at offsets 1 and 2 (by default), with ``DEEPISSUES_CLAIMS_RAISE=0``
so that a claim that fails is recorded and the chapter goes on to its other claims. Offset 0 is
read from the last ``make book`` (``_build/claims``), or run too when that build is missing or
was made at another scale. It writes ``benchmarks/claims_by_seed.md``: each claim's outcome and
detail per offset, with the claims whose outcome changes listed first.

A claim that flips with the seed rests on a threshold the science does not fix; the table is
where that shows. It takes about twice the book's execution time, so it is not part of ``make test``.

    .venv/bin/python benchmarks/claims_by_seed.py [--offsets 1 2] [--chapters 07 08] [--fresh]
        [--output /tmp/claims_07.md] [--recorded]

``--recorded`` runs nothing: it tables the records that earlier runs left in
``_build/claims_by_seed`` (so chapters run separately, at the commit that last changed each, make
one table), and the table gives the time span of those records.
"""

import argparse
import datetime
import json
import os
import subprocess
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from deepissues.repro import scale

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
OUTPUT = ROOT / "benchmarks" / "claims_by_seed.md"


def run_chapter(path, offset, folder):
    """Execute one chapter at seed offset ``offset``, recording its claims in ``folder``.

    Returns (seconds, error or None). Cells after an error still run, so later claims are measured.
    """
    # one thread unless told otherwise, as make sets it: two threads on a busy machine spin
    env = {"DEEPISSUES_SEED": str(offset), "DEEPISSUES_CLAIMS_DIR": str(folder),
           "DEEPISSUES_CLAIMS_RAISE": "0", "DEEPISSUES_STATIC": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        notebook = jupytext.read(path)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        errors = [f"{o.ename}: {o.evalue}" for cell in notebook.cells if cell.cell_type == "code"
                  for o in cell.get("outputs", []) if o.output_type == "error"]
        return time.perf_counter() - start, (errors[0] if errors else None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def read_records(folder, stem):
    path = folder / f"{stem}.json"
    return json.loads(path.read_text())["claims"] if path.exists() else []


def base_is_usable(chapters):
    """Whether ``_build/claims`` holds every chapter's claims at offset 0 and the current scale."""
    for path in chapters:
        claims = read_records(BUILD / "claims", path.stem)
        if not claims or any(c.get("seed_offset", 0) != 0 or c.get("scale") != scale() for c in claims):
            return False
    return True


def outcome_table(outcomes, offsets):
    """Markdown rows: the claims whose outcome changes across offsets first, then all others.

    ``outcomes`` maps (chapter, claim) to {offset: record or None}, with ``None`` where the
    claim was not recorded at that offset.
    """
    def cell(record):
        if record is None:
            return "not recorded"
        control = record.get("control")
        if record["held"]:
            outcome = "held" + ("; control failed" if control else "")
        elif not record.get("condition", False):
            outcome = "**FAILED**"
        else:
            outcome = "**FAILED: its control held**"
        text = outcome + (f": {record['detail']}" if record["detail"] else "")
        if control and control.get("detail"):
            text += f" (control: {control['detail']})"
        return text

    def flips(per_offset):
        return len({None if r is None else r["held"] for r in per_offset.values()}) > 1

    header = ["| chapter | claim | kind | " + " | ".join(f"offset {s}" for s in offsets) + " |",
              "|---|---|---|" + "---|" * len(offsets)]
    ordered = sorted(outcomes.items(), key=lambda item: (not flips(item[1]), item[0][0]))
    rows, changed = [], 0
    for (chapter, claim), per_offset in ordered:
        changed += flips(per_offset)
        kind = next((r["kind"] for r in per_offset.values() if r), "?")
        cells = " | ".join(cell(per_offset.get(s)).replace("|", "\\|") for s in offsets)
        rows.append(f"| {chapter} | {'**' + claim + '**' if flips(per_offset) else claim} | {kind} | {cells} |")
    return changed, header + rows


def span(outcomes):
    """The first and last time among the records, to the minute."""
    times = sorted(r["time"] for per_offset in outcomes.values() for r in per_offset.values() if r)
    return f"{times[0][:16].replace('T', ' ')} to {times[-1][:16].replace('T', ' ')}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", type=int, nargs="+", default=[1, 2], help="seed offsets besides 0")
    parser.add_argument("--chapters", nargs="*", help="chapter numbers (default: all)")
    parser.add_argument("--fresh", action="store_true",
                        help="run offset 0 too, rather than read the last make book's records")
    parser.add_argument("--recorded", action="store_true",
                        help="run nothing; table the records earlier runs left in _build/claims_by_seed")
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help=f"where to write the table (default: {OUTPUT.relative_to(ROOT)})")
    args = parser.parse_args()
    chapters = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    if args.chapters:
        chapters = [p for p in chapters if p.name[:2] in args.chapters]
    offsets = [0, *[s for s in args.offsets if s != 0]]
    folders = {s: BUILD / "claims_by_seed" / f"offset-{s}" for s in offsets}
    if not args.fresh and not args.recorded and base_is_usable(chapters):
        folders[0] = BUILD / "claims"
        print("offset 0: the records of the last make book")
    times = {}
    for s in offsets:
        if folders[s] == BUILD / "claims" or args.recorded:
            continue
        folders[s].mkdir(parents=True, exist_ok=True)
        for path in chapters:
            seconds, error = run_chapter(path, s, folders[s])
            times[path.stem, s] = seconds
            print(f"offset {s} {path.stem}: {seconds:.0f} s" + (f" (error: {error})" if error else ""), flush=True)
    outcomes = {}
    for s in offsets:
        for path in chapters:
            for record in read_records(folders[s], path.stem):
                outcomes.setdefault((path.stem, record["name"]), {})[s] = record
    missing = [f"{path.stem} at offset {s}" for s in offsets for path in chapters
               if not read_records(folders[s], path.stem)]
    if args.recorded and missing:
        raise SystemExit(f"--recorded: no records for {', '.join(missing)}; run those chapters first")
    changed, rows = outcome_table(outcomes, offsets)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = ["# Claims across seeds", "",
             f"{'Tabled' if args.recorded else 'Run'} {datetime.date.today()} at commit {commit or 'unknown'}, "
             f"scale `{scale()}`, on {os.cpu_count()} "
             f"CPU cores, by `benchmarks/claims_by_seed.py`. Offset s moves every seed of the book by 1000 s "
             f"(`DEEPISSUES_SEED`); offset 0 is the published build.", "",
             *([f"The chapters were run separately, at the commit that last changed each; the records "
                f"span {span(outcomes)}.", ""] if args.recorded else []),
             f"**{changed} of {len(outcomes)} claims change their outcome across offsets {offsets}**; they are "
             f"listed first, in bold. A claim that flips rests on a threshold that the science does not fix, "
             f"or on a run too small to settle it.", "", *rows, ""]
    if times:
        lines += ["Execution times (s): " + ", ".join(f"{c} at {s}: {t:.0f}" for (c, s), t in times.items()), ""]
    args.output.write_text("\n".join(lines))
    print(f"{changed} of {len(outcomes)} claims flip; written to {args.output}")


if __name__ == "__main__":
    main()
