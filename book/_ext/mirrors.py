"""Jupyter-notebook mirrors of the chapters, for Colab and for download, in plain Markdown.

The chapters are jupytext Markdown files in MyST, which Colab cannot open and which neither
Colab nor a plain JupyterLab renders. This extension
- writes notebooks/NN-topic.ipynb (outputs stripped) next to each chapter's HTML page, starting
  with the install cell the nbgrader assignments start with;
- turns its MyST into Markdown any Jupyter renders (:class:`PlainMarkdown`): theorems, proofs and
  exercises become headed blocks, citations "Author (year)" linked to their entry in the book's
  bibliography (names in Unicode, as the bibliography prints them),
  ``{doc}`` links to the book's pages, each ``{glue}`` role the number this build glued,
  ``{include}`` the included file, and the book's LaTeX macros their definitions;
- hides the solutions: their prose in a collapsed ``<details>`` block, their code in a code cell
  that Colab and JupyterLab show collapsed (so the mirror still runs top to bottom);
- points the page's ".ipynb" download button at that file, and the Colab launch button at the
  same file on the branch ``ipynb_mirror_branch`` (default "ipynb"), which ``make mirrors`` fills.

``tools/assignments.py`` converts the assignments' Markdown with the same class.
"""

import functools
import json
import re
from pathlib import Path

import jupytext
import nbformat
import yaml
from myst_nb.core.variables import format_plain_text

