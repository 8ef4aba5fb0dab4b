"""The chapter lint: what the build cannot see, or would only see late, as one line per problem.

``lint_book(root)`` returns every problem as ``path[:line]: what is wrong (and how to fix)``:

1. the TOC and ``book/`` agree, and every chapter with code has the MyST-NB header (``check_book``);
2. nothing edits ``sys.path`` (or ``PYTHONPATH``), in the chapters' code cells or in ``code/``:
   the package is installed, and a path hack would hide a broken install;
3. the verification ledger's rules (:mod:`bookbuild.ledger`): every labelled equation is checked or
   declared a definition, every correction has a check, every check names an existing label, as a
   literal string;
4. labels (targets, ``:label:``/``:name:`` options, equation labels) are unique across the book;
5. no notebooks or Jupyter checkpoints in ``book/``: outputs are computed at build time only;
6. ruff passes on ``code/`` and ``tests/`` (the repository's settings), and on each chapter's code
   cells, linted as a notebook so that ruff knows cells and magics; its lines point into the ``.md``;
7. every chapter with code has at least ``MIN_EXERCISES`` exercises, each with a solution;
8. every ``assert`` in a chapter's code says, in its message, what was expected: a reader whose
   machine fails it must learn more than ``AssertionError``;
9. words in quotation marks in a sentence about one of the book's sources (its citation, "the
   source", its author's name), or in the corrections' "What the source says" column, are marked
   as a quotation, ``{quote}`exact words <key>```, which ``tests/test_quotations.py`` finds in
   the source's text;
10. a code cell that only checks is tagged ``check`` (folded behind "Show the check" on the
    website, see :func:`only_checks`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import yaml

from bookbuild import ledger
from bookbuild.book import BookError, check_book, first_source_line, load_config, read_notebook

PAGES_DIR = "book"
MIN_EXERCISES = 3
EXERCISE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\s*\{exercise\}.*\n(?::[\w-]+:.*\n)*?:label:\s*(?P<label>\S+)", re.M)
SOLUTION = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\s*\{solution(?:-start)?\}\s*(?P<label>\S+)", re.M)
PYTHON_DIRS = ("code", "tests")
# Settings for chapter code on top of the repository's: a notebook imports where it first needs
# a name (E402) and may import or define a name again in a later cell (F811); `l` is the book's
# layer index (E741); import order is not checked (I), as ruff cannot fix it inside a .md.
CHAPTER_RUFF_IGNORE = ["E402", "F811", "E741", "I"]


FENCE_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,}|:{3,})\s*(?:\{(?P<directive>[^}\s]+)\})?")
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
EQUATION_LABEL = re.compile(r"\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
OPTION_LABEL = re.compile(r"^:\s*(?:label|name):\s*(?P<label>\S+)\s*$")
YAML_OPTION_LABEL = re.compile(r"^\s*(?:label|name):\s*(?P<label>\S+)\s*$")
# Directives whose content is not Markdown: no targets or equations inside, only options.
VERBATIM_DIRECTIVES = {"code-cell", "code-block", "code", "sourcecode", "literalinclude", "math", "raw", "eval-rst"}

PATH_METHODS = {"append", "insert", "extend", "remove", "pop", "clear", "__setitem__", "__iadd__"}
ENV_SETTERS = {"setdefault", "putenv", "update", "__setitem__"}


@dataclasses.dataclass(frozen=True)
class CodeCell:
    source: str
    first_line: int  # the .md line (1-based) of the cell's first source line
    tags: tuple[str, ...] = ()

    def md_line(self, row: int) -> int:
        return self.first_line + row - 1


@dataclasses.dataclass
class Chapter:
    name: str  # relative to the book's root, e.g. book/activations.md
    text: str
    markdown: str  # the prose cells, joined
    cells: list[CodeCell]


def lint_book(root: Path) -> list[str]:
    """Every problem of the book at ``root``, one line each; an empty list means clean."""
    root = root.resolve()
    problems: list[str] = []
    toc_chapters: tuple[Path, ...] = ()
    try:
        config = load_config(root)
        toc_chapters = config.chapters
        check_book(config, PAGES_DIR)
    except BookError as error:
        problems += [line.replace(f"{root}/", "") for line in str(error).splitlines()]
    except yaml.YAMLError:
        problems += _yaml_errors(root)

    # In reading order, so that a duplicate label is reported where it comes second.
    listed = [path for path in toc_chapters if path.suffix == ".md"]
    pages = listed + sorted(set(_pages(root)) - set(listed))
    chapters = []
    for path in pages:
        chapter, problem = _read_chapter(root, path)
        if problem:
            problems.append(problem)
        else:
            chapters.append(chapter)

    for chapter in chapters:
        problems += _sys_path_in_chapter(chapter)
    problems += _sys_path_in_package(root)
    problems += _duplicate_labels(chapters)
    problems += _stray_notebooks(root)
    problems += _ledger(chapters)
    problems += [problem for chapter in chapters for problem in _exercises(chapter)]
    problems += [problem for chapter in chapters for problem in _bare_asserts(chapter)]
    problems += [problem for chapter in chapters for problem in unmarked_quotations(chapter.name, chapter.text)]
    problems += [problem for chapter in chapters for problem in _unfolded_checks(chapter)]
    problems += _ruff(root, chapters)
    return problems


def _yaml_errors(root: Path) -> list[str]:
    problems = []
    for name in ("_config.yml", "_toc.yml"):
        try:
            yaml.safe_load((root / name).read_text())
        except yaml.YAMLError as error:
            problems.append(f"{name}: not valid YAML: {' '.join(str(error).split())}")
    return problems


def _pages(root: Path) -> Iterator[Path]:
    """The ``.md`` files under book/, skipping ``_templates``, ``_build``, ``.ipynb_checkpoints``..."""
    for page in (root / PAGES_DIR).rglob("*.md"):
        if not any(part.startswith(("_", ".")) for part in page.relative_to(root).parts):
            yield page


def _read_chapter(root: Path, path: Path) -> tuple[Chapter | None, str | None]:
    name = path.relative_to(root).as_posix()
    text = path.read_text()
    try:
        notebook = read_notebook(text)
    except Exception as error:  # MyST-NB raises several kinds for a broken header or cell
        return None, f"{name}: cannot be read as a MyST notebook: {' '.join(str(error).split())}"
    lines = text.splitlines()
    cells, prose = [], []
    for cell, fence_line in zip(notebook.cells, notebook.metadata["source_map"], strict=True):
        if cell.cell_type == "code":
            cells.append(CodeCell(cell.source, first_source_line(lines, fence_line, cell.source),
                                  tuple(cell.metadata.get("tags", []))))
        else:
            prose.append(cell.source)
    return Chapter(name, text, "\n".join(prose), cells), None


# Rule 2: sys.path


def _python_source(source: str) -> str:
    """A cell's source with IPython-only lines (``%magic``, ``!shell``) blanked, lines kept."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _is_sys_path(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "path"
            and isinstance(node.value, ast.Name) and node.value.id == "sys")


