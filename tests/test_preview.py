"""The live preview (``python -m bookbuild preview``) on small fixture books, end to end.

It gives the pages ``make html`` gives (numbers included, after edits and a new chapter in
``_toc.yml``), takes every input Sphinx reads at the next save, ignores files that are not
inputs, rebuilds once per save, stops quietly, and shows a failed rebuild, a Sphinx problem or
a lint problem over the page the reader is looking at until the next good build (in Debian's
Chromium, driven by Playwright, as tests/test_browser.py does).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml
from fixture_book import FixtureBook, chapter, exercises

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", "--disable-background-networking",
                 "--disable-component-update"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action, as a terminal's foreground job has it (see test_pipeline)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PreviewProcess:
    """``python -m bookbuild preview`` on a fixture book, as a contributor starts it."""

    def __init__(self, book: FixtureBook):
        self.book = book
        self.port = _free_port()
        search_path = [str(book.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bookbuild", "preview", "--root", str(book.root), "--port", str(self.port),
             "--jobs", "1"],
            cwd=book.root, env=dict(os.environ, PYTHONPATH=os.pathsep.join(search_path)), start_new_session=True,
            preexec_fn=_as_in_a_terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.process.stdout.readline, "")),
                                       daemon=True)
        self.reader.start()
        _wait_for(lambda: self.process.poll() is not None or self.rebuilds(), 300, "the first build")
        assert self.process.poll() is None, self.lines

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def page(self, name: str) -> str:
        try:
            with urllib.request.urlopen(f"{self.url}book/{name}.html", timeout=5) as response:
                return response.read().decode()
        except (OSError, http.client.HTTPException):  # not served yet, or cut short: Sphinx is writing it
            return ""

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.url}__bookbuild_build", timeout=5) as response:
            return json.loads(response.read())

    def rebuilds(self) -> list[str]:
        """The lines that end a rebuild: 'rebuilt in ...' or 'not rebuilt ...'."""
        return [line for line in self.lines if line.startswith(("rebuilt in", "not rebuilt"))]

    def save(self, relative: str, text: str, what: str, seconds: float = 120) -> None:
        """Write a file and wait for the one rebuild it starts."""
        before = len(self.rebuilds())
        self.book.write(relative, text)
        _wait_for(lambda: len(self.rebuilds()) > before, seconds, what)

    def stop(self) -> str:
        """Ctrl-C; returns what it printed to stderr. Nothing it started may be left."""
        started = psutil.Process(self.process.pid).children(recursive=True)
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
            stopped = True
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            stopped = False
        self.reader.join(timeout=10)  # the reader thread owns stdout; stderr is read here
        stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        assert stopped, f"the preview did not stop within 30 s of Ctrl-C: {self.lines[-5:]}"
        time.sleep(2)
        left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left == [], [p.cmdline() for p in left]
        assert self.process.returncode == 0
        return stderr


@pytest.fixture
def book(tmp_path):
    return FixtureBook(tmp_path)


@pytest.fixture
def preview_of():
    started: list[PreviewProcess] = []

    def start(book: FixtureBook) -> PreviewProcess:
        started.append(PreviewProcess(book))
        return started[-1]

    yield start
    for preview in started:
        if preview.process.poll() is None:
            preview.process.kill()
            preview.process.wait()


def test_the_preview_rebuilds_once_per_save_shows_a_prose_edit_at_once_and_stops_quietly(book, preview_of):
    path = book.add_chapter("one", chapter("One", "print('first output')"))
    preview = preview_of(book)
    assert "Some prose about one" in preview.page("one") and "first output" in preview.page("one")
    start = time.monotonic()
    path.write_text(path.read_text().replace("Some prose about one", "Edited prose about one"))
    _wait_for(lambda: "Edited prose about one" in preview.page("one"), 30, "the prose edit")
    prose_seconds = time.monotonic() - start
    start = time.monotonic()
    path.write_text(path.read_text().replace("first output", "second output"))
    _wait_for(lambda: "second output" in preview.page("one"), 60, "the code edit")
    code_seconds = time.monotonic() - start
    time.sleep(3)  # no rebuild without a save
    assert len(preview.rebuilds()) == 3, preview.lines  # the first build, then one per save
    print(f"\npreview: a prose edit showed in {prose_seconds:.1f} s, a code edit in {code_seconds:.1f} s")
    assert prose_seconds < 5, prose_seconds
    stderr = preview.stop()
    assert [line for line in stderr.splitlines() if line.strip() and "WARNING" not in line] == ["preview stopped"]


def test_files_that_are_not_inputs_start_no_rebuild(book, preview_of):
    book.add_chapter("one", chapter("One", "print(1)"))
    preview = preview_of(book)
    for relative in ["book/.hypothesis/constants/1a2b", "fixturepkg/.ruff_cache/0.17/123",
                     "fixturepkg/__pycache__/x.cpython-311.pyc", "book/one.md~", "book/4913", "notes.txt"]:
        book.write(relative, "not an input\n")
    time.sleep(4)
    assert len(preview.rebuilds()) == 1, preview.lines
    preview.save("fixturepkg/values.py", "X = 1\n", "a module of the tracked package")
    assert len(preview.rebuilds()) == 2, preview.lines
    preview.stop()


def numbered_chapter(title: str, equations: int) -> str:
    slug = title.lower()
    return chapter(title, f"print('{slug}')") + "".join(
        f"\n$$ x_{k} = {k} $$ (eq-{slug}-{k})\n% definition: x\n\nSee {{eq}}`eq-{slug}-{k}`.\n"
        for k in range(1, equations + 1))


def numbers(html_dir: Path) -> dict[str, list[str]]:
    """Every page's section numbers (titles, the sidebar) and equation numbers, in order."""
    found = {}
    for page in sorted((html_dir / "book").glob("*.html")):
        html = page.read_text()
        found[page.stem] = re.findall(r'<span class="section-number">([^<]*)</span>|<span class="eqno">\(([^)]*)\)',
                                      html)
    return found


