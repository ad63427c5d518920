"""The reproducibility report: its summary and ledger helpers, and the built page as a ledger
of the claim records (columns, links to sections and bibliography entries, counts)."""

import functools
import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

from .built_book import HTML, ROOT, book_extension, chapters, require_built_book

report = book_extension("reproducibility")


def test_summary_counts_held_claims_and_checks_the_budget():
    claims = [{"held": True, "scale": "small"}, {"held": False, "scale": "small"}, {"held": True, "scale": "full"}]
    assert report.summarise(claims, 42.0) == (2, 3, 42.0, True, "full, small")
    assert report.summarise(claims, 91.0)[3] is False
    assert report.summarise([], None) == (0, 0, None, False, "-")


def test_every_chapter_records_its_claims_with_deepissues_claims():
    # the report is built from these records, so no chapter may check its claims with bare asserts only
    for chapter in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.md")):
        text = chapter.read_text()
        assert f'claims.chapter("{chapter.stem}")' in text and "claims.check(" in text, chapter.name


def test_ledger_counts_each_kind_and_what_held():
    claims = [{"kind": "reproduces", "held": True}, {"kind": "reproduces", "held": False},
              {"kind": "differs", "held": True}, {"kind": "extends", "held": True}]
    claims.append({"kind": "illustrates", "held": True})
    assert report.ledger_counts(claims) == {"reproduces": (1, 2), "differs": (1, 1), "extends": (1, 1),
                                            "illustrates": (1, 1)}
    assert report.ledger_counts([]) == {kind: (0, 0) for kind in ("reproduces", "differs", "extends", "illustrates")}


def test_the_control_cell_says_what_the_control_was_and_whether_it_failed_as_it_should():
    control = {"what": "an untrained copy", "detail": "acc=0.51", "planted": False, "held": False,
               "failed_as_it_should": True}
    assert report.control_text({"control": control}) == "control: an untrained copy; acc=0.51; failed, as it should"
    held = {**control, "held": True, "failed_as_it_should": False, "planted": True, "detail": ""}
    assert report.control_text({"control": held}) == "planted effect: an untrained copy; -; HELD TOO"
    assert report.control_text({"control": None}) == report.control_text({}) == "none yet"


def test_a_claim_links_to_the_section_whose_cell_printed_it():
    from docutils import nodes

    def section(sid, *children):
        node = nodes.section(ids=[sid])
        node.extend(children)
        return node

    doctree = nodes.document(None, None)
    doctree += section("intro", nodes.paragraph(text="[claim held] not in an output block"))
    doctree += section("counting", nodes.literal_block(text="[claim held] a: 1\n[claim held] a b: 2\n"
                                                           "[claim held] a long\n    claim: 3\n  control, x: 1"),
                       section("deeper", nodes.literal_block(text="noise\n[claim FAILED] c: x")))
    found = report.claim_sections(doctree)
    assert report.section_of("a", found) == "counting" and report.section_of("a b", found) == "counting"
    assert report.section_of("c", found) == "deeper"  # the innermost section
    assert report.section_of("a long claim", found) == "counting"  # wrapped, as claims prints a long one
    assert report.section_of("not in an output block", found) is None
    assert report.section_of("missing", found) is None


def test_provenance_names_the_commit_versions_machine_scale_and_seed(tmp_path):
    facts = dict(report.provenance(tmp_path, [{"scale": "small", "seed_offset": 0}, {"scale": "small", "seed_offset": 2}]))
    assert list(facts) == ["commit", "date", "versions", "machine", "scale", "seed"]
    assert facts["commit"].startswith("unknown")  # tmp_path is no git checkout
    assert all(name in facts["versions"] for name in ("torch", "numpy", "jupyter-book"))
    assert "CPU cores" in facts["machine"] and "GPU" in facts["machine"]
    assert facts["scale"] == "small" and "offset 0" in facts["seed"] and "every seed + 2000" in facts["seed"]
    assert report.provenance(Path(__file__).parent, [])[0][1] != "unknown (not a git checkout)"


