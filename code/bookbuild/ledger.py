r"""The verification ledger: every labelled equation and every correction, and what proves it.

The book's sources declare what there is to prove:

* an **equation** is labelled display maths, ``$$ ... $$ (eq-label)``; one that defines
  rather than claims says so on the line right after it, as a MyST comment that the
  reader does not see: ``% definition: the linear step of one neuron``;
* a **correction** is a target whose label starts with ``fix-``, ``(fix-label)=``.

The chapters' executed cells prove them with :mod:`nnmath.verify`, whose checks display
records in a MIME type of their own (:data:`nnmath.verify.MIME_TYPE`). The records are
stored with each chapter's outputs, so a chapter that is not executed again keeps them.

This module reads both sides and applies the ledger's rules, in two places:

* :func:`static_problems`, for the lint, before anything runs: the checks are the calls
  to ``check``, ``check_all`` and ``refute`` in the chapters' code, with a literal label;
* :func:`collect`, for the build, from the stored records.

The rules: every equation is checked or declared a definition; every correction has a
check; every check names an equation or a correction of the book.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat

from bookbuild.book import read_notebook

CORRECTION_PREFIX = "fix-"
CHECK_FUNCTIONS = {"check", "check_all", "refute"}
DEFINITION = re.compile(r"^%\s*definition:\s*(?P<reason>\S.*?)\s*$")
HEADING = re.compile(r"^#+\s+(?P<title>.+?)\s*$")
FENCE_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,}|:{3,})\s*(?:\{(?P<directive>[^}\s]+)\})?")
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
EQUATION_LABEL = re.compile(r"\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
MATH_LABEL_OPTION = re.compile(r"^:\s*label:\s*(?P<label>\S+)\s*$")
VERBATIM_DIRECTIVES = {"code-cell", "code-block", "code", "sourcecode", "literalinclude", "math", "raw", "eval-rst"}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A labelled equation or a correction, where the book states it."""

    label: str
    kind: str  # "equation" or "correction"
    chapter: str  # e.g. book/activations.md
    line: int
    definition: str | None = None  # the declared reason, for an equation that defines
    title: str = ""  # a correction's heading
    tex: str = ""  # an equation's TeX, as the source writes it

    @property
    def docname(self) -> str:
        return self.chapter.removesuffix(".md")


@dataclasses.dataclass(frozen=True)
class CheckRecord:
    """One executed check, from a chapter's stored outputs."""

    label: str
    method: str
    outcome: str  # "agrees" or "differs"
    cases: int
    max_error: float | None
    tolerance: float | None
    chapter: str
    line: int  # the .md line of the cell's fence
    anchor: str  # the id of the check's output on the chapter's page
    exact_zero: bool = False  # the claim: ours is 0 (exactly if max_error is 0, else up to rounding)
    printed: str = ""  # printed numbers: the precision printed, e.g. "4 decimals"
    trivial_cases: int = 0  # property checks: cases too small for the tolerance to tell

    @property
    def docname(self) -> str:
        return self.chapter.removesuffix(".md")

    @property
    def shown_method(self) -> str:
        """The method as the ledger shows it: ``printed numbers to 4 decimals``."""
        return f"{self.method} to {self.printed}" if self.printed else self.method

    def json(self, base: str = "") -> dict:
        data = {"method": self.method, "outcome": self.outcome, "cases": self.cases,
                "max_error": self.max_error, "tolerance": self.tolerance,
                "cell": f"{base}{self.docname}.html#{self.anchor}", "source": f"{self.chapter}:{self.line}"}
        if self.exact_zero:
            data["exact_zero"] = True
        if self.printed:
            data["printed"] = self.printed
        if self.trivial_cases:
            data["trivial_cases"] = self.trivial_cases
        return data


@dataclasses.dataclass
class Entry:
    """A row of the ledger: a claim and the checks that prove it."""

    claim: Claim
    checks: list[CheckRecord]

    @property
    def status(self) -> str:
        if self.checks:
            return "checked"
        return "definition" if self.claim.definition else "unchecked"

    def json(self, base: str = "", number: str | None = None) -> dict:
        data = {"label": self.claim.label, "kind": self.claim.kind, "chapter": self.claim.chapter,
                "status": self.status, "checks": [check.json(base) for check in self.checks]}
        if number:
            data["number"] = number
        if self.claim.definition:
            data["definition"] = self.claim.definition
        if self.claim.title:
            data["title"] = self.claim.title
        return data