def _names_pythonpath(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "PYTHONPATH"


@functools.lru_cache(maxsize=1024)
def syntax_tree(source: str) -> ast.Module | None:
    """A Python source parsed once for all the rules that read it; None if it does not parse
    (ruff reports the syntax error)."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def path_edits(source: str) -> list[tuple[int, str]]:
    """(line, what) for every edit of the module search path in a Python source."""
    tree = syntax_tree(source)
    if tree is None:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in PATH_METHODS and _is_sys_path(node.func.value):
                found.append((node.lineno, f"sys.path.{method}(...)"))
            elif method == "addsitedir":
                found.append((node.lineno, "site.addsitedir(...)"))
            elif method in ENV_SETTERS and (any(_names_pythonpath(arg) for arg in node.args)
                                            or any(k.arg == "PYTHONPATH" for k in node.keywords)):
                found.append((node.lineno, f"sets PYTHONPATH ({method})"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "addsitedir":
            found.append((node.lineno, "addsitedir(...)"))
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if _is_sys_path(target) or (isinstance(target, ast.Subscript) and _is_sys_path(target.value)):
                found.append((node.lineno, "assigns sys.path"))
            elif isinstance(target, ast.Subscript) and _names_pythonpath(target.slice):
                found.append((node.lineno, "sets PYTHONPATH"))
    return sorted(found)


def _magic_path_edits(source: str) -> list[tuple[int, str]]:
    return [(row, "sets PYTHONPATH in a magic") for row, line in enumerate(source.splitlines(), 1)
            if line.lstrip().startswith(("%", "!")) and "PYTHONPATH" in line]


SYS_PATH_FIX = ("never touch the module search path: the package is installed "
                "(pip install -e code, as `make` does), so import it by name")


def _sys_path_in_chapter(chapter: Chapter) -> list[str]:
    problems = []
    for cell in chapter.cells:
        is_python = not cell.source.lstrip().startswith("%%")
        edits = (path_edits(_python_source(cell.source)) if is_python else []) + _magic_path_edits(cell.source)
        problems += [f"{chapter.name}:{cell.md_line(row)}: code cell {what}; {SYS_PATH_FIX}" for row, what in edits]
    return problems


def _sys_path_in_package(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "code").rglob("*.py")):
        if any(part.startswith(".") or part.endswith(".egg-info") for part in path.relative_to(root).parts):
            continue
        name = path.relative_to(root).as_posix()
        problems += [f"{name}:{row}: {what}; {SYS_PATH_FIX}" for row, what in path_edits(path.read_text())]
    return problems


# Rule 3: the verification ledger


def _ledger(chapters: list[Chapter]) -> list[str]:
    claims = [claim for chapter in chapters for claim in ledger.claims(chapter.name, chapter.text)]
    checked: dict[str, list[str]] = {}
    problems = []
    for chapter in chapters:
        for cell in chapter.cells:
            for row, label in ledger.check_calls(cell.source):
                where = f"{chapter.name}:{cell.md_line(row)}"
                if label is None:
                    problems.append(f"{where}: a check whose label is not a literal string; write the label "
                                    "itself, e.g. check('eq-my-label', ...), so that the lint can see it")
                else:
                    checked.setdefault(label, []).append(where)
    return problems + ledger.problems(claims, checked)


# Rule 7: exercises


def _exercises(chapter: Chapter) -> list[str]:
    if not chapter.cells:
        return []
    exercises = [(chapter.text[: m.start()].count("\n") + 1, m["label"]) for m in EXERCISE.finditer(chapter.text)]
    solved = {m["label"] for m in SOLUTION.finditer(chapter.text)}
    problems = [f"{chapter.name}:{line}: exercise '{label}' has no solution: follow it with "
                f"```{{solution}} {label}``` (and :class: dropdown)"
                for line, label in exercises if label not in solved]
    if len(exercises) < MIN_EXERCISES:
        problems.append(f"{chapter.name}: {len(exercises)} exercise(s) with a :label:; a chapter with code has at "
                        f"least {MIN_EXERCISES}, each with a hidden solution (see CONTRIBUTING.md)")
    return problems


# Rule 8: asserts say what was expected


def bare_asserts(source: str) -> list[int]:
    """The lines of the ``assert`` statements without a message in a Python source."""
    tree = syntax_tree(source)
    if tree is None:
        return []
    return sorted(node.lineno for node in _statements(tree) if isinstance(node, ast.Assert) and node.msg is None)


def _statements(node: ast.AST) -> Iterator[ast.AST]:
    """Every statement under ``node``, at any depth, without visiting expressions (fast)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
            yield child
            yield from _statements(child)


def _bare_asserts(chapter: Chapter) -> list[str]:
    return [f"{chapter.name}:{cell.md_line(row)}: an assert without a message; say what was expected, "
            "e.g. assert loss < 0.1, f\"the loss should end below 0.1, got {loss:.3g}\""
            for cell in chapter.cells if not cell.source.lstrip().startswith("%%")
            for row in bare_asserts(_python_source(cell.source))]


# Rule 10: a cell that only checks is folded

CHECK_TAG = "check"  # the tag that bookbuild.sphinx_ext.fold_checks folds
SETUP_STATEMENTS = (ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef | ast.Assign | ast.AugAssign
                    | ast.AnnAssign | ast.Pass)
BLOCK_STATEMENTS = ast.For | ast.While | ast.If | ast.With


def only_checks(source: str) -> bool:
    """Whether a code cell's code only checks, and so must be tagged ``check``.

    It does when it checks (an ``assert``, or a call of ``check``, ``check_all`` or ``refute``)
    and each of its other statements is setup for the checks: an import, a definition, an
    assignment, or a ``for``, ``while``, ``if`` or ``with`` block made of these. Any other
    statement (a ``print``, a plot, a method called for its effect, a ``try``) may be what the
    cell teaches: such a cell is tagged, or not, by the author.
    """
    tree = syntax_tree(_python_source(source))
    if tree is None or not tree.body:
        return False
    checks = any(isinstance(node, ast.Assert) or ledger.is_check_call(node) for node in ast.walk(tree))
    return checks and all(_checks_or_sets_up(statement) for statement in tree.body)


def _checks_or_sets_up(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Assert | SETUP_STATEMENTS):
        return True
    if isinstance(statement, ast.Expr):
        return ledger.is_check_call(statement.value)
    if isinstance(statement, BLOCK_STATEMENTS):
        return all(_checks_or_sets_up(inner) for inner in statement.body + getattr(statement, "orelse", []))
    return False


def _unfolded_checks(chapter: Chapter) -> list[str]:
    return [f"{chapter.name}:{cell.first_line}: this code cell only checks; tag it (:tags: [{CHECK_TAG}] under its "
            "```{code-cell} line) so that the website folds its code behind \"Show the check\""
            for cell in chapter.cells if CHECK_TAG not in cell.tags and only_checks(cell.source)]


# Rule 9: quotations of the sources are marked


# The book's sources, by bibliography key, and their files among the sources (which are not in
# the repository: tests/test_quotations.py looks for them).
SOURCES = {
    "amine2020dismantling": "000_3d692995be292e30.txt",
    "clark2021backprop": "001_a894338046b1c749.txt",
    "punnen2021maths": "002_7972b5719b6693f5.txt",
}
ATTRIBUTION = re.compile(r"\bthe source\b|\bsource's\b|\b(?:Amine|Clark|Punnen)\b|\{cite\}`(?:"
                         + "|".join(SOURCES) + r")`", re.I)
QUOTED = re.compile(r'"[^"]+"|\u201c[^\u201d]+\u201d')
# What is not prose: code spans, maths, roles (a {quote} is marked already), directive and
# comment lines; each is blanked, keeping the line breaks.
NOT_PROSE = re.compile(r"\{[a-z][\w:-]*\}`[^`]*`|``[^`]*``|`[^`\n]*`|\$\$.*?\$\$|\$[^$]*\$", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
SOURCE_COLUMN = "What the source says"


def _blank(text: str) -> str:
    """The text with every character but the line breaks made a space: offsets are kept."""
    return "\n".join(" " * len(line) for line in text.split("\n"))


def unmarked_quotations(name: str, text: str) -> list[str]:
    """Quotation marks around words attributed to a source, without the {quote} role."""
    code_free = _without_code(text)
    prose = NOT_PROSE.sub(lambda match: _blank(match.group(0)), code_free)  # offsets are shared
    problems = []
    offset = 0
    for block in re.split(r"(\n[ \t]*\n)", prose):
        if block.lstrip().startswith("|"):  # a table: each row, and the source's column
            header = text[offset:offset + len(block)].lstrip().split("\n", 1)[0]
            units = [(row, SOURCE_COLUMN in header) for row in block.splitlines(keepends=True)]
        else:
            units = [(sentence, False) for sentence in SENTENCE_END.split(block)]
        position = offset
        for unit, in_column in units:
            start = block.find(unit, position - offset) + offset
            position = start + len(unit)
            quotations = list(QUOTED.finditer(unit))
            said = quotations and ATTRIBUTION.search(code_free[start:position])
            for quoted in quotations if in_column or said else ():
                if not said and not _in_first_column(unit, quoted.start()):
                    continue
                line = text.count("\n", 0, start + quoted.start()) + 1
                shown = " ".join(text[start + quoted.start():start + quoted.end()].split())
                problems.append(f"{name}:{line}: {shown} is attributed to a source but not marked as a "
                                "quotation: write {quote}`its exact words <key>` (the test finds them in the "
                                "source), or, if these are not its words, no quotation marks")
        offset += len(block)
    return problems


def _in_first_column(row: str, index: int) -> bool:
    first = row.index("|")
    second = row.index("|", first + 1)
    return first < index < second


def _without_code(text: str) -> str:
    """The page with fenced blocks (code, directives' options and bodies that are code) and
    comment lines blanked: only its prose is searched."""
    kept = []
    fence = None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        blank = _blank(line)
        if fence:
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            kept.append(blank)
            continue
        match = FENCE_OPEN.match(line)
        if match and (match["directive"] in VERBATIM_DIRECTIVES
                      or (match["directive"] is None and match["fence"][0] != ":")):
            fence = match["fence"]
            kept.append(blank)
        elif stripped.startswith("%") or (match and match["directive"]) or OPTION_LABEL.match(line) \
                or re.match(r"^:[\w-]+:", line):
            kept.append(blank)
        else:
            kept.append(line)
    return "".join(kept)


# Rule 4: unique labels


def labels(text: str) -> Iterator[tuple[int, str]]:
    """(line, label) for every label a MyST page defines.

    Targets ``(label)=``, equation labels ``$$ (label)``, and the ``:label:``/``:name:`` options
    of directives (also nested, as in a code cell's ``:mystnb: figure: name:``, and in a ``---``
    YAML option block). Fenced code is skipped, except for its options.
    """
    open_fences: list[tuple[str, bool]] = []  # (fence, content is verbatim)
    in_options = in_yaml = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if in_yaml:
            if stripped == "---":
                in_yaml = False
            elif match := YAML_OPTION_LABEL.match(line):
                yield number, match["label"]
            continue
        if in_options:
            if line.startswith(":") and not FENCE_OPEN.match(line):
                if match := OPTION_LABEL.match(line):
                    yield number, match["label"]
                continue
            in_options = False
            if stripped == "---":
                in_yaml = True
                continue
        if open_fences:
            fence, verbatim = open_fences[-1]
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                open_fences.pop()
                continue
            if verbatim:
                continue
        if match := FENCE_OPEN.match(line):
            directive = match["directive"]
            if directive is None and match["fence"][0] == ":":
                continue  # a line of colons, not a fence
            open_fences.append((match["fence"], directive is None or directive in VERBATIM_DIRECTIVES))
            in_options = directive is not None
            continue
        if match := TARGET.match(line) or EQUATION_LABEL.search(line):
            yield number, match["label"]


def _duplicate_labels(chapters: list[Chapter]) -> list[str]:
    first: dict[str, str] = {}
    problems = []
    for chapter in chapters:
        for number, label in labels(chapter.text):
            here = f"{chapter.name}:{number}"
            if label in first:
                problems.append(f"{here}: label '{label}' is already defined at {first[label]}; labels must "
                                "be unique across the book: rename one (and the references to it)")
            else:
                first[label] = here
    return problems


# Rule 5: no notebooks or checkpoints in book/


def _stray_notebooks(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / PAGES_DIR).rglob("*")):
        parts = path.relative_to(root).parts
        if "_build" in parts or ".ipynb_checkpoints" in parts[:-1]:
            continue
        name = path.relative_to(root).as_posix()
        if path.is_dir() and path.name == ".ipynb_checkpoints":
            problems.append(f"{name}: Jupyter checkpoints in the book's sources; delete the folder")
        elif path.suffix == ".ipynb":
            problems.append(f"{name}: a notebook in book/ (stored outputs, or a stray copy of a chapter); "
                            "chapters are MyST Markdown whose outputs are computed at build time: delete it, "
                            "or convert it with `jupytext --to myst` and add it to _toc.yml")
    return problems


# Rule 6: ruff


def _ruff_command() -> list[str]:
    ruff = Path(sys.executable).with_name("ruff")
    return [str(ruff)] if ruff.is_file() else [sys.executable, "-m", "ruff"]


def _run_ruff(root: Path, paths: list[str], options: list[str]) -> list[dict]:
    command = [*_ruff_command(), "check", "--output-format", "json", "--no-fix", *options, *paths]
    process = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"ruff failed ({' '.join(command)}):\n{process.stderr}")
    return json.loads(process.stdout or "[]")


