"""The chapter lint: a clean book passes, each rule names the file, the line and the fix."""

from __future__ import annotations

import re
import textwrap

import pytest
from bookbuild.lint import labels, lint_book, only_checks, path_edits
from fixture_book import HEADER, REPO, FixtureBook, chapter

# A chapter that does everything right: numbered maths and labels of every kind, a magic, an
# import in a later cell (E402) and again (F811), `l` for a layer (E741), a check of its equation
# against autograd, and a correction with its check.
SQUARE = HEADER + textwrap.dedent("""\
    (chapter-square)=
    # Squares

    $$
    \\frac{d}{dx} x^2 = 2x
    $$ (eq-square)

    ```{code-cell} ipython3
    %matplotlib inline
    import torch
    ```

    ```{code-cell} ipython3
    :tags: [hide-input]
    :mystnb:
    :  figure:
    :    caption: Nothing to see.
    :    name: fig-square

    x = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    (x**2).backward()
    import torch

    for l in range(2):
        print(l)
    ```

    ```{code-cell} ipython3
    :tags: [check]
    from nnmath.verify import check, refute

    check("eq-square", x.grad, 2 * x.detach(), method="autograd")
    ```

    (fix-square)=
    ## Correction: the derivative of x² is not x

    ```{code-cell} ipython3
    :tags: [check]
    refute("fix-square", x.detach(), x.grad, method="autograd")
    ```

    ```{exercise} A question
    :label: ex-square-1

    Why?
    ```

    ```{solution} ex-square-1
    :class: dropdown

    Because.
    ```

    ```{exercise} Another question
    :label: ex-square-2

    Why not?
    ```

    ```{solution} ex-square-2
    :class: dropdown

    Because not.
    ```

    ```{exercise} A third question
    :label: ex-square-3

    How?
    ```

    ```{solution} ex-square-3
    :class: dropdown

    So.
    ```

    ```python
    (not-a-label)=
    ```
    """)


@pytest.fixture
def book(tmp_path):
    book = FixtureBook(tmp_path)
    book.write("pyproject.toml", (REPO / "pyproject.toml").read_text())  # the repository's ruff settings
    book.add_chapter("intro", chapter("Intro"))
    book.add_chapter("square", SQUARE)
    book.add_chapter("prose", HEADER + "# Prose\n\nMaths without code:\n\n$$\nx = 1\n$$\n")
    book.add_chapter("numbers", chapter("Numbers", "print(6 * 7)"))  # with its three exercises
    return book


def line_of(path, text: str) -> int:
    """The 1-based line of the first line of ``path`` that contains ``text``."""
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


FORMAT = re.compile(r"^[\w./-]+(:\d+)?: \S")


def test_a_clean_book_passes(book):
    assert lint_book(book.root) == []


def unlisted(book):
    book.add_chapter("orphan", chapter("Orphan"), in_toc=False)
    return r"^book/orphan\.md: not listed in _toc\.yml, so it is never built$"


def toc_entry_without_file(book):
    book.write_toc([*book.chapters, "book/ghost"])
    return r"^_toc\.yml: entry 'book/ghost' names no file"


def toc_not_yaml(book):
    book.write("_toc.yml", "root: book/intro\nchapters: [\n")
    return r"^_toc\.yml: not valid YAML: "


def no_header(book):
    book.add_chapter("plain", chapter("Plain", "print(1)", header=False))
    return r"^book/plain\.md: has \{code-cell\} blocks but no jupytext/MyST-NB header"


def broken_header(book):
    book.add_chapter("broken", "---\njupytext: [\n---\n# Broken\n")
    return r"^book/broken\.md: cannot be read as a MyST notebook"


def sys_path_in_a_cell(book):
    path = book.add_chapter("hack", chapter("Hack", "print(1)", "import sys\n\nsys.path.insert(0, '../code')"))
    return rf"^book/hack\.md:{line_of(path, 'sys.path.insert')}: code cell sys\.path\.insert\(\.\.\.\); never touch"


def pythonpath_in_a_magic(book):
    path = book.add_chapter("env", chapter("Env", "%env PYTHONPATH=../code\nprint(1)"))
    return rf"^book/env\.md:{line_of(path, '%env')}: code cell sets PYTHONPATH in a magic"