# The sources: what there is to prove


def claims(chapter: str, text: str) -> Iterator[Claim]:
    """The labelled equations and the corrections of one chapter, in order.

    Fenced code is skipped; a ``{math}`` directive with a ``:label:`` option counts as an
    equation, like ``$$ ... $$ (label)``.
    """
    lines = text.splitlines()
    open_fences: list[tuple[str, bool]] = []
    math_directive_open = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if open_fences:
            fence, verbatim = open_fences[-1]
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                open_fences.pop()
                math_directive_open = False
                continue
            if math_directive_open and (match := MATH_LABEL_OPTION.match(line)):
                end = _closing_fence(lines, number, fence)
                body = [later for later in lines[number:end - 1] if not later.startswith(":")]
                yield _equation(chapter, match["label"], number, lines, end, "\n".join(body))
                continue
            if verbatim:
                continue
        if match := FENCE_OPEN.match(line):
            directive = match["directive"]
            if directive is None and match["fence"][0] == ":":
                continue
            open_fences.append((match["fence"], directive is None or directive in VERBATIM_DIRECTIVES))
            math_directive_open = directive == "math"
            continue
        if match := EQUATION_LABEL.search(line):
            yield _equation(chapter, match["label"], number, lines, number, _display_maths(lines, number))
        elif (match := TARGET.match(line)) and match["label"].startswith(CORRECTION_PREFIX):
            title = next((heading["title"] for later in lines[number:] if (heading := HEADING.match(later))), "")
            yield Claim(match["label"], "correction", chapter, number, title=_plain(title))


def _closing_fence(lines: list[str], start: int, fence: str) -> int:
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            return index + 1
    return len(lines)


def _display_maths(lines: list[str], closing: int) -> str:
    """The TeX of the ``$$ ... $$`` whose closing line is ``closing`` (1-based)."""
    start = closing - 1
    if lines[start].count("$$") < 2:
        start = next(index for index in range(closing - 2, -1, -1) if lines[index].lstrip().startswith("$$"))
    text = "\n".join(lines[start:closing])
    return text[text.index("$$") + 2:text.rindex("$$")].strip()


def _equation(chapter: str, label: str, number: int, lines: list[str], end: int, tex: str) -> Claim:
    """An equation whose last line is ``end`` (1-based); a definition if the next line says so."""
    following = lines[end] if end < len(lines) else ""
    match = DEFINITION.match(following.strip())
    return Claim(label, "equation", chapter, number, definition=match["reason"] if match else None,
                 tex=tex.strip())


def _plain(title: str) -> str:
    """A heading as text: inline maths and code lose their markers."""
    return re.sub(r"[`$]", "", title)


def book_claims(root: Path, chapters: Iterable[Path]) -> list[Claim]:
    found = []
    for path in chapters:
        if path.suffix == ".md":
            found += claims(path.relative_to(root).as_posix(), path.read_text())
    return found


# The checks, seen in the code (for the lint)


def is_check_call(node: ast.AST) -> bool:
    """Whether a syntax tree's node calls ``check``, ``check_all`` or ``refute``, by name or as
    an attribute of ``verify``."""
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    return ((isinstance(function, ast.Name) and function.id in CHECK_FUNCTIONS)
            or (isinstance(function, ast.Attribute) and function.attr in CHECK_FUNCTIONS
                and isinstance(function.value, ast.Name) and function.value.id == "verify"))


def check_calls(source: str) -> Iterator[tuple[int, str | None]]:
    """(line in the cell, label) of every check in a cell's source; label None if not a literal.

    A check is a call of ``check``, ``check_all`` or ``refute``, by name or as an attribute
    of ``verify`` (``verify.check(...)``).
    """
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not is_check_call(node):
            continue
        argument = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "label"), None)
        label = argument.value if isinstance(argument, ast.Constant) and isinstance(argument.value, str) else None
        yield node.lineno, label