def _ruff_message(finding: dict) -> str:
    return f"{finding.get('code') or 'error'} {finding['message']} (ruff)"


def _ruff(root: Path, chapters: list[Chapter]) -> list[str]:
    problems = []
    python_dirs = [name for name in PYTHON_DIRS if (root / name).is_dir()]
    if python_dirs:
        for finding in _run_ruff(root, python_dirs, []):
            name = Path(finding["filename"]).resolve().relative_to(root).as_posix()
            problems.append(f"{name}:{finding['location']['row']}: {_ruff_message(finding)}")
    problems += _ruff_chapters(root, [chapter for chapter in chapters if chapter.cells])
    return problems


def _ruff_chapters(root: Path, chapters: list[Chapter]) -> list[str]:
    """Each chapter's code cells as a notebook, linted by ruff, its findings mapped to .md lines."""
    if not chapters:
        return []
    options = ["--config", f"lint.extend-per-file-ignores = {{\"*.ipynb\" = {json.dumps(CHAPTER_RUFF_IGNORE)}}}"]
    if (root / "pyproject.toml").is_file():
        options = ["--config", str(root / "pyproject.toml"), *options]
    findings = []
    with tempfile.TemporaryDirectory(prefix="bookbuild-lint-") as folder:
        for index, chapter in enumerate(chapters):
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell.source)
                                                       for cell in chapter.cells])
            notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            notebook.metadata["language_info"] = {"name": "python"}
            nbformat.write(notebook, Path(folder) / f"{index}.ipynb")
        paths = [str(Path(folder) / f"{index}.ipynb") for index in range(len(chapters))]
        for finding in _run_ruff(root, paths, [*options, "--no-cache"]):
            chapter = chapters[int(Path(finding["filename"]).stem)]
            cell = chapter.cells[(finding.get("cell") or 1) - 1]
            findings.append((chapter.name, cell.md_line(finding["location"]["row"]), _ruff_message(finding)))
    return [f"{name}:{line}: {message}" for name, line, message in sorted(findings)]

