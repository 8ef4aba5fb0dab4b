"""The real book, built once per test process (each xdist worker) into a scratch copy, and served.

The copy holds the book's sources and configuration and links to ``code/``; the packages
are the installed ones, so the build is exactly what ``make site`` does. The website is
served on localhost for the whole session, and built with ``BOOK_BASE_URL`` pointing at
that server, so the reader notebooks' links and install cells point at it too. Graphviz's
``dot`` is hidden (a stand-in that fails comes first on the PATH): the book must build on
a machine without it.

The copy starts with the checkout's store of executed chapters, when there is one: a
chapter whose execution key (its code and what it imports) is unchanged is not run again,
as in the checkout's own builds, so that after a one-chapter edit only that chapter runs.
A clean execution of every chapter still happens in every session: the test that executes
the book with 2 BLAS threads per kernel and compares what it prints with the build's.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
from bookbuild.book import store_dir

REPO = Path(__file__).resolve().parent.parent


@functools.cache
def scratch_copy() -> Path:
    root = Path(tempfile.mkdtemp(prefix="real-book-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name in ("_config.yml", "_toc.yml", "requirements.txt"):
        shutil.copy(REPO / name, root / name)
    for folder in ("book", "binder"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    (root / "code").symlink_to(REPO / "code")
    if store_dir(REPO).is_dir():
        shutil.copytree(store_dir(REPO), store_dir(root))
    return root


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A browser that drops a connection mid-file (a page navigating away) is no error of the site."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@functools.cache
def site_url() -> str:
    """The session's server of the scratch copy's website: ``http://127.0.0.1:<port>/``."""
    html = scratch_copy() / "_build" / "html"
    server = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


@functools.cache
def without_dot() -> str:
    """A PATH whose first folder holds a ``dot`` that fails, as if Graphviz were not installed."""
    folder = Path(tempfile.mkdtemp(prefix="no-graphviz-"))
    (folder / "dot").write_text("#!/bin/sh\necho 'dot is hidden: the book builds without Graphviz' >&2\nexit 127\n")
    (folder / "dot").chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def run_bookbuild(command: str, root: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bookbuild", command, "--root", str(root), *options],
        cwd=root, capture_output=True, text=True, errors="replace", timeout=1800,
        env=dict(os.environ, BOOK_BASE_URL=site_url(), PATH=without_dot()),
    )


def text_outputs(path: Path) -> list[str]:
    """A stored chapter's code cells' text as rendered: its streams joined (a kernel may split a
    print into several stream messages, which MyST-NB merges), then the plain text of its results."""
    notebook = nbformat.read(path, as_version=4)
    return ["".join(output.text for output in cell.outputs if output.output_type == "stream")
            + "".join(output.get("data", {}).get("text/plain", "") for output in cell.outputs)
            for cell in notebook.cells if cell.cell_type == "code"]


@functools.cache
def built_site() -> tuple[Path, str]:
    """``python -m bookbuild site`` (PDF, then the website linking to it); returns (root, log)."""
    root = scratch_copy()
    process = run_bookbuild("site", root)
    log = process.stdout + process.stderr
    if process.returncode != 0:
        raise AssertionError(f"the real book failed to build:\n{log[-6000:]}")
    return root, log
