import sys

import pytest

from deepissues.glue import glue


def test_glue_records_the_value_for_myst_nb(monkeypatch):
    shown = []
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", lambda bundle, raw, metadata: shown.append((bundle, metadata)))
    assert glue("clean_accuracy", 0.953) is None  # a cell that ends in glue shows no value
    bundle, metadata = shown[-1]
    assert metadata["scrapbook"]["name"] == "clean_accuracy"
    assert bundle["application/papermill.record/text/plain"] == "0.953"  # hidden: display=False


def test_without_myst_nb_the_value_is_printed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # an import of myst_nb now fails, as on Colab
    assert glue("steps", 3000) is None
    assert capsys.readouterr().out == "steps = 3000\n"


def test_glue_names_must_be_identifiers():
    with pytest.raises(ValueError, match="name must be a Python identifier.*'two words'"):
        glue("two words", 1)


def test_numpy_and_torch_scalars_are_glued_as_python_numbers(monkeypatch):
    import numpy as np
    import torch

    shown = []
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", lambda bundle, raw, metadata: shown.append(bundle))
    for value in (np.float64(0.641), torch.tensor(0.641, dtype=torch.float64)):
        glue("ppv", value)
        assert shown[-1]["application/papermill.record/text/plain"] == "0.641"  # a literal the prose can format
    # negative control: a plain float is stored as it is
    glue("ppv", 0.5)
    assert shown[-1]["application/papermill.record/text/plain"] == "0.5"


def ends_in_glue(source):
    """Whether a code cell's last statement is a call of ``glue``, whose value, were it returned,
    the page would show under the cell."""
    import ast

    statements = ast.parse(source).body
    return bool(statements) and isinstance(statements[-1], ast.Expr) and isinstance(statements[-1].value, ast.Call) \
        and ast.unparse(statements[-1].value.func).split(".")[-1] == "glue"


def glued_values_shown(code_cells, page):
    """The sources of the cells that end in ``glue`` and yet show a value (an execute result, not
    printed lines) on ``page`` (HTML text); ``code_cells`` are the chapter's code cells that the
    page renders, in order."""
    from bs4 import BeautifulSoup

    rendered = BeautifulSoup(page, "html.parser").select("div.cell")
    assert len(rendered) == len(code_cells), "the page's cells do not match the chapter's code cells"
    return [source for source, html in zip(code_cells, rendered)
            if ends_in_glue(source) and html.select("div.cell_output div.output.text_plain")]


def test_the_finder_sees_a_value_a_glue_cell_showed():
    shown = '<div class="cell_output"><div class="output text_plain"><pre>\'1%\'</pre></div></div>'
    printed = '<div class="cell_output"><div class="output stream"><pre>[claim held] a: 1</pre></div></div>'
    page = (f'<div class="cell tag_remove-input">{shown}</div><div class="cell">{printed}</div>'
            f'<div class="cell">{printed}</div><div class="cell tag_remove-input"></div>')
    sources = ['x = 1\nglue("a", x)\nglue("b", "1%")', 'claims.check("a", True)', 'glue("c", 2)\nprint(x)',
               'glue("c", 2)']
    assert glued_values_shown(sources, page) == [sources[0]]  # the control: a shown '1%' is found
    assert ends_in_glue(sources[0]) and not ends_in_glue(sources[2]) and not ends_in_glue("x = glue('a', 1)")


@pytest.mark.book
def test_no_cell_that_ends_in_glue_shows_a_value_on_its_page():
    import jupytext

    from .built_book import HTML, ROOT, chapters, require_built_book

    require_built_book()
    glue_cells = 0
    for chapter in chapters():
        cells = [c.source for c in jupytext.read(ROOT / f"{chapter}.md").cells
                 if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
        glue_cells += sum(map(ends_in_glue, cells))
        assert glued_values_shown(cells, (HTML / f"{chapter}.html").read_text(encoding="utf-8")) == [], chapter
    assert glue_cells, "no cell ends in glue: the finder saw none of the chapters' glue cells"
