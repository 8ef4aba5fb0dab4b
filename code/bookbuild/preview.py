"""Live preview while writing: ``python -m bookbuild preview`` (``make preview``).

The book is served at http://127.0.0.1:8000 from ``_build/preview``. On every save under
``book/``, ``code/nnmath`` or the configuration, the chapters whose code or imported
modules changed are executed (the same store as ``make html``, so nothing runs twice), and
Sphinx rebuilds what changed. Sphinx stays loaded between rebuilds, so a prose edit shows
in about a second instead of the five that starting Jupyter Book and Sphinx take; a change
to ``_config.yml`` or ``_toc.yml`` starts a fresh Sphinx. The open page reloads itself
when a rebuild finishes (it polls the server). The build writes only under ``_build``,
which is not watched: one rebuild per save, never a loop. Ctrl-C stops it quietly.

The preview skips what only the published site needs (the reader notebooks and the wheel),
writes only the pages it read again (another page's numbers, citations or ledger marks that
an edit changed are brought up to date by ``make html``), and does not treat warnings as
errors: they are printed, and ``make html`` refuses them.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import logging
import sys
import threading
import time
from pathlib import Path

from bookbuild.book import BookConfig, BookError
from bookbuild.execute import execute_book, format_report
from bookbuild.processes import build_lock

BUILD_ENDPOINT = "/__bookbuild_build"
WATCHED = ("book", "code/nnmath", "_config.yml", "_toc.yml", "requirements.txt")
RESTART = {"_config.yml", "_toc.yml"}  # Sphinx reads these once, when it starts
IGNORED_PARTS = {"_build", "__pycache__", ".ipynb_checkpoints", ".git"}
# Polls the server for the number of the last build and reloads the page when it changes.
RELOAD_SCRIPT = f"""(() => {{
  let seen = null;
  setInterval(async () => {{
    try {{
      const build = (await (await fetch("{BUILD_ENDPOINT}", {{cache: "no-store"}})).json()).build;
      if (seen !== null && build !== seen) location.reload();
      seen = build;
    }} catch (error) {{}}
  }}, 400);
}})();"""


class Preview:
    def __init__(self, config: BookConfig, jobs: int):
        self.config = config
        self.jobs = jobs
        self.outdir = config.build_dir / "preview"
        self.builds = 0
        self.app = None
        self._namespace = contextlib.ExitStack()

    def start_sphinx(self) -> None:
        """A Sphinx application that stays loaded, configured as ``jupyter-book build`` does."""
        from jupyter_book.config import get_final_config
        from jupyter_book.sphinx import patch_docutils
        from sphinx.application import Sphinx
        from sphinx.util.docutils import docutils_namespace

        self._namespace.close()
        self._namespace = contextlib.ExitStack()
        root = self.config.root
        overrides, _ = get_final_config(
            user_yaml=root / "_config.yml", sourcedir=root, use_external_toc=True,
            cli_config={"latex_individualpages": False, "external_toc_path": str(root / "_toc.yml")},
        )
        overrides["bookbuild_preview"] = True
        self._namespace.enter_context(patch_docutils(str(root)))
        self._namespace.enter_context(docutils_namespace())
        self.app = Sphinx(srcdir=str(root), confdir=None, outdir=str(self.outdir),
                          doctreedir=str(self.config.build_dir / ".preview-doctrees"), buildername="html",
                          confoverrides=overrides, status=None, warning=sys.stderr, keep_going=True)
        read: set[str] = set()
        self.app.connect("env-before-read-docs", lambda app, env, docnames: read.update(docnames))
        write = self.app.builder.write

        def write_what_was_read(build_docnames, updated_docnames, method="update"):
            # Sphinx would also rewrite every page whose citations or numbers might have moved.
            if self.builds:
                updated_docnames = [name for name in updated_docnames if name in read]
                build_docnames = [name for name in build_docnames if name in read]
            read.clear()
            return write(build_docnames, updated_docnames, method)

        self.app.builder.write = write_what_was_read

    def rebuild(self, reason: str) -> None:
        start = time.perf_counter()
        with build_lock(self.config.build_dir, "bookbuild preview"):
            results = execute_book(self.config, self.jobs)
            failures = [result.failure for result in results if result.failure]
            if any(result.executed for result in results):
                print(format_report(results), flush=True)
            if failures:
                print("not rebuilt, a chapter failed:\n  " + "\n  ".join(failures), flush=True)
                return
            self.app.build()
        self.builds += 1
        print(f"rebuilt in {time.perf_counter() - start:.1f} s ({reason})", flush=True)

    def serve(self, port: int) -> http.server.ThreadingHTTPServer:
        preview = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                if self.path == BUILD_ENDPOINT:
                    body = json.dumps({"build": preview.builds}).encode()
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


def _watched(root: Path):
    def keep(change, path: str) -> bool:
        relative = Path(path).relative_to(root)
        return not (IGNORED_PARTS & set(relative.parts)) and not relative.name.endswith((".tmp", "~"))

    return keep


def run(config: BookConfig, jobs: int, port: int) -> int:
    from watchfiles import watch

    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every change it sees
    root = config.root
    preview = Preview(config, jobs)
    try:
        preview.start_sphinx()
        preview.rebuild("first build")
        server = preview.serve(port)
        print(f"preview: http://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
        paths = [root / name for name in WATCHED if (root / name).exists()]
        for changes in watch(*paths, watch_filter=_watched(root), debounce=200, raise_interrupt=True):
            names = sorted({Path(path).relative_to(root).as_posix() for _, path in changes})
            if RESTART & set(names):
                preview.start_sphinx()
            try:
                preview.rebuild(", ".join(names))
            except BookError as error:
                print(f"not rebuilt: {error}", flush=True)
        server.shutdown()
    except KeyboardInterrupt:
        print("\npreview stopped", file=sys.stderr)
    return 0
