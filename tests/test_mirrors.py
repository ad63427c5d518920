"""The notebook mirrors: the chapter pages' buttons point at them (Colab at the mirror branch, the
download button at the .ipynb written beside the page), and their Markdown is plain, with the
build's numbers, the book's macros expanded and the solutions hidden."""

import re
from types import SimpleNamespace

import pytest

from .built_book import ROOT, book_extension

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


# ---------------------------------------------------------------- plain Markdown

CHAPTER_DIR = ROOT / "notebooks"
BOOK_MACROS = mirrors.PlainMarkdown(ROOT).macros
MYST_LEFT = re.compile(r"^`{3,}\{[\w:-]+\}|\{[a-z][\w:-]*\}`", re.M)


def macros_used(text):
    """The book's macros that appear as control words anywhere in ``text``."""
    return set(re.findall(r"(?<!\\)(?:\\\\)*\\([A-Za-z]+)", text)) & set(BOOK_MACROS)


def convert(text, values=None):
    segments, still_open = mirrors.PlainMarkdown(ROOT, values).blocks(text, CHAPTER_DIR)
    return segments, still_open


def test_macros_expand_to_their_definitions_with_balanced_arguments():
    plain = mirrors.PlainMarkdown(ROOT)
    assert plain.expand_macros(r"$\norm{x - \E[y_{i}]}_2 \le \R$") == \
        r"$\left\lVert x - \mathbb{E}[y_{i}] \right\rVert_2 \le \mathbb{R}$"
    assert plain.expand_macros(r"$\norm x + \card{\{a\}}$") == r"$\left\lVert x \right\rVert + \left\lvert \{a\} \right\rvert$"
    # control: longer control words, escaped backslashes and line breaks are not macros
    untouched = r"$\beta \Rightarrow \xi \\ \Eta \relu_2$"
    assert plain.expand_macros(untouched) == r"$\beta \Rightarrow \xi \\ \Eta \operatorname{relu}_2$"
    assert plain.expand_macros(r"$a \\\\R$") == r"$a \\\\R$"  # \\ then \\ then the letter R
    assert plain.expand_macros(r"$a \\\R$") == r"$a \\\mathbb{R}$"


def test_directives_become_headed_blocks_and_solutions_split_off():
    text = ("Before.\n\n````{prf:theorem} Bessel\n:label: bessel\n\nFor all $h$, $\\norm{h} \\ge 0$.\n````\n\n"
            "```{prf:proof}\nTrivial.\n```\n\n```{exercise-start}\n:label: e\n```\nDo it.\n```{exercise-end}\n```\n\n"
            "```{solution-start} e\n:class: dropdown\n```\nThe answer is 4.\n")
    segments, still_open = convert(text)
    assert still_open
    assert [hidden for hidden, _ in segments] == [False, True]
    shown, hidden = segments[0][1], segments[1][1]
    assert "**Theorem (Bessel).**\n\nFor all $h$, $\\left\\lVert h \\right\\rVert \\ge 0$." in shown
    assert "*Proof.*\n\nTrivial.\n\n∎" in shown and "### Exercise\nDo it." in shown
    assert ":label:" not in shown and hidden == "The answer is 4."
    segments, still_open = mirrors.PlainMarkdown(ROOT).blocks("Rest.\n```{solution-end}\n```\nAfter.", CHAPTER_DIR, True)
    assert segments == [(True, "Rest."), (False, "After.")] and not still_open
    with pytest.raises(ValueError, match=r"\{note\} directive has no plain-Markdown form"):
        convert("```{note}\nHi.\n```")


def test_roles_become_links_and_numbers():
    plain = mirrors.PlainMarkdown(ROOT, {"acc": "0.953"})
    bibliography = f"{plain.site}book/bibliography.html"
    text = plain.prose("{cite:t}`goodfellow2015explaining` show it {cite}`szegedy2014intriguing,madry2018towards`; "
                       "{glue:text}`acc:.0%`; see {doc}`07-failures-parities` and {doc}`that <../book/notation>`.",
                       CHAPTER_DIR)
    assert text == (f"[Goodfellow et al. (2015)]({bibliography}#cite-goodfellow2015explaining) show it "
                    f"([Szegedy et al., 2014]({bibliography}#cite-szegedy2014intriguing); "
                    f"[Madry et al., 2018]({bibliography}#cite-madry2018towards)); 95%; see [When the gradient knows nothing: parities]"
                    f"({plain.site}notebooks/07-failures-parities.html) and [that]({plain.site}book/notation.html).")
    assert mirrors.PlainMarkdown(ROOT).prose("{glue:text}`acc:.0%`", CHAPTER_DIR) == "`acc`"  # no build: the name
    with pytest.raises(KeyError, match="not in the bibliography"):
        plain.prose("{cite}`nobody2099`", CHAPTER_DIR)
    with pytest.raises(ValueError, match=r"\{ref\} role has no plain-Markdown form"):
        plain.prose("{ref}`somewhere`", CHAPTER_DIR)


