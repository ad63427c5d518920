"""Turn the chapters into nbgrader assignments (``make assignments``).

Every chapter notebooks/NN-topic.md becomes an nbgrader course assignment NN-topic, in a course
directory (default _build/assignments):
- source/NN-topic/NN-topic.ipynb, the teacher's version:
  - a first cell that installs deepissues on Colab (and does nothing elsewhere);
  - every code cell tagged ``solution`` becomes an autograded answer, with its code between
    ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  - every code cell tagged ``check`` becomes a locked autograder test worth one point;
  - the Markdown is plain, converted as the Colab mirrors are (book/_ext/mirrors.py): exercises
    become headings, theorems and proofs headed blocks, citations links, the book's macros their
    definitions, and each glued number the value the last `make book` glued (the variable's name
    where the book was not built); the prose of the hidden solutions is left out (the book has it);
- release/NN-topic/, the student version, from ``nbgrader generate_assignment``;
- zips/NN-topic.zip, the release version zipped.

The glued numbers must be those of the current code: the command refuses to run when the book's
outputs are missing or out of date for a chapter it converts (``make assignments`` builds the
book first, which executes only what changed).

Colab saves a student's notebook as "Copy of NN-topic.ipynb", which nbgrader would skip and score
0. ``--accept-copies`` renames such a file in every ``submitted/<student>/NN-topic/`` folder to
the assignment's own name, when the folder has no notebook of that name, before ``nbgrader
autograde``.

Usage: python -m tools.assignments [--root DIR] [CHAPTER ...]
       python -m tools.assignments --accept-copies [--root DIR]
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "open-issues-in-deep-learning"
CONFIG = '''c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "{course}"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Execute.timeout = 600
'''


def _book_extension(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mirrors = _book_extension("mirrors")
INSTALL_CELL = mirrors.INSTALL_CELL


def glued_numbers(chapter):
    """The numbers the last book build glued for ``chapter``, or None where it was not built."""
    glue_file = ROOT / "_build" / "jupyter_execute" / "notebooks" / f"{Path(chapter).stem}.glue.json"
    return mirrors.glued_values(json.loads(glue_file.read_text())) if glue_file.exists() else None


def nbgrader_source(chapter, url=None, tag=None, values=None):
    """The nbgrader source notebook of one chapter (a path to notebooks/NN-topic.md); ``values``
    are the glued numbers the prose quotes (see :func:`glued_numbers`)."""
    chapter = Path(chapter)
    notebook = jupytext.read(chapter)
    name = chapter.stem
    cells = [_cell(nbformat.v4.new_code_cell(mirrors.install_cell(ROOT, url, tag)), grade_id="install", locked=True)]
    converter = mirrors.PlainMarkdown(ROOT, values)
    in_solution, answers, checks = False, 0, 0
    for cell in mirrors.shown_cells(notebook):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            segments, in_solution = converter.blocks(cell.source, chapter.parent, in_solution)
            text = "\n\n".join(text for hidden, text in segments if not hidden)  # the book has the solutions
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text))
        elif "solution" in tags:
            answers += 1
            code = f"### BEGIN SOLUTION\n{cell.source}\n### END SOLUTION"
            cells.append(_cell(nbformat.v4.new_code_cell(code), grade_id=f"{name}-answer-{answers}", solution=True))
        elif "check" in tags:
            checks += 1
            cells.append(_cell(nbformat.v4.new_code_cell(cell.source), grade_id=f"{name}-check-{checks}", grade=True,
                               locked=True, points=1))
        else:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags} if tags else {}))
    if not checks:
        raise ValueError(f"{chapter} has no cell tagged 'check', so nothing could be graded")
    result = nbformat.v4.new_notebook(cells=cells)
    result.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return result


def _cell(cell, grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def write_course(root, chapters, url=None, tag=None):
    """Write nbgrader_config.py and one source notebook per chapter under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(course=COURSE_ID))
    for chapter in chapters:
        target = root / "source" / Path(chapter).stem / f"{Path(chapter).stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_source(chapter, url, tag, values=glued_numbers(chapter)), target)


def nbgrader(root, *args):
    """Run an nbgrader command in the course directory ``root``; raise with its output if it fails."""
    # nbgrader runs the alembic command to set up its database, so the environment's bin comes first
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def release(root, name):
    """Generate the student version of assignment ``name`` and zip it into zips/<name>.zip."""
    root = Path(root)
    nbgrader(root, "generate_assignment", name, "--force")
    (root / "zips").mkdir(exist_ok=True)
    with zipfile.ZipFile(root / "zips" / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / "release" / name).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root / "release"))


COPY = re.compile(r"^(?:Copy of )+(?P<name>.+?)(?: \(\d+\))?\.ipynb$")  # Colab's names for a saved copy


def accept_copies(root):
    """Rename each "Copy of NN-topic.ipynb" in ``root``/submitted/<student>/NN-topic/ to
    NN-topic.ipynb where that folder has no NN-topic.ipynb, so that nbgrader grades it.

    Returns
    -------
    list of (renamed, skipped) paths: the copies renamed, and the copies left because the folder
    already has the assignment's notebook (nbgrader grades that one).
    """
    renamed, skipped = [], []
    for folder in sorted(p for p in Path(root).glob("submitted/*/*") if p.is_dir()):
        target = folder / f"{folder.name}.ipynb"
        for copy in sorted(folder.glob("*.ipynb")):
            match = COPY.match(copy.name)
            if not match or match["name"] != folder.name:
                continue
            if target.exists():
                skipped.append(copy)
            else:
                copy.rename(target)
                renamed.append(target)
    return renamed, skipped


def refuse_stale_numbers(chapters):
    """Stop with a message when the book's outputs for any of ``chapters`` are missing or out of
    date: the assignments would quote numbers (or variable names) the current code does not print."""
    from tools.execute_chapters import stale

    out_of_date = [p.stem for p in stale(ROOT, [Path(c) for c in chapters])]
    if out_of_date:
        raise SystemExit(f"the book's numbers for {', '.join(out_of_date)} are missing or out of date, so the "
                         f"assignments would quote stale numbers or variable names: run `make book` first "
                         f"(`make assignments` does)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter sources (default: every notebooks/*.md)")
    parser.add_argument("--root", default=str(ROOT / "_build" / "assignments"), help="the nbgrader course directory")
    parser.add_argument("--accept-copies", action="store_true",
                        help='rename Colab\'s "Copy of NN-topic.ipynb" submissions so that nbgrader grades them')
    args = parser.parse_args(argv)
    if args.accept_copies:
        renamed, skipped = accept_copies(args.root)
        for path in renamed:
            print(f"renamed to {path}")
        for path in skipped:
            print(f"left {path}: the folder already has {path.parent.name}.ipynb, which nbgrader grades")
        return
    chapters = args.chapters or sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    refuse_stale_numbers(chapters)
    write_course(args.root, chapters)
    for chapter in chapters:
        release(args.root, Path(chapter).stem)
        print(f"released {Path(chapter).stem}")
    print(f"source, release and zips in {args.root}")


if __name__ == "__main__":
    main()
