"""The map of the book on the landing page: a ``{book-map}`` directive that becomes one card per
part of ``_toc.yml``, with the part's chapters and a figure from one of them.

A chapter offers its figure by tagging a code cell ``book-map``; the first tagged cell of a part
gives the card its picture. The directive leaves a placeholder that a post-transform fills in at
write time, once every chapter has been executed, so the figures are the ones this build drew
and a chapter added later appears on the map without any change here.
"""

from pathlib import Path

import yaml
from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

TAG = "book-map"


class BookMapNode(nodes.General, nodes.Element):
    """Placeholder for the map."""


class BookMap(SphinxDirective):
    def run(self):
        return [BookMapNode()]


def parts(toc_path):
    """[(caption, [docname, ...]), ...] in reading order, from a jb-book ``_toc.yml``."""
    toc = yaml.safe_load(Path(toc_path).read_text())
    return [(part["caption"], [c["file"] for c in part["chapters"]]) for part in toc["parts"]]


def tagged_figure(doctree):
    """The first image in a cell tagged ``book-map``, or None."""
    for cell in doctree.findall(nodes.container):
        if f"tag_{TAG}" in cell.get("classes", []):
            return next(cell.findall(nodes.image), None)
    return None


class FillBookMap(SphinxPostTransform):
    default_priority = 8

    def run(self, **kwargs):
        for node in list(self.document.findall(BookMapNode)):
            node.replace_self(self.book_map())

    def book_map(self):
        grid = nodes.container(classes=["book-map"])
        for caption, docnames in parts(Path(self.app.srcdir) / "_toc.yml"):
            grid += self.card(caption, docnames)
        return grid

    def card(self, caption, docnames):
        card = nodes.container(classes=["book-map-part"])
        card += nodes.paragraph("", "", nodes.strong(text=caption), classes=["book-map-caption"])
        card += self.figure(docnames)
        chapters = nodes.enumerated_list() if any(d.startswith("notebooks/") for d in docnames) else nodes.bullet_list()
        for docname in docnames:
            title = self.env.titles[docname].astext() if docname in self.env.titles else docname
            uri = self.app.builder.get_relative_uri(self.env.docname, docname)
            chapters += nodes.list_item("", nodes.paragraph("", "", nodes.reference("", title, internal=True, refuri=uri)))
        card += chapters
        return card

    def figure(self, docnames):
        """The part's figure, linked to its chapter; nothing when no chapter of the part offers one."""
        for docname in docnames:
            image = tagged_figure(self.env.get_doctree(docname))
            if image is not None:
                image = image.deepcopy()
                image["alt"] = f"A figure from the chapter {self.env.titles[docname].astext()}"
                image["classes"] = ["book-map-figure"]
                uri = self.app.builder.get_relative_uri(self.env.docname, docname)
                return [nodes.reference("", "", image, internal=True, refuri=uri)]
        return []


def setup(app):
    app.add_node(BookMapNode)
    app.add_directive("book-map", BookMap)
    app.add_post_transform(FillBookMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
