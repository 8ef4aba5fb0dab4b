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
    """``toc_text`` with ``- file: <entry>`` appended to its top-level ``chapters:`` list.

    The entry goes right after the last line of the list (its last entry, with any sections),
    so comments and keys after the list stay where they are; a book without chapters gets the
    key at the end.
    """
    toc = yaml.safe_load(toc_text) or {}
    if "parts" in toc:
        raise ValueError(f"_toc.yml groups its chapters in parts: add '- file: {entry}' to a part by hand")
    lines = toc_text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if CHAPTERS_KEY.match(line)), None)
    if start is None:
        lines.append(f"chapters:\n  - file: {entry}\n")
    elif CHAPTERS_KEY.match(lines[start])["rest"] in ("", "[]"):
        if CHAPTERS_KEY.match(lines[start])["rest"] == "[]":
            lines[start] = "chapters:\n"
        end = start + 1
        while end < len(lines) and not TOP_LEVEL_KEY.match(lines[end]):
            end += 1
        items = [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
        indent = next((lines[i][: len(lines[i]) - len(lines[i].lstrip())] for i in items
                       if lines[i].lstrip().startswith("- ")), "  ")
        after = items[-1] + 1 if items else start + 1
        lines.insert(after, f"{indent}- file: {entry}\n")
    else:
        raise ValueError(f"_toc.yml writes its chapters in flow style; add '{{file: {entry}}}' by hand")
    new_text = "".join(lines)
    chapters = (yaml.safe_load(new_text) or {}).get("chapters") or []
    if not chapters or chapters[-1] != {"file": entry}:
        raise ValueError(f"could not append {entry} to the chapters of _toc.yml: add '- file: {entry}' by hand")
    return new_text
