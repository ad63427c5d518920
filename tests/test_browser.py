"""Every page of the built book in a real browser: Debian's chromium, driven by Playwright,
over the HTML that `make book` wrote, served from 127.0.0.1.

For each page of ``_toc.yml`` (so a chapter added later is covered with no change here):
- it loads with no JavaScript error, no failed request and no request to another site;
- every image has loaded, and MathJax has typeset every formula without an error;
- each interactive figure's static view is visible, with its figure;
- the left navigation lists every page of the book;
- the book's search finds, for each page, a word that no other page has, and the keyboard alone
  reaches the search box and searches;
- in dark mode every figure still sits on a light background;
- every character of the text has a glyph in the page's fonts, and every display equation fits
  its column at 1280 px;
- no block of code or output scrolls sideways at 1280 px, in light and dark mode: the chapters'
  code keeps to 80 characters (tests/test_book.py) and printed output wraps (book/_static/book.css);
- axe-core finds no violation of WCAG 2.0, 2.1 and 2.2 at levels A and AA, in light and dark mode
  (of the highlighted code tokens, one of each kind is checked: ``ONE_TOKEN_OF_EACH_KIND``);
- with the keyboard alone a reader skips to the content, reaches the next page through the
  navigation, searches, and opens and closes every solution, seeing a focus ring at each step.
A full-page screenshot of each chapter, light and dark, goes to ``_build/screenshots/`` for a person
to look at (the other pages are prose and tables; each shot costs over a second).

`make test` installs chromium (tools/install_browser.sh); without it these tests fail, never skip.
"""

import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from .built_book import HTML, ROOT, require_built_book, served, toc_pages

BROWSER = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "_build" / "screenshots"
STATIC_WIDGET = ".deepissues-widget-static"
NOT_PROSE = ".cell_output, pre, code, .math, script, style, .headerlink"


@pytest.fixture(scope="module")
def browser():
    require_built_book()
    if not BROWSER.exists():
        pytest.fail(f"the browser tests need Debian's chromium at {BROWSER}: `make test` installs it with "
                    "tools/install_browser.sh (apt-get, as root); run that, or install chromium by hand",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with served() as base, sync_playwright() as playwright:
        # no name resolves but the book's own server's: a request to another site fails at once
        chromium = playwright.chromium.launch(executable_path=str(BROWSER),
                                              args=[*FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        # One context a colour scheme, each visit a new page in it: the theme's scripts, styles and
        # fonts are then parsed once and come from the cache after (a fresh context a visit cost
        # twice the CPU a load, over 150 loads a run). The pages set no cookie, and each visit
        # empties the storage an earlier one left (Visit), so every visit starts as a first one.
        contexts = {mode: chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=mode)
                    for mode in ("light", "dark")}
        yield base, contexts
        chromium.close()


class Visit:
    """One page open in a new tab of its colour scheme's context, with everything that went wrong on the way."""

    def __init__(self, browser, page_name, mode="light", query=""):
        base, contexts = browser
        self.base, self.name = base, page_name
        self.page = contexts[mode].new_page()
        self.problems = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"JavaScript error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed to load {r.url}: {r.failure}"))
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
        # a listener, not a route: routing turns the browser's cache off (and the launch flags make
        # such a request fail)
        self.page.on("request", self._local_only)
        # what an earlier visit stored is gone: the theme's mode, and the terms a search leaves for
        # the next page to highlight (which would add a link to the page's Tab order)
        self.page.add_init_script("localStorage.clear(); sessionStorage.clear();")
        self.page.goto(f"{base}{page_name}.html{query}", wait_until="load")
        self.wait_for_math()

    def _local_only(self, request):
        if not request.url.startswith((self.base, "data:", "blob:")):
            self.problems.append(f"request to another site: {request.url}")

    def wait_for_math(self):
        if self.page.locator(".math").count():
            self.page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
            self.page.evaluate("MathJax.startup.promise")

    def screenshot(self, suffix=""):
        # JPEG: a long chapter's full page encodes in two thirds of a PNG's time, 40 times a run
        path = SCREENSHOTS / f"{self.name.split('/')[-1]}{suffix}.jpg"
        self.page.screenshot(path=path, full_page=True, type="jpeg", quality=85)
        return path

    def close(self):
        self.page.close()


@pytest.fixture
def visit(browser):
    opened = []

    def open_page(page_name, mode="light", query=""):
        opened.append(Visit(browser, page_name, mode, query))
        return opened[-1]

    yield open_page
    for page in opened:
        page.close()


