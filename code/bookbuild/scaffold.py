"""A new chapter from the template, listed in ``_toc.yml``: ``make chapter NAME=... [TITLE=...]``.

By default the chapter goes at the end of the last numbered part; ``PART="Caption"`` appends it
to another part, ``AFTER=book/some-chapter`` places it right after that chapter.
"""

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


def create_chapter(root: Path, name: str, title: str | None = None, part: str | None = None,
                   after: str | None = None) -> Path:
    """Write ``book/<name>.md`` from the template and list it in ``_toc.yml``.

    ``title`` defaults to the name in words ("my-topic" gives "My topic"). ``_toc.yml`` is
    edited as text, so its comments stay. Raises ValueError, with the reason, for a name that
    is not kebab-case, a title that is empty or spans lines, a chapter that exists, or a part
    or chapter to place it by that is not there; nothing is written then.
    """
    if not KEBAB_CASE.fullmatch(name):
        raise ValueError(f"chapter name {name!r} is not kebab-case: lower-case letters and digits in words "
                         "joined by single hyphens, e.g. 'softmax-cross-entropy'")
    title = name.replace("-", " ").capitalize() if title is None else title
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
    new_toc = insert_after(toc_text, entry, after) if after else add_to_toc(toc_text, entry, part)
    text = TEMPLATE.read_text().replace("{slug}", name).replace("{title}", title.strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    toc_path.write_text(new_toc)
    return path


def insert_after(toc_text: str, entry: str, after: str) -> str:
    """``toc_text`` with ``- file: <entry>`` right after the chapter ``after`` (and its sections)."""
    after = after.removesuffix(".md")
    lines = toc_text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    entry_line = re.compile(rf"\s*- file:\s*{re.escape(after)}\s*(#.*)?")
    found = [i for i, line in enumerate(lines) if entry_line.fullmatch(line.rstrip("\n"))]
    if not found:
        raise ValueError(f"_toc.yml lists no chapter '{after}' to place the new one after; "
                         f"use one of: {', '.join(_listed(toc_text)[1:])}")
    start = found[0]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(indent)):
        end += 1
    lines.insert(end, f"{indent}- file: {entry}\n")
    if _next_sibling(yaml.safe_load("".join(lines)) or {}, after) != {"file": entry}:
        raise ValueError(f"could not place {entry} after {after} in _toc.yml: add '- file: {entry}' by hand")
    return "".join(lines)


def _next_sibling(toc: dict, chapter: str) -> dict | None:
    """The item after ``chapter``'s in the list that holds it, anywhere in the TOC."""
    pending = [toc.get("parts") or [], toc.get("chapters") or []]
    while pending:
        items = pending.pop()
        for index, item in enumerate(items):
            if item.get("file") == chapter:
                return items[index + 1] if index + 1 < len(items) else None
            pending += [item.get("sections") or [], item.get("chapters") or []]
    return None


def _listed(toc_text: str) -> list[str]:
    toc = yaml.safe_load(toc_text) or {}
    return [toc.get("root"), *_toc_files((toc.get("parts") or []) + (toc.get("chapters") or []))]


def add_to_toc(toc_text: str, entry: str, part: str | None = None) -> str:
    """``toc_text`` with ``- file: <entry>`` appended to a chapter list.

    That list is the top-level ``chapters:``, or, in a book grouped in ``parts:``, the
    chapters of the part captioned ``part``, by default the last numbered part (the
    unnumbered parts after it are appendices).
    The entry goes right after the list's last line, so comments and keys after it stay
    where they are; a book without chapters gets the key at the end.
    """
    toc = yaml.safe_load(toc_text) or {}
    lines = toc_text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if part is not None and "parts" not in toc:
        raise ValueError(f"_toc.yml has no parts, so no part '{part}'")
    if "parts" in toc:
        captions = [item.get("caption") for item in toc["parts"]]
        numbered = [i for i, item in enumerate(toc["parts"]) if item.get("numbered")]
        if part is not None and part not in captions:
            raise ValueError(f"_toc.yml has no part captioned '{part}'; its parts: {', '.join(map(str, captions))}")
        target = captions.index(part) if part is not None else numbered[-1] if numbered else len(captions) - 1
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