def sys_path_in_the_package(book):
    book.write("code/pkg/__init__.py", '"""A package."""\n\nimport sys\n\nsys.path.append("..")\n')
    return r"^code/pkg/__init__\.py:5: sys\.path\.append\(\.\.\.\); never touch the module search path"


def unchecked_equation(book):
    path = book.add_chapter("derives", HEADER + "# D\n\n$$\ny = x^2\n$$ (eq-derived)\n")
    return (rf"^book/derives\.md:{line_of(path, 'eq-derived')}: equation 'eq-derived' is neither checked nor "
            "declared a definition")


def unchecked_math_directive(book):
    path = book.add_chapter("derives", HEADER + "# D\n\n```{math}\n:label: eq-derived\ny = x^2\n```\n")
    return rf"^book/derives\.md:{line_of(path, ':label: eq-derived')}: equation 'eq-derived' is neither checked"


def correction_without_check(book):
    path = book.add_chapter("fixes", HEADER + "# F\n\n(fix-unproved)=\n## Correction: trust me\n")
    return rf"^book/fixes\.md:{line_of(path, '(fix-unproved)=')}: correction 'fix-unproved' has no check"


def check_of_an_unknown_label(book):
    path = book.add_chapter("typo", chapter("Typo", "from nnmath.verify import check\n\n"
                                                    "check('eq-sqaure', 1.0, 1.0, method='exact')"))
    return rf"^book/typo\.md:{line_of(path, 'eq-sqaure')}: a check of 'eq-sqaure', which no equation or correction"


def check_with_a_computed_label(book):
    path = book.add_chapter("computed", chapter("Computed", "from nnmath.verify import check\n\nname = 'eq-square'\n"
                                                          "check(name, 1.0, 1.0, method='exact')"))
    return rf"^book/computed\.md:{line_of(path, 'check(name')}: a check whose label is not a literal string"


def too_few_exercises(book):
    path = book.root / "book" / "square.md"
    path.write_text(path.read_text().split("```{exercise} Another question")[0])
    return r"^book/square\.md: 1 exercise\(s\) with a :label:; a chapter with code has at least 3"


def exercise_without_solution(book):
    path = book.root / "book" / "square.md"
    path.write_text(path.read_text().replace("```{solution} ex-square-2", "```{solution} ex-square-9"))
    return rf"^book/square\.md:{line_of(path, 'ex-square-2') - 1}: exercise 'ex-square-2' has no solution"


def duplicate(book, text: str, label: str):
    path = book.add_chapter("again", HEADER + f"# Again\n\n{text}\n")  # after square.md in the TOC
    here, there = line_of(path, label), line_of(book.root / "book" / "square.md", label)
    return rf"^book/again\.md:{here}: label '{label}' is already defined at book/square\.md:{there}; labels must be"


def duplicate_target(book):
    return duplicate(book, "(chapter-square)=\n## Again", "chapter-square")


def duplicate_equation_label(book):
    return duplicate(book, "$$\ny = 2x\n$$ (eq-square)", "eq-square")


def duplicate_exercise_label(book):
    return duplicate(book, "```{exercise} Again\n:label: ex-square-1\n\nWhy?\n```", "ex-square-1")


def duplicate_figure_name(book):
    return duplicate(book, "```{figure} _static/x.png\n:name: fig-square\n\nA figure.\n```", "fig-square")


def stray_notebook(book):
    book.write("book/square.ipynb", "{}")
    return r"^book/square\.ipynb: a notebook in book/ .*delete it, or convert it"


def checkpoints(book):
    book.write("book/.ipynb_checkpoints/square-checkpoint.ipynb", "{}")
    return r"^book/\.ipynb_checkpoints: Jupyter checkpoints in the book's sources; delete the folder$"


def unused_import_in_a_cell(book):
    text = HEADER + "# R\n\n```{code-cell} ipython3\n:tags: [hide-input]\n\nimport os\nprint(1)\n```\n"
    path = book.add_chapter("ruffed", text)
    return rf"^book/ruffed\.md:{line_of(path, 'import os')}: F401 `os` imported but unused \(ruff\)$"


def undefined_name_in_a_later_cell(book):
    path = book.add_chapter("ruffed", chapter("R", "x = 1\nprint(x)", "y = 2\n\nprint(undefined_name)"))
    return rf"^book/ruffed\.md:{line_of(path, 'undefined_name')}: F821 Undefined name `undefined_name` \(ruff\)$"