UNLOADED_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(i => { i.loading = "eager"; });
    await Promise.all(images.map(i => i.decode().catch(() => null)));
    return images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
}"""

MATH_PROBLEMS = """() => {
    const problems = [];
    document.querySelectorAll(".math").forEach(m => {
        if (!m.querySelector("mjx-container")) problems.push("not typeset: " + m.textContent.slice(0, 60));
    });
    document.querySelectorAll("mjx-merror").forEach(e => problems.push("MathJax error: " + e.textContent));
    const article = document.querySelector("article").cloneNode(true);
    article.querySelectorAll("pre, code, .cell_output, mjx-container, script").forEach(e => e.remove());
    if (article.textContent.includes("$$")) problems.push("raw $$ left in the text");
    const tex = article.textContent.match(/.{0,40}\\\\[A-Za-z]{2,}.{0,40}/);
    if (tex) problems.push("raw TeX left in the text: " + tex[0]);
    return problems;
}"""

STATIC_WIDGETS = """selector => Array.from(document.querySelectorAll(selector)).map(note => {
    const cell = note.closest(".cell");
    const figure = cell && cell.querySelector("img");
    return {visible: note.checkVisibility(), figure: Boolean(figure && figure.naturalWidth > 0
                                                           && figure.checkVisibility())};
})"""

FIGURES_ON_DARK = """() => Array.from(document.querySelectorAll("article img")).filter(img => {
    if (!img.naturalWidth) return false;
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const w = canvas.width - 1, h = canvas.height - 1;
    const opaque = [[0, 0], [w, 0], [0, h], [w, h]].every(([x, y]) => context.getImageData(x, y, 1, 1).data[3] === 255);
    if (opaque) return false;
    const [r, g, b, a = 1] = (getComputedStyle(img).backgroundColor.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number);
    return !(a === 1 && 0.2126 * r + 0.7152 * g + 0.0722 * b > 200);
}).map(img => img.getAttribute("src"))"""


# A character the fonts lack is drawn as the first font's empty box (.notdef), the same box as a
# code point no font has, such as one of Unicode's private-use plane 16.
MISSING_GLYPHS = """() => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 160;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    const draw = (text, font) => {
        context.clearRect(0, 0, 160, 160); context.font = font; context.fillText(text, 10, 110);
        return context.getImageData(0, 0, 160, 160).data.join();
    };
    const seen = new Set(), missing = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const parent = walker.currentNode.parentElement;
        if (!parent || parent.closest("mjx-container, script, style") || !parent.checkVisibility()) continue;
        const font = getComputedStyle(parent).font;
        for (const character of walker.currentNode.textContent) {
            if (character.codePointAt(0) < 0x80 || /\\s/.test(character) || seen.has(character + font)) continue;
            seen.add(character + font);
            if (draw(character, font) === draw("\\u{10FFFD}", font)) missing.add(character);
        }
    }
    return Array.from(missing, c => `${c} (U+${c.codePointAt(0).toString(16).toUpperCase()})`);
}"""

EQUATIONS_CUT = """() => Array.from(document.querySelectorAll('mjx-container[display="true"]'))
    .filter(m => m.scrollWidth > m.clientWidth + 1)
    .map(m => `${m.textContent.slice(0, 60)}: ${m.scrollWidth} px in a ${m.clientWidth} px column`)"""

BLOCKS_SCROLLING = """() => Array.from(document.querySelectorAll(
        "article pre, article div.cell_output, article div.output, article table"))
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => {
        const line = e.textContent.split("\\n").reduce((a, b) => (a.length >= b.length ? a : b), "");
        return `${e.tagName.toLowerCase()}, ${e.scrollWidth} px in a ${e.clientWidth} px column: `
            + line.trim().slice(0, 80);
    })"""

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


# axe's colour-contrast rule costs time for each element of text, and a chapter's code cells hold
# thousands of highlighted tokens (5,600 of ch06's 10,100 elements, two thirds of its axe time) in
# a dozen token classes. A token's colours follow from its class and its ancestors' classes alone
# (the highlighting sets no inline style), so one token is kept of each such kind and the others
# become plain text: their text then takes the block's own colour, which is checked as well.
ONE_TOKEN_OF_EACH_KIND = """() => {
    const seen = new Set();
    let unwrapped = 0;
    document.querySelectorAll(".highlight pre span").forEach(span => {
        if (span.children.length || span.hasAttribute("style")) return;
        const kind = [];
        for (let e = span; e; e = e.parentElement) kind.push(e.tagName + "." + e.className);
        const key = kind.join(" < ");
        if (seen.has(key)) { span.replaceWith(span.textContent); unwrapped += 1; } else seen.add(key);
    });
    return unwrapped;
}"""


def axe_violations(page):
    """axe-core's WCAG A and AA violations on the open page, one line per rule, with its first nodes.

    It first leaves one highlighted code token of each kind (``ONE_TOKEN_OF_EACH_KIND``), so call
    it after the checks that read the page as it was built.
    """
    from axe_playwright_python.sync_playwright import Axe

    page.evaluate(ONE_TOKEN_OF_EACH_KIND)
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                       "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}) on {len(v['nodes'])} element(s), e.g. "
            + "; ".join(f"{n['target']}: {n['failureSummary']}" for n in v["nodes"][:2])
            for v in results.response["violations"]]


FOCUSED = """() => {
    const e = document.activeElement, style = getComputedStyle(e);
    return {tag: e.tagName, text: (e.getAttribute("aria-label") || e.textContent || "").trim().slice(0, 40),
            href: e.href || null, ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2};
}"""


def tab(page):
    """Press Tab and return what has the focus: tag, text, link and whether a focus ring shows."""
    page.keyboard.press("Tab")
    return page.evaluate(FOCUSED)


def page_path(url, base):
    return urlsplit(url).path.removeprefix(urlsplit(base).path).removesuffix(".html")


def is_chapter(page_name):
    return page_name.startswith("notebooks/")


def interactive_figures(page_name):
    source = ROOT / f"{page_name}.md"
    return source.read_text().count("interactive_figure(") if is_chapter(page_name) else 0


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_loads_cleanly_with_images_glyphs_math_widgets_navigation_axe_and_solutions(visit, page_name):
    page = visit(page_name)
    assert not page.problems, "\n".join(page.problems)
    assert page.page.evaluate(UNLOADED_IMAGES) == []
    assert page.page.evaluate(MATH_PROBLEMS) == []
    assert page.page.evaluate(MISSING_GLYPHS) == [], "characters drawn as an empty box"
    assert page.page.evaluate(EQUATIONS_CUT) == [], "display equations wider than the page's column"
    assert page.page.evaluate(BLOCKS_SCROLLING) == [], "code or output wider than the page's column"

    widgets = page.page.evaluate(STATIC_WIDGETS, STATIC_WIDGET)
    assert len(widgets) == interactive_figures(page_name), "one static view per interactive_figure call"
    assert all(w["visible"] and w["figure"] for w in widgets), widgets
    assert page.page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count() == 0, \
        "a live widget view is in the static page, where no widget manager can draw it"

    links = page.page.eval_on_selector_all("nav.bd-docs-nav a.reference", "links => links.map(a => a.href)")
    listed = {page_path(link, page.base) for link in links}
    missing = set(toc_pages()[1:]) - listed
    assert not missing, f"the left navigation does not list {sorted(missing)}"
    if is_chapter(page_name):
        assert page.screenshot().stat().st_size > 0
    assert axe_violations(page.page) == []  # on the same load: each load of a chapter costs seconds
    keyboard_opens_and_closes_every_solution(page.page, page_name)  # last: it moves the focus


@pytest.mark.parametrize("page_name", toc_pages())
def test_dark_mode_keeps_every_figure_on_a_light_background_and_passes_axe(visit, page_name):
    page = visit(page_name, mode="dark")
    assert page.page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert not page.problems, "\n".join(page.problems)
    assert page.page.evaluate(FIGURES_ON_DARK) == []
    assert page.page.evaluate(BLOCKS_SCROLLING) == [], "code or output wider than the page's column"
    if is_chapter(page_name):
        assert page.screenshot("-dark").stat().st_size > 0
    assert axe_violations(page.page) == []


def prose_words(page_name):
    soup = BeautifulSoup((HTML / f"{page_name}.html").read_text(encoding="utf-8"), "html.parser")
    article = soup.select_one("article")
    everything = article.get_text(" ").lower()
    for element in article.select(NOT_PROSE):
        element.decompose()
    prose = " ".join(p.get_text(" ") for p in article.find_all("p")).lower()
    return Counter(re.findall(r"\b[a-z]{7,}\b", prose)), everything


@pytest.fixture(scope="module")
def page_words():
    require_built_book()
    return {name: prose_words(name) for name in toc_pages()}


def word_only_on(page_name, page_words):
    """The most frequent prose word of the page that appears nowhere in any other page."""
    others = " ".join(text for name, (_, text) in page_words.items() if name != page_name)
    counts, _ = page_words[page_name]
    unique = [w for w in sorted(counts, key=lambda w: (-counts[w], w)) if not re.search(rf"\b{w}", others)]
    assert unique, f"{page_name} has no word of its own to search for"
    return unique[0]


def test_word_only_on_finds_a_word_no_other_page_has():
    words = {"a": (Counter({"shared": 3, "special": 1}), "shared special"), "b": (Counter({"shared": 1}), "shared")}
    assert word_only_on("a", words) == "special"


def search_results(visit):
    """The pages that the search page open in ``visit`` lists, once it has searched (its summary
    says how many it found, or that nothing matched)."""
    visit.page.wait_for_function(
        "() => { const s = document.querySelector('#search-results .search-summary');"
        " return s && /found|did not match/i.test(s.textContent); }", timeout=20_000)
    results = visit.page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
    return {page_path(r, visit.base) for r in results}


# Every page has the same header, and so the same search button (the keyboard test below Tabs
# through the header of every page); what differs from page to page is what the index holds.
KEYBOARD_SEARCH_FROM = "notebooks/01-linear-regions"


def test_the_keyboard_alone_searches_from_a_page(visit, page_words):
    word = word_only_on(KEYBOARD_SEARCH_FROM, page_words)
    page = visit(KEYBOARD_SEARCH_FROM)
    for _ in range(5):  # the keyboard alone: Tab to the search button, Enter, type, Enter
        if tab(page.page)["text"] == "Search":
            break
    page.page.keyboard.press("Enter")
    page.page.wait_for_function("document.activeElement.matches('input[name=q]')", timeout=5_000)
    page.page.keyboard.type(word)
    page.page.keyboard.press("Enter")
    page.page.wait_for_url("**/search.html?q=*")
    assert KEYBOARD_SEARCH_FROM in search_results(page), f"searching '{word}' did not find its page"
    assert not page.problems, "\n".join(page.problems)


# What the search page runs for ``search.html?q=``, run again in the page already open: each load
# of it cost about a CPU second, and the address itself is tried by the keyboard test above.
SEARCH_AGAIN = """word => {
    document.getElementById("search-results").replaceChildren();
    Search.performSearch(word);
}"""


@pytest.fixture(scope="module")
def search_page(browser):
    page = Visit(browser, "search")
    yield page
    page.close()


@pytest.mark.parametrize("page_name", toc_pages())
def test_the_search_finds_a_word_only_this_page_has(search_page, page_words, page_name):
    word = word_only_on(page_name, page_words)
    search_page.page.evaluate(SEARCH_AGAIN, word)
    found = search_results(search_page)
    assert page_name in found, f"searching '{word}' found {sorted(found)}"
    assert not search_page.problems, "\n".join(search_page.problems)


def test_the_search_again_finds_nothing_for_a_word_no_page_has(search_page):
    """The control: the page's earlier results are gone, and the index is really searched."""
    search_page.page.evaluate(SEARCH_AGAIN, "piecewise")
    assert search_results(search_page)
    search_page.page.evaluate(SEARCH_AGAIN, "qxzjvwk")
    assert search_results(search_page) == set()


