import json

import pytest

from deepissues import claims


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPISSUES_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setenv("DEEPISSUES_SCALE", "small")
    return tmp_path


def test_check_records_each_claim_with_its_outcome(store):
    claims.chapter("99-demo")
    claims.check("sum", 2 + 2 == 4, "4")
    with pytest.raises(claims.ClaimFailed, match="product .*5"):
        claims.check("product", 2 * 2 == 5, "5")
    saved = json.loads((store / "99-demo.json").read_text())
    assert saved["chapter"] == "99-demo"
    assert [(c["name"], c["held"], c["detail"], c["scale"]) for c in saved["claims"]] == [
        ("sum", True, "4", "small"), ("product", False, "5", "small")]


def test_rerunning_a_claim_replaces_it_and_a_new_chapter_run_starts_empty(store):
    claims.chapter("98-demo")
    claims.check("a", True, "first")
    claims.check("a", True, "second")
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