def syntax_error_in_a_cell(book):
    path = book.add_chapter("ruffed", chapter("R", "print(1)", "def broken(:\n    pass"))
    return rf"^book/ruffed\.md:{line_of(path, 'def broken')}: invalid-syntax .*\(ruff\)$"


def assert_without_a_message(book):
    path = book.add_chapter("asserting", chapter("A", "x = 2\nassert x == 2, 'x should be 2'\nassert x > 1"))
    return rf"^book/asserting\.md:{line_of(path, 'assert x > 1')}: an assert without a message; say what was expected"


def unmarked_quotation_after_a_citation(book):
    """The form of the review's misquotations: quotation marks in a sentence about a source."""
    path = book.add_chapter("quoting", HEADER + "# Q\n\nThe source {cite}`amine2020dismantling` sets\n"
                            '$z_0$ because it "can be set to $0$". Our "own words" are fine.\n')
    return (rf"^book/quoting\.md:{line_of(path, 'can be set')}: \"can be set to \$0\$\" is attributed to a source "
            "but not marked as a quotation")


def unmarked_quotation_in_the_corrections_column(book):
    path = book.add_chapter("fixes", HEADER + "# F\n\n| What the source says | What is right |\n| --- | --- |\n"
                            '| It is "wrong, it won\'t work". | The "right" words. |\n')
    return rf"^book/fixes\.md:{line_of(path, 'wrong, it')}: \"wrong, it won't work\" is attributed to a source"


def check_cell_not_folded(book):
    path = book.add_chapter("unfolded", chapter("Unfolded", "print(6 * 7)",
                                                "from nnmath.verify import check\n\nexpected = 42.0\n"
                                                "check('eq-square', 6.0 * 7.0, expected, method='exact')"))
    return (rf"^book/unfolded\.md:{line_of(path, 'from nnmath.verify import check')}: this code cell only checks; "
            r"tag it \(:tags: \[check\] under its ```\{code-cell\} line\)")


def ruff_in_tests(book):
    book.write("tests/test_x.py", "import os\n")
    return r"^tests/test_x\.py:1: F401 `os` imported but unused \(ruff\)$"


@pytest.mark.parametrize("make_bad", [
    unlisted, toc_entry_without_file, toc_not_yaml, no_header, broken_header,
    sys_path_in_a_cell, pythonpath_in_a_magic, sys_path_in_the_package,
    unchecked_equation, unchecked_math_directive, correction_without_check, check_of_an_unknown_label,
    check_with_a_computed_label, too_few_exercises, exercise_without_solution,
    duplicate_target, duplicate_equation_label, duplicate_exercise_label, duplicate_figure_name,
    stray_notebook, checkpoints,
    unused_import_in_a_cell, undefined_name_in_a_later_cell, syntax_error_in_a_cell, ruff_in_tests,
    assert_without_a_message, unmarked_quotation_after_a_citation, unmarked_quotation_in_the_corrections_column,
    check_cell_not_folded,
])
def test_each_rule_reports_its_problem(book, make_bad):
    expected = make_bad(book)
    problems = lint_book(book.root)
    assert [problem for problem in problems if re.search(expected, problem)], "\n".join(problems)
    assert all(FORMAT.match(problem) for problem in problems), "\n".join(problems)


