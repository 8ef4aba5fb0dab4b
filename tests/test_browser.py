"""The built website, served on localhost and driven in Debian's Chromium through Playwright.

Every page loads without console errors or failed requests; every internal link and
image resolves; every formula is typeset by MathJax, without errors; search finds a
chapter's term; a quiz's solution opens on click; the PDF link serves the PDF.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from real_book import built_site, site_url

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def site():
    root, _ = built_site()
    return root / "_build" / "html", site_url().rstrip("/")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make system-deps)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def pages(html: Path) -> list[str]:
    return sorted(path.relative_to(html).as_posix() for path in html.rglob("*.html")
                  if not path.relative_to(html).parts[0].startswith("_"))


def open_page(browser, url: str):
    """Load a page; return it with the console errors and failed requests it caused."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # A request the page itself cancels by navigating away (the front door's redirect) is
    # aborted, not broken: a missing file shows up as an HTTP error below.
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})")
            if "ERR_ABORTED" not in (request.failure or "") else None)
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    return page, problems


def wait_for_mathjax(page) -> None:
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")


def test_every_page_loads_cleanly_and_typesets_its_maths(site, browser):
    html, base = site
    failures = {}
    for name in pages(html):
        page, problems = open_page(browser, f"{base}/{name}")
        if page.locator(".math").count():
            wait_for_mathjax(page)
            untypeset = page.evaluate(
                "() => [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))"
                ".map(m => m.textContent.slice(0, 60))")
            errors = page.evaluate("() => [...document.querySelectorAll('mjx-merror')].map(e => e.textContent)")
            problems += [f"maths not typeset: {t}" for t in untypeset] + [f"MathJax error: {e}" for e in errors]
        broken_images = page.evaluate(
            "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        problems += [f"broken image: {src}" for src in broken_images]
        if problems:
            failures[name] = problems
        page.close()
    assert not failures, failures


def test_every_internal_link_resolves(site):
    html, base = site
    broken = []
    ids_of: dict[Path, set[str]] = {}
    for name in pages(html):
        source = html / name
        for href in re.findall(r'href="([^"]+)"', source.read_text()):
            parsed = urllib.parse.urlparse(href)
            if parsed.scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target = (source.parent / urllib.parse.unquote(parsed.path)).resolve() if parsed.path else source
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{name}: {href}")
            elif parsed.fragment and target.suffix == ".html":
                if target not in ids_of:
                    ids_of[target] = set(re.findall(r'id="([^"]+)"', target.read_text()))
                if parsed.fragment not in ids_of[target]:
                    broken.append(f"{name}: {href} (no such anchor)")
    assert not broken, broken


def test_search_finds_a_term_from_a_chapter(site, browser):
    _, base = site
    page, problems = open_page(browser, f"{base}/search.html?q=sigmoid")
    page.wait_for_selector("#search-results ul.search li", timeout=20000)
    results = page.locator("#search-results ul.search li").all_inner_texts()
    assert any("ctivation" in result for result in results), results
    assert not problems, problems


def test_a_quiz_solution_is_hidden_until_clicked(site, browser):
    html, base = site
    name = next(name for name in pages(html) if 'class="solution' in (html / name).read_text())
    page, problems = open_page(browser, f"{base}/{name}")
    solution = page.locator("div.solution.dropdown").first
    body = solution.locator("section").first
    assert body.count() and not body.is_visible()
    solution.locator(".toggle-button").first.click()
    body.wait_for(state="visible", timeout=5000)
    assert not problems, problems


def test_the_pdf_link_serves_the_pdf(site, browser):
    _, base = site
    page, problems = open_page(browser, f"{base}/book/intro.html")
    href = page.locator(".sidebar-pdf-link a").get_attribute("href")
    url = urllib.parse.urljoin(page.url, href)
    with urllib.request.urlopen(url) as response:
        assert response.status == 200
        assert response.read(4) == b"%PDF"
    assert not problems, problems
