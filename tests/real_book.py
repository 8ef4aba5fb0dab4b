"""The real book, built once per test run into a scratch copy shared by every worker, and served.

A run of pytest (with or without pytest-xdist's workers) makes one *run folder*: the test
session's main process creates it and serves the website of its scratch copy on localhost
(``start_run``, from ``conftest.py``), and hands both to the workers it starts through the
environment (``REAL_BOOK_RUN``, ``REAL_BOOK_URL``); it removes the folder when the run ends.
The first worker that needs the book copies it and builds it, ``python -m bookbuild site``
(the PDF, then the website, exactly what ``make site`` does), holding a lock in the run
folder; the others wait for the lock and find the build, or its failure, recorded there.
The book is built once per run instead of once per worker.

The copy holds the book's sources and configuration and links to ``code/``; the packages
are the installed ones. The website is built with ``BOOK_BASE_URL`` pointing at the run's
server, so the reader notebooks' links and install cells point at it too. Graphviz's ``dot``
is hidden (a stand-in that fails comes first on the PATH): the book must build on a
machine without it.

The copy starts with the checkout's store of executed chapters, when there is one: a
chapter whose execution key (its code and what it imports) is unchanged is not run again,
as in the checkout's own builds, so that after a one-chapter edit only that chapter runs.
The shared copy is only read once built (a no-op build aside): a test that executes the
book again (a clean execution, another thread count) does it in a copy of its own,
``private_copy``, with its own store, and compares what it stored with the shared one.
A clean execution of every chapter happens in every session: the test that executes the
book with 2 BLAS threads per kernel, in a copy of its own, and compares what it prints with
the build's.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
RUN_VARIABLE = "REAL_BOOK_RUN"
URL_VARIABLE = "REAL_BOOK_URL"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A browser that drops a connection mid-file (a page navigating away) is no error of the site."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Run:
    """One test run's folder and the server of its copy's website (in the session's main process)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="real-book-run-"))
        html = self.folder / "root" / "_build" / "html"  # served as soon as the first worker has built it
        self.server = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        os.environ[RUN_VARIABLE] = str(self.folder)
        os.environ[URL_VARIABLE] = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_run() -> Run:
    """Called once per test run, before any worker starts (conftest.py's pytest_configure)."""
    return Run()


@functools.cache
def _run_folder() -> Path:
    """The run's folder; outside a pytest run (a script importing this module), one of its own."""
    if RUN_VARIABLE not in os.environ:
        atexit.register(start_run().close)
    return Path(os.environ[RUN_VARIABLE])


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    with open(_run_folder() / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by the OS if this worker dies
        yield


def private_copy(destination: Path, with_store: bool = False) -> Path:
    """The book's sources and configuration in ``destination``, ``code/`` linked, and, with
    ``with_store``, the checkout's store of executed chapters: for a test that executes the
    book, which must not change the shared copy (by default with an empty store)."""
    from bookbuild.book import store_dir

    destination.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml"):  # ruff's settings too
        shutil.copy(REPO / name, destination / name)
    for folder in ("book", "binder"):
        shutil.copytree(REPO / folder, destination / folder,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", ".hypothesis"))
    (destination / "code").symlink_to(REPO / "code")
    if with_store and store_dir(REPO).is_dir():
        shutil.copytree(store_dir(REPO), store_dir(destination))
    return destination


def scratch_copy() -> Path:
    """The run's shared copy of the book (made by the first worker that asks)."""
    root = _run_folder() / "root"
    with _locked("copy"):
        if not (_run_folder() / "copied").exists():
            private_copy(root, with_store=True)
            (_run_folder() / "copied").touch()
    return root


def site_url() -> str:
    """The run's server of the shared copy's website: ``http://127.0.0.1:<port>/``."""
    _run_folder()
    return os.environ[URL_VARIABLE]


@functools.cache
def without_dot() -> str:
    """A PATH whose first folder holds a ``dot`` that fails, as if Graphviz were not installed."""
    folder = Path(tempfile.mkdtemp(prefix="no-graphviz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "dot").write_text("#!/bin/sh\necho 'dot is hidden: the book builds without Graphviz' >&2\nexit 127\n")
    (folder / "dot").chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def run_bookbuild(command: str, root: Path, *options: str, **variables: str) -> subprocess.CompletedProcess:
    """``python -m bookbuild <command> [options]`` on a copy, as the shared build runs it
    (``variables`` are added to its environment)."""
    return subprocess.run(
        [sys.executable, "-m", "bookbuild", command, "--root", str(root), *options],
        cwd=root, capture_output=True, text=True, errors="replace", timeout=1800,
        env=dict(os.environ, BOOK_BASE_URL=site_url(), PATH=without_dot(), **variables),
    )


def text_outputs(path: Path) -> list[str]:
    """A stored chapter's code cells' text as rendered: its streams joined (a kernel may split a
    print into several stream messages, which MyST-NB merges), then the plain text of its results."""
    notebook = nbformat.read(path, as_version=4)
    return ["".join(output.text for output in cell.outputs if output.output_type == "stream")
            + "".join(output.get("data", {}).get("text/plain", "") for output in cell.outputs)
            for cell in notebook.cells if cell.cell_type == "code"]


def built_site() -> tuple[Path, str]:
    """The shared copy after ``python -m bookbuild site`` (built once per run); returns (root, log)."""
    record = _run_folder() / "built.json"
    with _locked("build"):
        if not record.exists():
            root = scratch_copy()
            process = run_bookbuild("site", root)
            record.write_text(json.dumps({"returncode": process.returncode, "log": process.stdout + process.stderr,
                                          "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}))
    built = json.loads(record.read_text())
    if built["returncode"] != 0:
        raise AssertionError(f"the real book failed to build (in {built['worker']}):\n{built['log'][-6000:]}")
    return _run_folder() / "root", built["log"]
