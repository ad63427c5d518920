"""The book's own files agree with each other and with the install facts: the table of contents, the
chapters, the pins, Binder's environment, the Python versions stated, make's options."""

import json
import pathlib
import re

from .built_book import toc_pages

ROOT = pathlib.Path(__file__).resolve().parent.parent


def toc_files():
    return toc_pages()[1:]  # the parts' pages, without the landing page


def pins(lines):
    """{canonical name: version} of the ``name==version`` lines, read as tools.environment reads them."""
    from tools.environment import pins as written_pins

    return {name: version for name, (_, version) in written_pins("\n".join(lines)).items()}


def test_toc_and_notebooks_list_the_same_chapters():
    listed = sorted(f for f in toc_files() if f.startswith("notebooks/"))
    present = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.md"))
    assert listed == present
    assert present, "the book has no chapter"


def test_chapters_are_numbered_in_reading_order():
    chapters = [f.split("/")[1] for f in toc_files() if f.startswith("notebooks/")]
    numbers = [int(name.split("-")[0]) for name in chapters]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_every_toc_page_exists():
    for name in toc_files():
        assert (ROOT / f"{name}.md").exists(), f"{name}.md is in _toc.yml but missing"


def test_environment_yml_is_written_from_the_pins_and_is_current():
    from tools.environment import environment_yml

    text = (ROOT / "environment.yml").read_text()
    assert text == environment_yml(), "environment.yml is out of date: run `.venv/bin/python -m tools.environment`"
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    environment = pins(text.splitlines())
    assert constraints["torch"] == "2.13.0" and environment["torch"] == "2.13.0"
    assert all(constraints[name] == version for name, version in environment.items())


def test_binder_installs_the_book_extra_and_no_test_tool():
    from importlib.metadata import requires

    from tools.environment import closure

    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- -e \.\[book\]$", text, re.MULTILINE), "Binder must install the package with its book extra"
    test_tools = {re.split(r"[<>=!\[ ;]", r)[0].lower() for r in requires("deepissues") if "extra == \"test\"" in r}
    assert {"pytest", "playwright", "nbgrader", "foolbox"} <= test_tools
    assert not test_tools & set(pins(text.splitlines())), "Binder would install test tools"
    # negative control: the closure with the test extra does reach them
    assert {"pytest", "playwright"} <= closure(extras=("book", "test"))


def test_every_dependency_is_pinned():
    from importlib.metadata import requires

    names = {re.split(r"[<>=!\[ ;]", d)[0].lower() for d in requires("deepissues")}
    missing = names - set(pins((ROOT / "constraints.txt").read_text().splitlines()))
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"


def test_the_stated_python_versions_are_the_oldest_the_pins_accept():
    import tomllib
    from importlib.metadata import distribution

    from packaging.specifiers import SpecifierSet

    from tools.environment import oldest_python

    package, everything = oldest_python(), oldest_python(extras=("book", "test"))
    assert package.endswith(".0"), package
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={package.removesuffix('.0')}"
    for page in ("README.md", "book/intro.md"):
        assert f"Python {everything} or newer" in (ROOT / page).read_text(), page
    # negative control: the pinned numpy refuses the Python the files used to promise
    assert "3.10.0" not in SpecifierSet(distribution("numpy").metadata["Requires-Python"])


def test_make_takes_an_extra_index_for_torch_only_when_asked():
    import os
    import subprocess

    # a make of its own, not a part of the `make test` that may be running this test
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TORCH_INDEX")}

    def install_line(*args):
        out = subprocess.run(["make", "-n", "-W", "pyproject.toml", ".venv/.installed-test", *args], cwd=ROOT,
                             capture_output=True, text=True, check=True, env=env).stdout
        return next(line for line in out.splitlines() if "pip" in line and "install" in line)

    assert "--extra-index-url" not in install_line()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in install_line(
        "TORCH_INDEX=https://download.pytorch.org/whl/cpu")


