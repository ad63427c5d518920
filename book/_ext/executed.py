"""The chapters' outputs come from ``tools/execute_chapters.py``'s cache, and only when current.

``make book`` executes the chapters on every core into jupyter-cache before Sphinx starts, and
``_config.yml`` sets ``execute_notebooks: cache``, so myst-nb reads each chapter's outputs from
there. This extension guards that hand-over: before Sphinx reads any page, it refuses to build when a
chapter's cached outputs are missing or were made under another key (its code, the library, the
pins or the environment changed). So the book never shows a number the current code would not
print, and myst-nb never falls back to executing a chapter itself, one at a time.

``make book`` still reads every page (``--all``): with the outputs cached that takes seconds, and no
page can keep a value of an earlier build through Sphinx's own incremental rules.
"""

import importlib.util
from pathlib import Path

from sphinx.errors import ExtensionError


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
    tool.book_defaults()  # the key of a chapter executed for the book
    out_of_date = [p.stem for p in tool.stale(root)]
    if out_of_date:
        raise ExtensionError(
            f"the cached outputs of {', '.join(out_of_date)} are missing or out of date (their code, the "
            f"library, the pins or the environment changed): run `make book`, which executes them first "
            f"(or `python -m tools.execute_chapters`)")


def setup(app):
    app.connect("env-before-read-docs", refuse_stale)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
