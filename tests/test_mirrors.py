"""The chapter pages' buttons point at the notebook mirrors: Colab at the mirror branch, the
download button at the .ipynb written beside the page."""

from types import SimpleNamespace

from .built_book import book_extension

mirrors = book_extension("mirrors")


def _context():
    colab = "https://colab.research.google.com/github/org/repo/blob/main/notebooks/07-x.md"
    return {"header_buttons": [
        {"label": "launch-buttons", "buttons": [{"text": "Colab", "url": colab},
                                                {"text": "Binder", "url": "https://mybinder.org/v2/gh/org/repo/main"}]},
        {"label": "download-buttons", "buttons": [{"label": "download-notebook-button", "url": "../_sources/notebooks/07-x.ipynb"}]},
    ]}


def test_chapter_buttons_point_at_the_mirrors():
    app, context = SimpleNamespace(config=SimpleNamespace(ipynb_mirror_branch="ipynb")), _context()
    mirrors.retarget_buttons(app, "notebooks/07-x", None, context, None)
    launch, download = context["header_buttons"]
    assert launch["buttons"][0]["url"] == "https://colab.research.google.com/github/org/repo/blob/ipynb/notebooks/07-x.ipynb"
    assert launch["buttons"][1]["url"] == "https://mybinder.org/v2/gh/org/repo/main"
    assert download["buttons"][0]["url"] == "07-x.ipynb"


def test_other_pages_are_left_alone():
    app, context = SimpleNamespace(config=SimpleNamespace(ipynb_mirror_branch="ipynb")), _context()
    mirrors.retarget_buttons(app, "book/intro", None, context, None)
    assert context == _context()
