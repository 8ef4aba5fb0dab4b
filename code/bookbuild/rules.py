"""One rule set: the chapter lint's problems, for the build and the preview as for ``make lint``.

``make html``, ``make pdf`` and ``make site`` fail on a lint problem as on a failing chapter,
and the preview shows it in the page: a book that builds green passes ``make lint``.

The lint reads the book's chapters, its configuration, the Python of ``code/`` and ``tests/``
and ruff's settings, and takes a few seconds (ruff, and parsing every chapter): its problems
are kept in ``_build/reports/lint.json`` under a digest of everything it reads, and reused
while that is unchanged, so a no-op build pays only the digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bookbuild
from bookbuild.book import BookConfig

LINTED_FOLDERS = ("book", "code", "tests")
LINTED_FILES = ("_config.yml", "_toc.yml", "pyproject.toml")
SKIPPED = {"__pycache__", "node_modules", "_build"}
FORMAT = "bookbuild-lint-1"


def lint_problems(config: BookConfig) -> list[str]:
    """The lint's problems for the book (``path:line: what is wrong``), from the record if current."""
    from bookbuild.lint import lint_book

    record_path = config.reports_dir / "lint.json"
    digest = inputs_digest(config.root)
    try:
        record = json.loads(record_path.read_text())
        if record["inputs"] == digest:
            return record["problems"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        problems = lint_book(config.root)
    except RuntimeError as error:  # ruff could not run (a broken setting): a problem, not a traceback
        return [f"the lint could not run: {' '.join(str(error).split())}"]
    record_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = record_path.with_suffix(f".{os.getpid()}.tmp")  # the preview lints beside builds
    temporary.write_text(json.dumps({"inputs": digest, "problems": problems}, indent=1))
    temporary.replace(record_path)
    return problems


def inputs_digest(root: Path) -> str:
    """A digest of everything the lint reads: the files of the linted folders (their names too:
    a stray notebook is a problem), the configuration, the lint's own code and ruff's version."""
    digest = hashlib.blake2b(f"{FORMAT}\0{sys.version}\0{_ruff_version()}\0".encode(), digest_size=20)
    folders = [root / name for name in LINTED_FOLDERS] + [Path(bookbuild.__file__).parent]
    paths = sorted({path for folder in folders for path in _walk(folder)})
    paths += [root / name for name in LINTED_FILES if (root / name).is_file()]
    for path in paths:
        digest.update(f"{path}\0".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _walk(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name in SKIPPED or path.name.endswith(".egg-info"):
            continue
        yield path
        if path.is_dir():
            yield from _walk(path)


def _ruff_version() -> str:
    from bookbuild.lint import _ruff_command

    return subprocess.run([*_ruff_command(), "--version"], capture_output=True, text=True).stdout.strip()


class Summary:
    """Every problem of one build, step by step, each line once: the build's closing words."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, list[str]]] = []
        self._seen: set[str] = set()

    def add(self, heading: str, problems: list[str]) -> None:
        """A step's problems under ``heading``; a line an earlier step reported is not repeated."""
        if not problems:
            return
        new = [problem for problem in dict.fromkeys(problems) if problem not in self._seen]
        self._seen.update(new)
        self.sections.append((heading, new or ["(the same problems as above)"]))

    def __bool__(self) -> bool:
        return bool(self.sections)

    def __str__(self) -> str:
        return "\n".join(f"{heading}:\n  " + "\n  ".join(lines) for heading, lines in self.sections)

    def json(self) -> list[dict]:
        return [{"heading": heading, "problems": lines} for heading, lines in self.sections]


SPHINX_PROBLEM = re.compile(r"^(?P<where>.*?):?\s*(?P<level>WARNING|ERROR|CRITICAL|SEVERE):\s*(?P<message>.*?)"
                            r"(?:\s+\[[\w.-]+\])?\s*$")


# The last line of a traceback: what stopped Sphinx, when it stopped on an exception (Jupyter
# Book's own closing RuntimeError, with no message of its own, aside).
EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception): (?!\s*$).+")


def sphinx_problem(line: str, root: Path) -> str | None:
    """A Sphinx warning or error line as ``path:line: message``, like the lint's; else None.

    ``/root/book/x.md:12: ERROR: message [bookbuild.ledger]`` becomes ``book/x.md:12: message``.
    """
    match = SPHINX_PROBLEM.match(line.strip())
    if not match:
        return None
    where = match["where"].replace(f"{root}/", "").rstrip(":")
    return f"{where}: {match['message']}" if where else match["message"]