def test_the_preview_numbers_every_page_as_make_html_does(book, preview_of):
    def toc(parts):
        book.write("_toc.yml", yaml.safe_dump({"format": "jb-book", "root": "book/intro", "parts": [
            {"caption": caption, "numbered": True, "chapters": [{"file": f"book/{name}"} for name in names]}
            for caption, names in parts]}, sort_keys=False))

    book.write("book/intro.md", "# Intro\n\nWelcome.\n")
    for name in ("alpha", "beta", "gamma"):
        book.write(f"book/{name}.md", numbered_chapter(name.capitalize(), 2))
    toc([("One", ["alpha", "beta"]), ("Two", ["gamma"])])
    preview = preview_of(book)
    beta = book.root / "book" / "beta.md"
    for edit in ("first", "second"):
        preview.save("book/beta.md", beta.read_text().replace("Some prose", f"Some {edit} prose"), f"{edit} edit")
    preview.save("book/gamma.md", (book.root / "book" / "gamma.md").read_text().replace("'gamma'", "'gamma!'"),
                 "a code edit")
    book.write("book/delta.md", numbered_chapter("Delta", 1))
    before = len(preview.rebuilds())
    toc([("One", ["alpha", "delta", "beta"]), ("Two", ["gamma"])])
    _wait_for(lambda: len(preview.rebuilds()) > before and "delta" in numbers(book.root / "_build" / "preview"),
              120, "the new chapter")
    time.sleep(1)
    previewed = numbers(book.root / "_build" / "preview")
    preview.stop()
    assert previewed["delta"][:2] == [("2. ", ""), ("", "2.1")], previewed["delta"]  # not "()"
    assert book.build().returncode == 0
    assert previewed == numbers(book.root / "_build" / "html")