CHAPTERS = "notebooks/"
GLUE_ROLE = re.compile(r"\{glue(?::(?:text)?)?\}`([^`:]+)(?::([^`]*))?`")
ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<content>[^`]*)`")
DIRECTIVE = re.compile(r"^(?P<ticks>`{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<argument>.*)$")
OPTION = re.compile(r"^:[\w-]+:")
MATH = re.compile(r"\$\$.+?\$\$|\$(?:[^$\n]|\n(?![ \t]*\n))+?\$", re.S)  # inline math may wrap, not span paragraphs
HEADED = {"prf:theorem": "Theorem", "prf:proposition": "Proposition", "prf:lemma": "Lemma",
          "prf:corollary": "Corollary", "prf:definition": "Definition"}
INSTALL_CELL = '''# Run this cell first. On Colab it installs the deepissues package (Colab's own torch is kept);
# on Binder, or wherever the book's environment is installed, it does nothing.
import importlib.util
import subprocess
import sys

DEEPISSUES = "deepissues @ git+{url}@{tag}"
if importlib.util.find_spec("deepissues") is None and "google.colab" in sys.modules:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", DEEPISSUES])'''
SOLUTION_TITLE = "#@title Solution (hidden: open the cell to read it)"


def install_cell(root, url=None, tag=None):
    """The first cell of every mirror and assignment: it installs the package from ``url`` (default:
    the book's repository) at ``tag`` (default: v<version>, the tag ``make mirrors`` pushes)."""
    from deepissues import __version__

    url = url or yaml.safe_load((Path(root) / "_config.yml").read_text())["repository"]["url"]
    return INSTALL_CELL.format(url=url, tag=tag or f"v{__version__}")


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


@functools.cache
def _text_backend():
    """pybtex's plain-text backend, looked up once: ``render_as`` looks it up again on every call,
    through the installed packages' entry points (a sixth of a second each)."""
    from pybtex.plugin import find_plugin

    return find_plugin("pybtex.backends", "text")()


def _plain_tex(text):
    """A BibTeX field as plain Unicode text, decoded by pybtex as the HTML bibliography decodes it:
    accents become letters (``Mont{\\'u}far`` reads Montúfar), braces go, TeX quotes and dashes
    become typographic ones."""
    from pybtex.richtext import Text

    return Text.from_latex(text.replace("``", "“").replace("''", "”")).render(_text_backend())


def citation_anchor(key):
    """The id of ``key``'s entry on the bibliography page: ``_config.yml`` sets sphinxcontrib-bibtex's
    ``bibtex_cite_id`` to ``cite-{key}``, and docutils makes an id of it."""
    from docutils.nodes import make_id

    return make_id(f"cite-{key}")


def _braced(text, start):
    """(argument, end) of a macro's argument at ``text[start:]``: a balanced {group} or one token."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start < len(text) and text[start] == "{":
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                return text[start + 1:end], end + 1
        raise ValueError(f"unbalanced braces in {text!r}")
    token = re.match(r"\\[A-Za-z]+|\\.|.", text[start:], re.S)
    if token is None:
        raise ValueError(f"a macro at the end of {text!r} has no argument")
    return token.group(), start + token.end()


class PlainMarkdown:
    """The book's MyST Markdown as Markdown that Colab and plain Jupyter render.

    Parameters
    ----------
    root : Path, the book's root (``_config.yml``, the bibliography, the chapters).
    values : dict {name: text/plain} of the glued numbers, or None where no build glued them:
        then a glue role becomes the glued variable's name as code.
    """

    def __init__(self, root, values=None):
        from pybtex.database import parse_file

        self.root, self.values = Path(root), values
        config = yaml.safe_load((self.root / "_config.yml").read_text())
        self.macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
        self.site = config["html"]["baseurl"].rstrip("/") + "/"
        self.bibliography = parse_file(self.root / config["bibtex_bibfiles"][0]).entries

    # ------------------------------------------------------------------ blocks
    def blocks(self, text, folder, in_solution=False):
        """Split one Markdown cell at the solution markers and convert every directive.

        Returns ``(segments, in_solution)``: ``segments`` is a list of ``(inside_solution, text)``
        with the text converted, and ``in_solution`` whether a solution is still open at the end.
        """
        segments, current, lines = [], [], iter(text.splitlines())

        def flush():
            if "\n".join(current).strip():
                segments.append((in_solution, self.prose("\n".join(current), folder)))
            current.clear()

        for line in lines:
            directive = DIRECTIVE.match(line)
            if not directive:
                current.append(line)
                continue
            name, argument = directive["name"], directive["argument"].strip()
            body = self._body(lines, directive["ticks"])
            if name == "exercise-start":
                current.append("### Exercise")
            elif name in ("solution-start", "solution-end"):
                flush()
                in_solution = name == "solution-start"
            elif name in HEADED:
                current += [f"**{HEADED[name]}{f' ({argument})' if argument else ''}.**", "", *body]
            elif name == "prf:proof":
                current += ["*Proof.*", "", *body, "", "∎"]
            elif name == "include":
                current += (folder / argument).read_text().splitlines()
            elif name != "exercise-end":
                raise ValueError(f"the {{{name}}} directive has no plain-Markdown form for the notebooks: "
                                 "add one to book/_ext/mirrors.py")
        flush()
        return segments, in_solution

    @staticmethod
    def _body(lines, ticks):
        """A directive's content lines (its options left out), up to its closing fence."""
        body = []
        for line in lines:
            if line == ticks:
                break
            if body or not OPTION.match(line):
                body.append(line)
        while body and not body[0].strip():
            body.pop(0)
        return body

    # ------------------------------------------------------------------ prose
    def prose(self, text, folder):
        """Roles replaced, and the book's macros expanded inside the mathematics."""
        text = ROLE.sub(lambda role: self._role(role["name"], role["content"], folder), text)
        return MATH.sub(lambda math: self.expand_macros(math.group()), text)

    def _role(self, name, content, folder):
        if name in ("glue", "glue:", "glue:text"):
            if self.values is None:
                return f"`{content.split(':')[0]}`"
            return replace_glue(f"{{glue:text}}`{content}`", self.values)
        if name in ("cite", "cite:p", "cite:t"):
            cited = [self._citation(key.strip(), name == "cite:t") for key in content.split(",")]
            return "; ".join(cited) if name == "cite:t" else f"({'; '.join(cited)})"
        if name == "doc":
            explicit = re.fullmatch(r"(?P<label>.*?)\s*<(?P<target>[^>]+)>", content)
            label, target = (explicit["label"], explicit["target"]) if explicit else (None, content)
            page = (folder / target).resolve().relative_to(self.root.resolve())
            title = label or next(line[2:] for line in (self.root / f"{page}.md").read_text().splitlines()
                                  if line.startswith("# "))
            return f"[{title}]({self.site}{page}.html)"
        raise ValueError(f"the {{{name}}} role has no plain-Markdown form for the notebooks: add one to book/_ext/mirrors.py")

    def _citation(self, key, textual):
        if key not in self.bibliography:
            raise KeyError(f"{key!r} is cited but not in the bibliography")
        entry = self.bibliography[key]
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_plain_tex(" ".join(p.prelast_names + p.last_names)) for p in people]
        who = (names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2
               else f"{names[0]} et al." if names else " ".join(_plain_tex(entry.fields["title"]).split()[:6]) + "…")
        year = entry.fields.get("year", "n.d.")
        link = f"{self.site}book/bibliography.html#{citation_anchor(key)}"
        return f"[{who} ({year})]({link})" if textual else f"[{who}, {year}]({link})"

    def expand_macros(self, math):
        """``math`` with every macro of the book's MathJax configuration replaced by its definition."""
        names = "|".join(sorted(map(re.escape, self.macros), key=len, reverse=True))
        # a macro is a control word not preceded by an escaping backslash (``\\`` is a line break)
        pattern = re.compile(rf"(?<!\\)((?:\\\\)*)\\({names})(?![A-Za-z])")
        while match := pattern.search(math):
            definition = self.macros[match.group(2)]
            end = match.end()
            if isinstance(definition, list):
                definition, count = definition
                for index in range(1, count + 1):
                    argument, end = _braced(math, end)
                    definition = definition.replace(f"#{index}", argument)
            math = math[:match.start()] + match.group(1) + definition + math[end:]
        return math


