"""Execute the chapters on every core, into a cache that cannot go stale, before the book is built.

``make book`` runs this first; Jupyter Book then reads each chapter's outputs from the cache
(``execute_notebooks: cache`` in ``_config.yml``) and executes nothing itself.

A chapter is executed again exactly when its **key** changes. The key is a hash of
- its code cells as myst-nb reads them (the hash jupyter-cache matches on), so editing prose
  re-executes nothing;
- every file of the library and the pins (:data:`INPUTS`), because a page's numbers come from
  ``deepissues`` as much as from the chapter's own cells;
- what else sets the numbers: the ``DEEPISSUES_*`` variables (scale, seed, static widgets),
  ``OMP_NUM_THREADS``, the Python version and the installed version of every dependency.

Each execution leaves a record, ``_build/executed/<chapter>.json``: the key, the wall and CPU time
of the chapter's kernel, each code cell's time, and the claim records the chapter wrote. The
claim records go back to ``_build/claims`` on every run, so the report describes exactly the
outputs the pages show. The book's ``executed`` extension refuses to build from an entry whose key
is out of date, so a page cannot show a number the current code would not print.

    .venv/bin/python -m tools.execute_chapters            # execute what changed, on every core
    .venv/bin/python -m tools.execute_chapters --force    # execute every chapter
    .venv/bin/python -m tools.execute_chapters --check    # exit 1 if any chapter is out of date

Chapters run side by side, one per core, but a chapter starts beside another only while a core
sits idle (:func:`as_cores_free`). On a machine busy with other work they run one at a time: two
chapters and another busy process on two cores would each get two thirds of a core, and the
chapters' wall times would double.
"""

import argparse
import concurrent.futures
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("lib", "constraints.txt", "pyproject.toml")  # what every chapter's numbers depend on
SKIPPED = ("__pycache__", ".egg-info", ".ipynb_checkpoints")  # build litter inside those
# a chapter starts beside others only when at least half a core sat idle over half a second: a
# core mostly free (a busy one, or one shared by the chapter just started, shows far less)
IDLE_ENOUGH = 0.5
POLL_S = 2.0  # seconds between two looks for an idle core while chapters wait
# seconds before a chapter just started counts as load: in its first second its kernel is starting,
# and beside another busy process its core showed up to 0.9 of a core idle over a quarter second
SETTLE_S = 2.0
# the variables that can set a chapter's numbers: every DEEPISSUES_* but those that only say where
# records and data go or what the tests compare, and torch's thread count
ENVIRONMENT = re.compile(r"^(DEEPISSUES_(?!(CLAIMS_DIR|DATA|COMPARE_OUTPUTS)$)\w+|OMP_NUM_THREADS|PYTHONHASHSEED)$")