SKIP_LINK = "#pst-skip-link a"


def skips_to_the_content(page):
    """From the top of a page just loaded, the first Tab stop is the skip link, with a focus ring,
    and Enter on it moves to the content."""
    first = tab(page)
    assert first["text"] == "Skip to main content" and first["ring"], first
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main-content"


@pytest.mark.parametrize("page_name", toc_pages())
def test_the_keyboard_skips_to_the_content_and_reaches_the_next_page(visit, page_name):
    pages = toc_pages()
    target = pages[(pages.index(page_name) + 1) % len(pages)]
    page = visit(page_name)
    skips_to_the_content(page.page)
    # back to the skip link, from where Tab walks the header's controls and the navigation in book order
    page.page.focus(SKIP_LINK)
    for _ in range(len(pages) + 20):
        focused = tab(page.page)
        assert focused["ring"], f"no focus ring on {focused}"
        if focused["href"] and page_path(focused["href"], page.base) == target and focused["tag"] == "A" \
                and focused["text"]:
            break
    else:
        pytest.fail(f"Tab never reached the navigation's link to {target}")
    # Enter on the link asks for the next page, and the test ends there: that page is loaded and
    # checked by its own tests (its load here cost as much as this test's own), and a page closed
    # while it loads can hang the browser, so the request is cancelled
    page.page.route(f"**/{target}.html*", lambda route: route.abort("aborted"))
    with page.page.expect_request(f"**/{target}.html*"):
        page.page.keyboard.press("Enter")


