"""The chapter pages' buttons point at the notebook mirrors: Colab at the mirror branch, the
download button at the .ipynb written beside the page."""

from types import SimpleNamespace

import pytest

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


def _glued_notebook(monkeypatch, **values):
    """A notebook whose one code cell glued ``values`` the way myst-nb records them."""
    import nbformat

    outputs = []
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", lambda bundle, raw, metadata: outputs.append(
        nbformat.v4.new_output("display_data", data=bundle, metadata=metadata)))
    from deepissues.glue import glue

    for name, value in values.items():
        glue(name, value, display=name.startswith("shown"))
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = outputs
    return nbformat.v4.new_notebook(cells=[cell])


def test_mirrors_replace_glue_roles_with_the_glued_numbers(monkeypatch):
    import json
    import logging

    from myst_nb.ext.glue import extract_glue_data

    # myst-nb's own extraction, written to <chapter>.glue.json as the build does
    glue_data = extract_glue_data(_glued_notebook(monkeypatch, accuracy=0.953, shown_steps=3000), [0], logging.getLogger())
    values = mirrors.glued_values(json.loads(json.dumps(glue_data)))
    assert values == {"accuracy": "0.953", "shown_steps": "3000"}
    text = "right on {glue:text}`accuracy:.0%` of images after {glue:}`shown_steps` steps ({glue:text}`accuracy`)"
    assert mirrors.replace_glue(text, values) == "right on 95% of images after 3000 steps (0.953)"
    assert mirrors.replace_glue("no roles here", {}) == "no roles here"
    with pytest.raises(KeyError, match="never glued"):
        mirrors.replace_glue("{glue:text}`missing:.1f`", values)
