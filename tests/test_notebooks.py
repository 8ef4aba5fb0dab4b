"""Reader notebooks: MyST resolved into what Jupyter shows, unknown constructs refused by file and line."""

from __future__ import annotations

import inspect
import re
import textwrap

import nbformat
import pytest
from bookbuild import notebooks
from bookbuild.book import read_notebook
from bookbuild.macros import read_macros
from bookbuild.provenance import base_url
from fixture_book import HEADER, REPO

SITE = "https://example.org/book/"
KNOWN = {
    ("eq", "eq-x"): notebooks.Link("(2.1)", f"{SITE}book/a.html#equation-eq-x"),
    ("numref", "ex-a-1"): notebooks.Link("Exercise 2.1", f"{SITE}book/a.html#ex-a-1"),
    ("numref", "fig-a"): notebooks.Link("Fig. 2.1", f"{SITE}book/a.html#fig-a"),
    ("ref", "fix-a"): notebooks.Link("Correction: a is not z", f"{SITE}book/a.html#fix-a"),
    ("doc", "notation"): notebooks.Link("Notation", f"{SITE}book/notation.html"),
    ("cite", "amine2020dismantling"): notebooks.Link("Ami20", f"{SITE}book/references.html#id5"),
    ("cite", "clark2021backprop"): notebooks.Link("Cla21", f"{SITE}book/references.html#id6"),
}


def links(role, target):
    return KNOWN.get((role, target))


CHAPTER = HEADER + textwrap.dedent("""\
    (chapter-a)=
    # A chapter

    A neuron computes {eq}`eq-x`, as in {doc}`notation` and {cite}`amine2020dismantling,clark2021backprop`;
    see {ref}`fix-a`, {numref}`fig-a`, {numref}`Figure {number} <fig-a>` and the {index}`bias <single: bias>`.
    % a comment readers never see

    $$
    z = \\vw\\T \\vx + b
    $$ (eq-x)
    % definition: one neuron

    ```{literalinclude} /code/nnmath/activations.py
    :pyobject: sigmoid_prime
    ```

    (fix-a)=
    :::{admonition} Correction
    :class: note
    The source writes $a$ for $z$: {eq}`eq-x`, {quote}`as $a = w x + b$
    <amine2020dismantling>`.
    :::

    ```{code-cell} ipython3
    :tags: [hide-input]
    :mystnb:
    :  figure:
    :    caption: A picture of $z$.
    :    name: fig-a
    print(1 + 1)
    ```

    ```{exercise} Why $z$?
    :label: ex-a-1

    Explain {eq}`eq-x`.
    ```

    ````{solution} ex-a-1
    :class: dropdown

    Because of the **bias**.

    ```python
    z = w @ x + b
    ```
    ````

    ```{index} single: neuron
    ```
    """)


def executed(text: str) -> nbformat.NotebookNode:
    """The chapter as the build stores it: its code cells with outputs."""
    notebook = read_notebook(text)
    for count, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
        cell.execution_count = count
    return notebook


def convert(text: str = CHAPTER) -> nbformat.NotebookNode:
    chapter = notebooks.Chapter("book/a.md", text, executed(text), REPO)
    macros = read_macros(REPO / "book" / "macros.tex")
    return notebooks.reader_notebook(chapter, links, macros, "Chapter 2 of the book.", "print('install')")


def markdown(notebook) -> str:
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


MYST = re.compile(r"\{[a-z][\w:-]*\}`|^\s*(```+|:::+)\s*\{|^\s*\([^()\s]+\)=\s*$|^%", re.M)


def test_the_notebook_opens_with_macros_a_preface_and_the_install_cell():
    notebook = convert()
    first, preface, install = notebook.cells[:3]
    assert first.cell_type == "markdown" and "\\newcommand{\\vw}{\\mathbf{w}}" in first.source
    assert "\\newcommand{\\pd}[2]{\\frac{\\partial #1}{\\partial #2}}" in first.source
    assert preface.source == "Chapter 2 of the book."
    assert install.cell_type == "code" and install.source == "print('install')"
    nbformat.validate(notebook)
    assert [cell.id for cell in notebook.cells] == [f"cell-{i}" for i in range(len(notebook.cells))]


