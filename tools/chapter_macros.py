"""Write the book's LaTeX macros into each chapter, where JupyterLab's MyST renderer reads them.

The book declares its macros once, for MathJax, in ``_config.yml``. In JupyterLab (Binder), the
jupyterlab-myst extension renders the chapters' Markdown with KaTeX and takes macros only from
MyST front matter at the top of the notebook's first Markdown cell: neither the jupytext YAML
header nor notebook metadata is read. So each chapter opens with one Markdown cell holding that
front matter, tagged ``remove-cell``: the book leaves it out of the page, and the plain-Markdown
mirrors and assignments, which expand the macros themselves, leave it out too. This script
writes that cell from ``_config.yml``; a test checks that every chapter's cell is current.

    .venv/bin/python -m tools.chapter_macros            # rewrite the chapters' macro cells
    .venv/bin/python -m tools.chapter_macros --check    # exit 1 if one is out of date
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CELL_START = '+++ {"tags": ["remove-cell"]}\n\n---\nmath:\n'
# the jupytext header, then (when present) the macro cell up to the marker that opens the next cell
HEADER = re.compile(r"\A---\n.*?\n---\n\n", re.S)
MACRO_CELL = re.compile(re.escape(CELL_START) + r".*?\n---\n\n\+\+\+\n\n", re.S)


def book_macros(root=ROOT):
    """{name: definition} of the MathJax macros in ``root``'s ``_config.yml``, names without backslash.

    A macro with arguments is written there as [definition, count]; KaTeX counts the #1, #2 of the
    definition itself, so only the definition is kept.
    """
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    return {name: definition[0] if isinstance(definition, list) else definition for name, definition in macros.items()}


def _quoted(text):
    return "'" + text.replace("'", "''") + "'"  # YAML's single quotes keep backslashes as they are


def macro_cell(macros):
    """The chapter text of the macro cell for ``macros`` ({name: definition}), ending where the next cell starts."""
    lines = "".join(f"  {_quoted(chr(92) + name)}: {_quoted(definition)}\n" for name, definition in macros.items())
    return f"{CELL_START}{lines}---\n\n+++\n\n"


def with_macro_cell(text, macros):
    """The chapter ``text`` (jupytext MyST) with its macro cell, right after the header, set to ``macros``."""
    header = HEADER.match(text)
    if header is None:
        raise ValueError(f"text: expected a chapter starting with its jupytext YAML header, got {text[:60]!r}")
    body = text[header.end():]
    existing = MACRO_CELL.match(body)
    return text[:header.end()] + macro_cell(macros) + (body[existing.end():] if existing else body)


def chapters(root=ROOT):
    return sorted((Path(root) / "notebooks").glob("*.md"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1, changing nothing, if a chapter is out of date")
    args = parser.parse_args(argv)
    macros, stale = book_macros(), []
    for chapter in chapters():
        text = chapter.read_text()
        wanted = with_macro_cell(text, macros)
        if wanted != text:
            stale.append(chapter.relative_to(ROOT))
            if not args.check:
                chapter.write_text(wanted)
    if args.check and stale:
        sys.exit(f"out of date: {', '.join(map(str, stale))}; run `.venv/bin/python -m tools.chapter_macros`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
