"""The built HTML book, read as files: internal links and anchors resolve, and every chapter's
launch buttons (Binder, Colab, thebe, downloads) name files that exist.

Offline by design: links to other sites are not followed; what the launch buttons name on
the repository is checked against this checkout (branch ``main``) and against the notebook
mirrors that ``make mirrors`` publishes (branch ``ipynb``).
"""

import json
import re
import subprocess
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from .built_book import CONFIG, HTML, ROOT, book_extension, chapters, require_built_book

REPOSITORY = urlsplit(CONFIG["repository"]["url"]).path.strip("/")  # owner/name
BRANCH = CONFIG["repository"]["branch"]
MIRROR_BRANCH = "ipynb"  # book/_ext/mirrors.py's default, where tools/publish_mirrors.sh commits
MIRRORS = book_extension("mirrors")


def mirrored_source(chapter):
    """``chapter``'s mirror as the build should have written it, from its source and the numbers
    this build glued: the cells' sources."""
    glue_file = ROOT / "_build" / "jupyter_execute" / f"{chapter}.glue.json"
    values = MIRRORS.glued_values(json.loads(glue_file.read_text())) if glue_file.exists() else {}
    return [cell.source for cell in MIRRORS.mirror(ROOT / f"{chapter}.md", ROOT, values).cells]


class PageLinks(HTMLParser):
    """The links (href, src) and anchors (id, name) of one HTML page."""

    def __init__(self):
        super().__init__()
        self.links, self.anchors, self.thebe_config = [], set(), None
        self._in_thebe = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        for key in ("id", "name"):
            if attrs.get(key):
                self.anchors.add(attrs[key])
        self._in_thebe = tag == "script" and attrs.get("type") == "text/x-thebe-config"

    def handle_data(self, data):
        if self._in_thebe:
            self.thebe_config = data
            self._in_thebe = False


def parse(path):
    parser = PageLinks()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def internal(url):
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url not in ("#", "")


def broken_links(page, parsed, anchors_of, root=HTML):
    """The internal links of ``page`` whose file (inside ``root``) or anchor does not exist."""
    broken = []
    for url in filter(internal, parsed.links):
        parts = urlsplit(url)
        target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file() or root.resolve() not in target.resolve().parents:
            broken.append(f"{url} (no file {target})")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in anchors_of(target):
            broken.append(f"{url} (no anchor #{parts.fragment} in {target.name})")
    return broken


@pytest.fixture(scope="module")
def site():
    require_built_book()
    pages = {path.resolve(): parse(path) for path in HTML.rglob("*.html") if "_static" not in path.parts}
    return pages


def test_the_link_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    page = tmp_path / "a.html"
    page.write_text('<a id="here" href="#here"></a><a href="b.html#nowhere"></a><a href="c.html"></a>'
                    '<a href="https://example.org/x"></a><a href="#"></a>')
    (tmp_path / "b.html").write_text('<p id="somewhere"></p>')
    parsed = {p.resolve(): parse(p) for p in tmp_path.glob("*.html")}
    broken = broken_links(page.resolve(), parsed[page.resolve()], lambda t: parsed[t.resolve()].anchors, root=tmp_path)
    assert [b.split(" ")[0] for b in broken] == ["b.html#nowhere", "c.html"]


def test_no_internal_link_or_anchor_is_broken(site):
    assert len(site) > len(chapters()), "fewer HTML pages than chapters: is the book built?"
    broken = {page.relative_to(HTML.resolve()).as_posix(): links
              for page, parsed in site.items()
              if (links := broken_links(page, parsed, lambda target: site[target.resolve()].anchors
                                        if target.resolve() in site else set()))}
    assert not broken, "broken internal links:\n" + "\n".join(f"{p}: {', '.join(b)}" for p, b in broken.items())


def launch_links(parsed):
    return {name: [u for u in parsed.links if host in u]
            for name, host in (("binder", "mybinder.org"), ("colab", "colab.research.google.com"))}


