"""The verification ledger in the built book (see :mod:`bookbuild.ledger` for the rules).

* Each check's output on a chapter's page is rendered from its record (a MyST-NB MIME
  renderer, :class:`CheckRenderer`): a line with an anchor, whose label links to its row.
  An exercise's self-test record is rendered as its line, with its anchor
  (:class:`ExerciseRenderer`); the ledger does not list exercises.
* The ``{verification-ledger}`` directive is replaced, when the page is written, by the
  totals, a list of the chapters (the page's contents) and one table per chapter, in book
  order: every labelled equation, by its number (a link to it) and its formula, and every
  correction, by its title; then how it is proved: each check on a line, its method a link
  to the check on its page, or the definition it states.
* On the website each checked equation carries a small mark that links to its row.
* ``verification.json`` at the site's root holds the same data.
* The rules are applied after reading, as errors that name the file and line: an
  equation neither checked nor declared a definition, a correction without a check, a
  check of a label that does not exist.

The data comes from the chapters' sources and the outputs stored under their current
execution keys, read once per build. A page whose ledger data changed is written again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from pathlib import Path

import nbformat
from docutils import nodes
from docutils.parsers.rst import Directive
from nnmath.exercises import MIME_TYPE as EXERCISE_MIME_TYPE
from nnmath.exercises import record_from_json as exercise_record_from_json
from nnmath.verify import MIME_TYPE, record_from_json
from sphinx.application import Sphinx
from sphinx.builders.latex.nodes import math_reference
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

from bookbuild import ledger
from bookbuild.book import has_code_cells, read_notebook, store_dir, toc_chapters
from bookbuild.keys import execution_key
from bookbuild.tables import table

logger = logging.getLogger(__name__)
JSON_NAME = "verification.json"


class ledger_placeholder(nodes.General, nodes.Element):
    """Where the ledger goes; filled in when the page is written."""


class check_label(nodes.inline):
    """A check's label in its output line; becomes a link to the ledger row."""


class VerificationLedger(Directive):
    """``{verification-ledger}``: the ledger's totals and tables."""

    def run(self):
        env = self.state.document.settings.env
        env.bookbuild_ledger_docname = env.docname
        return [ledger_placeholder()]


class CheckRenderer:
    """MyST-NB renders a check record as a line with an anchor, not as its HTML."""

    mime_priority_overrides = [("*", MIME_TYPE, 1)]

    @staticmethod
    def handle_mime(renderer, data, inline):
        if data.mime_type != MIME_TYPE or inline:
            return None
        record = data.content if isinstance(data.content, dict) else json.loads(data.string)
        label = record["label"]
        paragraph = nodes.paragraph(classes=["nnmath-check"])
        paragraph += nodes.Text("✓ ")
        paragraph += check_label(label, label, nnmath_label=label)
        paragraph += nodes.Text(record_from_json(record).summary().removeprefix(f"✓ {label}"))
        return [nodes.target(ids=[record["anchor"]]), paragraph]


class ExerciseRenderer:
    """MyST-NB renders an exercise's self-test record (:mod:`nnmath.exercises`) as its line,
    with its anchor, as a check's."""

    mime_priority_overrides = [("*", EXERCISE_MIME_TYPE, 1)]

    @staticmethod
    def handle_mime(renderer, data, inline):
        if data.mime_type != EXERCISE_MIME_TYPE or inline:
            return None
        record = data.content if isinstance(data.content, dict) else json.loads(data.string)
        paragraph = nodes.paragraph(classes=["nnmath-check"])
        paragraph += nodes.Text(exercise_record_from_json(record).summary())
        return [nodes.target(ids=[record["anchor"]]), paragraph]


@functools.cache
def _read_ledger(srcdir: str, packages: tuple[str, ...], requirements: str) -> tuple:
    """Claims and check records of the whole book, from its sources and stored outputs."""
    root = Path(srcdir)
    chapters = toc_chapters(root)
    claims = ledger.book_claims(root, chapters)
    records = []
    for path in chapters:
        text = path.read_text()
        if path.suffix != ".md" or not has_code_cells(text):
            continue
        notebook = read_notebook(text)
        stored = store_dir(root) / f"{execution_key(notebook, packages, Path(requirements))}.ipynb"
        if stored.is_file():  # a missing one is reported by the chapter's own check
            records += ledger.stored_records(path.relative_to(root).as_posix(), text,
                                             nbformat.read(stored, as_version=4))
    return claims, records


def book_ledger(app: Sphinx) -> tuple[list[ledger.Entry], list[ledger.CheckRecord], list[ledger.Claim]]:
    config = app.config
    claims, records = _read_ledger(app.srcdir, tuple(config.bookbuild_tracked_packages),
                                   str(Path(app.srcdir) / config.bookbuild_requirements))
    return ledger.entries(claims, records), records, claims


