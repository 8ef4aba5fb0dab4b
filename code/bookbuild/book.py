"""The book as the pipeline sees it: its configuration, its chapters, and their notebooks."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from pathlib import Path

import nbformat
import yaml
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook


class BookError(Exception):
    """The book's sources are inconsistent; the message says which file and why."""


def store_dir(root: Path) -> Path:
    """Executed notebooks, one file per execution key: ``_build/executed``."""
    return root / "_build" / "executed"


def built_pdf(root: Path) -> Path:
    """Where ``python -m bookbuild pdf`` puts the typeset book."""
    return root / "_build" / "pdf" / "book.pdf"


@dataclasses.dataclass(frozen=True)
class BookConfig:
    """What the pipeline needs to know about one book.

    Every value comes from ``_config.yml`` (``execute:`` and ``sphinx: config:``), so
    that the pipeline and ``jupyter-book build`` read one configuration.
    """

    root: Path
    chapters: tuple[Path, ...]
    cell_timeout: int
    chapter_budget: float  # reference seconds of the kernel's CPU time (bookbuild.budget)
    output_cap_mb: float  # the largest outputs one cell may store
    tracked_packages: tuple[str, ...]
    requirements: Path
    base_url: str  # where the website is published (html.baseurl, or BOOK_BASE_URL)
    blas_threads: int = 1  # the kernels' BLAS threads: 1 for the build, more to test (execute --blas-threads)

    @property
    def build_dir(self) -> Path:
        return self.root / "_build"

    @property
    def store_dir(self) -> Path:
        return store_dir(self.root)

    @property
    def reports_dir(self) -> Path:
        """Full tracebacks of failed chapters and the last execution-time report."""
        return self.build_dir / "reports"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def load_config(root: Path) -> BookConfig:
    """Read ``root/_config.yml`` and ``root/_toc.yml``."""
    root = root.resolve()
    config = _read_yaml(root / "_config.yml")
    execute = config.get("execute") or {}
    sphinx_config = (config.get("sphinx") or {}).get("config") or {}
    return BookConfig(
        root=root,
        chapters=tuple(toc_chapters(root)),
        cell_timeout=int(execute.get("timeout", 60)),
        chapter_budget=float(sphinx_config.get("bookbuild_chapter_budget", 20)),
        output_cap_mb=float(sphinx_config.get("bookbuild_output_cap_mb", 1)),
        tracked_packages=tuple(sphinx_config.get("bookbuild_tracked_packages", ["nnmath"])),
        requirements=root / sphinx_config.get("bookbuild_requirements", "requirements.txt"),
        base_url=_base_url((config.get("html") or {}).get("baseurl", "")),
    )


def _base_url(configured: str) -> str:
    from bookbuild.provenance import base_url

    try:
        return base_url(configured)
    except ValueError as error:
        raise BookError(str(error)) from error


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise BookError(f"{path}: not found")
    return yaml.safe_load(path.read_text()) or {}


def toc_chapters(root: Path) -> list[Path]:
    """The chapter files named by ``_toc.yml``, in reading order.

    Raises BookError when an entry names no existing file.
    """
    toc = _read_yaml(root / "_toc.yml")
    entries = [toc["root"]] if "root" in toc else []
    entries += _toc_files(toc.get("parts", []) + toc.get("chapters", []))
    chapters = []
    for entry in entries:
        matches = [root / f"{entry}{suffix}" for suffix in (".md", ".ipynb", "")]
        found = [path for path in matches if path.is_file()]
        if not found:
            raise BookError(f"_toc.yml: entry '{entry}' names no file (looked for {entry}.md)")
        chapters.append(found[0])
    return chapters


def _toc_files(items: list) -> list[str]:
    files = []
    for item in items:
        if "file" in item:
            files.append(item["file"])
        files += _toc_files(item.get("sections", []) + item.get("chapters", []))
    return files


CODE_CELL = re.compile(r"^(```+|~~~+)\s*\{code-cell\}", re.M)
# A quotation of a source, {quote}`exact words <bibkey>`: the content of the role.
QUOTATION = re.compile(r"^(?P<words>\S.*?)\s*<(?P<key>[^<>\s]+)>$", re.S)
# The role in a page's text (its content has no backquote, and may span lines).
QUOTE_ROLE = re.compile(r"\{quote\}`(?P<content>[^`]*)`")


def has_code_cells(text: str) -> bool:
    return bool(CODE_CELL.search(text))


def check_book(config: BookConfig, pages_dir: str = "book") -> None:
    """Refuse a book whose chapters would be skipped or never executed.

    * every ``.md`` under ``pages_dir`` is listed in ``_toc.yml`` (else it is never built);
    * every chapter with ``{code-cell}`` blocks has the jupytext/MyST-NB header (else
      MyST-NB shows its code without running it, and the build would still pass).
    """
    problems = []
    listed = set(config.chapters)
    for page in sorted((config.root / pages_dir).rglob("*.md")):
        if any(part.startswith(("_", ".")) for part in page.relative_to(config.root).parts):
            continue
        if page not in listed:
            problems.append(f"{config.relative(page)}: not listed in _toc.yml, so it is never built")
    for chapter in config.chapters:
        text = chapter.read_text()
        if has_code_cells(text) and not is_myst_markdown_notebook(text):
            problems.append(
                f"{config.relative(chapter)}: has {{code-cell}} blocks but no jupytext/MyST-NB "
                "header (`file_format: mystnb` or `jupytext: text_representation: format_name: "
                "myst`), so its cells would never run"
            )
    if problems:
        raise BookError("\n".join(problems))


def read_notebook(text: str) -> nbformat.NotebookNode:
    """A MyST Markdown chapter as a notebook; ``metadata.source_map`` holds each cell's line.

    Parsing is the slow part of computing a chapter's key, and a build computes each key
    several times (execution, the ledger, the status page): the parse is remembered, and
    each caller gets its own copy to change.
    """
    return copy.deepcopy(_parsed(text))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> nbformat.NotebookNode:
    return read_myst_markdown_notebook(text, add_source_map=True)


def first_source_line(lines: list[str], fence_line: int, source: str) -> int:
    """The .md line (1-based) of a code cell's first source line: after its fence and options.

    ``lines`` are the chapter's lines, ``fence_line`` the cell's fence (MyST-NB's source map).
    """
    source_lines = source.splitlines()
    first = next((k for k, line in enumerate(source_lines) if line.strip()), None)
    if first is None:
        return fence_line + 1
    for index in range(fence_line, len(lines)):
        if lines[index] == source_lines[first]:
            return index + 1 - first
    return fence_line + 1