def test_the_kernel_config_drops_only_the_tcp_warning_and_make_installs_it():
    import importlib.util
    import logging
    import sys

    source = ROOT / "tools" / "ipython_kernel_config.py"
    spec = importlib.util.spec_from_file_location("kernel_config", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    quiet = module._NoTcpEncryptionWarning()
    record = lambda message: logging.LogRecord("IPKernelApp", logging.WARNING, __file__, 1, message, None, None)
    assert not quiet.filter(record("Kernel is running over TCP without encryption. All communication ..."))
    assert quiet.filter(record("Kernel is running out of memory"))  # negative control: other lines pass
    installed = pathlib.Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    assert installed.read_text() == source.read_text(), "run make: the environment's kernel config is not current"


def test_every_chapter_opens_with_the_books_macros_for_jupyterlab():
    import jupytext
    import yaml

    from tools.chapter_macros import book_macros, chapters, with_macro_cell

    macros = book_macros()
    assert macros["norm"] == r"\left\lVert #1 \right\rVert" and macros["R"] == r"\mathbb{R}"
    for chapter in chapters():
        text = chapter.read_text()
        assert with_macro_cell(text, macros) == text, f"{chapter.name}: run `.venv/bin/python -m tools.chapter_macros`"
        first = jupytext.reads(text, "md:myst").cells[0]
        assert first.cell_type == "markdown" and first.metadata["tags"] == ["remove-cell"], chapter.name
        front_matter = yaml.safe_load(first.source.strip().removeprefix("---").removesuffix("---"))
        assert front_matter == {"math": {f"\\{name}": definition for name, definition in macros.items()}}, chapter.name


def test_the_macro_cell_is_replaced_not_repeated_and_a_header_is_required():
    import pytest

    from tools.chapter_macros import macro_cell, with_macro_cell

    chapter = "---\njupytext: {}\n---\n\n# Title\n\n$\\R$\n"
    written = with_macro_cell(chapter, {"R": r"\mathbb{R}"})
    assert written == "---\njupytext: {}\n---\n\n" + macro_cell({"R": r"\mathbb{R}"}) + "# Title\n\n$\\R$\n"
    assert with_macro_cell(written, {"R": r"\mathbb{R}"}) == written
    # control: a changed definition changes the cell in place, once
    changed = with_macro_cell(written, {"R": r"\mathbf{R}", "q": "it's"})
    assert changed != written and changed.count("math:") == 1 and "'\\q': 'it''s'" in changed
    with pytest.raises(ValueError, match="text: expected a chapter starting with its jupytext YAML header"):
        with_macro_cell("# Title\n", {})


def _benchmark(name):
    """The script benchmarks/<name>.py, imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readmes_timing_rows_are_computed_from_the_measured_times():
    book_times = _benchmark("book_times")
    rows = book_times.README_TABLE.search((ROOT / "README.md").read_text())
    assert rows, "the README lost its book-times markers"
    if not book_times.MEASURED.exists():  # not measured yet: then no number may be typed between the markers
        assert rows.group(0) == rows.group(1) + rows.group(2), "README rows without benchmarks/book_times.json"
        return
    assert rows.group(0) == rows.group(1) + book_times.readme_rows() + rows.group(2)
    measured = json.loads(book_times.MEASURED.read_text())
    assert re.search(rf"\*\*{measured['full_s']:.0f} s\*\* wall", (ROOT / "benchmarks" / "book_times.md").read_text())
    changed = dict(measured, full_s=measured["full_s"] + 60)  # the control: other numbers, other rows
    assert book_times.readme_rows(changed) != book_times.readme_rows()


def test_the_test_times_benchmark_reads_every_pytest_run_of_make_test():
    import pytest

    test_times = _benchmark("test_times")
    slowest = "=== slowest 2 durations ===\n{}s call     tests/test_a.py::test_x\n{}s call     nb.ipynb::Cell 3\n"
    log = ("executed 01-a: 3.0 s wall, 2.9 s CPU\nreused   02-b (executed today)\n."  # the other run's dot
           + "tests/test_a.py ..executed 03-c: 1.0 s wall, 0.9 s CPU\n"  # after another run's dots
           + slowest.format(9.5, 2.0) + "===== 4 passed, 1 deselected in 30.50s (0:00:30) =====\n"
           + slowest.format(7.0, 1.0) + "===== 2 passed in 12.00s =====\n")
    executed, reused, runs = test_times.parse(log)
    assert (executed, reused) == (2, 1)
    assert [(summary, seconds, len(lines)) for summary, seconds, lines in runs] == [
        ("4 passed, 1 deselected", 30.5, 2), ("2 passed", 12.0, 2)]
    assert "| 1.0 | call | `nb.ipynb::Cell 3` |" in test_times.table(100.0, 0, log)
    failing = log.replace("4 passed, 1 deselected", "1 failed, 3 passed, 1 deselected")  # a run with a failure
    assert test_times.parse(failing)[2][0][:2] == ("1 failed, 3 passed, 1 deselected", 30.5)
    with pytest.raises(ValueError, match="2 pytest summaries but 1 duration tables"):  # a table lost
        test_times.parse(log.replace(slowest.format(7.0, 1.0), ""))
    record = {"chapters": {"01-a": {"cpu_s": 2.0}, "02-b": {"cpu_s": 5.0}, "03-c": {"cpu_s": 0.5}}}
    assert test_times.hour_speed(log, record) == (3.8, 2.5)  # the executed chapters only, not 02-b
    assert "took **4 CPU s**, 1.52 times their 2 s" in test_times.table(100.0, 0, log, record=record)
    assert test_times.hour_speed("reused   02-b (executed today)\n", record) is None  # the control: none executed


def test_the_busy_machine_benchmark_counts_the_chapters_that_ran_at_once():
    busy_machine = _benchmark("busy_machine")

    def record(end, wall_s):  # a chapter's record: its end to the second, and its wall time
        return {"executed": f"2026-12-07T20:{end // 60:02d}:{end % 60:02d}", "wall_s": wall_s}

    one_after_another = {"a": record(10, 9.6), "b": record(21, 10.4), "c": record(30, 9.2)}
    assert busy_machine.most_at_once(one_after_another) == 1
    side_by_side = dict(one_after_another, d=record(25, 14.0))  # the control: d ran beside b and c
    assert busy_machine.most_at_once(side_by_side) == 2
    assert busy_machine.most_at_once({"a": record(10, 9.6), "failed": None}) == 1
    assert busy_machine.most_at_once({"short": record(10, 1.5)}) == 1  # under the 2 s margin, still one


def test_the_host_benchmark_splits_cpu_time_into_busy_idle_and_steal_and_times_its_reference():
    import pytest

    host = _benchmark("host")
    # user nice system idle iowait irq softirq steal guest guest_nice, in jiffies
    before = host.read_stat("cpu  100 0 50 800 20 0 0 30 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    after = host.read_stat("cpu  400 0 100 1200 20 0 0 280 0 0\n")
    shares = host.cpu_shares(before, after)  # 1,000 jiffies: 350 busy, 400 idle, 250 stolen
    assert shares == pytest.approx({"busy": 0.35, "idle": 0.4, "steal": 0.25})
    assert "25.0% was taken by the hypervisor" in host.describe(0.3, shares)
    assert "took **0.30 CPU s**" in host.describe(0.3)
    with pytest.raises(ValueError, match="after: expected a later reading"):  # the control: readings swapped
        host.cpu_shares(after, before)
    with pytest.raises(ValueError, match="text: expected a cpu line with 8 counters"):
        host.read_stat("cpu  1 2 3\n")
    assert 0 < host.reference_seconds() < 60  # a fresh process trains the reference network


def _undeclared_imports(sources, declared):
    """{module: chapter} of the top-level modules that ``sources`` ({chapter: code}) import and
    that neither the standard library, the package itself nor a ``declared`` distribution provides."""
    import ast
    import importlib.metadata
    import sys

    providers = importlib.metadata.packages_distributions()
    found = {}
    for chapter, code in sources.items():
        for node in ast.walk(ast.parse(code)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for module in (name.split(".")[0] for name in names):
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
                if module in sys.stdlib_module_names or module == "deepissues" or dists & declared:
                    continue
                found.setdefault(module, chapter)
    return found


def test_every_module_a_chapter_imports_is_a_declared_dependency():
    import tomllib

    import jupytext
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in project["dependencies"]}
    sources = {path.stem: "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code"
                                    and not c.source.lstrip().startswith(("%", "!")))
               for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))}
    assert _undeclared_imports(sources, declared) == {}
    # the control: a test tool imported by a chapter is caught, and so is pandas without its declaration
    assert _undeclared_imports({"x": "import fairlearn.metrics"}, declared) == {"fairlearn": "x"}
    assert "pandas" in _undeclared_imports(sources, declared - {"pandas"})


CODE_WIDTH = 80  # characters: what the page's code column shows at 1280 px (book/_static/book.css)


def lines_too_wide(chapter_text, width=CODE_WIDTH):
    """(code cell, line) for every line of a chapter's code cells longer than ``width``."""
    import jupytext

    cells = [c for c in jupytext.reads(chapter_text, fmt="md:myst").cells if c.cell_type == "code"]
    return [(i, line) for i, cell in enumerate(cells) for line in cell.source.splitlines() if len(line) > width]


def test_every_code_line_of_every_chapter_fits_the_page():
    chapters = sorted((ROOT / "notebooks").glob("*.md"))
    wide = {p.stem: lines_too_wide(p.read_text()) for p in chapters}
    assert not any(wide.values()), {stem: lines[:3] for stem, lines in wide.items() if lines}
    # control: one more character, in a code cell and not in the prose, is found
    chapter = "```{code-cell} ipython3\nx = 1  # " + "a" * 71 + "\n```\n\n" + "b" * 200 + "\n"
    assert lines_too_wide(chapter) == [] and lines_too_wide(chapter.replace("# a", "# aa")) == [
        (0, "x = 1  # " + "a" * 72)]