def solutions(page_name):
    soup = BeautifulSoup((HTML / f"{page_name}.html").read_text(encoding="utf-8"), "html.parser")
    return [s["id"] for s in soup.select("div.solution")]


SOLUTION_SHOWN = """id => document.getElementById(id).querySelector(".admonition-title ~ *")
    .checkVisibility({visibilityProperty: true, opacityProperty: true})"""


def keyboard_opens_and_closes_every_solution(page, page_name):
    """With the keyboard alone, each solution of the open page is closed until asked for, opens
    with Enter and closes with Space, its toggle showing a focus ring."""
    if "{solution-start}" in (ROOT / f"{page_name}.md").read_text():
        assert solutions(page_name), "the chapter has solutions, but its page shows none"
    for solution in solutions(page_name):
        # from the link in the solution's title, the next Tab stop is its toggle
        page.evaluate("id => document.getElementById(id).querySelector('.admonition-title a').focus()", solution)
        focused = tab(page)
        assert focused["tag"] == "BUTTON" and focused["ring"], focused
        assert not page.evaluate(SOLUTION_SHOWN, solution), f"{solution} is open before it is asked for"
        page.keyboard.press("Enter")
        page.wait_for_function(SOLUTION_SHOWN, arg=solution, timeout=5_000)
        page.keyboard.press("Space")
        page.wait_for_function(f"id => !({SOLUTION_SHOWN})(id)", arg=solution, timeout=5_000)


