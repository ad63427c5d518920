"""The book as one PDF (`make pdf`, tools/pdf.py), read back: every page of the book in reading
order under its own bookmark, with its title in its text, its figures as images and its
mathematics typeset; and the landing page links it."""

import re

import pytest
from bs4 import BeautifulSoup

from tools import pdf as book_pdf

from .built_book import HTML, require_built_book, toc_pages

pytestmark = pytest.mark.book
PDF = HTML / book_pdf.pdf_name()


def words(text):
    return " ".join(re.findall(r"\w+", text.lower()))


def figures(page_name):
    """The images of the page's article, as the HTML has them: cell outputs and figures."""
    soup = BeautifulSoup((HTML / f"{page_name}.html").read_text(encoding="utf-8"), "html.parser")
    return soup.select("article img")


@pytest.fixture(scope="module")
def printed():
    """{title: the PDF's pages under that bookmark}, in the PDF's order."""
    from pypdf import PdfReader

    require_built_book()
    if not PDF.exists() or PDF.stat().st_mtime < (HTML / "index.html").stat().st_mtime:
        pytest.fail(f"{PDF} is missing or older than the built book: run `make pdf` (`make test` does)", pytrace=False)
    reader = PdfReader(PDF)
    starts = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    ends = [start for _, start in starts[1:]] + [len(reader.pages)]
    return {title: reader.pages[start:end] for (title, start), end in zip(starts, ends)}


def test_every_page_of_the_book_has_a_bookmark_in_reading_order(printed):
    titles = [title for _, title in book_pdf.book_pages()]
    assert list(printed) == titles
    assert [name for name, _ in book_pdf.book_pages()] == toc_pages()
    for name, title in book_pdf.book_pages():  # the bookmark is the page's own heading
        heading = BeautifulSoup((HTML / f"{name}.html").read_text(encoding="utf-8"), "html.parser").select_one("h1")
        assert words(heading.get_text()) == words(title), name


@pytest.mark.parametrize("page_name", toc_pages())
def test_each_page_is_printed_with_its_title_figures_and_typeset_math(printed, page_name):
    title = dict(book_pdf.book_pages())[page_name]
    pages = printed[title]
    raw = " ".join(page.extract_text() for page in pages)
    assert words(title) in words(raw)
    images = sum(len(page.images) for page in pages)
    assert images >= len(figures(page_name)), f"{page_name}: {images} images in the PDF, {len(figures(page_name))} in the HTML"
    assert "$$" not in raw and "\\frac" not in raw, "raw TeX printed"


def test_figures_are_counted_where_there_are_none(printed):
    # control: a page without figures has no image in the PDF, a chapter has many
    title = dict(book_pdf.book_pages())["book/notation"]
    assert not figures("book/notation") and sum(len(p.images) for p in printed[title]) == 0
    chapter = dict(book_pdf.book_pages())["notebooks/07-failures-parities"]
    assert sum(len(p.images) for p in printed[chapter]) >= 3


def test_the_landing_page_links_the_pdf():
    soup = BeautifulSoup((HTML / "book" / "intro.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.select_one(f'article a[href="../{PDF.name}"]') is not None
    assert PDF.exists()