def test_every_input_sphinx_reads_takes_effect_at_the_next_save(book, preview_of):
    book.add_chapter("one", chapter("One", "print(1)") + "\nAs {cite}`lovelace1843`.\n\n$$ \\vq $$\n")
    book.add_chapter("references", "# References\n\n```{bibliography}\n```\n")
    book.write("book/references.bib", "")
    book.write("book/macros.tex", (book.root / "book" / "macros.tex").read_text() + "\\newcommand{\\vq}{q_{old}}\n")
    preview = preview_of(book)
    assert "Lov43" not in preview.page("one")
    preview.save("book/references.bib", "@misc{lovelace1843,\n  author = {Lovelace, Ada},\n"
                 "  title = {Notes on the Analytical Engine},\n  year = {1843}\n}\n", "the bibliography")
    assert "Lov43" in preview.page("one")
    assert "notes on the analytical engine" in preview.page("references").lower()
    preview.save("book/macros.tex", (book.root / "book" / "macros.tex").read_text().replace("q_{old}", "q_{new}"),
                 "the macros")
    assert "q_{new}" in preview.page("one") and "q_{old}" not in preview.page("one")
    config = yaml.safe_load((book.root / "_config.yml").read_text())
    config["title"] = "A renamed book"
    preview.save("_config.yml", yaml.safe_dump(config, sort_keys=False), "the configuration")
    assert "A renamed book" in preview.page("one")
    template = book.root / "book" / "_templates" / "pdf-link.html"
    preview.save("book/_templates/pdf-link.html", template.read_text() + "\n<!-- template edited -->\n", "a template")
    assert "template edited" in preview.page("one")
    preview.save("book/_static/extra.css", "p { margin: 1px; }\n", "a static file")
    config["sphinx"]["config"]["html_css_files"] = [*config["sphinx"]["config"]["html_css_files"], "extra.css"]
    preview.save("_config.yml", yaml.safe_dump(config, sort_keys=False), "the configuration, again")
    assert "extra.css" in preview.page("one")
    assert (book.root / "_build" / "preview" / "_static" / "extra.css").read_text() == "p { margin: 1px; }\n"
    assert preview.state()["sections"] == []
    toc = (book.root / "_toc.yml").read_text()
    preview.save("_toc.yml", toc + "chapters: [\n", "a table of contents half typed")
    assert preview.state()["sections"][0]["heading"] == "the book's sources", preview.lines[-3:]
    preview.save("_toc.yml", toc, "the table of contents again")
    assert preview.state()["sections"] == []
    preview.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make system-deps)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_a_failed_rebuild_shows_in_the_open_page_until_the_next_good_build(book, preview_of, browser):
    good = chapter("One", "print('all is well')")
    path = book.add_chapter("one", good)
    book.add_chapter("two", chapter("Two", "print(2)"))
    preview = preview_of(book)
    page = browser.new_page()
    page.goto(f"{preview.url}book/one.html")
    overlay = page.locator("#bookbuild-problems")
    assert overlay.count() == 0

    preview.save("book/one.md", good.replace("print('all is well')", "x = 1\nassert x == 2, 'x is not 2'"),
                 "a failing cell")
    overlay.wait_for(timeout=20_000)
    line = path.read_text().splitlines().index("assert x == 2, 'x is not 2'") + 1
    text = overlay.inner_text()
    assert "1 chapter(s) failed to execute" in text, text
    assert f"book/one.md:{line}: code cell 1 (`assert x == 2, 'x is not 2'`): AssertionError: x is not 2" in text
    assert "all is well" in page.content()  # the page keeps its last good outputs

    preview.save("book/one.md", good, "the fix")
    page.wait_for_function("() => !document.getElementById('bookbuild-problems')", timeout=20_000)
    assert "all is well" in page.content()

    no_solution = good.replace("```{solution} ex-one-2\n:class: dropdown\nBecause.\n```\n", "")
    assert no_solution != good and exercises("one") in good
    preview.save("book/one.md", no_solution, "an exercise without its solution")
    overlay.wait_for(timeout=60_000)
    page.wait_for_function("() => document.getElementById('bookbuild-problems').innerText.includes('make lint')",
                           timeout=60_000)
    assert "exercise 'ex-one-2' has no solution" in overlay.inner_text()

    preview.save("book/one.md", good, "the solution back")
    page.wait_for_function("() => !document.getElementById('bookbuild-problems')", timeout=60_000)
    time.sleep(3)  # the lint of the good build comes later, and finds nothing
    assert overlay.count() == 0
    page.close()
    preview.stop()
