"""The chapters' execution cache (tools/execute_chapters.py and book/_ext/executed.py).

The key's unit tests use the book's own chapters. The build tests make a tiny book in a temporary
folder, with the book's configuration and extensions, two chapters and a library of its own, and
build it the way ``make book`` does:
- a prose edit re-executes nothing, while a changed library constant that a page prints reaches
  the rebuilt page; the negative control, a cache keyed without the library, serves the old value;
- chapters executed two at a time leave the same claim records, glue values, alt text and report
  as chapters executed one at a time;
- the build refuses an out-of-date cache instead of showing its numbers.

The scheduler starts a chapter beside another only while a core is idle; its tests use a cheap
function in threads in place of chapters.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from tools import cores
from tools import execute_chapters as E

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
"""
PRINTS_CONSTANT = HEADER + """
# Constant

The value is {glue:text}`constant` here.

```{code-cell} ipython3
from booklib import VALUE
from deepissues import claims, glue
claims.chapter("01-constant")
glue.glue("constant", VALUE)
claims.check("the constant is positive", VALUE > 0, f"VALUE={VALUE}", kind="extends")
```
"""
DRAWS = HEADER + """
# Figure

```{code-cell} ipython3
import matplotlib.pyplot as plt
import torch
from deepissues import claims, glue, plotting
from deepissues.repro import seed_everything
seed_everything(0)
claims.chapter("02-figure")
mean = float(torch.randn(1000).mean())
glue.glue("mean", mean)
fig, ax = plt.subplots()
ax.plot([0, 1], [0, mean])
plotting.describe(fig, f"A line from 0 to the mean of 1000 normal draws, {mean:.4f}.")
claims.check("the mean of 1000 normal draws is within 0.2 of 0", abs(mean) < 0.2, f"mean={mean:.4f}",
             kind="extends")
```
"""

EDITS_ITS_LIBRARY = HEADER + """
# Edit

```{code-cell} ipython3
from pathlib import Path
Path("../lib/booklib/__init__.py").write_text("VALUE = 3\\n")  # as an editor saving mid-run would
```
"""


# --- the key ---------------------------------------------------------------------------------------

def _copy_chapter(tmp_path, name="06-robustness-guarantees.md"):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp_path)
    return Path(shutil.copy(ROOT / "notebooks" / name, tmp_path / "notebooks"))


def test_a_prose_edit_keeps_the_key_and_a_code_edit_changes_it(tmp_path):
    chapter = _copy_chapter(tmp_path)
    before = E.chapter_key(chapter, tmp_path)
    text = chapter.read_text()
    chapter.write_text(text.replace("\n## ", "\nOne more sentence of prose.\n\n## ", 1))
    assert E.chapter_key(chapter, tmp_path) == before
    chapter.write_text(text.replace("seed_everything(0)", "seed_everything(1)", 1))  # the control
    assert E.chapter_key(chapter, tmp_path) != before


def test_the_key_covers_the_library_the_pins_and_the_environment(tmp_path, monkeypatch):
    chapter = _copy_chapter(tmp_path)
    (tmp_path / "lib" / "pkg").mkdir(parents=True)
    (tmp_path / "lib" / "pkg" / "a.py").write_text("VALUE = 1\n")
    (tmp_path / "constraints.txt").write_text("torch==2.13.0\n")
    monkeypatch.delenv("DEEPISSUES_SEED", raising=False)
    before = E.chapter_key(chapter, tmp_path)
    (tmp_path / "lib" / "pkg" / "__pycache__").mkdir()
    (tmp_path / "lib" / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"litter")
    assert E.chapter_key(chapter, tmp_path) == before  # build litter is not an input
    (tmp_path / "lib" / "pkg" / "a.py").write_text("VALUE = 2\n")
    after_library = E.chapter_key(chapter, tmp_path)
    (tmp_path / "constraints.txt").write_text("torch==2.14.1\n")
    after_pins = E.chapter_key(chapter, tmp_path)
    monkeypatch.setenv("DEEPISSUES_SEED", "1")
    after_seed = E.chapter_key(chapter, tmp_path)
    monkeypatch.setenv("DEEPISSUES_CLAIMS_DIR", str(tmp_path))  # where records go sets no number,
    monkeypatch.setenv("DEEPISSUES_COMPARE_OUTPUTS", "1")  # nor what the notebook tests compare
    assert E.chapter_key(chapter, tmp_path) == after_seed
    assert len({before, after_library, after_pins, after_seed}) == 4
    assert E.chapter_key(chapter, tmp_path, inputs=()) == E.chapter_key(chapter, tmp_path, inputs=())


