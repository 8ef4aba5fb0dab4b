r"""The PDF reads like a printed textbook: what the LaTeX builder gets besides the website's pages.

When the LaTeX builder has assembled the whole book into one document:

* each part of ``_toc.yml`` starts with ``\part{<caption>}``, so the contents list the parts;
  the unnumbered last part holds the appendices, lettered;
* the bibliography is printed once, inside the references chapter, with no second heading;
* each chapter's solutions are collected at its end, in a section of their own; each exercise
  links to its solution, each solution back to its exercise;
* the code of a hidden cell (``hide-input``: a figure's, a folded check's) is not printed,
  only its outputs: the figure, the check's verdict lines (the code is on the website and
  in the chapter's notebook, as ``book/how-to-read.md`` tells the reader);
* the landing page's text is a preface, "About this book";
* a grid of cards (the landing page's "At a glance") becomes a list: each card's title, linked
  where the card links, then its text;
* code outputs are printed in white frames, inputs in grey boxes, so the two are told apart.

The title page gives the edition and date and what built the book (:mod:`bookbuild.provenance`).
The preamble (:data:`PREAMBLE`) names the contents "Contents" (Sphinx would use the first
part's caption, which then heads every page of the front matter).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

from bookbuild.provenance import provenance

PREAMBLE = r"""
% bookbuild.sphinx_latex: the contents are "Contents"; the bibliography is the list of the
% references chapter (no heading of its own); outputs in white frames, inputs in grey.
\AtBeginDocument{\renewcommand{\contentsname}{Contents}\renewcommand{\bibname}{References}}
% The ledger scales a formula wider than its column down to fit (bookbuild.sphinx_ledger).
\usepackage{adjustbox}
% Index entries are terms of the text, not code: upright, like the text.
\renewcommand{\sphinxstyleindexentry}[1]{#1}
\makeatletter
\renewenvironment{sphinxthebibliography}[1]%
  {\begingroup\let\chapter\@gobbletwo\begin{thebibliography}{#1}}{\end{thebibliography}\endgroup}
\makeatother
\newenvironment{sphinxclasscell_output}{%
  \sphinxsetup{VerbatimColor={RGB}{255,255,255}, VerbatimBorderColor={RGB}{150,150,150},
               verbatimwithframe=true}}{}
% A long table continued on the next page says so without a number: the book's tables have no
% caption (the ledger's, the glossary), so "Table 3.3" would be the number of another table.
% Inside the continuation line, \tablename swallows "\ \thetable{} \textendash{}".
\renewcommand*{\sphinxtablecontinued}[1]{{\def\tablename##1\textendash##2{}\textsf{#1}}}
"""


PREFACE = "\\chapter*{About this book}\\addcontentsline{toc}{chapter}{About this book}" \
          "\\markboth{About this book}{About this book}\n"


def _parts(root: Path) -> list[tuple[str, list[str], bool]]:
    """(caption, chapters, numbered) for each part of ``_toc.yml``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text()) or {}
    return [(part.get("caption", ""), [item["file"] for item in part.get("chapters", []) if "file" in item],
             bool(part.get("numbered"))) for part in toc.get("parts", [])]


def _configure(app: Sphinx, config) -> None:
    elements = dict(config.latex_elements or {})
    elements["preamble"] = elements.get("preamble", "") + PREAMBLE + _metadata(config)
    elements["maketitle"] = _title_page(config)
    config.latex_elements = elements


def _metadata(config) -> str:
    """The PDF's own title and author, which readers and libraries show for the file."""
    return (f"\\hypersetup{{pdftitle={{{_latex(config.html_title)}}}, pdfauthor={{{_latex(config.author)}}}, "
            "pdfsubject={The mathematics of neural networks, every equation checked by a machine}}\n")


def _title_page(config) -> str:
    """The PDF's title page: title, authors, edition and date, and what built it."""
    built = provenance()
    return rf"""\begin{{titlepage}}
\centering
\vspace*{{0.25\textheight}}
{{\Huge\bfseries {_latex(config.html_title)}\par}}
\vspace{{2em}}
{{\Large {_latex(config.author)}\par}}
\vfill
{{\large Edition {_latex(built.version)}, {built.date}\par}}
\vspace{{1em}}
{{\small Built from nnmath {_latex(built.wheel_version)} (commit {_latex(built.commit_text)})\\
with Python {built.python}, NumPy {built.numpy} and PyTorch {_latex(built.torch)}.\\
Every output in this book was computed from that code.\par}}
\end{{titlepage}}
"""


def _resolve(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.name != "latex":
        return
    chapters = {node["docname"]: node for node in doctree.findall(addnodes.start_of_file)}
    for caption, files, numbered in _parts(Path(app.srcdir)):
        present = [chapters[file] for file in files if file in chapters]
        if not present:
            continue
        first = present[0]
        marks = [nodes.raw("", f"\\part{{{_latex(caption)}}}\n", format="latex")]
        if not numbered:
            marks.insert(0, nodes.raw("", "\\appendix\n", format="latex"))
        first.parent.insert(first.parent.index(first), marks)
    _cards_as_lists(doctree)
    landing = next(doctree.findall(nodes.section), None)
    if landing is not None:  # the landing page's text, before Part I: a preface, under its own heading
        landing.insert(1 if landing.children and isinstance(landing[0], nodes.title) else 0,
                       nodes.raw("", PREFACE, format="latex"))
    for chapter in chapters.values():
        _hide_folded_code(chapter)
        _collect_solutions(chapter)


def _cards_as_lists(doctree: nodes.Element) -> None:
    def has_class(name):
        return lambda node: isinstance(node, nodes.container) and name in node.get("classes", [])

    for grid in list(doctree.findall(has_class("sd-container-fluid"))):
        items = nodes.bullet_list()
        for card in grid.findall(has_class("sd-card")):
            title = next(card.findall(has_class("sd-card-title"))).astext()
            link = next(card.findall(nodes.reference), None)
            heading = nodes.strong(text=title)
            if link is not None:
                heading = nodes.reference("", "", heading, **{k: link[k] for k in ("refid", "refuri", "internal")
                                                              if k in link.attributes})
            paragraph = nodes.paragraph("", "", heading, nodes.Text(". "))
            for text in card.findall(lambda node: isinstance(node, nodes.paragraph)
                                     and "sd-card-text" in node.get("classes", [])):
                paragraph += text.children
            items += nodes.list_item("", paragraph)
        grid.replace_self(items)


def _hide_folded_code(chapter: nodes.Element) -> None:
    for cell in list(chapter.findall(nodes.container)):
        if "tag_hide-input" in cell.get("classes", []):
            for part in list(cell.children):
                if isinstance(part, nodes.container) and "cell_input" in part.get("classes", []):
                    cell.remove(part)


def _collect_solutions(chapter: nodes.Element) -> None:
    from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node, solution_node

    solutions = list(chapter.findall(solution_node))
    top = next((node for node in chapter.children if isinstance(node, nodes.section)), None)
    if not solutions or top is None:
        return
    section = nodes.section(ids=[f"solutions-{chapter['docname'].replace('/', '-')}"])
    section += nodes.title("", "Solutions")
    kinds = (exercise_node, exercise_enumerable_node)
    exercises = {node.get("label"): node for node in chapter.findall(lambda n: isinstance(n, kinds))}
    for solution in solutions:
        solution.parent.remove(solution)
        section += solution
        exercise = exercises.get(solution.get("target_label"))
        if exercise is not None and solution["ids"]:
            link = nodes.paragraph(classes=["solution-link"])
            link += nodes.reference("", "", nodes.Text("Solution at the end of the chapter"), internal=True,
                                    refid=solution["ids"][0])
            exercise.parent.insert(exercise.parent.index(exercise) + 1, link)
    top += section


def _latex(text: str) -> str:
    return "".join("\\" + char if char in "#$%&_{}" else char for char in str(text))


def setup(app: Sphinx) -> None:
    app.connect("config-inited", _configure, priority=460)
    app.connect("doctree-resolved", _resolve)