def test_every_chapter_mirrors_to_plain_markdown_with_hidden_solutions():
    for chapter in sorted(CHAPTER_DIR.glob("[0-9][0-9]-*.md")):
        notebook = mirrors.mirror(chapter, ROOT, values=None)
        assert notebook.cells[0].source == mirrors.install_cell(ROOT)
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        assert not MYST_LEFT.search(markdown), (chapter.name, MYST_LEFT.search(markdown))
        assert not macros_used(markdown), (chapter.name, macros_used(markdown))
        source = chapter.read_text()
        solutions = [c for c in notebook.cells if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
        assert len(solutions) == source.count(":tags: [solution]"), chapter.name
        assert all(c.metadata["cellView"] == "form" and c.metadata["jupyter"]["source_hidden"] for c in solutions)
    # control: the chapter source itself has all three
    source = (CHAPTER_DIR / "07-failures-parities.md").read_text()
    assert MYST_LEFT.search(source) and macros_used(source)


@pytest.mark.book
def test_the_built_mirrors_start_with_the_install_cell_and_show_no_myst():
    import nbformat

    from .built_book import HTML, chapters, require_built_book

    require_built_book()
    for chapter in chapters():
        notebook = nbformat.read(HTML / f"{chapter}.ipynb", as_version=4)
        assert notebook.cells[0].source == mirrors.install_cell(ROOT), chapter
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        assert not MYST_LEFT.search(markdown) and not macros_used(markdown), chapter


def test_the_mirrors_leave_out_the_markdown_cells_the_book_removes():
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("---\nmath: {}\n---", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-cell"]})])
    assert [cell.source for cell in mirrors.shown_cells(notebook)] == ["# Title", "x = 1"]  # code still runs


RAW_TEX_ACCENT = re.compile(r"\\[`'^\"~=.uvHcdbrtk]|[{}]")  # a TeX accent command, or a BibTeX brace


def test_citations_read_in_unicode_and_point_at_their_entry():
    plain = mirrors.PlainMarkdown(ROOT)
    text = plain.prose("{cite:t}`montufar2014number` and {cite:t}`tramer2018ensemble`", CHAPTER_DIR)
    assert "Montúfar et al. (2014)" in text and "Tramèr et al. (2018)" in text
    assert "#cite-montufar2014number)" in text and not RAW_TEX_ACCENT.search(text)
    # the control: dropping the braces alone, as the mirrors once did, leaves the accent raw
    assert RAW_TEX_ACCENT.search("Mont{\\'u}far".replace("{", "").replace("}", ""))


def test_every_cited_name_in_every_mirror_is_unicode():
    for chapter in sorted(CHAPTER_DIR.glob("[0-9][0-9]-*.md")):
        notebook = mirrors.mirror(chapter, ROOT, values=None)
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        links = re.findall(r"\[([^\]]+)\]\(([^)]*bibliography\.html[^)]*)\)", markdown)
        assert links and not [who for who, _ in links if RAW_TEX_ACCENT.search(who)], chapter.name
        assert all("#cite-" in link for _, link in links), chapter.name


@pytest.mark.book
def test_every_citation_link_of_the_built_mirrors_names_an_entry_of_the_bibliography():
    import nbformat
    from bs4 import BeautifulSoup

    from .built_book import HTML, chapters, require_built_book

    require_built_book()
    ids = {tag["id"] for tag in BeautifulSoup((HTML / "book" / "bibliography.html").read_text(encoding="utf-8"),
                                               "html.parser").find_all(id=True)}
    for chapter in chapters():
        notebook = nbformat.read(HTML / f"{chapter}.ipynb", as_version=4)
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        anchors = re.findall(r"bibliography\.html#([\w-]+)\)", markdown)
        assert anchors or "{cite" not in (ROOT / f"{chapter}.md").read_text(), chapter
        assert set(anchors) <= ids, (chapter, sorted(set(anchors) - ids))
