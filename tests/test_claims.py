import ast
import json
import re
from pathlib import Path

import jupytext
import pytest

from deepissues import claims


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPISSUES_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setenv("DEEPISSUES_SCALE", "small")
    monkeypatch.delenv("DEEPISSUES_SEED", raising=False)
    monkeypatch.delenv("DEEPISSUES_CLAIMS_RAISE", raising=False)
    return tmp_path


def test_check_records_each_claim_with_its_outcome(store):
    claims.chapter("99-demo")
    claims.check("sum", 2 + 2 == 4, "4", kind="extends")
    with pytest.raises(claims.ClaimFailed, match="product .*5"):
        claims.check("product", 2 * 2 == 5, "5", kind="extends")
    saved = json.loads((store / "99-demo.json").read_text())
    assert saved["chapter"] == "99-demo"
    assert [(c["name"], c["held"], c["detail"], c["scale"]) for c in saved["claims"]] == [
        ("sum", True, "4", "small"), ("product", False, "5", "small")]


def test_rerunning_a_claim_replaces_it_and_a_new_chapter_run_starts_empty(store):
    claims.chapter("98-demo")
    claims.check("a", True, "first", kind="extends")
    claims.check("a", True, "second", kind="extends")
    assert [c["detail"] for c in claims.records("98-demo")] == ["second"]
    claims.chapter("98-demo")
    assert claims.records("98-demo") == []


def test_claims_dir_finds_the_book_root(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPISSUES_CLAIMS_DIR", raising=False)
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert claims.claims_dir() == tmp_path / "_build" / "claims"


def test_bad_chapter_names_are_refused(store):
    with pytest.raises(ValueError, match="non-empty string"):
        claims.chapter("")


def test_every_claim_states_its_kind(store):
    claims.chapter("97-demo")
    with pytest.raises(TypeError, match="kind"):
        claims.check("no kind", True, "")
    with pytest.raises(ValueError, match="kind of claim 'typo' must be one of .*reproduces.*got 'reproduce'"):
        claims.check("typo", True, "", kind="reproduce", source="x", cite="y")
    assert claims.records("97-demo") == []  # nothing is recorded for a malformed claim


def test_source_and_cite_go_with_reproduces_and_differs_only(store):
    claims.chapter("96-demo")
    for kind in ("reproduces", "differs"):
        with pytest.raises(ValueError, match="source of claim 'a' must be non-empty"):
            claims.check("a", True, "", kind=kind, cite="key")
        with pytest.raises(ValueError, match="cite of claim 'a' must be non-empty"):
            claims.check("a", True, "", kind=kind, source="the paper says so")
    with pytest.raises(ValueError, match="source of claim 'b' must be empty for kind 'extends'"):
        claims.check("b", True, "", kind="extends", source="the paper says so")
    with pytest.raises(ValueError, match="cite of claim 'b' must be empty"):
        claims.check("b", True, "", kind="extends", cite="key")
    with pytest.raises(TypeError, match="source of claim 'c' must be a string"):
        claims.check("c", True, "", kind="reproduces", source=None, cite="key")
    claims.check("d", True, "1", kind="differs", source="the paper: 2", cite="key")
    claims.check("e", True, "3", kind="extends")
    assert [(c["kind"], c["source"], c["cite"]) for c in claims.records("96-demo")] == [
        ("differs", "the paper: 2", "key"), ("extends", "", "")]


def test_records_carry_the_seed_offset(store, monkeypatch):
    monkeypatch.setenv("DEEPISSUES_SEED", "2")
    claims.chapter("95-demo")
    claims.check("a", True, "", kind="extends")
    assert claims.records("95-demo")[0]["seed_offset"] == 2


def test_only_the_seed_sweep_records_a_false_claim_without_raising(store, monkeypatch):
    claims.chapter("94-demo")
    with pytest.raises(claims.ClaimFailed):  # the default: a false claim stops the chapter
        claims.check("a", False, "", kind="extends")
    monkeypatch.setenv("DEEPISSUES_CLAIMS_RAISE", "0")
    claims.check("b", False, "", kind="extends")
    assert [(c["name"], c["held"]) for c in claims.records("94-demo")] == [("a", False), ("b", False)]


def test_a_live_kernel_warns_and_goes_on_while_the_build_and_tests_stop(store, monkeypatch, capsys):
    from deepissues import widgets

    claims.chapter("93-demo")
    monkeypatch.setattr(widgets, "is_live", lambda: True)  # a student's Colab or Binder kernel
    claims.check("a", False, "x=1", kind="extends")  # no exception: the chapter goes on
    assert 'WARNING: the claim "a" did not hold in this run' in capsys.readouterr().err
    monkeypatch.setenv("DEEPISSUES_CLAIMS_RAISE", "1")  # asked to stop, it stops
    with pytest.raises(claims.ClaimFailed):
        claims.check("b", False, "", kind="extends")
    monkeypatch.delenv("DEEPISSUES_CLAIMS_RAISE")
    monkeypatch.setattr(widgets, "is_live", lambda: False)  # the control: the build, the tests, a script
    with pytest.raises(claims.ClaimFailed):
        claims.check("c", False, "", kind="extends")
    assert [c["held"] for c in claims.records("93-demo")] == [False, False, False]


def test_claims_dir_starts_from_the_given_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPISSUES_CLAIMS_DIR", raising=False)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text("root: x\n")
    monkeypatch.chdir(tmp_path)  # a build started from outside the book
    assert claims.claims_dir(tmp_path / "book") == tmp_path / "book" / "_build" / "claims"
    assert claims.claims_dir() == tmp_path / "_build" / "claims"


def _chapter_claim_calls(path):
    """The keyword arguments of every claims.check call in a chapter's code cells, as literals."""
    notebook = jupytext.read(path)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("claims.check", "check"):
                yield node.lineno, {k.arg: ast.literal_eval(k.value) for k in node.keywords}


def test_every_chapter_claim_has_a_kind_and_a_source_in_the_bibliography():
    root = Path(__file__).resolve().parents[1]
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (root / "book" / "references.bib").read_text(), re.M))
    prose = "".join(p.read_text() for p in [*root.glob("notebooks/*.md"), *root.glob("book/*.md")])
    cited = {key for roles in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", prose) for key in roles.split(",")}
    keys &= cited  # the bibliography page lists the cited entries only, and the report links to them
    calls = 0
    for chapter in sorted((root / "notebooks").glob("[0-9][0-9]-*.md")):
        for line, kwargs in _chapter_claim_calls(chapter):
            calls += 1
            where = f"{chapter.name}, cell line {line}"
            assert kwargs.get("kind") in claims.KINDS, where
            if kwargs["kind"] == "extends":
                assert not kwargs.get("source") and not kwargs.get("cite"), where
            else:
                assert kwargs.get("source", "").strip() and kwargs.get("cite") in keys, where
    assert calls >= 100  # the parser saw the chapters' claims, not an empty set
