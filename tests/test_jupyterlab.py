"""The chapters in JupyterLab, as Binder serves them: the test environment's JupyterLab, configured
by the repository's own ``postBuild``, opens each chapter in Debian's chromium.

For every chapter: it opens as a notebook (not as a text file), jupyterlab-myst renders each of
its Markdown cells, KaTeX typesets every formula without an error (the book's macros come from the
front matter that tools/chapter_macros.py writes), no MyST directive, role or TeX is left raw in
the text, and the page logs no error. The negative controls: a chapter stripped of its macro cell,
with a directive JupyterLab does not know, fails those checks; a script, a file type postBuild
leaves alone, opens in the text editor.

The server runs on a copy of the chapters, with its settings, workspaces and runtime files in a
temporary folder, so nothing of the reader's own JupyterLab is read or written.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import pytest

from tools.chapter_macros import book_macros, chapters, macro_cell

from .test_browser import BROWSER, FLAGS

# With the tests of the built book (test-book), after the book is built: JupyterLab and chromium
# would otherwise slow down the chapters the build is executing.
pytestmark = pytest.mark.book
ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [path.name for path in chapters()]
BROKEN = "00-broken.md"
SCRIPT = "00-script.py"
# every cell rendered (the windowed notebook would render only those in view), and no autosave
SETTINGS = {"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
            "@jupyterlab/docmanager-extension:plugin": {"autosave": False}}

# The document in view: JupyterLab keeps the documents opened before it in the page, hidden.
CURRENT = """Array.from(document.querySelectorAll(".jp-MainAreaWidget")).filter(w => w.checkVisibility())"""

RENDERING = """() => {
    const current = """ + CURRENT + """;
    const cells = current.flatMap(w => Array.from(w.querySelectorAll(".jp-Notebook .jp-MarkdownCell")));
    const rendered = cells.map(c => c.querySelector(".myst")).filter(Boolean);
    const problems = [];
    rendered.forEach(r => {
        // KaTeX's message sits in the title of the marked formula; an unresolved citation is marked alike
        r.querySelectorAll("pre[title], .text-yellow-600[title]").forEach(e => {
            if (e.title !== "Citation Not Found") problems.push("math error: " + e.title);
        });
        const prose = r.cloneNode(true);
        prose.querySelectorAll(".katex, pre, code").forEach(e => e.remove());
        const text = prose.innerText || prose.textContent;
        const raw = [[/Unknown Directive/, "a directive it does not know"], [/`{3,}\\{[\\w:-]+\\}/, "a raw directive"],
                     [/\\{[\\w:-]+\\}`/, "a raw role"], [/^:[\\w-]+:/m, "a raw directive option"],
                     [/\\$\\$/, "raw $$"], [/\\\\[A-Za-z]{2,}/, "raw TeX"]];
        raw.forEach(([pattern, what]) => {
            const found = text.match(pattern);
            if (found) problems.push(what + ": " + text.slice(Math.max(0, found.index - 40), found.index + 60));
        });
    });
    return {cells: cells.length, rendered: rendered.length,
            formulas: current.flatMap(w => Array.from(w.querySelectorAll(".jp-MarkdownCell .myst .katex"))).length,
            notebook: current.filter(w => w.querySelector(".jp-Notebook")).length,
            editor: current.filter(w => w.querySelector(".jp-FileEditor")).length, problems};
}"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url, process, log, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}api/status", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}", pytrace=False)


