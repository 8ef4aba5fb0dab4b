"""Every quotation of a source in the book is the source's own words.

A quotation is marked up as ``{quote}`exact words <bibkey>``` (the role of
:mod:`bookbuild.sphinx_ext`). The sources are not in the repository, and must not be: where they
are on this machine (``$NNMATH_SOURCES``, else ``../shared/sources`` beside the repository), each
quotation is looked up in its source's text, with whitespace and typography normalized (curly and
straight quotes, dashes, ellipses, the markers of emphasis, code and maths, the m4 quotes ``[[ ]]``
of Clark's notes), and the lock file ``tests/quotations.lock.json`` is rewritten with every
quotation found: its words, the source file, the file's SHA-256 and where in it the words start.
Where the sources are absent (a clone elsewhere, GitHub's CI), every quotation must be in the lock
with identical words: a new or edited quotation is verified against the sources before it lands.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import textwrap
from pathlib import Path

import pytest
from bookbuild.book import QUOTATION, QUOTE_ROLE
from bookbuild.lint import SOURCES

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "tests" / "quotations.lock.json"
TYPOGRAPHY = str.maketrans({  # every quotation mark, single or double, straight or curly, is one
    "'": '"', "\u2018": '"', "\u2019": '"', "\u201a": '"', "\u201b": '"', "\u2032": '"',
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...",
})
MARKERS = set("*`$")  # emphasis, code and maths: how words are typeset, not which words
ELISION = "..."


def sources_dir() -> Path:
    return Path(os.environ.get("NNMATH_SOURCES") or REPO.parent / "shared" / "sources")


def quotations(root: Path) -> list[dict]:
    """Every ``{quote}`` of the book's pages: where it is, whose words, and the words."""
    found = []
    for page in sorted((root / "book").rglob("*.md")):
        if any(part.startswith(("_", ".")) for part in page.relative_to(root).parts):
            continue
        text = page.read_text()
        for match in QUOTE_ROLE.finditer(text):
            place = f"{page.relative_to(root).as_posix()}:{text.count(chr(10), 0, match.start()) + 1}"
            content = re.sub(r"\n[ \t]*>", "\n", match["content"])  # a quotation in a blockquote
            parsed = QUOTATION.match(content)
            found.append({"place": place, "role": match.group(0),
                          "key": parsed["key"] if parsed else None,
                          "words": " ".join(parsed["words"].split()) if parsed else None})
    return found


def normalized(text: str) -> tuple[str, list[int]]:
    """The text as compared: typography unified, markers and whitespace dropped; and, for each
    character kept, its offset in ``text``."""
    kept, offsets = [], []
    text = text.replace("[[", "  ").replace("]]", "  ")  # m4's quotes, same length
    for offset, character in enumerate(text):
        for unified in character.translate(TYPOGRAPHY):
            if not unified.isspace() and unified not in MARKERS:
                kept.append(unified)
                offsets.append(offset)
    return "".join(kept), offsets


def locate(words: str, source: str) -> int | None:
    """Where the words start in the source's text, or None. An ellipsis in the words stands for
    words left out: the parts must then appear in order."""
    text, offsets = normalized(source)
    whole = normalized(words)[0]
    start = text.find(whole)
    if start >= 0:
        return offsets[start]
    parts = [normalized(part)[0] for part in words.split(ELISION)]
    if len(parts) < 2 or not all(parts):
        return None
    position = first = text.find(parts[0])
    for part in parts[1:]:
        if position < 0:
            return None
        position = text.find(part, position + 1)
    return offsets[first] if position >= 0 and first >= 0 else None


def longest_part_found(words: str, source: str) -> str:
    """The longest start of the words that the source has: where a misquotation departs."""
    text = normalized(source)[0]
    tokens = words.split()
    for end in range(len(tokens), 0, -1):
        if normalized(" ".join(tokens[:end]))[0] in text:
            return " ".join(tokens[:end])
    return ""


def verify_quotations(root: Path, sources: Path, files: dict[str, str]) -> tuple[list[str], list[dict]]:
    """Look every quotation up in its source: (problems, the lock's entries)."""
    problems, entries = [], []
    texts = {key: (sources / name).read_text() for key, name in files.items()}
    digests = {key: hashlib.sha256((sources / name).read_bytes()).hexdigest() for key, name in files.items()}
    for quotation in quotations(root):
        place, key, words = quotation["place"], quotation["key"], quotation["words"]
        if key is None:
            problems.append(f"{place}: {quotation['role']} names no source: write {{quote}}`exact words <key>`")
            continue
        if key not in texts:
            problems.append(f"{place}: {quotation['role']}: '{key}' is not one of the sources {sorted(files)}")
            continue
        offset = locate(words, texts[key])
        if offset is None:
            problems.append(f"{place}: {quotation['role']} is not in {key} ({files[key]}); its longest start "
                            f"found there: '{longest_part_found(words, texts[key])}'")
            continue
        entries.append({"key": key, "words": words, "source": files[key], "sha256": digests[key], "offset": offset})
    unique = {json.dumps(entry, sort_keys=True): entry for entry in entries}
    return problems, sorted(unique.values(), key=lambda entry: (entry["key"], entry["offset"], entry["words"]))


