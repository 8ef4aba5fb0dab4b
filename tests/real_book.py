"""The real book, built once per test session into a scratch copy of the repository.

The copy holds the book's sources and configuration and links to ``code/``; the package
is the installed one, so the build is exactly what ``make html`` and ``make pdf`` do.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@functools.cache
def scratch_copy() -> Path:
    root = Path(tempfile.mkdtemp(prefix="real-book-"))
    for name in ("_config.yml", "_toc.yml", "requirements.txt"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    (root / "code").symlink_to(REPO / "code")
    return root


def run_bookbuild(command: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bookbuild", command, "--root", str(root)],
        cwd=root, capture_output=True, text=True, timeout=1800,
    )


@functools.cache
def built_site() -> tuple[Path, str]:
    """``python -m bookbuild site`` (PDF, then the website linking to it); returns (root, log)."""
    root = scratch_copy()
    process = run_bookbuild("site", root)
    log = process.stdout + process.stderr
    if process.returncode != 0:
        raise AssertionError(f"the real book failed to build:\n{log[-6000:]}")
    return root, log
