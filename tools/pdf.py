"""The whole book as one PDF (``make pdf``), printed from the HTML that ``make book`` wrote.

Nothing is executed again and nothing is downloaded: every page of ``_toc.yml`` is opened, in
reading order, in Debian's chromium (the browser the tests drive), its mathematics typeset by the
book's own MathJax, and printed with the theme's print styles; the pages are joined into one PDF
with a bookmark per page of the book. The PDF lands beside the HTML, where the landing page
links it.

Usage: python -m tools.pdf [--html DIR] [--browser PATH]
"""

import argparse
import io
import sys
from pathlib import Path

import yaml

from tools.local_site import served

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
BROWSER = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def pdf_name():
    """The PDF's file name, from the LaTeX target name in ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return Path(config["latex"]["latex_documents"]["targetname"]).with_suffix(".pdf").name


def book_pages():
    """(docname, title) of every page of ``_toc.yml`` in reading order, the landing page first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [(name, next(line[2:].strip() for line in (ROOT / f"{name}.md").read_text().splitlines()
                        if line.startswith("# "))) for name in names]


def print_page(context, url):
    """One page of the book as PDF bytes, once its images have loaded and MathJax has typeset it;
    ``context`` is a Playwright browser context (or a browser)."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.evaluate("() => Promise.all(Array.from(document.images, i => { i.loading = 'eager';"
                      " return i.decode().catch(() => null); }))")
        if page.locator(".math").count():
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
            page.evaluate("MathJax.startup.promise")
        return page.pdf(format="A4", print_background=True,
                        margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
    finally:
        page.close()


def build_pdf(html=HTML, browser_path=BROWSER):
    """Print every page of the book and join them into ``html``/<name>.pdf; returns its path."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfWriter

    if not (html / "index.html").exists():
        raise FileNotFoundError(f"no built book in {html}: run `make book` first")
    if not Path(browser_path).exists():
        raise FileNotFoundError(f"no browser at {browser_path}: tools/install_browser.sh installs Debian's chromium")
    writer = PdfWriter()
    with served(html) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_path), args=FLAGS)
        try:
            # one context for every page: the theme's scripts, styles and fonts are parsed once
            context = browser.new_context()
            for name, title in book_pages():
                writer.append(io.BytesIO(print_page(context, f"{base}{name}.html")), outline_item=title)
                print(f"printed {name}", file=sys.stderr)
        finally:
            browser.close()
    writer.add_metadata({"/Title": yaml.safe_load((ROOT / "_config.yml").read_text())["title"]})
    target = html / pdf_name()
    with open(target, "wb") as out:
        writer.write(out)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=HTML, help="the built book (default: _build/html)")
    parser.add_argument("--browser", type=Path, default=BROWSER, help="chromium's executable")
    args = parser.parse_args(argv)
    print(f"wrote {build_pdf(args.html, args.browser)}")


if __name__ == "__main__":
    main()