def test_no_myst_is_left_and_every_construct_becomes_what_jupyter_shows():
    text = markdown(convert())
    assert not MYST.search(text), MYST.search(text)
    assert f"[(2.1)]({SITE}book/a.html#equation-eq-x)" in text
    assert f"[Notation]({SITE}book/notation.html)" in text
    assert f"[[Ami20]({SITE}book/references.html#id5), [Cla21]({SITE}book/references.html#id6)]" in text
    assert f"[Correction: a is not z]({SITE}book/a.html#fix-a)" in text
    assert f"[Fig. 2.1]({SITE}book/a.html#fig-a), [Figure 2.1]({SITE}book/a.html#fig-a)" in text
    assert "the bias." in text and "comment readers" not in text
    assert "$$\nz = \\vw\\T \\vx + b \\tag{2.1}\n$$" in text
    assert ('*code/nnmath/activations.py: sigmoid_prime*\n\n```python\ndef sigmoid_prime(z):\n'
            '    """Derivative of the sigmoid, elementwise."""\n') in text
    assert "> **Correction**\n>\n> The source writes $a$ for $z$: [(2.1)]" in text
    assert "\u201cas $a = w x + b$\u201d." in text  # a quotation, in curly quotes
    assert "> **Exercise 2.1 (Why $z$?)**\n>\n> Explain [(2.1)]" in text
    assert ("<details>\n<summary>Solution to Exercise 2.1</summary>\n\nBecause of the **bias**.\n\n```python\n"
            "z = w @ x + b\n```\n\n</details>") in text


def test_code_cells_keep_the_pages_outputs_and_figures_their_captions():
    notebook = convert()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"][1:]
    assert [cell.source for cell in code] == ["print(1 + 1)"]
    assert code[0].outputs[0]["text"] == "2\n" and code[0].execution_count == 1
    assert code[0].metadata["jupyter"] == {"source_hidden": True}
    caption = notebook.cells[notebook.cells.index(code[0]) + 1]
    assert caption.source == "*Fig. 2.1: A picture of $z$.*"


@pytest.mark.parametrize("text, message", [
    ("```{tikz}\n\\draw (0,0);\n```\n", r"book/a\.md:\d+: the directive \{tikz\} has no conversion"),
    ("See {term}`neuron`.\n", r"book/a\.md:\d+: the role \{term\} has no conversion"),
    ("See {eq}`eq-nowhere`.\n", r"book/a\.md:\d+: \{eq\}`eq-nowhere` names nothing the website knows"),
    ("```{literalinclude} /code/nnmath/activations.py\n:pyobject: no_such_function\n```\n",
     r"book/a\.md:\d+: /code/nnmath/activations\.py defines no no_such_function"),
    ("```{literalinclude} /code/nnmath/activations.py\n:emphasize-lines: 2\n```\n",
     r"literalinclude option\(s\) \['emphasize-lines'\] have no conversion"),
])
def test_an_unknown_construct_fails_naming_file_and_line(text, message):
    chapter = HEADER + "# A\n\nSome prose.\n\n" + text
    with pytest.raises(notebooks.ConversionError, match=message):
        convert(chapter)


def test_the_error_names_the_line_of_the_construct():
    chapter = HEADER + "# A\n\nProse.\n\nMore prose with {term}`x`.\n"
    line = chapter.splitlines().index("More prose with {term}`x`.") + 1
    with pytest.raises(notebooks.ConversionError, match=rf"^book/a\.md:{line}: "):
        convert(chapter)


@pytest.mark.parametrize("value", ["ftp://example.org/", "example.org/book", "https://", "https://a b/", ""])
def test_a_base_url_that_is_not_http_is_refused(monkeypatch, value):
    monkeypatch.setenv("BOOK_BASE_URL", value)
    if value == "":
        monkeypatch.delenv("BOOK_BASE_URL")
    with pytest.raises(ValueError, match="must be an http\\(s\\) URL"):
        base_url("" if value == "" else "https://nnmath.github.io/nnmath-book/")


def test_the_base_url_comes_from_the_environment_first_and_ends_with_a_slash(monkeypatch):
    monkeypatch.delenv("BOOK_BASE_URL", raising=False)
    assert base_url("https://nnmath.github.io/nnmath-book") == "https://nnmath.github.io/nnmath-book/"
    monkeypatch.setenv("BOOK_BASE_URL", "http://127.0.0.1:8123")
    assert base_url("https://nnmath.github.io/nnmath-book/") == "http://127.0.0.1:8123/"


