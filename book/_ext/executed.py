"""The chapters' outputs come from ``tools/execute_chapters.py``'s cache, and only when current.

``make book`` executes the chapters on every core into jupyter-cache before Sphinx starts, and
``_config.yml`` sets ``execute_notebooks: cache``, so myst-nb reads each chapter's outputs from
there. This extension guards that hand-over:
- before Sphinx reads any page, it refuses to build when a chapter's cached outputs are missing
  or were made under another key (its code, the library, the pins or the environment changed),
  so the book never shows a number the current code would not print, and myst-nb never falls
  back to executing a chapter itself, one at a time;
- each chapter page depends on its execution record, so a chapter executed again is read again
  by an incremental build, while a page whose outputs did not change is not.
"""

import importlib.util
from pathlib import Path

from sphinx.errors import ExtensionError

CHAPTERS = "notebooks/"


def _tool():
    path = Path(__file__).resolve().parents[2] / "tools" / "execute_chapters.py"
    spec = importlib.util.spec_from_file_location("execute_chapters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refuse_stale(app, env, docnames):
    if app.config.nb_execution_mode != "cache":
        return
    tool, root = _tool(), Path(app.srcdir)
    out_of_date = [p.stem for p in tool.stale(root)]
    if out_of_date:
        raise ExtensionError(
            f"the cached outputs of {', '.join(out_of_date)} are missing or out of date (their code, the "
            f"library, the pins or the environment changed): run `make book`, which executes them first "
            f"(or `python -m tools.execute_chapters`)")


def depend_on_record(app, doctree):
    docname = app.env.docname
    if docname.startswith(CHAPTERS):
        tool = _tool()
        app.env.note_dependency(str(tool.records_path(Path(app.srcdir)) / f"{docname.split('/')[-1]}.json"))


def setup(app):
    app.connect("env-before-read-docs", refuse_stale)
    app.connect("doctree-read", depend_on_record)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
