"""Folded checks: a cell tagged ``check`` shows its verdict and hides its code behind a toggle.

Fast tests of the mechanism (``bookbuild.sphinx_ext``); the real book's pages, PDF and
notebooks are tested in ``test_browser.py``, ``test_book.py`` and ``test_notebooks.py``.
"""

from __future__ import annotations

import textwrap

from bookbuild.book import read_notebook
from bookbuild.keys import code_cells
from bookbuild.sphinx_ext import fold_checks, unchecked_check_cells
from fixture_book import HEADER

CHAPTER = HEADER + textwrap.dedent("""\
    # A chapter

    ```{code-cell} ipython3
    x = 2.0
    ```

    ```{code-cell} ipython3
    :tags: [check]
    from nnmath.verify import check
    check("eq-x", x, 2.0, method="exact")
    ```

    ```{code-cell} ipython3
    :tags: [check]
    assert x > 1, "x should be above 1"
    ```

    ```{code-cell} ipython3
    :tags: [check]
    print(x)
    ```

    ```{code-cell} ipython3
    :tags: [hide-input]
    print("a figure")
    ```
    """)


def test_a_check_cell_is_folded_behind_a_toggle_that_says_what_it_hides():
    notebook = read_notebook(CHAPTER)
    fold_checks(notebook)
    plain, check, asserting, printing, figure = code_cells(notebook)
    assert "hide-input" not in plain.metadata.get("tags", [])
    for cell in (check, asserting, printing):
        assert cell.metadata["tags"] == ["check", "hide-input"]
        assert cell.metadata["mystnb"] == {"code_prompt_show": "Show the check", "code_prompt_hide": "Hide the check"}
    assert figure.metadata["tags"] == ["hide-input"] and "mystnb" not in figure.metadata


def test_a_folded_cell_that_checks_nothing_is_named_by_its_line():
    lines = CHAPTER.splitlines()
    printing = next(i for i, line in enumerate(lines) if line == "print(x)") - 1  # its fence, 1-based
    assert unchecked_check_cells(read_notebook(CHAPTER)) == [printing]
    assert lines[printing - 1] == "```{code-cell} ipython3"
