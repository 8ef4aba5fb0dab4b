"""Live preview while writing: ``python -m bookbuild preview`` (``make preview``).

The book is served at http://127.0.0.1:8000 from ``_build/preview``. On every save of an
input (a file under ``book/``, a module of a tracked package, ``_config.yml``, ``_toc.yml``,
``requirements.txt``), the chapters whose code or imported modules changed are executed (the
same store as ``make html``, so nothing runs twice), and Sphinx rebuilds what changed, as
``jupyter-book build -n`` does: a fresh Sphinx application each time, in this process (its
imports stay loaded), which reads the configuration, the table of contents, the
bibliography, the macros, the templates and the static files again. The pages are then the
ones ``make html`` writes, numbers included (a Sphinx application kept between builds
carried state over: sphinx-external-toc's chapter counter grew by the number of chapters at
each rebuild). Files that are not inputs (hidden folders such as ``.hypothesis`` or
``.ruff_cache``, ``__pycache__``, editors' temporary files, ``_build``) never start a rebuild.

The open page reloads itself when a rebuild has written pages, and shows every problem
that would fail ``make html`` over the page, until a rebuild without problems: a chapter
that fails (its file, the line, the message; its pages keep their last good outputs), a
Sphinx warning or error, and the lint's problems (:mod:`bookbuild.rules`), which are
found in a process of their own after each rebuild and shown when they are known. The
page polls the server for them.

The preview skips what only the published site needs (the reader notebooks and the
wheel). Ctrl-C stops it quietly.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import gc
import http.server
import io
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import jinja2
import jinja2.bccache
import yaml

from bookbuild import rules
from bookbuild.book import BookConfig, BookError, check_book, load_config
from bookbuild.budget import calibrate
from bookbuild.execute import ANSI_ESCAPE, execute_book, format_report
from bookbuild.keys import package_modules
from bookbuild.processes import build_lock, die_with_parent

BUILD_ENDPOINT = "/__bookbuild_build"
ROOT_INPUTS = ("_config.yml", "_toc.yml", "requirements.txt")
IGNORED_PARTS = {"_build", "__pycache__", "node_modules"}
TEMPORARY_SUFFIXES = (".tmp", "~", ".swp", ".swx", ".bak")
# In every page of the preview: polls the server; reloads the page when a rebuild wrote
# pages; shows the last rebuild's problems over the page, this page's first, until none.
RELOAD_SCRIPT = f"""(() => {{
  let pages = null, version = null;
  const here = decodeURIComponent(location.pathname).replace(/^\\/+/, "").replace(/\\.html$/, ".md");
  function show(sections) {{
    let box = document.getElementById("bookbuild-problems");
    if (!sections.length) {{ if (box) box.remove(); return; }}
    if (!box) {{
      box = document.createElement("section");
      box.id = "bookbuild-problems";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:10000;max-height:60vh;overflow:auto;" +
        "margin:0;padding:0.8em 1.2em;background:#fff4f4;color:#5c0000;border-bottom:4px solid #b00020;" +
        "font:14px/1.45 ui-monospace,monospace;box-shadow:0 2px 8px rgba(0,0,0,0.3)";
      document.body.prepend(box);
    }}
    box.replaceChildren();
    const title = document.createElement("h2");
    title.style.cssText = "margin:0 0 0.4em;font-size:16px;color:#5c0000";
    title.textContent = "The last rebuild has problems; make html would fail:";
    box.append(title);
    for (const section of sections) {{
      const heading = document.createElement("p");
      heading.style.cssText = "margin:0.5em 0 0.2em;font-weight:bold";
      heading.textContent = section.heading;
      const list = document.createElement("ul");
      list.style.cssText = "margin:0;padding-left:1.2em";
      const mine = section.problems.filter(line => line.startsWith(here + ":"));
      for (const line of [...mine, ...section.problems.filter(line => !mine.includes(line))]) {{
        const item = document.createElement("li");
        item.textContent = line;
        if (mine.includes(line)) item.style.fontWeight = "bold";
        list.append(item);
      }}
      box.append(heading, list);
    }}
  }}
  async function poll() {{
    try {{
      const state = await (await fetch("{BUILD_ENDPOINT}", {{cache: "no-store"}})).json();
      if (pages !== null && state.pages !== pages) {{ location.reload(); return; }}
      pages = state.pages;
      if (state.version !== version) {{ version = state.version; show(state.sections); }}
    }} catch (error) {{}}
  }}
  poll();
  setInterval(poll, 400);
}})();"""


class _CompiledTemplates(jinja2.BytecodeCache):
    """The theme's templates, compiled once for all the preview's Sphinx applications (each
    new one would compile them again: a third of a prose edit's rebuild). Jinja compares each
    template's source with the one its code was compiled from, so an edited template is
    compiled again."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = _CompiledTemplates()


def keep_compiled_templates(app) -> None:
    """Sphinx's builder-inited, in the preview (bookbuild.sphinx_ext connects it)."""
    templates = getattr(app.builder, "templates", None)
    if templates is not None and hasattr(templates, "environment"):
        templates.environment.bytecode_cache = COMPILED_TEMPLATES


class Problems:
    """What the pages' script polls: how many times pages were written, and the problems of
    the last rebuild (its own, then the lint's, when they are known), with a version number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pages = 0
        self.version = 0
        self.rebuild = 0
        self.summary = rules.Summary()

    def start(self) -> int:
        """A new rebuild: its problems replace the last one's; returns its number."""
        with self._lock:
            self.rebuild += 1
            self.summary = rules.Summary()
            return self.rebuild

    def add(self, rebuild: int, heading: str, problems: list[str]) -> None:
        """Problems of rebuild number ``rebuild`` (a late lint of an older one is dropped)."""
        with self._lock:
            if rebuild == self.rebuild and problems:
                self.summary.add(heading, problems)
                self.version += 1

    def finish(self, wrote_pages: bool) -> None:
        with self._lock:
            self.pages += wrote_pages
            self.version += 1

    def json(self) -> bytes:
        with self._lock:
            return json.dumps({"pages": self.pages, "version": self.version,
                               "sections": self.summary.json()}).encode()


class _Tee(io.TextIOBase):
    """Sphinx's warning stream: to the terminal, and kept, to be shown in the page."""

    def __init__(self, terminal) -> None:
        self.terminal = terminal
        self.text = io.StringIO()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        return self.text.write(text)

    def flush(self) -> None:
        self.terminal.flush()


def _start_lint_worker(parent: int) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the preview stops it


class Preview:
    def __init__(self, root: Path, jobs: int):
        self.root = root
        self.jobs = jobs
        self.outdir = root / "_build" / "preview"
        self.doctrees = root / "_build" / ".preview-doctrees"
        self.problems = Problems()
        self.calibration = calibrate()
        self._lint = concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_lint_worker,
            initargs=(os.getpid(),))

    def rebuild(self, reason: str) -> None:
        """Execute what changed, render with a fresh Sphinx, then lint; record every problem."""
        start = time.perf_counter()
        number = self.problems.start()
        wrote = False
        with build_lock(self.root / "_build", "bookbuild preview"):
            try:
                config = load_config(self.root)
                check_book(config)
            except (BookError, yaml.YAMLError) as error:  # a table of contents half typed, say
                self.problems.add(number, "the book's sources", str(error).replace(f"{self.root}/", "").splitlines())
                config = None
            if config is not None:
                results = execute_book(config, self.jobs, self.calibration)
                if any(result.executed for result in results):
                    print(format_report(results), flush=True)
                failures = [result.failure for result in results if result.failure]
                if failures:
                    self.problems.add(number, f"{len(failures)} chapter(s) failed to execute (full tracebacks in "
                                      f"{config.relative(config.reports_dir)}/); the pages keep their last outputs",
                                      failures)
                else:
                    self.problems.add(number, "Sphinx reported", self.sphinx())
                    wrote = True
        self.problems.finish(wrote)
        if config is not None:
            self._lint.submit(rules.lint_problems, config).add_done_callback(
                functools.partial(self._linted, number))
        seconds = time.perf_counter() - start
        print(f"rebuilt in {seconds:.1f} s ({reason})" if wrote else f"not rebuilt ({reason}): see the page",
              flush=True)

    def sphinx(self) -> list[str]:
        """Render as ``jupyter-book build -n --keep-going`` does, in this process; its problems."""
        from jupyter_book.sphinx import build_sphinx

        warnings = _Tee(sys.stderr)
        overrides = {"external_toc_path": (self.root / "_toc.yml").as_posix(), "latex_individualpages": False,
                     "nitpicky": True, "bookbuild_preview": True}
        with contextlib.redirect_stderr(warnings):
            status = build_sphinx(self.root, self.outdir, noconfig=True, path_config=str(self.root / "_config.yml"),
                                  confoverrides=overrides, doctreedir=self.doctrees, builder="html",
                                  keep_going=True, quiet=True)
        gc.collect()  # the application is gone: sphinx-external-toc scans every live object at the next start
        lines = ANSI_ESCAPE.sub("", warnings.text.getvalue()).splitlines()
        problems = [problem for line in lines if (problem := rules.sphinx_problem(line, self.root))]
        if status != 0 and not problems:
            problems.append(f"Sphinx failed ({status}); its output is in the terminal")
        return problems

    def _linted(self, number: int, future: concurrent.futures.Future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        problems = future.result() if error is None else [f"the lint failed: {error}"]
        self.problems.add(number, f"{len(problems)} problem(s) found by the lint's rules (make lint)", problems)

    def stop(self) -> None:
        self._lint.shutdown(wait=False, cancel_futures=True)

    def serve(self, port: int) -> http.server.ThreadingHTTPServer:
        problems = self.problems

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                if self.path == BUILD_ENDPOINT:
                    body = problems.json()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    super().do_GET()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                 functools.partial(Handler, directory=str(self.outdir)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def watched_folders(config: BookConfig) -> list[Path]:
    """The book's folder, the tracked packages' folders and the root's input files."""
    packages = {path.parent for package in config.tracked_packages
                for name, path in package_modules(package).items() if name == package}
    return [config.root / "book", *sorted(packages), *(config.root / name for name in ROOT_INPUTS)]


def is_input(root: Path, packages: set[Path], path: Path) -> bool:
    """Whether a saved file is something the build reads (a change to anything else is ignored).

    Under ``book/``: any file but hidden ones, those in hidden or tool folders, and editors'
    temporary files; in a tracked package: its Python modules; at the root: the configuration,
    the table of contents and the pinned requirements.
    """
    if path.parent == root:
        return path.name in ROOT_INPUTS
    package = next((folder for folder in packages if path.is_relative_to(folder)), None)
    relative = path.relative_to(package if package else root)
    if any(part.startswith(".") or part in IGNORED_PARTS for part in relative.parts):
        return False
    if path.name.endswith(TEMPORARY_SUFFIXES) or path.name.isdigit():  # vim writes a probe file named 4913
        return False
    if package is not None:
        return path.suffix == ".py"
    return relative.parts[0] == "book"


def run(config: BookConfig, jobs: int, port: int) -> int:
    from watchfiles import watch

    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every change it sees
    root = config.root
    preview = Preview(root, jobs)
    try:
        preview.rebuild("first build")
        server = preview.serve(port)
        print(f"preview: http://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
        folders = [path for path in watched_folders(config) if path.exists()]
        packages = {folder for folder in folders if folder.is_dir() and folder != root / "book"}

        def keep(change, path: str) -> bool:
            return is_input(root, packages, Path(path))

        for changes in watch(*folders, watch_filter=keep, debounce=200, raise_interrupt=True):
            names = sorted({Path(path).relative_to(root).as_posix() if Path(path).is_relative_to(root) else path
                            for _, path in changes})
            preview.rebuild(", ".join(names))
        server.shutdown()
    except KeyboardInterrupt:
        print("\npreview stopped", file=sys.stderr)
    finally:
        preview.stop()
    return 0
