"""Alt text for the chapters' figures, set when the figure is drawn.

myst-nb takes only a figure's width and height from a notebook output, so a description computed
at run time (with the figure's own numbers) cannot reach the page through the output's metadata.
It travels inside the image instead: :func:`deepissues.plotting.describe` writes it into the PNG's
``Description`` text chunk, and this extension copies that chunk into every image node's ``alt``.
"""

from pathlib import Path

from docutils import nodes


def _description(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.info.get("Description")
    except (OSError, ValueError):
        return None


def _image_path(app, docname, uri):
    candidates = [Path(uri)] if Path(uri).is_absolute() else [
        Path(app.srcdir) / uri, Path(app.srcdir) / Path(docname).parent / uri, Path(app.outdir) / uri]
    return next((path for path in candidates if path.is_file()), None)


def copy_alt_text(app, doctree, docname):
    for image in doctree.findall(nodes.image):
        if image.get("alt") or not str(image.get("uri", "")).endswith(".png"):
            continue
        path = _image_path(app, docname, image["uri"])
        text = _description(path) if path else None
        if text:
            image["alt"] = text


def setup(app):
    app.connect("doctree-resolved", copy_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
