"""Pages that load cleanly: nothing from another site, no script twice, no console error.

1. Sphinx's default MathJax comes from a CDN, so a reader offline, or behind a strict network,
sees raw TeX. This extension copies MathJax 3 (the ``django-static-mathjax`` package, which
is MathJax's own es5 build and nothing of Django) into ``_static/mathjax`` and points
``mathjax_path`` at it. Only the TeX-to-CommonHTML entry point is kept of the combined
components; the pieces it loads on demand (TeX extensions, fonts, menu, accessibility)
are all copied.

2. Sphinx 7.4 lists an inline script that an extension adds after the builder starts (sphinx-thebe,
sphinx-togglebutton) twice, once with the file name None and once with "", so every page
declared ``const THEBE_JS_URL`` twice, a JavaScript error. The page's script list is made
unique again.

3. Docutils marks each bibliography entry ``role="doc-biblioentry"`` inside a ``role="list"``.
WAI-ARIA's DPUB module deprecated that role (version 1.1), and a list whose items have it has,
to assistive technology, no items: axe reports both (WCAG 1.3.1). The entries become
``role="listitem"``, what DPUB-ARIA 1.1 recommends in its place.
"""

import shutil
from pathlib import Path

ENTRY = "tex-chtml.js"
TARGET = "mathjax"  # under _static


def mathjax_source():
    import mathjax

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _other_entry_points(directory, names):
    if Path(directory) == mathjax_source():
        return [n for n in names if n.endswith(".js") and n != ENTRY]
    return []


def use_local_mathjax(app, config):
    config.mathjax_path = f"{TARGET}/{ENTRY}"


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    shutil.copytree(mathjax_source(), Path(app.outdir) / "_static" / TARGET,
                    ignore=_other_entry_points, dirs_exist_ok=True)


def _script_key(script):
    return script.filename or "", script.priority, tuple(sorted(script.attributes.items()))


def unique_scripts(app, pagename, templatename, context, doctree):
    context["script_files"] = list({_script_key(s): s for s in context["script_files"]}.values())


DEPRECATED_ENTRY_ROLE = 'role="doc-biblioentry"'


def list_bibliography_entries(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = context["body"].replace(DEPRECATED_ENTRY_ROLE, 'role="listitem"')


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("html-page-context", unique_scripts, priority=900)
    app.connect("html-page-context", list_bibliography_entries)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