def test_a_quotation_without_its_source_is_an_error():
    chapter = HEADER + "# A\n\nThe source says {quote}`these words`.\n"
    line = chapter.splitlines().index("The source says {quote}`these words`.") + 1
    with pytest.raises(notebooks.ConversionError, match=rf"^book/a\.md:{line}: \{{quote\}} takes the exact words"):
        convert(chapter)


def test_a_role_may_span_a_line_break_and_an_error_names_its_own_line():
    text = markdown(convert(HEADER + "# A\n\nA {index}`sigmoid <single: sigmoid; as a\ntwo-class softmax>` neuron.\n"))
    assert "A sigmoid neuron." in text and not MYST.search(text)
    chapter = HEADER + "# A\n\nFirst line of a paragraph,\nsecond line with {term}`x`.\n"
    line = chapter.splitlines().index("second line with {term}`x`.") + 1
    with pytest.raises(notebooks.ConversionError, match=rf"^book/a\.md:{line}: the role \{{term\}}"):
        convert(chapter)


def pip_commands(cell: str, present: set[str], platform: str, monkeypatch) -> list[list[str]]:
    """The pip commands the install cell runs where only the modules in ``present`` are installed."""
    import importlib.util
    import subprocess
    import sys

    commands = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in present else None)
    monkeypatch.setattr(subprocess, "run", lambda command, **_: commands.append(command))
    monkeypatch.setattr(sys, "platform", platform)
    exec(cell, {})
    return commands


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_install_cell_brings_pytorchs_cpu_build_and_only_where_it_is_missing(monkeypatch, platform):
    from bookbuild.sphinx_reader import TORCH_CPU_INDEX, install_cell

    assert f"--extra-index-url {TORCH_CPU_INDEX}" in (REPO / "binder" / "requirements.txt").read_text()
    needed = {"numpy": "numpy==2.4.6", "torch": "torch==2.13.0"}
    cell = install_cell("https://example.org/nnmath.whl", needed)
    (command,) = pip_commands(cell, set(), platform, monkeypatch)
    assert command[command.index("--extra-index-url") + 1] == TORCH_CPU_INDEX
    torch = "torch==2.13.0+cpu" if platform == "linux" else "torch==2.13.0"  # PyPI's Linux build is CUDA's
    assert {"numpy==2.4.6", torch, "https://example.org/nnmath.whl"} <= set(command)
    (colab,) = pip_commands(cell, {"numpy", "torch"}, platform, monkeypatch)  # Colab: torch is there
    assert not [part for part in colab if "torch" in part] and colab[-1] == "https://example.org/nnmath.whl"
    (no_torch,) = pip_commands(install_cell("https://example.org/nnmath.whl", {"numpy": "numpy==2.4.6"}),
                               set(), platform, monkeypatch)
    assert "--extra-index-url" not in no_torch


def test_a_folded_check_keeps_its_code_in_the_notebook_collapsed_as_on_the_page():
    cell = '```{code-cell} ipython3\n:tags: [check]\nassert 1 + 1 == 2, "arithmetic"\n```\n'
    chapter = HEADER + "# A\n\nProse.\n\n" + cell
    (_, folded) = [cell for cell in convert(chapter).cells if cell.cell_type == "code"]
    assert folded.source == 'assert 1 + 1 == 2, "arithmetic"'  # a reader runs it
    assert folded.metadata["jupyter"] == {"source_hidden": True} and folded.metadata["tags"] == ["check"]


CODING_EXERCISE = HEADER + textwrap.dedent('''\
    # A chapter

    ```{code-cell} ipython3
    import numpy as np
    ```

    ```{exercise} The derivative of the sigmoid
    :label: ex-a-sigmoid-prime

    Fill in the body of `sigmoid_prime` in the cell below.
    ```

    ```{code-cell} ipython3
    STUB
    ```

    ```{code-cell} ipython3
    from nnmath.exercises.activations import check_sigmoid_prime

    check_sigmoid_prime(sigmoid_prime)
    ```

    ```{solution-start} ex-a-sigmoid-prime
    :class: dropdown
    ```

    The sigmoid first, then its derivative.

    ```{literalinclude} /code/nnmath/exercises/activations.py
    :pyobject: sigmoid_prime
    ```

    The cell checks the checker.

    ```{code-cell} ipython3
    from nnmath.exercises import self_test

    self_test("sigmoid_prime", label="ex-a-sigmoid-prime")
    ```

    ```{solution-end}
    ```

    After the exercise.
    ''')


