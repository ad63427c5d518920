"""The book's own files agree with each other: the table of contents, the chapters, the pins."""

import pathlib
import re

from .built_book import toc_pages

ROOT = pathlib.Path(__file__).resolve().parent.parent


def toc_files():
    return toc_pages()[1:]  # the parts' pages, without the landing page


def pins(lines):
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==(\S+)\s*", line)
        if match:
            found[match[1].lower()] = match[2]
    return found


def test_toc_and_notebooks_list_the_same_chapters():
    listed = sorted(f for f in toc_files() if f.startswith("notebooks/"))
    present = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.md"))
    assert listed == present
    assert present, "the book has no chapter"


def test_chapters_are_numbered_in_reading_order():
    chapters = [f.split("/")[1] for f in toc_files() if f.startswith("notebooks/")]
    numbers = [int(name.split("-")[0]) for name in chapters]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_every_toc_page_exists():
    for name in toc_files():
        assert (ROOT / f"{name}.md").exists(), f"{name}.md is in _toc.yml but missing"


def test_environment_yml_has_the_pins_of_constraints_txt():
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    environment = pins((ROOT / "environment.yml").read_text().splitlines())
    assert constraints["torch"] == "2.13.0" and constraints["jupyter-book"] == "1.0.4.post1"
    assert environment == constraints


def test_every_dependency_is_pinned():
    from importlib.metadata import requires

    names = {re.split(r"[<>=!\[ ;]", d)[0].lower() for d in requires("deepissues")}
    missing = names - set(pins((ROOT / "constraints.txt").read_text().splitlines()))
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"