@pytest.mark.parametrize("source, checks_only", [
    ("check('eq-a', 1.0, 1.0, method='exact')", True),
    ("verify.check_all('eq-a', cases(), lambda c: (c, c), method='exact')", True),
    ("assert x == 1, 'x should be 1'", True),
    # the setup the checks need: imports, definitions, assignments, and blocks of them
    ("import numpy as np\n\n\ndef twice(x):\n    return 2 * x\n\n\nx = np.ones(3)\n"
     "verify.refute('eq-a', twice(x), x, method='another formula')", True),
    ("for scale in (1.0, 2.0):\n    y = scale * x\n    check('eq-a', y, scale * x, method='exact')", True),
    ("with np.errstate(over='ignore'):\n    assert np.isinf(np.exp(1e4)), 'exp should overflow'", True),
    ("%matplotlib inline\ncheck('eq-a', 1.0, 1.0, method='exact')", True),
    # what a reader is shown: a cell that prints, plots or runs something teaches
    ("print(x)\ncheck('eq-a', x, 1.0, method='exact')", False),
    ("x\ncheck('eq-a', x, 1.0, method='exact')", False),
    ("loss.backward()\ncheck('eq-a', w.grad, g, method='autograd')", False),
    ("try:\n    check('eq-a', x, 2.0, method='exact')\nexcept AssertionError as error:\n    pass", False),
    ("for z in zs:\n    print(z)\n    assert z > 0, 'z should be positive'", False),
    # no check at all, or not Python
    ("import numpy as np\nx = np.ones(3)", False),
    ("def broken(:", False),
    ("", False),
])
def test_a_cell_only_checks_when_every_statement_checks_or_sets_up_a_check(source, checks_only):
    assert only_checks(source) is checks_only


@pytest.mark.parametrize("source, found", [
    ("import sys\nsys.path.append('x')", [(2, "sys.path.append(...)")]),
    ("import sys\nsys.path.insert(0, 'x')", [(2, "sys.path.insert(...)")]),
    ("import sys\nsys.path.extend(['x'])", [(2, "sys.path.extend(...)")]),
    ("import sys\nsys.path = ['x']", [(2, "assigns sys.path")]),
    ("import sys\nsys.path += ['x']", [(2, "assigns sys.path")]),
    ("import sys\nsys.path[0:0] = ['x']", [(2, "assigns sys.path")]),
    ("import site\nsite.addsitedir('x')", [(2, "site.addsitedir(...)")]),
    ("from site import addsitedir\naddsitedir('x')", [(2, "addsitedir(...)")]),
    ("import os\nos.environ['PYTHONPATH'] = 'x'", [(2, "sets PYTHONPATH")]),
    ("import os\nos.environ.setdefault('PYTHONPATH', 'x')", [(2, "sets PYTHONPATH (setdefault)")]),
    ("import os\nos.environ.update(PYTHONPATH='x')", [(2, "sets PYTHONPATH (update)")]),
    ("import os\nos.putenv('PYTHONPATH', 'x')", [(2, "sets PYTHONPATH (putenv)")]),
    ("import sys\nprint(sys.path)\nfirst = sys.path[0]", []),
    ("text = 'sys.path.append(x)'", []),
    ("import os\nprint(os.environ.get('PYTHONPATH'))", []),
    ("def broken(:", []),
])
def test_path_edits_finds_every_edit_of_the_search_path_and_nothing_else(source, found):
    assert path_edits(source) == found


def test_labels_come_from_targets_options_and_equations_but_not_from_code():
    text = textwrap.dedent("""\
        (target)=
        # Title

        $$ x $$ (eq-inline)

        ```python
        (code-target)=
        $$ (code-eq)
        ```

        ````{exercise} Outer
        :label: ex-outer

        (inside-exercise)=
        ```{code-cell} ipython3
        ---
        mystnb:
          figure:
            name: fig-yaml
        ---
        print("(not-a-target)=")
        ```
        ````

        :::{note}
        :name: note-colon
        Text.
        :::

        ```{math}
        :label: eq-directive
        (not-a-target-in-math)=
        ```
        """)
    assert [label for _, label in labels(text)] == [
        "target", "eq-inline", "ex-outer", "inside-exercise", "fig-yaml", "note-colon", "eq-directive"]
    assert dict((label, line) for line, label in labels(text))["fig-yaml"] == 19


def test_marked_quotations_and_unattributed_quotation_marks_pass():
    from bookbuild.lint import unmarked_quotations

    text = ('Amine says {quote}`it makes sense to consider $z_0$ equal to $0$ <amine2020dismantling>`.\n'
            'A "mean" reduction is ours. The source writes $"x"$ and `"code"`.\n\n'
            '| What the source says | What is right |\n| --- | --- |\n'
            '| {quote}`basis <punnen2021maths>` | The "bias". |\n'
            '\n```{code-cell} ipython3\nprint("the source says \\"x\\"")\n```\n')
    assert unmarked_quotations("book/x.md", text) == []


def test_the_real_book_is_clean():
    problems = lint_book(REPO)
    assert problems == [], "\n".join(problems)
