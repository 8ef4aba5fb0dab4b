"""The built website, served on localhost and driven in Debian's Chromium through Playwright.

Every page loads without console errors or failed requests; every internal link and
image resolves; every formula is typeset by MathJax, without errors; search finds a
chapter's term and shows it in plain words, ranks titles first, starts its snippets at the
query and knows British and American spellings; a quiz's solution opens on click, and so
does a folded check's code; the PDF link and the download menu serve the PDF. Every page,
light and dark, on a desktop and on a phone: axe-core (WCAG 2.1 A and AA) finds no serious
or critical violation, no page scrolls sideways, and nothing is cut off: a display equation
too wide for the screen is broken onto lines (MathJax 4), a long printed line wraps, a
table fits. The whole contents fit the sidebar of a 900 px high screen, with one search box.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from real_book import REPO, built_site, site_url

pytestmark = [pytest.mark.slow, pytest.mark.real_book]

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
    # Every result shows a snippet, an index entry's too (its anchor is an empty span).
    page.wait_for_function("() => [...document.querySelectorAll('#search-results ul.search li')]"
                           ".every(item => item.querySelector('p.context'))", timeout=20000)
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


def test_a_folded_check_shows_its_verdict_and_its_code_one_click_away(site, browser):
    html, base = site
    name = next(name for name in pages(html) if "tag_check" in (html / name).read_text())
    page, problems = open_page(browser, f"{base}/{name}")
    cell = page.locator("div.cell.tag_check").first
    code = cell.locator(".cell_input")
    assert cell.locator("p.nnmath-check").first.is_visible()  # the verdict: ✓ label: method, cases, error
    shown = "element => element.checkVisibility()"  # false inside a closed <details>
    assert code.count() == 1 and not code.evaluate(shown)
    toggle = cell.locator("summary")
    assert toggle.inner_text().strip() == "Show the check"
    toggle.click()
    assert code.evaluate(shown)
    assert toggle.inner_text().strip() == "Hide the check"
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


AXE = REPO / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
REDIRECT = '<meta http-equiv="refresh"'
WIDTHS = {"desktop": 1280, "phone": 390}
SCHEMES = ("light", "dark")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(AXE.parents[2])], check=True,
                       capture_output=True)
    return AXE.read_text()


# What a reader would miss: a display equation that MathJax neither fitted nor broke onto
# lines, a printed line running past its output's box, the ledger's or the execution status's
# table wider than the page's column (a phone's layout makes each row a block; a chapter's
# own tables scroll in the theme's box), a figure wider than the column (a wide figure
# scrolls inside its box, with a cue); by type, with the start of its text.
CUT_OFF = """() => {
  const wider = (element) => element.scrollWidth > element.clientWidth + 1;
  // A page's column: its article; the search page has none, its results fill the main column.
  const column = (document.querySelector('article') || document.querySelector('main')).clientWidth;
  return [
    ...[...document.querySelectorAll('mjx-container[display="true"]')].filter(wider)
      .map(m => ['an equation', m.textContent.slice(0, 40)]),
    ...[...document.querySelectorAll('.cell_output pre')].filter(wider)
      .map(pre => ['a printed line', pre.textContent.slice(0, 40)]),
    ...[...document.querySelectorAll('article table.ledger, article table.execution-status')]
      .filter(t => t.getBoundingClientRect().width > column + 1)
      .map(t => ['a table', t.textContent.trim().slice(0, 40)]),
    ...[...document.querySelectorAll('article figure:not(.wide-figure) img')]
      .filter(i => i.getBoundingClientRect().width > column + 1).map(i => ['a figure', i.alt.slice(0, 40)]),
  ];
}"""


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_every_page_is_accessible_and_fits_its_screen_equations_included(site, browser, axe_source,
                                                                                      width):
    """Each page is loaded and typeset once per width, then checked in the light and the dark theme."""
    html, base = site
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    failures = {}
    for name in pages(html):
        if REDIRECT in (html / name).read_text():
            continue  # the front door only sends the reader on to the first chapter, tested itself
        page.goto(f"{base}/{name}", wait_until="load")
        if page.locator(".math").count():
            wait_for_mathjax(page)
        page.add_script_tag(content=axe_source)
        for scheme in SCHEMES:
            page.evaluate(f"() => document.documentElement.dataset.theme = '{scheme}'")
            # Colours fade from one theme to the other: check them once the fades are over.
            page.evaluate("""async () => {
                await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
                await Promise.all(document.getAnimations().filter(a => a instanceof CSSTransition)
                                  .map(a => a.finished.catch(() => null)));
            }""")
            problems = []
            result = page.evaluate("() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', "
                                   "values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
            problems += [f"axe {v['id']} ({v['impact']}): {v['nodes'][0]['html'][:120]}"
                         for v in result["violations"] if v["impact"] in ("serious", "critical")]
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"the page scrolls sideways by {overflow} px")
            if scheme == SCHEMES[0]:  # what follows does not depend on the colours
                problems += [f"{what} wider than its column: {text}" for what, text in page.evaluate(CUT_OFF)]
            if problems:
                failures[f"{name} ({scheme})"] = problems
    context.close()
    assert not failures, failures


def test_the_whole_contents_and_one_search_box_fit_a_900_px_screen(site, browser):
    _, base = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/book/notation.html", wait_until="networkidle")
    bottoms = page.evaluate("() => [...document.querySelectorAll('.sidebar-pdf-link, .bd-sidebar-primary .bd-links a')]"
                            ".map(element => element.getBoundingClientRect().bottom)")
    assert len(bottoms) > 15 and max(bottoms) <= 900, f"the sidebar's last item is {max(bottoms):.0f} px down"
    searches = page.evaluate("() => [...document.querySelectorAll('.search-button-field')]"
                             ".filter(b => b.offsetParent !== null).length")
    assert searches == 1
    context.close()


def test_the_download_menu_offers_the_notebook_and_the_books_pdf(site, browser):
    html, base = site
    page, problems = open_page(browser, f"{base}/book/activations.html")
    links = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('.dropdown-download-buttons a')]"
                          ".map(a => [a.textContent.trim(), a.getAttribute('href')]))")
    # The menu names what each file holds: the PDF is the whole book, not the page.
    assert links["The whole book (.pdf)"].endswith("_static/book.pdf")
    assert links["This chapter (.ipynb)"].endswith("notebooks/activations.ipynb")
    assert not page.evaluate("() => [...document.querySelectorAll('button, a')]"
                             ".some(e => (e.getAttribute('onclick') || '').includes('print'))")
    assert not problems, problems


def search(browser, base: str, query: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The search page's results for ``query``, best first, as (title, snippet); and its problems."""
    page, problems = open_page(browser, f"{base}/search.html?q={urllib.parse.quote(query)}")
    page.wait_for_function("() => /found/.test(document.querySelector('#search-results p.search-summary')"
                           "?.textContent || '')", timeout=30000)
    page.wait_for_function("() => [...document.querySelectorAll('#search-results ul.search li')]"
                           ".every(item => item.querySelector('p.context'))", timeout=30000)
    results = page.evaluate("() => [...document.querySelectorAll('#search-results ul.search li')]"
                            ".map(item => [item.querySelector('a').textContent, item.querySelector('p.context')"
                            ".textContent])")
    page.close()
    return [tuple(result) for result in results], problems


