"""A new chapter from the template, listed in ``_toc.yml``: ``make chapter NAME=... TITLE=...``."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bookbuild.book import _toc_files

TEMPLATE = Path(__file__).parent / "templates" / "chapter.md"
PAGES_DIR = "book"
KEBAB_CASE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
TOP_LEVEL_KEY = re.compile(r"^[^\s#-][^:]*:")
CHAPTERS_KEY = re.compile(r"^chapters:\s*(?P<rest>[^#]*?)\s*(#.*)?$")
PART_START = re.compile(r"^\s+- (caption|chapters|numbered):")


def create_chapter(root: Path, name: str, title: str) -> Path:
    """Write ``book/<name>.md`` from the template and append it to the chapters of ``_toc.yml``.

    ``_toc.yml`` is edited as text, so its comments stay. Raises ValueError, with the reason,
    for a name that is not kebab-case, a title that is empty or spans lines, or a chapter
    that exists; nothing is written then.
    """
    if not KEBAB_CASE.fullmatch(name):
        raise ValueError(f"chapter name {name!r} is not kebab-case: lower-case letters and digits in words "
                         "joined by single hyphens, e.g. 'softmax-cross-entropy'")
    if not title.strip() or "\n" in title:
        raise ValueError(f"chapter title {title!r} must be one non-empty line, e.g. 'Softmax and cross-entropy'")
    path = root / PAGES_DIR / f"{name}.md"
    entry = f"{PAGES_DIR}/{name}"
    if path.exists():
        raise ValueError(f"{entry}.md already exists: choose another name, or edit that chapter")
    toc_path = root / "_toc.yml"
    toc_text = toc_path.read_text()
    if entry in _listed(toc_text):
        raise ValueError(f"_toc.yml already lists {entry} (without a file): remove that entry or choose another name")
    new_toc = add_to_toc(toc_text, entry)
    text = TEMPLATE.read_text().replace("{slug}", name).replace("{title}", title.strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    toc_path.write_text(new_toc)
    return path


def _listed(toc_text: str) -> list[str]:
    toc = yaml.safe_load(toc_text) or {}
    return [toc.get("root"), *_toc_files((toc.get("parts") or []) + (toc.get("chapters") or []))]


def add_to_toc(toc_text: str, entry: str) -> str:
    """``toc_text`` with ``- file: <entry>`` appended to the book's main chapter list.

    That list is the top-level ``chapters:``, or, in a book grouped in ``parts:``, the
    chapters of the last numbered part (the unnumbered parts after it are appendices).
    The entry goes right after the list's last line, so comments and keys after it stay
    where they are; a book without chapters gets the key at the end.
    """
    toc = yaml.safe_load(toc_text) or {}
    lines = toc_text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if "parts" in toc:
        numbered = [i for i, part in enumerate(toc["parts"]) if part.get("numbered")]
        target = numbered[-1] if numbered else len(toc["parts"]) - 1
        starts = [i for i, line in enumerate(lines) if PART_START.match(line)]
        if len(starts) != len(toc["parts"]):
            raise ValueError(f"could not find the parts of _toc.yml: add '- file: {entry}' by hand")
        end = starts[target + 1] if target + 1 < len(starts) else _block_end(lines, starts[target])
        _insert_entry(lines, starts[target], end, entry)
        expected = (yaml.safe_load("".join(lines))["parts"][target].get("chapters") or [None])[-1]
    else:
        start = next((i for i, line in enumerate(lines) if CHAPTERS_KEY.match(line)), None)
        if start is None:
            lines.append(f"chapters:\n  - file: {entry}\n")
        elif CHAPTERS_KEY.match(lines[start])["rest"] in ("", "[]"):
            if CHAPTERS_KEY.match(lines[start])["rest"] == "[]":
                lines[start] = "chapters:\n"
            _insert_entry(lines, start, _block_end(lines, start), entry)
        else:
            raise ValueError(f"_toc.yml writes its chapters in flow style; add '{{file: {entry}}}' by hand")
        expected = ((yaml.safe_load("".join(lines)) or {}).get("chapters") or [None])[-1]
    if expected != {"file": entry}:
        raise ValueError(f"could not append {entry} to the chapters of _toc.yml: add '- file: {entry}' by hand")
    return "".join(lines)


def _block_end(lines: list[str], start: int) -> int:
    """The line after the block that starts at ``start`` (the next top-level key, or the end)."""
    end = start + 1
    while end < len(lines) and not TOP_LEVEL_KEY.match(lines[end]):
        end += 1
    return end


def _insert_entry(lines: list[str], start: int, end: int, entry: str) -> None:
    """Insert ``- file: entry`` after the last item of the list in ``lines[start:end]``."""
    items = [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    files = [lines[i] for i in items if lines[i].lstrip().startswith("- file:")]
    indent = min((line[: len(line) - len(line.lstrip())] for line in files), key=len, default="  ")
    lines.insert(items[-1] + 1 if items else start + 1, f"{indent}- file: {entry}\n")
