"""Jupyter-notebook mirrors of the chapters, for Colab and for download.

The chapters are jupytext Markdown files, which Colab cannot open. This extension
- writes notebooks/NN-topic.ipynb (outputs stripped) next to each chapter's HTML page;
- points the page's ".ipynb" download button at that file;
- points the Colab launch button at the same file on the branch ``ipynb_mirror_branch``
  (default "ipynb"), which ``make mirrors`` fills from the built book;
- replaces each ``{glue}`` role in the prose with the number this build glued, since nothing
  outside the book resolves the role.
"""

import json
import re
from pathlib import Path

import jupytext
import nbformat
from myst_nb.core.variables import format_plain_text

CHAPTERS = "notebooks/"
GLUE_ROLE = re.compile(r"\{glue(?::(?:text)?)?\}`([^`:]+)(?::([^`]*))?`")


def _is_chapter(pagename):
    return pagename.startswith(CHAPTERS)


def retarget_buttons(app, pagename, templatename, context, doctree):
    if not _is_chapter(pagename):
        return
    mirror = app.config.ipynb_mirror_branch
    name = pagename.split("/")[-1]
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                button["url"] = re.sub(r"/blob/[^/]+/", f"/blob/{mirror}/", button["url"], count=1).removesuffix(".md") + ".ipynb"
            elif button.get("label") == "download-notebook-button":
                button["url"] = f"{name}.ipynb"


def glued_values(glue_data):
    """{name: text/plain} from myst-nb's glue data, ``{name: output}`` as in ``<chapter>.glue.json``."""
    return {name: output["data"]["text/plain"] for name, output in glue_data.items()}


def replace_glue(text, values):
    """``text`` with every ``{glue}`name:spec``` role replaced by the formatted glued value."""
    def number(match):
        name, spec = match.group(1), match.group(2) or ""
        if name not in values:
            raise KeyError(f"the prose refers to {name!r}, which the chapter never glued")
        return format_plain_text(values[name], spec)

    return GLUE_ROLE.sub(number, text)


def write_mirrors(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    executed_folder = Path(app.outdir).parent / "jupyter_execute"  # where myst-nb writes what a run glued
    for docname in sorted(d for d in app.env.found_docs if _is_chapter(d)):
        notebook = jupytext.read(Path(app.srcdir) / f"{docname}.md")
        glue_file = executed_folder / f"{docname}.glue.json"
        values = glued_values(json.loads(glue_file.read_text())) if glue_file.exists() else {}
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            elif cell.cell_type == "markdown":
                cell.source = replace_glue(cell.source, values)
        target = Path(app.outdir) / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)


def setup(app):
    app.add_config_value("ipynb_mirror_branch", "ipynb", "html")
    app.connect("html-page-context", retarget_buttons, priority=502)  # after the theme adds its buttons
    app.connect("build-finished", write_mirrors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