@functools.cache
def _ids(page):
    """Every id on ``page`` (parsed once: the ledger's rows link to the same few large pages)."""
    return {tag["id"] for tag in BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find_all(id=True)}


def _target(page, href):
    parts = urlsplit(href)
    return (page.parent / unquote(parts.path)).resolve(), unquote(parts.fragment)


@pytest.mark.book
def test_the_built_report_is_a_ledger_of_the_claim_records():
    require_built_book()
    page = HTML / "book" / "reproducibility.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    records = {c: json.loads((ROOT / "_build" / "claims" / f"{c.split('/')[-1]}.json").read_text())["claims"]
               for c in chapters()}
    tables = soup.select("table.claims-ledger")
    assert len(tables) == len(records)
    theorems = [(chapter, c) for chapter, claims in records.items() for c in claims if c["kind"] == "illustrates"]
    records = {chapter: [c for c in claims if c["kind"] != "illustrates"] for chapter, claims in records.items()}
    bibliography = (HTML / "book" / "bibliography.html").resolve()
    for (chapter, claims), table in zip(records.items(), tables):
        assert [th.get_text(" ", strip=True) for th in table.select("thead th")] == list(report.COLUMNS)
        rows = [row.find_all("td") for row in table.select("tbody tr")]
        assert [cells[0].get_text(" ", strip=True) for cells in rows] == [c["name"] for c in claims], chapter
        for cells, claim in zip(rows, claims):
            target, anchor = _target(page, cells[0].a["href"])
            assert target == (HTML / f"{chapter}.html").resolve() and anchor in _ids(target), claim["name"]
            assert cells[1].get_text(strip=True) == claim["kind"]
            if claim["cite"]:
                assert claim["source"] in cells[2].get_text(" ", strip=True)
                target, anchor = _target(page, cells[2].a["href"])
                assert target == bibliography and anchor in _ids(bibliography), claim["cite"]
            else:
                assert cells[2].a is None
            assert cells[3].get_text(" ", strip=True).split() == (claim["detail"] or "-").split()
            assert " ".join(cells[4].get_text(" ", strip=True).split()) == " ".join(report.control_text(claim).split())
            assert cells[5].get_text(strip=True) == ("yes" if claim["held"] else "NO")
    table = soup.select_one("table.claims-theorems")
    assert (table is None) == (not theorems)
    header = [th.get_text(" ", strip=True) for th in table.select("thead th")] if theorems else []
    assert not theorems or header == list(report.THEOREM_COLUMNS)
    rows = [row.find_all("td") for row in table.select("tbody tr")] if theorems else []
    assert [(cells[0].get_text(" ", strip=True), cells[-1].get_text(strip=True)) for cells in rows] == [
        (c["name"], "yes" if c["held"] else "NO") for _, c in theorems]
    everything = [c for claims in records.values() for c in claims]
    counts = report.ledger_counts(everything + [c for _, c in theorems])
    summary = " ".join(soup.select_one("p.claims-summary").get_text(" ", strip=True).split())
    assert f"{len(everything)} claims in {len(records)} chapters" in summary
    controlled = sum(bool(c.get("control")) and c["control"]["failed_as_it_should"] for c in everything)
    assert f"{controlled} of them carry a control that failed as it should" in summary
    assert f"{counts['illustrates'][1]} illustrate a theorem numerically ({counts['illustrates'][0]} held)" in summary
    for kind, phrase in (("reproduces", "reproduce a claim"), ("differs", "differ from their source"),
                         ("extends", "are the book's own")):
        held, total = counts[kind]
        assert f"{total} {phrase}" in summary and f"({held} held)" in summary
    assert counts["reproduces"][1] > 0 and counts["extends"][1] > 0
    for label in ("commit:", "date:", "versions:", "machine:", "scale:", "seed:"):
        assert label in soup.get_text(" ", strip=True), label