BROKEN = """() => {
    const article = document.querySelector("article");
    article.insertAdjacentHTML("afterbegin",
        '<p id="faint" style="color: #bbb; background: #fff">faint text</p>'
        + '<img id="no-alt" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        + '<p id="tofu">\\uE000 \\u{10FFFD}</p>'
        + '<p id="raw-tex">the bound \\\\frac12 stayed raw</p>'
        + '<button id="ringless" style="outline: none !important">plain</button>'
        + '<div class="cell"><div class="cell_input"><div class="highlight"><pre>#'
        + 'x'.repeat(120) + '</pre></div></div><div class="cell_output"><div class="output">'
        + '<pre>' + 'y '.repeat(200) + '</pre></div></div></div>');
    const wide = document.createElement("div");
    wide.className = "math";
    wide.textContent = "\\\\[" + "x + ".repeat(200) + "x\\\\]";
    article.prepend(wide);
    return MathJax.typesetPromise([wide]);
}"""


def test_the_rendering_and_accessibility_checks_catch_what_they_look_for(visit):
    page = visit("notebooks/07-failures-parities")
    checks = (MATH_PROBLEMS, MISSING_GLYPHS, EQUATIONS_CUT, BLOCKS_SCROLLING)
    assert (axe_violations(page.page), *map(page.page.evaluate, checks)) == ([], [], [], [], [])
    page.page.evaluate(BROKEN)
    rules = " ".join(axe_violations(page.page))
    assert "color-contrast" in rules and "image-alt" in rules, rules
    assert page.page.evaluate(MISSING_GLYPHS) == ["\ue000 (U+E000)", "\U0010fffd (U+10FFFD)"]
    assert len(page.page.evaluate(EQUATIONS_CUT)) == 1
    # a code line of 121 characters scrolls; a long line of output wraps
    (wide,) = page.page.evaluate(BLOCKS_SCROLLING)
    assert wide.startswith("pre, ") and wide.endswith("x" * 79), wide
    (problem,) = page.page.evaluate(MATH_PROBLEMS)
    assert problem.startswith("raw TeX left in the text: ") and "the bound \\frac12 stayed raw" in problem
    page.page.evaluate("document.getElementById('ringless').focus()")
    page.page.keyboard.press("Shift+Tab")
    assert tab(page.page) == {"tag": "BUTTON", "text": "plain", "href": None, "ring": False}


def test_axe_still_sees_a_code_token_class_that_is_too_faint(visit):
    """The control of ``ONE_TOKEN_OF_EACH_KIND``: with the keywords ``import`` and ``from`` drawn
    too faint, the duplicates are unwrapped and axe still finds the one that is left."""
    page = visit("notebooks/07-failures-parities")
    page.page.add_style_tag(content=".highlight .kn { color: #d0d0d0 !important }")
    tokens = page.page.locator(".highlight pre span.kn").count()
    rules = axe_violations(page.page)
    assert tokens > 2 and page.page.locator(".highlight pre span.kn").count() == 1
    assert any(rule.startswith("color-contrast") and ".kn" in rule for rule in rules), rules
