r"""Reader notebooks: each chapter as a notebook that runs anywhere, with the page's outputs.

A chapter's ``.md`` is MyST Markdown: directives, roles and the book's maths macros, which
Jupyter and Colab do not know. :func:`reader_notebook` turns it into what they show:

* ``{literalinclude}`` of package code becomes a Python code block that names its file and
  object; ``{exercise}`` a quoted block and its ``{solution}`` a collapsed ``<details>``;
* a solution of ``{solution-start}`` ... ``{solution-end}`` keeps its prose, collapsed in one
  ``<details>``, but not its code: its code cells and listings (the book's solution of a
  coding exercise, and the cells that check it) are left out, with a link to them on the
  website. The notebook is where the reader writes an answer: a code cell cannot be folded
  into the prose's ``<details>``, "Run all" would run it, and any viewer of the file shows
  it. The exercise's own cells, the stub the reader fills in and the checker's, stay;
  admonitions quoted blocks; ``{index}`` entries, ``{tabularcolumns}`` (the PDF's column
  widths) and comments disappear;
* ``{eq}``, ``{ref}``, ``{numref}``, ``{doc}`` and ``{cite}`` become links to the website's
  pages, with the numbers and titles the website shows; a labelled equation gets its number
  as a ``\tag``; a ``{quote}`words <key>``` becomes the words in curly quotes;
* the first markdown cell defines the maths macros (from ``book/macros.tex``, their single
  definition), the next says where the notebook comes from, and the first code cell
  installs exactly the package that produced the page (see :func:`install_cell`);
* every code cell keeps the outputs the page shows; a figure's code and a folded check's
  (tags ``hide-input``, ``check``) are collapsed, as on the page, and still run.

Any directive or role the converter does not know is an error that names the file and line:
a reader's notebook never shows raw MyST.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from bookbuild import listings
from bookbuild.book import QUOTATION, first_source_line, read_notebook
from bookbuild.macros import Macro

FENCE_OPEN = re.compile(
    r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})\s*(?:\{(?P<directive>[^}\s]+)\})?\s*(?P<argument>.*)$")
OPTION = re.compile(r"^:(?P<name>[\w-]+):\s*(?P<value>.*)$")
ROLE = re.compile(r"\{(?P<role>[a-z][\w:-]*)\}`(?P<content>[^`]*)`")
EXPLICIT_TITLE = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error", "seealso"}
DROPPED_DIRECTIVES = {"index", "tabularcolumns"}  # what only the site or the PDF uses
# What the converter handles; anything else in a chapter with code fails the build.
KNOWN_DIRECTIVES = {"literalinclude", "exercise", "solution", "solution-start", "solution-end", "admonition",
                    "math", "code-block", *ADMONITIONS, *DROPPED_DIRECTIVES}
KNOWN_ROLES = {"eq", "ref", "numref", "doc", "cite", "index", "math", "quote"}


class ConversionError(Exception):
    """A construct the converter does not know; the message names file and line."""


@dataclasses.dataclass(frozen=True)
class Link:
    text: str
    url: str


# What the website calls a label, and where it is: ``links(role, target)``, None if unknown.
Links = Callable[[str, str], "Link | None"]


@dataclasses.dataclass
class Chapter:
    """One chapter to convert: its file, its text and the notebook it was executed as."""

    relative: str  # e.g. book/activations.md
    text: str
    executed: nbformat.NotebookNode
    root: Path  # the book's root, where /code/... includes are found


def reader_notebook(chapter: Chapter, links: Links, macros: list[Macro], preface: str,
                    install: str) -> nbformat.NotebookNode:
    """The reader's notebook of one chapter: see the module docstring."""
    source = read_notebook(chapter.text)
    fences = source.metadata["source_map"]
    executed = [cell for cell in chapter.executed.cells if cell.cell_type == "code"]
    converter = _Converter(chapter, links)
    cells = [nbformat.v4.new_markdown_cell(macro_cell(macros)),
             nbformat.v4.new_markdown_cell(preface),
             nbformat.v4.new_code_cell(install)]
    code_index = 0
    lines = chapter.text.splitlines()
    for cell, fence in zip(source.cells, fences, strict=True):
        if cell.cell_type == "markdown":
            in_solution = converter.solution is not None
            text = converter.markdown(cell.source, first_source_line(lines, fence, cell.source))
            if in_solution and cells[-1].cell_type == "markdown":  # one <details>, in one cell
                cells[-1].source = f"{cells[-1].source}\n\n{text}".strip("\n")
            elif text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text))
            continue
        stored = executed[code_index]
        code_index += 1
        if converter.solution is not None:  # left out, once said so
            if not converter.solution_code_left_out:
                cells[-1].source += "\n\n" + converter.solution_on_website(fence + 1)
                converter.solution_code_left_out = True
            continue
        code = nbformat.v4.new_code_cell(cell.source)
        code.outputs = [_for_jupyter(output) for output in stored.outputs]
        code.execution_count = stored.execution_count
        tags = cell.metadata.get("tags", [])
        if tags:
            code.metadata["tags"] = list(tags)
        if {"hide-input", "check"} & set(tags):  # collapsed, as on the page; it still runs
            code.metadata["jupyter"] = {"source_hidden": True}
        cells.append(code)
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        if figure.get("caption"):
            number = links("numref", figure["name"]) if figure.get("name") else None
            label = number.text if number else "Figure"
            caption = converter.inline(figure["caption"], fence)
            cells.append(nbformat.v4.new_markdown_cell(f"*{label}: {caption}*"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # the same ids on every build
    return notebook


def _for_jupyter(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An output without its PDF figure (the book's PDF uses it; Jupyter shows the SVG)."""
    if "data" in output and "application/pdf" in output["data"] and len(output["data"]) > 1:
        output = nbformat.from_dict(dict(output))
        output["data"] = {mime: value for mime, value in output["data"].items() if mime != "application/pdf"}
    return output


def macro_cell(macros: list[Macro]) -> str:
    r"""A markdown cell that defines the book's macros for the notebook's maths.

    MathJax keeps ``\newcommand`` definitions for the rest of the page, so every later cell
    can use them. The cell shows nothing but a short note.
    """
    definitions = "".join(
        f"\\newcommand{{\\{m.name}}}{f'[{m.arity}]' if m.arity else ''}{{{m.body}}}" for m in macros
    )
    return ("<!-- The book's maths macros, generated from book/macros.tex -->\n"
            f"$\\newcommand{{\\nnmathmacros}}{{}}{definitions}$")


class _Converter:
    def __init__(self, chapter: Chapter, links: Links):
        self.chapter = chapter
        self.links = links
        self.solution: str | None = None  # the exercise whose {solution-start} is open
        self.solution_code_left_out = False

    def solution_on_website(self, number: int) -> str:
        """What stands for the code of the open solution, which the notebook leaves out."""
        link = self._link("numref", self.solution, number)
        return (f"*This solution's code, and the cells that check it, are on the website, under "
                f"[{link.text}]({link.url}).*")

    def error(self, line: int, message: str) -> ConversionError:
        return ConversionError(f"{self.chapter.relative}:{line}: {message}")

    # Blocks

    def markdown(self, text: str, first_line: int) -> str:
        """A markdown cell's source, whose first line is line ``first_line`` of the chapter.

        Runs of text lines are converted together, so a role may span a line break.
        """
        lines = text.splitlines()
        out: list[str] = []
        prose: list[str] = []  # the current run of text lines
        prose_start = first_line

        def flush() -> None:
            if prose:
                out.append(self.inline("\n".join(prose), prose_start))
                prose.clear()

        index = 0
        while index < len(lines):
            line = lines[index]
            number = first_line + index
            match = FENCE_OPEN.match(line)
            if match and (match["directive"] or match["fence"][0] != ":"):
                flush()
                end = self._closing(lines, index, match["fence"], match["indent"])
                out += self.directive(match, lines[index + 1:end], number)
                index = end + 1
                continue
            if TARGET.match(line) or line.lstrip().startswith("%"):
                flush()
                index += 1
                continue
            if line.strip().startswith("$$"):
                flush()
                end = self._equation_end(lines, index)
                out += self.equation(lines[index:end + 1], number)
                index = end + 1
                continue
            if not prose:
                prose_start = number
            prose.append(line)
            index += 1
        flush()
        return "\n".join(out).strip("\n")

    def _closing(self, lines: list[str], start: int, fence: str, indent: str) -> int:
        depth = 0
        for index in range(start + 1, len(lines)):
            stripped = lines[index].strip()
            opened = FENCE_OPEN.match(lines[index])
            if opened and opened["fence"][0] == fence[0] and opened["directive"] and \
                    len(opened["fence"]) == len(fence):
                depth += 1
            elif stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                if depth == 0:
                    return index
                depth -= 1
        raise self.error(start + 1, f"the fence {fence} opened here is never closed")

    def _equation_end(self, lines: list[str], start: int) -> int:
        """The line that closes the display maths opened on line ``start``."""
        if lines[start].count("$$") >= 2:
            return start
        for index in range(start + 1, len(lines)):
            if "$$" in lines[index]:
                return index
        raise self.error(start + 1, "display maths opened with $$ is never closed")

    def equation(self, lines: list[str], number: int) -> list[str]:
        r"""``$$ ... $$ (label)`` as ``$$ ... \tag{3.2} $$``; unlabelled maths as it is."""
        text = "\n".join(lines).strip()
        match = re.fullmatch(r"\$\$(?P<body>.*?)\$\$\s*(?:\((?P<label>[^()\s]+)\))?", text, re.S)
        if not match:
            raise self.error(number, "display maths that is not of the form $$ ... $$ (label)")
        body = match["body"].strip()
        if match["label"]:
            link = self.links("eq", match["label"])
            if link is None:
                raise self.error(number, f"equation label '{match['label']}' is unknown to the website")
            body += f" \\tag{{{link.text.strip('()')}}}"
        return ["$$", body, "$$"]

    def directive(self, match: re.Match, body: list[str], number: int) -> list[str]:
        name = match["directive"]
        if name is None:  # a plain code block: as it is
            return [match.string, *body, match["indent"] + match["fence"]]
        options, content = self._options(body)
        content_line = number + 1 + (len(body) - len(content))
        argument = match["argument"].strip()
        if name in DROPPED_DIRECTIVES:
            return []
        if name == "literalinclude":
            if self.solution is not None:
                if self.solution_code_left_out:
                    return []
                self.solution_code_left_out = True
                return [self.solution_on_website(number), ""]
            return self.literalinclude(argument, options, number)
        if name == "exercise":
            label = options.get("label")
            link = self.links("numref", label) if label else None
            heading = f"**{link.text if link else 'Exercise'}" + (f" ({self.inline(argument, number)})" if argument
                                                                    else "") + "**"
            inner = self.markdown("\n".join(content), content_line)
            return _quoted([heading, "", *inner.splitlines()]) + [""]
        if name in ("solution", "solution-start"):
            link = self.links("numref", argument)
            summary = f"Solution to {link.text}" if link else "Solution"
            inner = self.markdown("\n".join(content), content_line) if name == "solution" else ""
            opening = ["<details>", f"<summary>{summary}</summary>", ""]
            if name == "solution-start":
                self.solution, self.solution_code_left_out = argument, False
            return opening + inner.splitlines() + (["", "</details>", ""] if name == "solution" else [])
        if name == "solution-end":
            self.solution = None
            return ["", "</details>", ""]
        if name == "admonition" or name in ADMONITIONS:
            title = self.inline(argument, number) if argument else name.capitalize()
            inner = self.markdown("\n".join(content), content_line)
            return _quoted([f"**{title}**", "", *inner.splitlines()]) + [""]
        if name == "math":
            label = options.get("label")
            lines = ["$$", *content, f"$$ ({label})" if label else "$$"]
            return self.equation(lines, number)
        if name == "code-block":
            return [f"```{argument or 'python'}", *content, "```"]
        raise self.error(number, f"the directive {{{name}}} has no conversion for a reader's notebook; "
                                 "add one to bookbuild/notebooks.py, or write it another way")

    def _options(self, body: list[str]) -> tuple[dict[str, str], list[str]]:
        options = {}
        index = 0
        while index < len(body) and (match := OPTION.match(body[index].strip())):
            value = match["value"].strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]  # a quoted option value, as MyST reads it
            options[match["name"]] = value
            index += 1
        if index < len(body) and not body[index].strip():
            index += 1
        return options, body[index:]

    def literalinclude(self, path: str, options: dict[str, str], number: int) -> list[str]:
        file = self.chapter.root / path.lstrip("/")
        if not file.is_file():
            raise self.error(number, f"literalinclude of {path}, which does not exist")
        code = file.read_text()
        if "pyobject" in options:
            code = _pyobject(code, options["pyobject"])
            if code is None:
                raise self.error(number, f"{path} defines no {options['pyobject']}")
        unknown = set(options) - {"pyobject", "language", "caption", *BOUNDS}
        if unknown:
            raise self.error(number, f"literalinclude option(s) {sorted(unknown)} have no conversion")
        for option, (inclusive, is_start) in BOUNDS.items():
            if option in options:
                code = _bound(code, options[option], inclusive, is_start)
                if code is None:
                    raise self.error(number, f"{path}: no line contains {options[option]!r} ({option})")
        language = options.get("language", "python")
        if path.startswith(listings.PACKAGE_PREFIX) and language == "python":
            code = listings.trim_docstrings(code)
        title = options.get("caption") or listings.caption(path, options.get("pyobject"))
        return [f"*{title}*", "", f"```{language}", code.rstrip("\n"), "```", ""]

    # Inline

    def inline(self, text: str, first_line: int) -> str:
        """Roles resolved in ``text``, whose first line is ``first_line`` of the chapter."""
        def replace(match: re.Match) -> str:
            role, content = match["role"], match["content"]
            number = first_line + text.count("\n", 0, match.start())
            content = " ".join(content.split()) if role in ("index", "cite", "eq", "ref", "numref", "doc") else content
            if role == "index":
                explicit = EXPLICIT_TITLE.match(content)
                return explicit["title"] if explicit else content.split(";")[0].strip()
            if role == "math":
                return f"${content}$"
            if role == "quote":
                quotation = QUOTATION.match(content)
                if not quotation:
                    raise self.error(number, "{quote} takes the exact words and the source's key: "
                                             "{quote}`exact words <key>`")
                return f"\u201c{quotation['words']}\u201d"
            if role == "cite":
                keys = [key.strip() for key in content.split(",")]
                cited = [self._link("cite", key, number) for key in keys]
                return "[" + ", ".join(f"[{link.text}]({link.url})" for link in cited) + "]"
            if role in ("eq", "ref", "numref", "doc"):
                explicit = EXPLICIT_TITLE.match(content)
                target = explicit["target"] if explicit else content
                link = self._link(role, target, number)
                title = explicit["title"] if explicit else link.text
                if role == "numref" and "{number}" in title:
                    title = title.replace("{number}", link.text.split()[-1])
                return f"[{title}]({link.url})"
            raise self.error(number, f"the role {{{role}}} has no conversion for a reader's notebook")

        return ROLE.sub(replace, text)

    def _link(self, role: str, target: str, number: int) -> Link:
        link = self.links(role, target)
        if link is None:
            raise self.error(number, f"{{{role}}}`{target}` names nothing the website knows")
        return link


# literalinclude's line filters, as Sphinx applies them: (keeps the matching line, cuts the start).
BOUNDS = {"start-at": (True, True), "start-after": (False, True), "end-at": (True, False),
          "end-before": (False, False)}


def _bound(code: str, text: str, inclusive: bool, is_start: bool) -> str | None:
    lines = code.splitlines()
    index = next((i for i, line in enumerate(lines) if text in line), None)
    if index is None:
        return None
    if is_start:
        return "\n".join(lines[index if inclusive else index + 1:])
    return "\n".join(lines[:index + 1 if inclusive else index])


def _quoted(lines: list[str]) -> list[str]:
    return [f"> {line}" if line else ">" for line in lines]


def _pyobject(code: str, name: str) -> str | None:
    """The source of a function or class (``name`` or ``Class.method``), decorators included."""
    tree = ast.parse(code)
    body = tree.body
    node = None
    for part in name.split("."):
        node = next((n for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    lines = code.splitlines()
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    block = lines[start - 1:node.end_lineno]
    indent = min(len(line) - len(line.lstrip()) for line in block if line.strip())
    return "\n".join(line[indent:] for line in block)