def _configure(folder):
    """The environment of a JupyterLab whose settings live in ``folder``, set up by postBuild."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(folder / "config"), JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(folder / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run([str(ROOT / "postBuild")], env=env, check=True)
    overrides = folder / "config" / "labconfig" / "default_setting_overrides.json"
    settings = json.loads(overrides.read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["markdown"] == "Jupytext Notebook"
    for plugin, values in SETTINGS.items():
        settings.setdefault(plugin, {}).update(values)
    overrides.write_text(json.dumps(settings))
    return env


def _broken_chapter():
    """Chapter 06 without its macro cell, and with a directive JupyterLab does not know."""
    text = (ROOT / "notebooks" / "06-robustness-guarantees.md").read_text()
    text = text.replace(macro_cell(book_macros()), "", 1)
    return text.replace("\n# Robustness", "\n```{not-a-directive}\n:label: nowhere\nbody\n```\n\n# Robustness", 1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not BROWSER.exists():
        pytest.fail(f"the JupyterLab test needs Debian's chromium at {BROWSER}: `make test` installs it "
                    "(tools/install_browser.sh)", pytrace=False)
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("jupyterlab")
    work = folder / "work"
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("*.ipynb*"))
    (work / BROKEN).write_text(_broken_chapter())
    (work / SCRIPT).write_text("# %%\nprint('a script')\n")
    env, port, log = _configure(folder), _free_port(), folder / "lab.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
               f"--ServerApp.root_dir={work}"]  # on 127.0.0.1 only, for this test
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(url, server, log)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(BROWSER), args=FLAGS)
            yield Lab(url, chromium.new_page(viewport={"width": 1280, "height": 900}))
            chromium.close()
    finally:  # the kernels that opening the notebooks started stop with the server
        server.terminate()
        server.wait(timeout=30)


class Lab:
    """One JupyterLab page for every document: the first is opened by its address, which starts
    JupyterLab; the others as a reader opens a file by name, with the command palette's "Open from
    Path..." (starting JupyterLab anew for each chapter cost twice the CPU)."""

    def __init__(self, url, page):
        self.url, self.page, self.started, self.errors = url, page, False, []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path):
        if not self.started:
            self.page.goto(f"{self.url}lab/workspaces/tests/tree/{path}", wait_until="load")
            self.started = True
        else:
            self.page.keyboard.press("Control+Shift+C")
            self.page.wait_for_selector(".lm-CommandPalette-input", state="visible")
            self.page.keyboard.type("Open from Path")
            self.page.keyboard.press("Enter")
            self.page.wait_for_selector(".jp-Dialog input", state="visible")
            self.page.keyboard.type(str(path))
            self.page.keyboard.press("Enter")
        # the document is in view once the current tab bears its name
        self.page.wait_for_function(
            f"name => ({CURRENT}).some(w => w.querySelector('.jp-Notebook, .jp-FileEditor')) && document"
            ".querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')?.textContent.includes(name)",
            arg=Path(path).name, timeout=60_000)


def open_in_lab(lab, path, markdown_cells=None):
    """Open ``path`` (relative to the server's root) in ``lab``'s page; what the page shows of it.

    With ``markdown_cells``, wait until that many Markdown cells are rendered.
    """
    errors = len(lab.errors)
    lab.open(path)
    if markdown_cells:
        lab.page.wait_for_function(f"({CURRENT}).flatMap(w => Array.from(w.querySelectorAll("
                                   f"'.jp-MarkdownCell .myst'))).length >= {markdown_cells}", timeout=60_000)
        lab.page.wait_for_timeout(1000)  # the second pass, over the whole notebook, resolves references
    shown = lab.page.evaluate(RENDERING)
    shown.update(errors=lab.errors[errors:])
    return shown


def markdown_cell_count(text):
    return sum(cell.cell_type == "markdown" and bool(cell.source.strip()) for cell in jupytext.reads(text, "md:myst").cells)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_jupyterlab_renders_the_chapter_with_its_macros_and_no_raw_myst(lab, chapter):
    expected = markdown_cell_count((ROOT / "notebooks" / chapter).read_text())
    shown = open_in_lab(lab, f"notebooks/{chapter}", expected)
    assert shown["notebook"] == 1 and shown["editor"] == 0, "the chapter did not open as a notebook"
    assert shown["rendered"] == shown["cells"] == expected, shown
    assert shown["formulas"] > 0
    assert shown["problems"] == [], shown["problems"]
    assert shown["errors"] == [], shown["errors"]


def test_the_checks_see_a_missing_macro_an_unknown_directive_and_a_text_file(lab):
    shown = open_in_lab(lab, BROKEN, markdown_cell_count(_broken_chapter()))
    assert shown["notebook"] == 1
    assert any(p.startswith("math error:") and "\\norm" in p for p in shown["problems"]), shown["problems"]
    assert any(p.startswith("a directive it does not know") for p in shown["problems"]), shown["problems"]
    assert any("\\norm" in error for error in shown["errors"]), shown["errors"]
    script = open_in_lab(lab, SCRIPT)
    assert script["notebook"] == 0 and script["editor"] == 1
