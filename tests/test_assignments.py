"""`make assignments` with the real nbgrader: the release holds no solution code, the teacher's
version autogrades to full marks, the untouched release to zero without crashing, and a wrong
answer loses exactly its own check. The Colab install cell is run with Colab mocked."""

import importlib.util
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest

from tools import assignments

from .test_mirrors import MYST_LEFT, macros_used, mirrors

ROOT = Path(__file__).resolve().parents[1]
NAME = "11-error-decomposition"  # the fastest chapter (each autograde executes it), with two graded exercises
FIND_SPEC = importlib.util.find_spec


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    assignments.write_course(root, [ROOT / "notebooks" / f"{NAME}.md"])
    assignments.release(root, NAME)
    return root


def _solution_lines(notebook):
    lines = set()
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            lines |= {line.strip() for line in body.splitlines() if line.strip()}
    return lines


def _wrong_answer(notebook):
    """``notebook`` with the second exercise answered wrongly."""
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{NAME}-answer-2")
    answer.source = "### BEGIN SOLUTION\nlinear_generalisation = 0.5\n### END SOLUTION"
    return notebook


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Three submissions autograded by one nbgrader run (each one executes the chapter): the
    teacher's version saved as Colab names a copy, the untouched release, and a wrong answer.
    Returns ({student: {check: (score, max)}}, the renamed and skipped copies)."""
    from nbgrader.api import Gradebook

    submissions = {"teacher": (f"Copy of {NAME}.ipynb", _read(course, "source")),
                   "blank": (f"{NAME}.ipynb", _read(course, "release")),
                   "wrong": (f"{NAME}.ipynb", _wrong_answer(_read(course, "source")))}
    for student, (file_name, notebook) in submissions.items():
        target = course / "submitted" / student / NAME / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)  # autograde adds each student it finds to the gradebook
    copies = assignments.accept_copies(course)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPISSUES_CLAIMS_DIR", str(tmp_path_factory.mktemp("claims")))
        assignments.nbgrader(course, "autograde", NAME, "--force")
    grades = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            submission = gradebook.find_submission_notebook(NAME, NAME, student)
            grades[student] = {g.name: (g.score, g.max_score) for g in submission.grades if g.max_score}
    return grades, copies


def _read(course, version):
    return nbformat.read(course / version / NAME / f"{NAME}.ipynb", as_version=4)


def test_the_release_is_plain_markdown_after_the_install_cell(course):
    release = _read(course, "release")
    assert release.cells[0].source == mirrors.install_cell(ROOT)
    markdown = "\n".join(c.source for c in release.cells if c.cell_type == "markdown")
    assert "### Exercise" in markdown and "**Proposition" in markdown
    assert not MYST_LEFT.search(markdown) and not macros_used(markdown)


def test_the_release_holds_no_solution_code(course):
    source, release = _read(course, "source"), _read(course, "release")
    # a line whose text the chapter also has outside its solutions (a closing bracket,
    # `print(`, `inputs,`) tells nothing; every other line of a solution must be gone
    shown = "\n".join(cell.source for cell in source.cells if not cell.metadata.get("nbgrader", {}).get("solution"))
    hidden = {line for line in _solution_lines(source) if line not in shown}
    assert len(hidden) >= 2
    text = "\n".join(cell.source for cell in release.cells)
    assert not [line for line in hidden if line in text]
    solution = next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution"))
    assert [line for line in hidden if line in text + solution]  # control: one solution pasted back
    assert text.count("raise NotImplementedError()") == 2
    with zipfile.ZipFile(course / "zips" / f"{NAME}.zip") as archive:
        assert archive.namelist() == [f"{NAME}/{NAME}.ipynb"]


def test_the_teachers_version_gets_full_marks(graded):
    grades = graded[0]["teacher"]
    assert len(grades) == 2 and all(score == top == 1 for score, top in grades.values())


def test_the_untouched_release_gets_zero_for_every_check(graded):
    grades = graded[0]["blank"]
    assert len(grades) == 2 and all(score == 0 for score, _ in grades.values())


def test_a_wrong_answer_loses_only_its_own_check(graded):
    grades = graded[0]["wrong"]
    assert grades[f"{NAME}-check-2"][0] == 0 and grades[f"{NAME}-check-1"][0] == 1


def test_every_chapter_converts_with_graded_checks_and_no_solution_prose():
    for chapter in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md")):
        notebook = assignments.nbgrader_source(chapter, url="https://example.org/repo", tag="v0")
        kinds = [cell.metadata.get("nbgrader", {}) for cell in notebook.cells]
        assert sum(k.get("grade", False) for k in kinds) >= 1 and sum(k.get("solution", False) for k in kinds) >= 1
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        assert not MYST_LEFT.search(markdown) and not macros_used(markdown), chapter.name
    prose = "Only the generalisation error changes"  # a sentence from a hidden solution of chapter 11
    assert prose in (ROOT / "notebooks" / "11-error-decomposition.md").read_text()
    chapter11 = assignments.nbgrader_source(ROOT / "notebooks" / "11-error-decomposition.md", url="u", tag="t")
    assert prose not in "\n".join(c.source for c in chapter11.cells)


def _run_install_cell(monkeypatch, on_colab, installed):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda command: calls.append(command))
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "deepissues" and not installed else FIND_SPEC(name, *a))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(assignments.INSTALL_CELL.format(url="https://example.org/repo", tag="v9.9"), {})
    return calls


def test_the_install_cell_installs_only_on_colab_when_missing_pinned_to_the_tag(monkeypatch):
    calls = _run_install_cell(monkeypatch, on_colab=True, installed=False)
    assert len(calls) == 1 and calls[0][-1] == "deepissues @ git+https://example.org/repo@v9.9"
    assert not any("torch" in part or "reinstall" in part or part == "--upgrade" for part in calls[0])
    assert _run_install_cell(monkeypatch, on_colab=True, installed=True) == []
    assert _run_install_cell(monkeypatch, on_colab=False, installed=False) == []


def test_a_colab_copy_is_graded_after_accept_copies(course, graded):
    # the teacher's version was submitted as Colab's "Copy of ..." and graded under the real name
    (renamed,), skipped = graded[1]
    folder = course / "submitted" / "teacher" / NAME
    assert renamed == folder / f"{NAME}.ipynb" and skipped == [] and not (folder / f"Copy of {NAME}.ipynb").exists()
    assert graded[0]["teacher"] and all(score == top == 1 for score, top in graded[0]["teacher"].values())


def test_accept_copies_leaves_a_copy_beside_the_real_notebook_and_other_names(tmp_path):
    folder = tmp_path / "submitted" / "ana" / NAME
    folder.mkdir(parents=True)
    for name in (f"{NAME}.ipynb", f"Copy of {NAME}.ipynb", "Copy of 12-global-optimality-dropout.ipynb", "notes.ipynb"):
        (folder / name).write_text("{}")
    renamed, skipped = assignments.accept_copies(tmp_path)
    assert renamed == [] and skipped == [folder / f"Copy of {NAME}.ipynb"]
    assert assignments.COPY.match(f"Copy of Copy of {NAME} (2).ipynb")["name"] == NAME


def test_assignments_refuse_numbers_the_book_has_not_computed(monkeypatch):
    import tools.execute_chapters as executed

    monkeypatch.setattr(executed, "stale", lambda root, paths: list(paths))
    with pytest.raises(SystemExit, match=f"numbers for {NAME} are missing or out of date"):
        assignments.main([str(ROOT / "notebooks" / f"{NAME}.md"), "--root", "/nonexistent"])
    monkeypatch.setattr(executed, "stale", lambda root, paths: [])  # the control: current numbers pass the gate
    assignments.refuse_stale_numbers([str(ROOT / "notebooks" / f"{NAME}.md")])
