"""The reproducibility report's per-chapter summary, from claim records and a runtime."""

from pathlib import Path

from .built_book import book_extension

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
