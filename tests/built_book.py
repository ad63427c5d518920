"""The built HTML book, as the link, launch and browser tests see it.

`make test` runs `make book` before pytest. These helpers find the book's pages from
``_toc.yml``, so a chapter added later is tested with no change here, and fail with a clear
message when the HTML is missing or older than its source.
"""

import importlib.util
from pathlib import Path

import pytest
import yaml

from tools import local_site

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def book_extension(name):
    """The book's local Sphinx extension ``book/_ext/<name>.py``, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_pages():
    """Every page of the book in reading order, the landing page first (docnames, no suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def chapters():
    return [page for page in toc_pages() if page.startswith("notebooks/")]


def require_built_book():
    """Fail (never skip) unless every page of the table of contents is built and up to date."""
    stale = [page for page in toc_pages()
             if not (HTML / f"{page}.html").exists()
             or (HTML / f"{page}.html").stat().st_mtime < (ROOT / f"{page}.md").stat().st_mtime]
    if stale:
        pytest.fail(f"the built book in {HTML} is missing or older than {len(stale)} page(s), "
                    f"e.g. {stale[0]}.md: run `make book` (`make test` does it first)", pytrace=False)


def served(directory=HTML):
    """Serve ``directory`` (default: the built book) on 127.0.0.1; a context manager yielding the base URL."""
    return local_site.served(directory)