def unlocked_quotations(root: Path, lock: list[dict]) -> list[str]:
    """Without the sources: the quotations whose exact words and key the lock does not hold."""
    locked = {(entry["key"], entry["words"]) for entry in lock}
    return [f"{quotation['place']}: {quotation['role']} is not among the quotations verified against the "
            f"sources ({LOCK.relative_to(REPO)}): run this test where the sources are (NNMATH_SOURCES) to "
            "verify it and update the lock"
            for quotation in quotations(root) if (quotation["key"], quotation["words"]) not in locked]


def test_every_quotation_of_a_source_is_its_words():
    book = quotations(REPO)
    assert len(book) >= 20, f"only {len(book)} quotations marked with {{quote}} in the book?"
    if sources_dir().is_dir():
        problems, entries = verify_quotations(REPO, sources_dir(), SOURCES)
        assert not problems, "\n".join(problems)
        text = json.dumps(entries, indent=1, ensure_ascii=False) + "\n"
        if not LOCK.is_file() or LOCK.read_text() != text:
            LOCK.write_text(text)
    else:
        problems = unlocked_quotations(REPO, json.loads(LOCK.read_text()))
        assert not problems, "\n".join(problems)


# The test's own checks, on a small book and a small source.

SOURCE = "It makes sense to consider $z_0$ equal to $0$, and \u201cquotes\u201d \u2014 dashes\u2026  Can we ?\n"


@pytest.fixture
def small_book(tmp_path):
    (tmp_path / "book").mkdir()
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.txt").write_text(SOURCE)

    def write(text):
        (tmp_path / "book" / "page.md").write_text(textwrap.dedent(text))
        return tmp_path, sources, {"amine2020dismantling": "a.txt"}

    return write


def test_a_quotation_is_found_with_its_typography_normalized(small_book):
    root, sources, files = small_book("""\
        The source: {quote}`it makes sense to consider
        z_0 <amine2020dismantling>` (sic), {quote}`consider $z_0$ equal to 0 <amine2020dismantling>`,
        {quote}`"quotes" - dashes... <amine2020dismantling>`, {quote}`makes sense ... dashes <amine2020dismantling>`,
        {quote}`dashes... Can we? <amine2020dismantling>`.
        """)
    problems, entries = verify_quotations(root, sources, files)
    assert problems == ["book/page.md:1: {quote}`it makes sense to consider\nz_0 <amine2020dismantling>` is not "
                        "in amine2020dismantling (a.txt); its longest start found there: ''"]
    assert [entry["offset"] for entry in entries] == [3, 18, 51, 62]
    assert entries[0]["sha256"] == hashlib.sha256(SOURCE.encode()).hexdigest()
    assert {entry["words"] for entry in entries} == {"consider $z_0$ equal to 0", '"quotes" - dashes...',
                                                      "makes sense ... dashes", "dashes... Can we?"}


def test_a_misquotation_is_named_with_where_it_departs(small_book):
    """The form of the review's misquotations: a paraphrase in quotation marks."""
    root, sources, files = small_book("""\
        Sigmoid is two-class softmax because $z_0$ {quote}`It makes sense to consider $z_0$ can be set to
        0 <amine2020dismantling>`, says {quote}`Amine <nobody2020>`, {quote}`no key`.
        """)
    problems, entries = verify_quotations(root, sources, files)
    assert entries == []
    assert problems[0].startswith("book/page.md:1: {quote}`It makes sense to consider $z_0$ can be set to\n0 "
                                  "<amine2020dismantling>` is not in amine2020dismantling (a.txt); its longest "
                                  "start found there: 'It makes sense to consider $z_0$'")
    assert "'nobody2020' is not one of the sources ['amine2020dismantling']" in problems[1]
    assert problems[2] == "book/page.md:2: {quote}`no key` names no source: write {quote}`exact words <key>`"


def test_without_the_sources_a_quotation_must_be_in_the_lock_word_for_word(small_book):
    root, sources, files = small_book("{quote}`consider $z_0$ equal to 0 <amine2020dismantling>`\n")
    _, lock = verify_quotations(root, sources, files)
    assert unlocked_quotations(root, lock) == []
    root, _, _ = small_book("{quote}`consider $z_0$ equal to zero <amine2020dismantling>`\n")
    (problem,) = unlocked_quotations(root, lock)
    assert problem.startswith("book/page.md:1: {quote}`consider $z_0$ equal to zero <amine2020dismantling>` is "
                              "not among the quotations verified against the sources")