def coding_exercise_notebook() -> nbformat.NotebookNode:
    from nnmath.exercises import exercise

    KNOWN[("numref", "ex-a-sigmoid-prime")] = notebooks.Link("Exercise 2.5", f"{SITE}book/a.html#ex-a-sigmoid-prime")
    stub = exercise("sigmoid_prime").stub().rstrip("\n")
    return convert(CODING_EXERCISE.replace("STUB", stub))


def test_a_coding_exercise_keeps_its_stub_and_checker_and_leaves_out_the_books_solution():
    from nnmath.exercises.activations import sigmoid_prime

    notebook = coding_exercise_notebook()
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[2].startswith("def sigmoid_prime(z):") and code[2].endswith("...  # your code here")
    assert code[3].endswith("check_sigmoid_prime(sigmoid_prime)")
    assert len(code) == 4  # install, import, stub, checker: no cell of the solution
    text = markdown(notebook)
    solution_body = inspect.getsource(sigmoid_prime).split('"""')[-1].strip()
    assert solution_body.startswith("s = ") and solution_body not in text
    assert "self_test" not in text and "exercises/activations.py" not in text
    details = next(cell.source for cell in notebook.cells if "<details>" in cell.source)  # all in one cell
    parts = ["<details>\n<summary>Solution to Exercise 2.5</summary>", "The sigmoid first, then its derivative.",
             "*This solution's code, and the cells that check it, are on the website, under "
             f"[Exercise 2.5]({SITE}book/a.html#ex-a-sigmoid-prime).*", "The cell checks the checker.", "</details>",
             "After the exercise."]
    assert [details.find(part) for part in parts] == sorted(details.find(part) for part in parts)
    assert -1 not in [details.find(part) for part in parts] and details.count("on the website") == 1


def test_a_readers_wrong_answer_in_the_notebook_gets_its_slips_diagnosis(capsys):
    notebook = coding_exercise_notebook()
    _, imports, stub, checker = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    namespace = {}
    exec(imports, namespace)
    exec(stub, namespace)
    exec(checker, namespace)
    assert capsys.readouterr().out.startswith("Not attempted yet: your function returns None.")
    answer = stub.replace("...  # your code here", "return 1 / (1 + np.exp(-z))  # the sigmoid itself")
    exec(answer, namespace)
    exec(checker, namespace)
    assert capsys.readouterr().out.startswith("✗ You returned σ(z), the sigmoid itself, not its derivative")
    right = stub.replace("...  # your code here", "s = 1 / (1 + np.exp(-z))\n    return s * (1 - s)")
    exec(right, namespace)
    exec(checker, namespace)
    assert capsys.readouterr().out.startswith("✓ Correct")


def test_each_chapter_with_a_checker_has_a_coding_exercise_with_the_packages_stub_then_its_checker():
    from nnmath.exercises import CHAPTERS, exercise

    for module in CHAPTERS:
        text = (REPO / "book" / f"{module.replace('_', '-')}.md").read_text()
        code = [cell.source for cell in read_notebook(text).cells if cell.cell_type == "code"]
        stubs = [index for index, source in enumerate(code) if source.endswith("...  # your code here")]
        assert stubs, f"{module}: no coding exercise"
        for index in stubs:
            name = re.match(r"def (\w+)\(", code[index])[1]
            assert code[index] == exercise(name).stub().rstrip("\n"), f"{module}: {name}'s stub is not the package's"
            checker = f"from nnmath.exercises.{module} import check_{name}\n\ncheck_{name}({name})"
            assert code[index + 1] == checker, f"{module}: {name}'s stub is not followed by its checker"
            assert f'self_test("{name}", label=' in "\n".join(code[index + 2:]), f"{module}: {name} is not self-tested"