def _fingerprints(app: Sphinx) -> dict[str, str]:
    """Per page, a digest of the ledger data it shows."""
    rows, records, _ = book_ledger(app)
    shown: dict[str, list] = {}
    for row in rows:
        shown.setdefault(row.claim.docname, []).append(row.json())
    for record in records:
        shown.setdefault(record.docname, []).append(record.label)
    everything = [row.json() for row in rows]
    ledger_doc = getattr(app.env, "bookbuild_ledger_docname", None)
    if ledger_doc:
        shown[ledger_doc] = everything
    return {doc: hashlib.sha256(json.dumps(data).encode()).hexdigest() for doc, data in shown.items()}


def _outdated(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Pages whose ledger data changed since they were last read: read and write them again."""
    _read_ledger.cache_clear()
    new = _fingerprints(app)
    old = getattr(env, "bookbuild_ledger_fingerprints", {})
    env.bookbuild_ledger_fingerprints = new
    return sorted(doc for doc in set(new) | set(old) if new.get(doc) != old.get(doc) and doc in env.found_docs)


def _check_rules(app: Sphinx, env) -> None:
    _, records, claims = book_ledger(app)
    checked: dict[str, list[str]] = {}
    for record in records:
        checked.setdefault(record.label, []).append(f"{record.chapter}:{record.line}")
    for problem in ledger.problems(claims, checked):
        where, _, message = problem.partition(": ")
        path, _, line = where.rpartition(":")
        logger.error(message, location=(path.removesuffix(".md"), int(line)), type="bookbuild", subtype="ledger")


def _resolve(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    rows, records, _ = book_ledger(app)
    ledger_doc = getattr(app.env, "bookbuild_ledger_docname", None)
    builder = app.builder
    for node in list(doctree.findall(check_label)):
        label = node["nnmath_label"]
        text = nodes.Text(label)
        node.replace_self(make_refnode(builder, docname, ledger_doc, f"ledger-{label}", text, "its row in the ledger")
                          if ledger_doc else text)
    for node in list(doctree.findall(ledger_placeholder)):
        node.replace_self(_ledger_nodes(app, docname, rows, records))
    if ledger_doc and builder.format == "html":
        checked = {row.claim.label: row for row in rows if row.status == "checked"}
        for block in list(doctree.findall(nodes.math_block)):
            row = checked.get(block.get("label"))
            if row:
                mark = nodes.paragraph(classes=["equation-check"])
                mark += make_refnode(builder, docname, ledger_doc, f"ledger-{row.claim.label}",
                                     nodes.Text(_mark_text(row)), "how this equation was checked")
                block.parent.insert(block.parent.index(block) + 1, mark)


def _mark_text(row: ledger.Entry) -> str:
    """``✓ autograd, error 2e-16``, ``✓ property, 200 cases``; ``(+2 checks)`` when there are more."""
    first = row.checks[0]
    if first.method.startswith("property"):
        text = f"✓ property, {first.cases} cases"
    elif first.outcome == "differs":
        text = f"✓ {first.method}, the source's formula refuted"
    elif first.exact_zero:
        text = f"✓ {first.method}, {_zero(first)}"
    else:
        text = f"✓ {first.shown_method}, error {_number(first.max_error)}"
    more = len(row.checks) - 1
    return text + (f" (+{more} check{'s' if more > 1 else ''})" if more else "")


def _zero(check: ledger.CheckRecord) -> str:
    """A claim that something is 0: ``exactly zero``, or ``zero, 1e-17`` up to rounding."""
    return "exactly zero" if check.max_error == 0 else f"zero, {_number(check.max_error)}"


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "0" if value == 0 else f"{value:.1g}"


def _equation_number(app: Sphinx, claim: ledger.Claim) -> str | None:
    numbers = app.env.toc_fignumbers.get(claim.docname, {}).get("displaymath", {})
    number = numbers.get(f"equation-{claim.label}")
    return ".".join(map(str, number)) if number else None


def _chapter_anchor(docname: str) -> str:
    return "ledger-chapter-" + docname.replace("/", "-")


def _ledger_nodes(app: Sphinx, docname: str, rows: list[ledger.Entry], records) -> list[nodes.Node]:
    """The totals, a list of the chapters (the page's own contents), then one table per chapter."""
    builder = app.builder
    found = [nodes.paragraph(text=ledger.totals(rows, records).sentence(), classes=["ledger-totals"])]
    chapters: dict[str, list[ledger.Entry]] = {}
    for row in rows:
        chapters.setdefault(row.claim.docname, []).append(row)
    titles = {chapter: app.env.titles[chapter].astext() if chapter in app.env.titles else chapter
              for chapter in chapters}
    contents = nodes.bullet_list(classes=["ledger-contents"])
    for chapter, chapter_rows in chapters.items():
        item = nodes.paragraph()
        item += make_refnode(builder, docname, docname, _chapter_anchor(chapter), nodes.Text(titles[chapter]))
        item += nodes.Text(f" ({len(chapter_rows)})")
        contents += nodes.list_item("", item)
    found.append(contents)
    for chapter, chapter_rows in chapters.items():
        rubric = nodes.rubric()
        rubric += make_refnode(builder, docname, chapter, "", nodes.Text(titles[chapter]))
        found += [nodes.target(ids=[_chapter_anchor(chapter)]), rubric]  # a target: a label in the PDF too
        found.append(_table(app, docname, chapter_rows))
    return found


HEADER = ("Equation or correction", "How it is proved")


def _table(app: Sphinx, docname: str, entries: list[ledger.Entry]) -> nodes.table:
    """One row per equation (its number, linked to it, and its formula) or correction (its title,
    linked), with each check on a line of its own, linked to the check on its page.

    On the website an equation's formula is displayed on a row of its own under it, across
    both columns: in the first column alone MathJax would break it onto many short lines.
    """
    rows = []
    website = app.builder.format == "html"
    for entry in entries:
        claim = entry.claim
        name: list[nodes.Node] = [_claim_name(app, docname, claim)]
        formula = claim.tex if claim.kind == "equation" else ""
        if formula and not website:
            name.append(_pdf_formula(formula))
        if entry.checks:
            proofs = [_check_line(app, docname, check) for check in entry.checks]
        else:
            proofs = [nodes.Text(f"definition: {claim.definition}" if claim.definition else entry.status)]
        rows.append([name, proofs])
        if formula and website:
            rows.append([nodes.math_block(formula, formula, nowrap=False, number=None, label=None,
                                          docname=claim.docname, classes=["ledger-formula"])])
    return table(HEADER, (45, 55), rows, ["ledger", "longtable"])


def _claim_name(app: Sphinx, docname: str, claim: ledger.Claim) -> nodes.Node:
    """The row's name, with its anchor: an equation's number, a correction's title, each a link."""
    name = nodes.inline(classes=["ledger-name"])
    name += nodes.target(ids=[f"ledger-{claim.label}"])
    if claim.kind == "equation" and app.builder.format == "latex":  # typeset as \ref: the PDF's number, a link
        name += math_reference("", "", docname=claim.docname, target=claim.label)
    elif claim.kind == "equation":
        number = _equation_number(app, claim)
        name += make_refnode(app.builder, docname, claim.docname, f"equation-{claim.label}",
                             nodes.Text(f"({number})" if number else claim.label))
    else:
        name += make_refnode(app.builder, docname, claim.docname, claim.label, nodes.Text(claim.title or claim.label))
    return name


def _pdf_formula(tex: str) -> nodes.paragraph:
    """The equation in the PDF's first column: inline, aligned if its lines are separated at the
    top level (``a \\\\ b``), scaled down to the column's width if wider (a matrix)."""
    if _breaks_at_top_level(tex):
        tex = f"\\begin{{aligned}}{tex}\\end{{aligned}}"
    return nodes.paragraph("", "", nodes.raw("", f"\\adjustbox{{max width=\\linewidth}}{{\\({tex}\\)}}",
                                             format="latex"))


def _breaks_at_top_level(tex: str) -> bool:
    """Whether ``tex`` has a line break or an alignment tab outside every environment."""
    depth = 0
    for token in re.findall(r"\\begin\{[^}]*\}|\\end\{[^}]*\}|\\\\|&", tex):
        if token.startswith("\\begin"):
            depth += 1
        elif token.startswith("\\end"):
            depth -= 1
        elif depth == 0:
            return True
    return False


def _check_line(app: Sphinx, docname: str, check: ledger.CheckRecord) -> nodes.Node:
    """``autograd, 1 case, error 2e-16 ≤ 1e-10``, the method linked to the check on its page."""
    line = nodes.inline()
    line += make_refnode(app.builder, docname, check.docname, check.anchor, nodes.Text(check.shown_method),
                         "the check, on its page")
    cases = f"{check.cases} case{'s' if check.cases != 1 else ''}"
    if check.outcome == "differs":
        text = f": the source's formula misses by {_number(check.max_error)} (≥ {_number(check.tolerance)})"
    elif check.exact_zero:
        text = f", {cases}, {_zero(check)}"
    elif check.max_error is None:
        text = f", holds in all {cases}"
    else:
        bound = f" ≤ {_number(check.tolerance)}" if check.tolerance is not None else ""
        text = f", {cases}, error {_number(check.max_error)}{bound}"
    line += nodes.Text(text)
    return line


def _loads_mathjax(app: Sphinx, doctree: nodes.document) -> None:
    """The ledger's formulas are written with the page, after Sphinx has looked for maths to
    decide whether the page loads MathJax: say that it has some."""
    if any(doctree.findall(ledger_placeholder)):
        app.env.get_domain("math").data["has_equations"][app.env.docname] = True


def _write_json(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    rows, _, _ = book_ledger(app)
    data = [row.json(number=_equation_number(app, row.claim)) for row in rows]
    (Path(app.outdir) / JSON_NAME).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def setup(app: Sphinx) -> None:
    app.add_node(ledger_placeholder)
    app.add_node(check_label)
    app.add_directive("verification-ledger", VerificationLedger)
    app.connect("env-get-outdated", _outdated)
    app.connect("doctree-read", _loads_mathjax)
    app.connect("env-check-consistency", _check_rules)
    app.connect("doctree-resolved", _resolve)
    app.connect("build-finished", _write_json)