@pytest.mark.parametrize("chapter", chapters())
def test_every_launch_button_names_an_existing_file(chapter, site):
    page = (HTML / f"{chapter}.html").resolve()
    parsed = site[page]
    links = launch_links(parsed)
    source = f"{chapter}.md"

    (binder,) = links["binder"]
    assert binder.startswith(f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?"), binder
    (opened,) = re.findall(r"urlpath=lab/tree/(\S+)", binder)
    assert opened == source and (ROOT / opened).is_file(), binder

    (colab,) = links["colab"]
    prefix = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{MIRROR_BRANCH}/"
    assert colab.startswith(prefix), colab
    mirror = HTML / colab.removeprefix(prefix)  # what make mirrors commits to that branch
    assert mirror.is_file(), f"{colab} names {mirror}, which the build did not write"
    notebook = nbformat.read(mirror, as_version=4)
    assert [cell.source for cell in notebook.cells] == mirrored_source(chapter)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")

    downloads = [u for u in parsed.links if u.endswith((".ipynb", ".md")) and internal(u)]
    assert sorted(downloads) == sorted([f"{chapter.split('/')[-1]}.ipynb", f"../_sources/{source}"])
    assert all((page.parent / d).resolve().is_file() for d in downloads)

    config = parsed.thebe_config
    assert config is not None, "thebe is enabled in _config.yml but the page has no thebe config"
    assert f'repo: "{REPOSITORY}"' in config and f'ref: "{BRANCH}"' in config, config
    (path,) = re.findall(r'path: "([^"]+)"', config)
    assert (ROOT / path / f"{chapter.split('/')[-1]}.md").is_file(), f"thebe's kernel starts in {path}"


def test_every_chapter_has_a_mirror_and_nothing_else_does(site):
    mirrors = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.ipynb") if "_sources" not in p.parts)
    assert mirrors == sorted(f"{c}.ipynb" for c in chapters())
    json.loads((HTML / mirrors[0]).read_text())  # a plain JSON notebook, as Colab expects


def test_the_browser_install_fails_with_a_message_where_it_cannot_install(tmp_path):
    # a system with no chromium and no apt-get: only bash's own directory is on PATH
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    result = subprocess.run(["bash", str(ROOT / "tools" / "install_browser.sh")], capture_output=True, text=True,
                            env={"PATH": str(bin_dir), "CHROMIUM": str(tmp_path / "chromium")})
    assert result.returncode == 1
    assert "has no apt-get" in result.stderr and str(tmp_path / "chromium") in result.stderr


def test_the_mirrors_carry_the_glued_numbers_not_the_roles(site):
    for chapter in chapters():
        mirror = nbformat.read(HTML / f"{chapter}.ipynb", as_version=4)
        prose = "\n".join(cell.source for cell in mirror.cells if cell.cell_type == "markdown")
        assert "{glue" not in prose, chapter
        if chapter.endswith("05-adversarial-examples"):
            assert re.search(r"right on \d+% of test images", prose)


def test_glued_numbers_and_text_reach_the_mirrors_formatted_and_unquoted():
    source = "right on {glue:text}`accuracy:.0%` of test images; {glue:text}`order` (sharpest first)"
    values = {"accuracy": "0.953", "order": "'SGD > GD'"}  # text/plain, as myst-nb stores them
    assert MIRRORS.replace_glue(source, values) == "right on 95% of test images; SGD > GD (sharpest first)"


class FigureImages(HTMLParser):
    """The (src, alt) of every image a notebook output put on a page (those under _images/)."""

    def __init__(self):
        super().__init__()
        self.figures = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and "_images/" in (attrs.get("src") or ""):
            self.figures.append((attrs["src"], attrs.get("alt") or ""))


def describes(alt):
    """Whether an alt text is a description: a sentence of six words or more, not a file name."""
    words = alt.split()
    return len(words) >= 6 and alt.rstrip().endswith(".") and not re.search(r"\.(png|svg|jpe?g)\b", alt)


def test_the_alt_text_check_rejects_file_names_and_captions():
    assert describes("Test accuracy falls from 0.95 to 0.41 as epsilon grows.")
    assert not describes("../_images/5702e0d241a8.png")
    assert not describes("Figure")
    assert not describes("A plot of the loss")


@pytest.mark.parametrize("chapter", chapters())
def test_every_chapter_figure_has_alt_text_that_says_what_it_shows(chapter, site):
    parser = FigureImages()
    parser.feed((HTML / f"{chapter}.html").read_text(encoding="utf-8"))
    assert parser.figures, f"no figure on {chapter}"
    missing = [src.rsplit("/", 1)[-1] for src, alt in parser.figures if not describes(alt)]
    assert not missing, f"{len(missing)} of {len(parser.figures)} figures on {chapter} lack alt text: {missing}"
