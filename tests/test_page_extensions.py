"""The book's page extensions: the map of the landing page and the clean-page fixes."""

from types import SimpleNamespace

from docutils import nodes
from sphinx.builders.html._assets import _JavaScript

from .built_book import ROOT, book_extension, toc_pages

bookmap = book_extension("bookmap")
clean_pages = book_extension("clean_pages")


def test_parts_follow_the_table_of_contents():
    parts = bookmap.parts(ROOT / "_toc.yml")
    assert [page for _, pages in parts for page in pages] == toc_pages()[1:]
    assert parts[0][0] == "Expressivity and non-convexity" and parts[-1][0] == "Reference"


def test_the_map_takes_the_first_image_of_a_cell_tagged_book_map():
    untagged = nodes.container(classes=["cell"])
    untagged += nodes.image(uri="a.png")
    tagged = nodes.container(classes=["cell", "tag_book-map"])
    tagged += [nodes.image(uri="b.png"), nodes.image(uri="c.png")]
    document = nodes.section()
    document += [untagged, tagged]
    assert bookmap.tagged_figure(document)["uri"] == "b.png"
    assert bookmap.tagged_figure(untagged) is None


def test_every_part_with_chapters_offers_a_map_figure():
    for caption, pages in bookmap.parts(ROOT / "_toc.yml"):
        chapters = [ROOT / f"{p}.md" for p in pages if p.startswith("notebooks/")]
        if chapters:
            assert any(":tags: [book-map" in c.read_text() for c in chapters), f"no book-map cell in {caption}"


def test_a_script_listed_twice_with_file_name_none_and_empty_is_kept_once():
    inline = "const THEBE_JS_URL = 'x'"
    context = {"script_files": [_JavaScript(None, body=inline), _JavaScript("doctools.js"),
                                _JavaScript("", body=inline), _JavaScript("", body="other")]}
    clean_pages.unique_scripts(None, "p", "page.html", context, None)
    assert [(s.filename, s.attributes.get("body")) for s in context["script_files"]] == [
        ("", inline), ("doctools.js", None), ("", "other")]


def test_mathjax_is_served_from_the_book(tmp_path):
    config = SimpleNamespace(mathjax_path=None)
    clean_pages.use_local_mathjax(None, config)
    assert config.mathjax_path == "mathjax/tex-chtml.js"
    app = SimpleNamespace(outdir=tmp_path, builder=SimpleNamespace(format="html"))
    clean_pages.copy_mathjax(app, None)
    copied = tmp_path / "_static" / "mathjax"
    assert (copied / "tex-chtml.js").is_file() and not (copied / "tex-svg.js").exists()
    assert (copied / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").is_file()
    assert (copied / "input" / "tex" / "extensions" / "ams.js").is_file()


def test_bibliography_entries_become_list_items_of_their_list():
    from docutils.core import publish_parts

    body = publish_parts(".. [Smith2020] A. Smith. A paper. 2020.\n\nSee [Smith2020]_.\n",
                         writer_name="html5")["body"]
    assert 'role="list"' in body and clean_pages.DEPRECATED_ENTRY_ROLE in body, "docutils' markup changed"
    context = {"body": body}
    clean_pages.list_bibliography_entries(None, "book/bibliography", "page.html", context, None)
    assert clean_pages.DEPRECATED_ENTRY_ROLE not in context["body"]
    assert context["body"].count('role="listitem"') == 1
    untouched = {"body": "<p>no bibliography here</p>"}
    clean_pages.list_bibliography_entries(None, "p", "page.html", untouched, None)
    assert untouched["body"] == "<p>no bibliography here</p>"
    clean_pages.list_bibliography_entries(None, "p", "page.html", {}, None)  # a page with no body


alt_text = book_extension("alt_text")


def test_an_image_gets_the_description_its_png_carries(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepissues import plotting

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    plotting.describe(fig, "One line rises from zero to one across the plot.")
    (tmp_path / "described.png").write_bytes(plotting.png_with_alt_text(fig))
    plt.close(fig)
    bare, _ = plt.subplots()
    (tmp_path / "bare.png").write_bytes(plotting.png_with_alt_text(bare))
    plt.close(bare)
    document = nodes.section()
    document += [nodes.image(uri="described.png"), nodes.image(uri="bare.png"),
                 nodes.image(uri="described.png", alt="Set by hand.")]
    app = SimpleNamespace(srcdir=str(tmp_path), outdir=str(tmp_path / "html"))
    alt_text.copy_alt_text(app, document, "index")
    images = list(document.findall(nodes.image))
    assert images[0]["alt"] == "One line rises from zero to one across the plot."
    assert "alt" not in images[1]  # Control: a figure nobody described keeps no alt text
    assert images[2]["alt"] == "Set by hand."