def test_bad_jobs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="jobs must be a positive int, got 0"):
        E.run(tmp_path, jobs=0)


def _most_at_once(idle, items=(1, 2, 3, 4), jobs=2, settle_s=0.05):
    """Run a 0.2 s call per item through ``E.as_cores_free`` on a thread per item, at most
    ``jobs`` at once, the machine reporting ``idle`` cores idle: (most calls at once, (item,
    result) pairs, log lines, seconds from the first start to the first look at the cores)."""
    lock, now, most, lines, starts, looks = threading.Lock(), [0], [0], [], [], []

    def work(item):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.2)
        with lock:
            now[0] -= 1
        return 10 * item

    def submit(function, item):  # the pool's submit, timed as the scheduler calls it
        starts.append(time.monotonic())
        return pool.submit(function, item)

    def free_cores():
        looks.append(time.monotonic())
        return idle

    with ThreadPoolExecutor(len(items)) as pool:
        scheduler = E.as_cores_free(type("Pool", (), {"submit": staticmethod(submit)}), work, items, jobs,
                                    free_cores, lines.append, settle_s)
        done = [(item, future.result()) for item, future in scheduler]
    return most[0], sorted(done), lines, (looks[0] - starts[0]) if looks else None


def test_a_chapter_starts_beside_another_only_while_a_core_is_idle():
    most, done, lines, _ = _most_at_once(idle=0.3)  # another process keeps the second core busy
    assert most == 1 and done == [(1, 10), (2, 20), (3, 30), (4, 40)]
    assert len(lines) == 1 and lines[0].startswith("busy     0.3 cores idle") and "waits for a free core" in lines[0]
    most, done, lines, _ = _most_at_once(idle=E.IDLE_ENOUGH)  # the control: a core free, two at once
    assert most == 2 and done == [(1, 10), (2, 20), (3, 30), (4, 40)] and lines == []


def test_no_more_than_jobs_chapters_run_at_once():
    assert _most_at_once(idle=9.0, jobs=1)[0] == 1
    assert _most_at_once(idle=9.0, jobs=3)[0] == 3  # the control: the threads allow four


def test_a_chapter_just_started_settles_before_the_cores_are_looked_at():
    assert _most_at_once(idle=9.0, settle_s=0.15)[3] >= 0.15
    assert _most_at_once(idle=9.0, settle_s=0.0)[3] < 0.1  # the control: no settling, a look at once


def _idle_cores_between(monkeypatch, *texts):
    """``cores.idle_cores`` where this process may run on CPUs 0 and 2 of three, and ``/proc/stat``
    reads ``texts`` in turn."""
    texts = iter(texts)
    monkeypatch.setattr(cores, "STAT", type("Stat", (), {"read_text": lambda: next(texts)}))
    monkeypatch.setattr(cores, "usable_cpus", lambda: [0, 2])
    return cores.idle_cores(window=0)


def _stat(*cpus):
    """/proc/stat's text with one line per CPU of ``cpus`` (user, idle, steal), and their sum."""
    lines = [f"cpu{n} {user} 0 0 {idle} 0 0 0 {steal} 0 0" for n, (user, idle, steal) in enumerate(cpus)]
    user, idle, steal = (sum(column) for column in zip(*cpus))
    return "\n".join([f"cpu  {user} 0 0 {idle} 0 0 0 {steal} 0 0", *lines, "intr 12345"]) + "\n"


def test_idle_cores_is_the_idle_share_of_the_cpus_this_process_may_use(monkeypatch):
    before = _stat((100, 100, 0), (100, 100, 0), (100, 100, 0))
    # over 200 jiffies per CPU: CPU 0 idle for 50 (20 stolen), CPU 2 for 150; CPU 1, which this
    # process may not use, idle throughout
    after = _stat((230, 150, 20), (100, 300, 0), (150, 250, 0))
    assert _idle_cores_between(monkeypatch, before, after) == pytest.approx(2 * 200 / 400)
    busy_after = _stat((300, 100, 0), (100, 300, 0), (300, 100, 0))  # the control: CPUs 0 and 2 busy
    assert _idle_cores_between(monkeypatch, before, busy_after) == 0
    with pytest.raises(ValueError, match="after: expected a later reading"):
        cores.cpu_shares(cores.read_stat(after), cores.read_stat(before))


