"""Turn the chapters into nbgrader assignments (``make assignments``).

Every chapter notebooks/NN-topic.md becomes an nbgrader course assignment NN-topic, in a course
directory (default _build/assignments):
- source/NN-topic/NN-topic.ipynb, the teacher's version:
  - a first cell that installs deepissues on Colab (and does nothing elsewhere);
  - every code cell tagged ``solution`` becomes an autograded answer, with its code between
    ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  - every code cell tagged ``check`` becomes a locked autograder test worth one point;
  - the exercise directives become plain headings, and the prose of the hidden solutions is
    left out (the book has it);
- release/NN-topic/, the student version, from ``nbgrader generate_assignment``;
- zips/NN-topic.zip, the release version zipped.

Usage: python -m tools.assignments [--root DIR] [CHAPTER ...]
"""

import argparse
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "open-issues-in-deep-learning"
INSTALL_CELL = '''# Run this cell first. On Colab it installs the deepissues package (Colab's own torch is kept);
# on Binder, or wherever the book's environment is installed, it does nothing.
import importlib.util
import subprocess
import sys

DEEPISSUES = "deepissues @ git+{url}@{tag}"
if importlib.util.find_spec("deepissues") is None and "google.colab" in sys.modules:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", DEEPISSUES])'''
CONFIG = '''c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "{course}"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Execute.timeout = 600
'''
DIRECTIVE = re.compile(r"^```\{(exercise-start|exercise-end|solution-start|solution-end)\}")


def release_tag():
    """The git tag the install cell pins: v<package version>."""
    from deepissues import __version__
    return f"v{__version__}"


def repository_url():
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def nbgrader_source(chapter, url=None, tag=None):
    """The nbgrader source notebook of one chapter (a path to notebooks/NN-topic.md)."""
    chapter = Path(chapter)
    notebook = jupytext.read(chapter)
    name = chapter.stem
    cells = [_cell(nbformat.v4.new_code_cell(INSTALL_CELL.format(url=url or repository_url(), tag=tag or release_tag())),
                   grade_id="install", locked=True)]
    in_solution, answers, checks = False, 0, 0
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            text, in_solution = _plain_markdown(cell.source, in_solution)
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


def _plain_markdown(text, in_solution):
    """Drop MyST's exercise and solution directives (an exercise gets a heading instead) and the
    prose inside solutions; return the text and whether a solution is still open."""
    kept, lines = [], iter(text.splitlines())
    for line in lines:
        directive = DIRECTIVE.match(line)
        if directive:
            for rest in lines:  # the directive's options, up to its closing fence
                if rest.startswith("```"):
                    break
            kind = directive[1]
            if kind == "exercise-start":
                kept.append("### Exercise")
            in_solution = {"solution-start": True, "solution-end": False}.get(kind, in_solution)
        elif not in_solution:
            kept.append(line)
    return "\n".join(kept), in_solution


def write_course(root, chapters, url=None, tag=None):
    """Write nbgrader_config.py and one source notebook per chapter under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(course=COURSE_ID))
    for chapter in chapters:
        target = root / "source" / Path(chapter).stem / f"{Path(chapter).stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_source(chapter, url, tag), target)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter sources (default: every notebooks/*.md)")
    parser.add_argument("--root", default=str(ROOT / "_build" / "assignments"), help="the nbgrader course directory")
    args = parser.parse_args(argv)
    chapters = args.chapters or sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    write_course(args.root, chapters)
    for chapter in chapters:
        release(args.root, Path(chapter).stem)
        print(f"released {Path(chapter).stem}")
    print(f"source, release and zips in {args.root}")


if __name__ == "__main__":
    main()