def shown_cells(notebook):
    """The chapter's cells less the Markdown ones tagged ``remove-cell``, which the book leaves out
    too: the MyST front matter that declares the macros for JupyterLab (tools/chapter_macros.py)."""
    return [cell for cell in notebook.cells
            if not (cell.cell_type == "markdown" and "remove-cell" in cell.metadata.get("tags", []))]


def plain_cells(notebook, converter, folder):
    """The mirror's cells: the chapter's, in plain Markdown, with the solutions hidden."""
    cells, in_solution = [], False
    for cell in shown_cells(notebook):
        if cell.cell_type == "markdown":
            segments, in_solution = converter.blocks(cell.source, folder, in_solution)
            for hidden, text in segments:
                cells.append(nbformat.v4.new_markdown_cell(
                    f"<details>\n<summary>Solution</summary>\n\n{text}\n\n</details>" if hidden else text))
        elif in_solution:
            cells.append(nbformat.v4.new_code_cell(f"{SOLUTION_TITLE}\n{cell.source}", metadata={
                "cellView": "form", "jupyter": {"source_hidden": True}, "tags": ["solution"]}))
        else:
            tags = cell.metadata.get("tags", [])
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags} if tags else {}))
    return cells


def mirror(chapter, root, values):
    """The mirror notebook of ``chapter`` (a path to notebooks/NN-topic.md): install cell first."""
    notebook = jupytext.read(chapter)
    cells = plain_cells(notebook, PlainMarkdown(root, values), Path(chapter).parent)
    notebook.cells = [nbformat.v4.new_code_cell(install_cell(root)), *cells]
    return notebook


def write_mirrors(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    executed_folder = Path(app.outdir).parent / "jupyter_execute"  # where myst-nb writes what a run glued
    for docname in sorted(d for d in app.env.found_docs if _is_chapter(d)):
        glue_file = executed_folder / f"{docname}.glue.json"
        values = glued_values(json.loads(glue_file.read_text())) if glue_file.exists() else {}
        target = Path(app.outdir) / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(mirror(Path(app.srcdir) / f"{docname}.md", Path(app.srcdir), values), target)


def setup(app):
    app.add_config_value("ipynb_mirror_branch", "ipynb", "html")
    app.connect("html-page-context", retarget_buttons, priority=502)  # after the theme adds its buttons
    app.connect("build-finished", write_mirrors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