def problems(claims_found: list[Claim], checked: dict[str, list[str]]) -> list[str]:
    """The ledger's rules. ``checked`` maps each checked label to where its checks are.

    Returns one line per problem, ``path:line: what is wrong (and how to fix it)``.
    """
    found = []
    labels = {claim.label for claim in claims_found}
    for claim in claims_found:
        where = f"{claim.chapter}:{claim.line}"
        if claim.label in checked:
            continue
        if claim.kind == "correction":
            found.append(f"{where}: correction '{claim.label}' has no check: prove it with "
                         f"nnmath.verify.check('{claim.label}', ...) or refute('{claim.label}', ...)")
        elif not claim.definition:
            found.append(f"{where}: equation '{claim.label}' is neither checked nor declared a definition: "
                         f"check it with nnmath.verify.check('{claim.label}', ...) or check_all(...), or, "
                         "if it defines rather than claims, write '% definition: <what it defines>' "
                         "on the line after it")
    for label, places in checked.items():
        if label not in labels:
            found += [f"{place}: a check of '{label}', which no equation or correction of the book "
                      "labels (equations: $$ ... $$ (eq-...); corrections: (fix-...)=)" for place in places]
    return found


# The checks, as executed (for the build)


def stored_records(chapter: str, text: str, stored: nbformat.NotebookNode) -> list[CheckRecord]:
    """The check records among a chapter's stored outputs, with their cells' lines."""
    from nnmath.verify import record_from_json, records_in

    source = read_notebook(text)
    fences = [line for cell, line in zip(source.cells, source.metadata["source_map"], strict=True)
              if cell.cell_type == "code"]
    cells = [cell for cell in stored.cells if cell.cell_type == "code"]
    records = []
    for cell, fence in zip(cells, fences, strict=True):
        for data in records_in(cell.outputs):
            record = record_from_json(data)
            records.append(CheckRecord(
                label=record.label, method=record.method, outcome=record.outcome, cases=record.cases,
                max_error=_finite_or_none(record.max_error), tolerance=_finite_or_none(record.tolerance),
                chapter=chapter, line=fence, anchor=record.anchor, exact_zero=record.exact_zero,
                printed=record.printed, trivial_cases=record.trivial_cases,
            ))
    return records


def _finite_or_none(value: float) -> float | str | None:
    """For JSON and the tables: NaN (a claim that holds, with no error to measure) is None."""
    if math.isnan(value):
        return None
    return value if math.isfinite(value) else str(value)


def entries(claims_found: list[Claim], records: list[CheckRecord]) -> list[Entry]:
    by_label: dict[str, list[CheckRecord]] = {}
    for record in records:
        by_label.setdefault(record.label, []).append(record)
    return [Entry(claim, by_label.get(claim.label, [])) for claim in claims_found]


@dataclasses.dataclass(frozen=True)
class Totals:
    equations: int
    equations_checked: int
    definitions: int
    corrections: int
    corrections_checked: int
    checks: int
    property_checks: int
    property_cases: int

    def sentence(self) -> str:
        return (f"{self.equations} labelled equations: {self.equations_checked} checked, "
                f"{self.definitions} definitions; {self.corrections} corrections, "
                f"{self.corrections_checked} checked; {self.checks} checks in all, "
                f"{self.property_checks} of them property checks over {self.property_cases} random cases.")


def totals(rows: list[Entry], records: list[CheckRecord]) -> Totals:
    equations = [row for row in rows if row.claim.kind == "equation"]
    corrections = [row for row in rows if row.claim.kind == "correction"]
    properties = [record for record in records if record.method.startswith("property")]
    return Totals(
        equations=len(equations),
        equations_checked=sum(row.status == "checked" for row in equations),
        definitions=sum(row.status == "definition" for row in equations),
        corrections=len(corrections),
        corrections_checked=sum(row.status == "checked" for row in corrections),
        checks=len(records),
        property_checks=len(properties),
        property_cases=sum(record.cases for record in properties),
    )