def book_defaults():
    """Set what the book's execution always uses unless told otherwise: widgets' static default
    (the page has no kernel), one torch thread per chapter (they run side by side) and one string
    hash (as the Makefile sets them)."""
    os.environ.setdefault("DEEPISSUES_STATIC", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PYTHONHASHSEED", "0")  # kernels iterate sets of strings in one order


def chapters(root=ROOT):
    """The chapters' sources, ``notebooks/*.md``, in reading order of their file names."""
    return sorted((Path(root) / "notebooks").glob("[0-9][0-9]-*.md"))


def book_config(root=ROOT):
    """``_config.yml`` as a dict."""
    return yaml.safe_load((Path(root) / "_config.yml").read_text())


def cache_path(root=ROOT):
    """jupyter-cache's folder: ``execute.cache`` of ``_config.yml``, else Jupyter Book's default."""
    configured = (book_config(root).get("execute") or {}).get("cache") or "_build/.jupyter_cache"
    return Path(root) / configured


def records_path(root=ROOT):
    return Path(root) / "_build" / "executed"


def read_chapter(path, root=ROOT):
    """The chapter as myst-nb reads it when it builds the page (so the cache's hash matches).

    Parameters
    ----------
    path : path of a MyST Markdown notebook.

    Returns
    -------
    nbformat.NotebookNode without outputs.
    """
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    extensions = ((book_config(root).get("parse") or {}).get("myst_enable_extensions")) or ()
    config = MdParserConfig(enable_extensions=set(extensions))
    return read_myst_markdown_notebook(Path(path).read_text(), config=config, add_source_map=True, path=str(path))


def code_hash(notebook):
    """jupyter-cache's hash of ``notebook``: its code cells (source and metadata) and kernelspec."""
    from jupyter_cache.cache.main import JupyterCacheBase

    return JupyterCacheBase.create_hashed_notebook(None, notebook)[1]


def inputs_hash(root=ROOT, inputs=INPUTS):
    """sha256 over the relative path and bytes of every file in ``inputs`` (files or folders)."""
    digest = hashlib.sha256()
    for name in inputs:
        top = Path(root) / name
        files = sorted(p for p in (top.rglob("*") if top.is_dir() else [top])
                       if p.is_file() and not any(s in part for part in p.parts for s in SKIPPED))
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def environment():
    """{what: value} of everything outside the files that sets a chapter's numbers."""
    found = {name: value for name, value in sorted(os.environ.items()) if ENVIRONMENT.match(name)}
    found["python"] = platform.python_version()
    for requirement in importlib.metadata.requires("deepissues") or ():
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def chapter_key(path, root=ROOT, inputs=INPUTS, library=None):
    """The key under which ``path``'s outputs may be reused (a sha256 hex digest).

    ``library`` is :func:`inputs_hash` when the caller has it already (it is the same for every
    chapter).
    """
    parts = {"code": code_hash(read_chapter(path, root)), "inputs": list(inputs),
             "library": library or inputs_hash(root, inputs), "environment": environment()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def read_record(path, root=ROOT):
    """The record of the chapter ``path``'s last execution, or None."""
    record = records_path(root) / f"{Path(path).stem}.json"
    return json.loads(record.read_text()) if record.exists() else None


def stale(root=ROOT, paths=None):
    """The chapters (paths) whose cached outputs are missing or no longer match their key.

    Each record keeps the ``inputs`` it was keyed with, so a cache keyed with fewer inputs is
    judged by its own rule (the tests' negative control needs exactly that).
    """
    from jupyter_cache import get_cache

    cache, found, libraries = get_cache(str(cache_path(root))), [], {}
    for path in paths or chapters(root):
        record = read_record(path, root)
        if record is None:
            found.append(Path(path))
            continue
        inputs = tuple(record["inputs"])
        libraries.setdefault(inputs, inputs_hash(root, inputs))
        notebook = read_chapter(path, root)
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            found.append(Path(path))
            continue
        if record["key"] != chapter_key(path, root, inputs, libraries[inputs]):
            found.append(Path(path))
    return found


def execute(path, root=ROOT, timeout=300):
    """Execute one chapter in a fresh kernel, as myst-nb would (its folder as working directory).

    Parameters
    ----------
    path : the chapter's source.
    timeout : seconds a cell may take.

    Returns
    -------
    dict with "notebook" (the executed notebook as JSON text), "wall_s", "cpu_s" (the kernel
    process's user + system time), "cell_s" ({code-cell index: seconds}), "claims" ({chapter
    name: claim records}) and "error" (None, or the error's text).
    """
    import psutil
    from nbclient import NotebookClient

    notebook = read_chapter(path, root)
    saved = os.environ.get("DEEPISSUES_CLAIMS_DIR")
    with tempfile.TemporaryDirectory() as claims_folder:
        os.environ["DEEPISSUES_CLAIMS_DIR"] = claims_folder  # the kernel inherits it
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
                                record_timing=False,  # timestamps in cell metadata would change the hash
                                resources={"metadata": {"path": str(Path(path).parent)}})
        cpu, cells, last = [0.0], {}, [time.perf_counter()]

        def on_cell_executed(cell, cell_index, **_):
            times = psutil.Process(client.km.provisioner.pid).cpu_times()
            cpu[0] = times.user + times.system
            now = time.perf_counter()
            if cell.cell_type == "code":
                cells[cell_index] = round(now - last[0], 3)
            last[0] = now

        client.on_cell_executed = on_cell_executed
        start, error = time.perf_counter(), None
        try:
            client.execute()
        except Exception:  # a failed cell, a failed claim, a timeout: reported, never cached
            error = traceback.format_exc()
        claims = {p.stem: json.loads(p.read_text())["claims"] for p in Path(claims_folder).glob("*.json")}
    if saved is None:
        os.environ.pop("DEEPISSUES_CLAIMS_DIR")
    else:
        os.environ["DEEPISSUES_CLAIMS_DIR"] = saved
    return {"notebook": nbformat.writes(notebook), "wall_s": round(time.perf_counter() - start, 2),
            "cpu_s": round(cpu[0], 2), "cell_s": cells, "claims": claims, "error": error}


def store(path, result, root=ROOT, inputs=INPUTS, library=None):
    """Put an executed chapter into jupyter-cache and write its record."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    notebook = nbformat.reads(result["notebook"], as_version=4)
    cache = get_cache(str(cache_path(root)))
    stored = cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": result["wall_s"]}),
                                         check_validity=False, overwrite=True)
    if cache.match_cache_notebook(read_chapter(path, root)).pk != stored.pk:  # the page would execute it again
        raise RuntimeError(f"{path}: the executed notebook does not match the chapter as the book reads it")
    record = {"chapter": Path(path).stem, "key": chapter_key(path, root, inputs, library), "inputs": list(inputs),
              "executed": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
              "cell_s": result["cell_s"], "claims": result["claims"]}
    records_path(root).mkdir(parents=True, exist_ok=True)
    (records_path(root) / f"{Path(path).stem}.json").write_text(json.dumps(record, indent=1))


def restore_claims(root=ROOT):
    """Write every recorded chapter's claim records where the book's report reads them."""
    from deepissues.claims import claims_dir

    folder = claims_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    for path in chapters(root):
        record = read_record(path, root)
        for name, claims in (record or {}).get("claims", {}).items():
            (folder / f"{name}.json").write_text(json.dumps({"chapter": name, "claims": claims}, indent=1))


def longest_first(paths, root=ROOT):
    """``paths`` ordered by their last recorded CPU time, longest first (unknown ones first of all),
    so that two workers finish close together."""
    def last_time(path):
        record = read_record(path, root)
        return float("inf") if record is None else record["cpu_s"]
    return sorted(paths, key=last_time, reverse=True)


def as_cores_free(pool, function, items, jobs, free_cores, log=print, settle_s=SETTLE_S):
    """Call ``function(item)`` on ``pool`` for each of ``items``, in order, at most ``jobs`` at once,
    starting one beside those running only while ``free_cores()`` finds at least
    :data:`IDLE_ENOUGH` cores idle, and no sooner than ``settle_s`` seconds after the last start
    (``make -l`` does the same with the load).

    Yields
    ------
    (item, future) as each call ends.
    """
    waiting, running, told, started = list(items), {}, False, -float("inf")
    while waiting or running:
        while waiting and len(running) < jobs:
            idle = None
            if running:
                time.sleep(max(0.0, started + settle_s - time.monotonic()))
                idle = free_cores()
            if idle is not None and idle < IDLE_ENOUGH:
                if not told:  # once a run: the reason its chapters take longer
                    log(f"busy     {idle:.1f} cores idle: the next chapter waits for a free core, and "
                        "waits again whenever the machine is this busy")
                told = True
                break
            item, started = waiting.pop(0), time.monotonic()
            running[pool.submit(function, item)] = item
        done, _ = concurrent.futures.wait(running, timeout=POLL_S, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            yield running.pop(future), future


def run(root=ROOT, jobs=None, force=False, inputs=INPUTS, log=print, free_cores=None, settle_s=SETTLE_S):
    """Execute every stale chapter (every chapter with ``force``) on up to ``jobs`` workers, as
    cores are free (:func:`as_cores_free`, with ``free_cores`` and ``settle_s``; ``free_cores``
    defaults to ``tools.cores.idle_cores``).

    Returns
    -------
    list of (chapter path, error text) for the chapters that failed; empty when all succeeded.
    """
    root = Path(root)
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    todo = chapters(root) if force else stale(root)
    library = inputs_hash(root, inputs)
    for path in sorted(set(chapters(root)) - set(todo)):
        log(f"reused   {path.stem} (executed {read_record(path, root)['executed']})")
    failed = []
    timeout = int((book_config(root).get("execute") or {}).get("timeout") or 300)
    keys = {path: chapter_key(path, root, inputs, library) for path in todo}
    execute_one = functools.partial(execute, root=root, timeout=timeout)
    if free_cores is None:  # imported here: the book's extension loads this file without the package
        from tools.cores import idle_cores as free_cores
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        scheduler = as_cores_free(pool, execute_one, longest_first(todo, root), jobs, free_cores, log, settle_s)
        for path, future in scheduler:
            result = future.result()
            if result["error"]:
                failed.append((path, result["error"]))
                log(f"FAILED   {path.stem} after {result['wall_s']:.1f} s:\n{result['error']}")
                continue
            if chapter_key(path, root, inputs, inputs_hash(root, inputs)) != keys[path]:
                # the chapter, the library or the pins were edited while it ran: its outputs
                # belong to no version of the sources, so they are not cached
                failed.append((path, "its inputs changed while it executed"))
                log(f"CHANGED  {path.stem}: its code, lib/ or the pins changed while it executed; run again")
                continue
            store(path, result, root, inputs, library)
            log(f"executed {path.stem}: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU")
    restore_claims(root)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None,
                        help="most chapters executed at once (default: one per core; fewer while other work keeps cores busy)")
    parser.add_argument("--force", action="store_true", help="execute every chapter, changed or not")
    parser.add_argument("--check", action="store_true", help="only list the out-of-date chapters; exit 1 if any")
    args = parser.parse_args(argv)
    book_defaults()
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            print(f"out of date: {path.stem}")
        return 1 if out_of_date else 0
    failed = run(jobs=args.jobs, force=args.force, log=lambda line: print(line, flush=True))
    for path, _ in failed:
        print(f"chapter failed: {path.stem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