def test_idle_cores_falls_back_on_the_load_where_proc_stat_stands_still(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.2, 0.1))
    still = _stat((100, 100, 0), (100, 100, 0), (100, 100, 0))
    assert _idle_cores_between(monkeypatch, still, still) == 1.5  # two usable CPUs less the load
    assert _idle_cores_between(monkeypatch, "intr 1\n", still) == 1.5  # no cpu lines at all


@pytest.mark.skipif(not cores.STAT.exists(), reason="reads Linux's /proc/stat")
def test_idle_cores_finds_no_core_free_while_every_core_spins():
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in cores.usable_cpus()]
    try:
        time.sleep(0.3)  # the interpreters have started and spin
        assert cores.idle_cores(window=0.5) < E.IDLE_ENOUGH  # whatever else the machine runs
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


# --- a tiny book, built as make book builds it ---------------------------------------------------------

def _tiny_book(folder, chapters):
    """A book in ``folder`` with the real configuration and extensions and ``chapters``
    ({file name: MyST text}), a library ``booklib`` in its lib/, and the report page."""
    (folder / "notebooks").mkdir(parents=True)
    (folder / "book").mkdir()
    shutil.copytree(ROOT / "book" / "_ext", folder / "book" / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "book" / "_static", folder / "book" / "_static")
    shutil.copytree(ROOT / "tools", folder / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("references.bib", "reproducibility.md"):
        shutil.copy(ROOT / "book" / name, folder / "book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["local_extensions"] = {name: "book/_ext" for name in ("reproducibility", "alt_text", "executed")}
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    toc = {"format": "jb-book", "root": "book/reproducibility",
           "chapters": [{"file": f"notebooks/{Path(name).stem}"} for name in sorted(chapters)]}
    (folder / "_toc.yml").write_text(yaml.safe_dump(toc))
    for name, text in chapters.items():
        (folder / "notebooks" / name).write_text(text)
    (folder / "lib" / "booklib").mkdir(parents=True)
    (folder / "lib" / "booklib" / "__init__.py").write_text("VALUE = 1\n")
    shutil.copy(ROOT / "constraints.txt", folder)
    return folder


def _environment(folder):
    env = dict(os.environ, DEEPISSUES_STATIC="1", OMP_NUM_THREADS="1", PYTHONPATH=str(folder / "lib"),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("DEEPISSUES_CLAIMS_DIR", None)  # the tiny book keeps its records in its own _build
    return env


def _execute(folder, jobs=1, inputs=None, check=True):
    """The first step of make book, in a fresh process as make runs it. With ``jobs`` > 1 the
    machine is taken as idle and nothing waits to settle, so that the chapters start at once even
    beside the other tests."""
    call = f"run(jobs={jobs}{'' if jobs == 1 else ', free_cores=lambda: 9.0, settle_s=0'}"
    call += ")" if inputs is None else f", inputs={tuple(inputs)!r})"
    code = f"import sys; from tools.execute_chapters import run; sys.exit(1 if {call} else 0)"
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=_environment(folder), check=check,
                          capture_output=True, text=True)


def _build(folder, check=True):
    shutil.rmtree(folder / "_build" / "html", ignore_errors=True)
    return subprocess.run([str(BIN / "jupyter-book"), "build", str(folder), "--warningiserror", "--keep-going", "--all"],
                          cwd=folder, env=_environment(folder), check=check, capture_output=True, text=True)


def _text(folder, page):
    html = (folder / "_build" / "html" / page).read_text(encoding="utf-8")
    return " ".join(BeautifulSoup(html, "html.parser").select_one("main").get_text(" ").split())


def _executed_at(folder, chapter):
    return json.loads((folder / "_build" / "executed" / f"{chapter}.json").read_text())["executed"]


def test_a_changed_library_constant_reaches_the_rebuilt_page_and_prose_reexecutes_nothing(tmp_path):
    book = _tiny_book(tmp_path / "book", {"01-constant.md": PRINTS_CONSTANT})
    _execute(book)
    executed = _executed_at(book, "01-constant")

    chapter = book / "notebooks" / "01-constant.md"
    chapter.write_text(chapter.read_text().replace("The value is", "The value now is"))
    _execute(book)
    _build(book)  # the first build: the cache's outputs under the edited prose
    assert "The value now is 1 here" in _text(book, "notebooks/01-constant.html")
    assert _executed_at(book, "01-constant") == executed  # prose alone: nothing ran again

    (book / "lib" / "booklib" / "__init__.py").write_text("VALUE = 2\n")
    _execute(book)
    _build(book)
    assert "The value now is 2 here" in _text(book, "notebooks/01-constant.html")
    assert "VALUE=2" in _text(book, "book/reproducibility.html")


def test_negative_control_a_cache_keyed_without_the_library_serves_the_old_value(tmp_path):
    book = _tiny_book(tmp_path / "book", {"01-constant.md": PRINTS_CONSTANT})
    _execute(book, inputs=())
    (book / "lib" / "booklib" / "__init__.py").write_text("VALUE = 2\n")
    _execute(book, inputs=())
    _build(book)
    assert "The value is 1 here" in _text(book, "notebooks/01-constant.html")  # stale


def test_the_build_refuses_outputs_that_are_out_of_date(tmp_path):
    book = _tiny_book(tmp_path / "book", {"01-constant.md": PRINTS_CONSTANT})
    _execute(book)
    (book / "lib" / "booklib" / "__init__.py").write_text("VALUE = 2\n")
    result = _build(book, check=False)  # without executing first
    assert result.returncode != 0
    assert "cached outputs of 01-constant are missing or out of date" in result.stdout + result.stderr
    assert not (book / "_build" / "html" / "notebooks" / "01-constant.html").exists()


def test_outputs_made_while_the_library_changed_are_not_cached(tmp_path):
    book = _tiny_book(tmp_path / "book", {"02-edit.md": EDITS_ITS_LIBRARY})
    result = _execute(book, check=False)
    assert result.returncode == 1 and "CHANGED  02-edit" in result.stdout
    assert not (book / "_build" / "executed" / "02-edit.json").exists()
    assert [p.stem for p in E.stale(book)] == ["02-edit"]
    # the control: run again, the chapter writes what the file already holds, and its outputs are kept
    assert _execute(book).returncode == 0 and E.stale(book) == []


def _built_facts(folder):
    """Claim records (without their time), glue values, alt text and the report's claim tables."""
    claims = {p.stem: [{k: v for k, v in c.items() if k != "time"} for c in json.loads(p.read_text())["claims"]]
              for p in sorted((folder / "_build" / "claims").glob("*.json"))}
    glue = {p.name: p.read_text() for p in sorted((folder / "_build" / "jupyter_execute").rglob("*.glue.json"))}
    pages = {page: BeautifulSoup((folder / "_build" / "html" / page).read_text(encoding="utf-8"), "html.parser")
             for page in ("notebooks/01-constant.html", "notebooks/02-figure.html", "book/reproducibility.html")}
    alt = {page: [img.get("alt") for img in soup.select("main img[src*=\"_images\"]")] for page, soup in pages.items()}
    ledgers = [str(table) for table in pages["book/reproducibility.html"].select("table.claims-ledger")]
    return claims, glue, alt, ledgers


def test_chapters_executed_two_at_a_time_build_the_same_book_as_one_at_a_time(tmp_path):
    chapters = {"01-constant.md": PRINTS_CONSTANT, "02-figure.md": DRAWS}
    serial, parallel = (_tiny_book(tmp_path / name, chapters) for name in ("serial", "parallel"))
    for folder, jobs in ((serial, 1), (parallel, 2)):
        _execute(folder, jobs=jobs)
        _build(folder)
    one, two = _built_facts(serial), _built_facts(parallel)
    assert one == two
    claims, glue, alt, ledgers = one
    assert set(claims) == {"01-constant", "02-figure"} and len(ledgers) == 2
    assert "A line from 0 to the mean of 1000 normal draws" in alt["notebooks/02-figure.html"][0]
    assert any('"mean"' in text for text in glue.values())
