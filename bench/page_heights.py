"""How long each chapter is to read, and how much of it is code: measured in the built site.

For every page of the built website (``_build/html`` by default, served on localhost) and
two screens, a desktop (1280 x 900) and a phone (390 x 844), in Debian's Chromium through
Playwright, once MathJax has typeset the page:

* the page's height in pixels and in screens (the height over the screen's height);
* the share of that height taken by visible code: code cells' inputs and listings of
  package code (a folded check's code, behind its toggle, is not visible);
* on the phone, the display equations wider than the screen's text column that neither
  fit nor break onto lines: the ones a reader has to scroll sideways.

It prints one table and the totals. Numbers depend on the fonts and the browser, so compare
runs on one machine: build, run, change, build, run.

Run: python bench/page_heights.py [--site _build/html] [--only gradient-flow]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}

# Code a reader sees: cell inputs, and code blocks outside cells (listings of package code),
# unless inside a closed <details> (a folded check); not outputs.
VISIBLE_CODE = """() => {
  const blocks = [...document.querySelectorAll('article .cell_input, article div[class*="highlight-"]')]
    .filter(block => block.matches('.cell_input') || !block.closest('.cell'))
    .filter(block => block.checkVisibility());  // false inside a closed <details>
  return blocks.reduce((sum, block) => sum + block.getBoundingClientRect().height, 0);
}"""

# A display equation that overflows its box: MathJax neither fitted it nor broke it.
WIDE_EQUATIONS = """() => [...document.querySelectorAll('mjx-container[display="true"]')]
  .filter(m => m.scrollWidth > m.clientWidth + 1).length"""


def serve(folder: Path) -> str:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def measure(site: Path, only: str | None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    base = serve(site)
    names = sorted(path.stem for path in (site / "book").glob("*.html") if not only or path.stem == only)
    rows = {name: {"page": name} for name in names}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for screen, (width, height) in SCREENS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(180_000)  # a busy machine loads a long chapter slowly
            for name in names:
                page.goto(f"{base}/book/{name}.html", wait_until="load")
                if page.locator(".math").count():
                    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                    page.evaluate("() => MathJax.startup.promise")
                total = page.evaluate("() => document.documentElement.scrollHeight")
                code = page.evaluate(VISIBLE_CODE)
                rows[name][f"{screen}_px"] = total
                rows[name][f"{screen}_screens"] = total / height
                rows[name][f"{screen}_code"] = code / total
                if screen == "phone":
                    rows[name]["wide_equations"] = page.evaluate(WIDE_EQUATIONS)
            context.close()
        browser.close()
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--only", help="one page, by its name (e.g. gradient-flow)")
    arguments = parser.parse_args()
    rows = measure(arguments.site, arguments.only)
    print(f"{'page':<28} {'1280 px':>9} {'screens':>7} {'code':>5}   {'390 px':>9} {'screens':>7} {'code':>5}"
          f"   {'wide eqs':>8}")
    for row in rows:
        print(f"{row['page']:<28} {row['desktop_px']:>9,} {row['desktop_screens']:>7.1f} {row['desktop_code']:>5.0%}"
              f"   {row['phone_px']:>9,} {row['phone_screens']:>7.1f} {row['phone_code']:>5.0%}"
              f"   {row['wide_equations']:>8}")
    desktop = sum(row["desktop_px"] for row in rows)
    phone = sum(row["phone_px"] for row in rows)
    code_desktop = sum(row["desktop_px"] * row["desktop_code"] for row in rows) / desktop
    code_phone = sum(row["phone_px"] * row["phone_code"] for row in rows) / phone
    print(f"{'all pages':<28} {desktop:>9,} {desktop / SCREENS['desktop'][1]:>7.1f} {code_desktop:>5.0%}"
          f"   {phone:>9,} {phone / SCREENS['phone'][1]:>7.1f} {code_phone:>5.0%}"
          f"   {sum(row['wide_equations'] for row in rows):>8}")


if __name__ == "__main__":
    main()
