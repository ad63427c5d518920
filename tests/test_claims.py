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


def test_a_claim_whose_control_also_holds_fails(store):
    claims.chapter("92-demo")
    claims.check("learns", True, "acc=0.98", kind="extends",
                 control=claims.Control("an untrained copy", False, "acc=0.51"))
    with pytest.raises(claims.ClaimFailed, match="'memorises' cannot be told from its control: .*shuffled labels"):
        claims.check("memorises", True, "acc=0.99", kind="extends",
                     control=claims.Control("shuffled labels", True, "acc=0.97"))
    with pytest.raises(claims.ClaimFailed, match="did not reproduce: fails"):  # a false claim is reported as such
        claims.check("fails", False, "acc=0.4", kind="extends", control=claims.Control("an untrained copy", False))
    saved = {c["name"]: c for c in claims.records("92-demo")}
    assert saved["learns"]["held"] and saved["learns"]["control"] == {
        "what": "an untrained copy", "detail": "acc=0.51", "planted": False, "held": False, "failed_as_it_should": True}
    assert saved["memorises"]["condition"] and not saved["memorises"]["held"]
    assert saved["memorises"]["control"]["failed_as_it_should"] is False
    assert not saved["fails"]["condition"] and not saved["fails"]["held"]


def test_a_control_prints_beside_its_claim_and_a_planted_one_is_marked(store, capsys):
    claims.chapter("91-demo")
    claims.check("no gain", True, "gap=0.002", kind="differs", source="the paper: 2 points", cite="key",
                 control=claims.Control("a planted gain of 2 points", False, "gap=0.021", planted=True))
    out = capsys.readouterr().out.splitlines()
    assert out == ["[claim held] no gain: gap=0.002",
                   "  control, a planted gain of 2 points: gap=0.021 (fails, as it should)"]
    assert claims.records("91-demo")[0]["control"]["planted"] is True


def test_the_seed_sweep_records_a_control_that_held_without_raising(store, monkeypatch):
    monkeypatch.setenv("DEEPISSUES_CLAIMS_RAISE", "0")
    claims.chapter("90-demo")
    claims.check("a", True, "", kind="extends", control=claims.Control("noise", True))
    assert claims.records("90-demo")[0]["held"] is False


def test_illustrations_cite_their_theorem_and_take_no_control(store):
    claims.chapter("89-demo")
    claims.check("N units interpolate N points", True, "error 0", kind="illustrates",
                 source="Zhang et al.: a two-layer net with 2n + d weights fits any n points", cite="zhang2017")
    with pytest.raises(ValueError, match="source of claim 'b' must be non-empty for kind 'illustrates'"):
        claims.check("b", True, "", kind="illustrates", cite="key")
    with pytest.raises(ValueError, match="'c' is of kind 'illustrates' .* takes no control"):
        claims.check("c", True, "", kind="illustrates", source="a theorem", cite="key",
                     control=claims.Control("noise", False))
    assert [c["kind"] for c in claims.records("89-demo")] == ["illustrates"]


def test_a_long_claim_wraps_at_the_page_width_and_joins_back(store, capsys):
    claims.chapter("87-demo")
    name = "the deep network has exponentially more linear regions than the shallow one of equal size"
    claims.check(name, True, "regions 1024 vs 33 on a line through the data", kind="extends",
                 control=claims.Control("the same networks untrained, at the same widths and depths", False,
                                        "regions 31 vs 29"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 2 and max(map(len, lines)) <= claims.WIDTH
    split = next(i for i, line in enumerate(lines) if line.startswith("  control, "))
    claim, control = lines[:split], lines[split:]
    assert all(line.startswith(claims.CONTINUED) for line in claim[1:])
    assert " ".join(line.strip() for line in claim) == f"[claim held] {name}: regions 1024 vs 33 on a line through the data"
    assert " ".join(line.strip() for line in control) == ("control, the same networks untrained, at the same "
                                                           "widths and depths: regions 31 vs 29 (fails, as it should)")


def test_a_malformed_control_is_refused_by_name(store):
    claims.chapter("88-demo")
    with pytest.raises(TypeError, match="control of claim 'a' must be a deepissues.claims.Control or None, got dict"):
        claims.check("a", True, "", kind="extends", control={"what": "noise", "held": False})
    with pytest.raises(ValueError, match="what must name the control run"):
        claims.Control("", False)
    with pytest.raises(TypeError, match="planted must be True or False"):
        claims.Control("noise", False, planted="yes")
    assert claims.records("88-demo") == []


def _chapter_claim_calls(path):
    """(line, {kind, source, cite} as literals, whether a control is passed) of every
    claims.check call in a chapter's code cells; ``path`` is the chapter's file or a notebook."""
    notebook = jupytext.read(path) if isinstance(path, Path) else path
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("claims.check", "check"):
                keywords = {k.arg: k.value for k in node.keywords}
                literal = {k: ast.literal_eval(v) for k, v in keywords.items() if k in ("kind", "source", "cite")}
                yield node.lineno, literal, "control" in keywords


def test_every_chapter_claim_has_a_kind_and_a_source_in_the_bibliography():
    root = Path(__file__).resolve().parents[1]
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (root / "book" / "references.bib").read_text(), re.M))
    prose = "".join(p.read_text() for p in [*root.glob("notebooks/*.md"), *root.glob("book/*.md")])
    cited = {key for roles in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", prose) for key in roles.split(",")}
    keys &= cited  # the bibliography page lists the cited entries only, and the report links to them
    calls = 0
    for chapter in sorted((root / "notebooks").glob("[0-9][0-9]-*.md")):
        for line, kwargs, _ in _chapter_claim_calls(chapter):
            calls += 1
            where = f"{chapter.name}, cell line {line}"
            assert kwargs.get("kind") in claims.KINDS, where
            if kwargs["kind"] == "extends":
                assert not kwargs.get("source") and not kwargs.get("cite"), where
            else:
                assert kwargs.get("source", "").strip() and kwargs.get("cite") in keys, where
    assert calls >= 100  # the parser saw the chapters' claims, not an empty set


def test_every_claim_of_evidence_carries_a_control_and_no_illustration_does():
    root = Path(__file__).resolve().parents[1]
    chapters = sorted((root / "notebooks").glob("[0-9][0-9]-*.md"))
    assert chapters, "no chapter found"
    for chapter in chapters:
        for line, kwargs, has_control in _chapter_claim_calls(chapter):
            assert has_control == (kwargs["kind"] in claims.EVIDENCE), (
                f"{chapter.name}, cell line {line}: a {kwargs['kind']!r} claim "
                + ("needs a control" if kwargs["kind"] in claims.EVIDENCE else "takes no control"))
    # the parser sees a control: a call with one and a call without one, in a cell of their own
    cell = ('claims.check("a", x > 1, kind="extends", control=claims.Control("noise", y > 1))\n'
            'claims.check("b", x > 1, kind="extends")')
    notebook = jupytext.reads(f"```{{code-cell}} ipython3\n{cell}\n```\n", fmt="md:myst")
    assert [has for _, _, has in _chapter_claim_calls(notebook)] == [True, False]
