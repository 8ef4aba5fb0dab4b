"""The verification ledger: what the sources declare, what the code checks, and the rules.

The fast tests read sources and run the lint; the slow ones build fixture books end to end.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from bookbuild import ledger
from bookbuild.lint import lint_book
from fixture_book import HEADER, FixtureBook, exercises

SOURCE = textwrap.dedent("""\
    # A chapter

    $$
    z = w x + b
    $$ (eq-neuron)
    % definition: the value of one neuron

    $$
    \\pd{z}{w} = x
    $$ (eq-neuron-grad)

    (fix-a-mistake)=
    ### Correction: $a$ is not $z$

    ```{code-cell} ipython3
    x = 1
    # $$ (eq-in-code) is not an equation
    ```

    ```{math}
    :label: eq-directive
    y = 2 x
    ```
    % definition: a directive's equation

    (not-a-correction)=
    ## Later
    """)


def test_claims_are_the_labelled_equations_and_the_fix_targets_in_order():
    found = list(ledger.claims("book/a.md", SOURCE))
    assert [(c.label, c.kind, c.line) for c in found] == [
        ("eq-neuron", "equation", 5),
        ("eq-neuron-grad", "equation", 10),
        ("fix-a-mistake", "correction", 12),
        ("eq-directive", "equation", 21),
    ]
    assert found[0].definition == "the value of one neuron"
    assert found[1].definition is None
    assert found[2].title == "Correction: a is not z"
    assert found[3].definition == "a directive's equation"
    # The ledger shows each equation as it is typeset: its TeX, from the source.
    assert [c.tex for c in found] == ["z = w x + b", "\\pd{z}{w} = x", "", "y = 2 x"]
    one_line = list(ledger.claims("book/a.md", "Text.\n\n$$ a = b $$ (eq-one-line)\n"))
    assert one_line[0].tex == "a = b"


def test_check_calls_are_found_by_name_with_their_literal_labels():
    source = textwrap.dedent("""\
        from nnmath import verify
        from nnmath.verify import check, check_all, refute
        check("eq-a", 1.0, 1.0, method="exact")
        verify.check_all(label="eq-b", inputs=None, claim=None, method="exact")
        refute(
            "fix-c", 2.0, 1.0, method="exact")
        check(name, 1.0, 1.0, method="exact")
        other.check("eq-not-ours")
        %time x = 1
        """)
    assert list(ledger.check_calls(source)) == [(3, "eq-a"), (4, "eq-b"), (5, "fix-c"), (7, None)]


def test_stored_records_keep_an_exact_zero_printed_digits_and_trivial_cases():
    import nbformat
    from nnmath import verify

    verify.check("eq-neuron-grad", 0.0, 0.0, method="exact", zero=True)
    verify.check("eq-neuron-grad", 2.5908, "2.5908", method="printed numbers")
    bundles = [record._repr_mimebundle_() for record in verify.RECORDED[-2:]]
    stored = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1", outputs=[nbformat.v4.new_output("display_data", data=bundle) for bundle in bundles])])
    zero, printed = ledger.stored_records("book/a.md", SOURCE, stored)
    assert zero.exact_zero and zero.json()["exact_zero"] is True and "printed" not in zero.json()
    assert printed.printed == "4 decimals" and printed.shown_method == "printed numbers to 4 decimals"
    assert printed.json()["printed"] == "4 decimals" and "exact_zero" not in printed.json()


def test_the_rules_name_every_problem_with_its_line():
    claims = list(ledger.claims("book/a.md", SOURCE))
    assert ledger.problems(claims, {"eq-neuron-grad": ["x"], "fix-a-mistake": ["y"]}) == []
    problems = ledger.problems(claims, {"eq-typo": ["book/a.md:30"]})
    assert problems[0].startswith("book/a.md:10: equation 'eq-neuron-grad' is neither checked nor declared")
    assert problems[1].startswith("book/a.md:12: correction 'fix-a-mistake' has no check")
    assert problems[2].startswith("book/a.md:30: a check of 'eq-typo', which no equation or correction")
    assert len(problems) == 3


@pytest.fixture
def book(tmp_path):
    return FixtureBook(tmp_path)


def equation_chapter(check: str) -> str:
    """A chapter with one equation and a cell that runs ``check``, tagged ``check`` when it only checks."""
    tag = ":tags: [check]" if check.startswith("check(") else ""
    return HEADER + textwrap.dedent(f"""\
        # Doubling

        $$
        y = 2 x
        $$ (eq-double)

        ```{{code-cell}} ipython3
        {tag}
        import numpy as np
        from nnmath.verify import check

        x = np.array([1.0, 2.0])
        {check}
        ```
        """) + exercises("double")


LEDGER_PAGE = "# Verification ledger\n\n```{verification-ledger}\n```\n"


def test_an_unchecked_equation_fails_the_lint_with_its_line(book):
    book.add_chapter("intro", "# Intro\n\nNo code.\n")
    book.add_chapter("double", equation_chapter("print(2 * x)"))
    problems = lint_book(book.root)
    assert any(re.match(r"book/double\.md:15: equation 'eq-double' is neither checked", p) for p in problems), problems
    book.write("book/double.md", equation_chapter('check("eq-double", 2 * x, x + x, method="another formula")'))
    assert [problem for problem in lint_book(book.root) if "eq-double" in problem] == []


@pytest.mark.slow
@pytest.mark.pipeline
def test_a_check_over_its_tolerance_fails_the_build_naming_the_cell(book):
    book.add_chapter("intro", "# Intro\n\nNo code.\n")
    path = book.add_chapter("double", equation_chapter(
        'check("eq-double", 2.02 * x, x + x, method="another formula")'))
    result = book.build()
    assert result.returncode != 0
    statement = 'check("eq-double", 2.02 * x, x + x, method="another formula")'
    line = path.read_text().splitlines().index(statement) + 1
    assert (f"book/double.md:{line}: code cell 1 (`{statement}`): AssertionError: eq-double: ours "
            "differs from the reference (another formula) by 0.01, over the tolerance 1e-10; the largest error is at "
            "index (0,): ours 2.02, reference 2") in result.output


@pytest.mark.slow
@pytest.mark.pipeline
def test_an_unchecked_equation_fails_the_build_too(book):
    book.add_chapter("intro", "# Intro\n\nNo code.\n")
    book.add_chapter("double", equation_chapter("print(2 * x)"))
    result = book.build()
    assert result.returncode != 0
    assert re.search(r"book/double\.md:15: ERROR: equation 'eq-double' is neither checked", result.output)


@pytest.mark.slow
@pytest.mark.pipeline
def test_the_ledger_lists_checks_and_a_cached_chapter_keeps_its_rows(book):
    book.add_chapter("intro", "# Intro\n\nNo code.\n")
    book.add_chapter("double", equation_chapter('check("eq-double", 2 * x, x + x, method="another formula")'))
    triple = HEADER + textwrap.dedent("""\
        # Tripling

        $$
        y = 3 x
        $$ (eq-triple)

        ```{code-cell} ipython3
        :tags: [check]
        from nnmath.verify import check

        check("eq-triple", 3.0 * 2.0, 6.0, method="exact")
        ```
        """) + exercises("triple")
    triple_path = book.add_chapter("triple", triple)
    book.add_chapter("zero", HEADER + textwrap.dedent("""\
        # Zero

        $$
        x - x = 0
        $$ (eq-zero)

        ```{code-cell} ipython3
        :tags: [check]
        import numpy as np
        from nnmath.verify import check

        check("eq-zero", np.float64(2.5) - np.float64(2.5), 0.0, method="exact", zero=True)
        check("eq-zero", np.float64(0.25), "0.3", method="printed numbers")
        ```
        """) + exercises("zero"))
    book.add_chapter("verification-ledger", LEDGER_PAGE)
    assert book.build().returncode == 0

    triple_path.write_text(triple.replace("3.0 * 2.0, 6.0", "3.0 * 4.0, 12.0"))
    result = book.build()
    assert result.returncode == 0, result.output
    assert book.executed() == ["book/triple.md"]
    rows = {row["label"]: row for row in json.loads((book.root / "_build" / "html" / "verification.json").read_text())}
    assert rows["eq-double"]["status"] == "checked"
    assert rows["eq-double"]["checks"][0]["method"] == "another formula"
    assert rows["eq-double"]["checks"][0]["cell"].startswith("book/double.html#check-")
    assert rows["eq-triple"]["checks"][0]["max_error"] == 0.0
    page = book.html("verification-ledger")
    assert "eq-double" in page and "eq-triple" in page
    assert rows["eq-zero"]["checks"][0]["exact_zero"] is True and "exactly zero" in page
    assert rows["eq-zero"]["checks"][1]["printed"] == "1 decimal"
    assert "printed numbers to 1 decimal" in page
    assert 'href="double.html#check-1"' in page
    # A row is named by its equation's number, linked to it, and shows the formula; each check
    # links to its place on its page; the page lists its chapters first.
    assert re.search(r'href="double\.html#equation-eq-double">\((?:\d+\.)?\d+\)</a>', page), page
    assert "\\[y = 2 x\\]" in page and not re.search(r">line \d+<", page)
    assert re.search(r'<ul class="ledger-contents[^"]*">.*href="#ledger-chapter-book-double"', page, re.S)
    assert "verification-ledger.html#ledger-eq-double" in book.html("double")  # the equation's mark