def test_search_snippets_read_as_words_not_tex(site, browser):
    _, base = site
    found = {}
    for query in ("broadcasting", "chain rule", "delta recursion", "Jacobian"):
        results, problems = search(browser, base, query)
        assert results and not problems, (query, problems)
        found[query] = [snippet for _, snippet in results]
    tex = re.compile(r"\\|#\[|\bsplit\b|\baligned\b|\bbegin\b|&=|[_^]\{")
    leaks = {query: [s for s in snippets if tex.search(s)] for query, snippets in found.items()}
    assert not any(leaks.values()), leaks
    assert any("∂" in s or "ᵀ" in s for s in found["broadcasting"]), found["broadcasting"]


def test_search_ranks_titles_first_and_starts_snippets_at_the_query(site, browser):
    """A title that holds the query comes first; a snippet shows the query's words, not the page's top."""
    _, base = site
    results, problems = search(browser, base, "chain rule")
    assert results[0][0].endswith("The chain rules"), results[:4]
    results, problems = search(browser, base, "cross entropy derivative")
    assert "cross-entropy" in results[0][0].lower(), results[:4]
    results, more = search(browser, base, "vanishing gradient")
    flow = [snippet for title, snippet in results if "Gradient flow at depth" in title]
    assert flow and "vanish" in flow[0].lower() and "Contents" not in flow[0], results
    assert not problems + more


def test_search_finds_british_and_american_spellings_alike(site, browser):
    _, base = site
    pages = {}
    for query in ("initialization", "initialisation"):
        results, problems = search(browser, base, query)
        assert results and not problems, (query, problems)
        pages[query] = {title.split(" > ")[0] for title, _ in results}
        flow = [snippet for title, snippet in results if "Gradient flow at depth" in title]
        assert flow and "initialis" in flow[0].lower(), (query, results)
    assert pages["initialization"] == pages["initialisation"]
