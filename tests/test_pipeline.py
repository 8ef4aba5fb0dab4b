"""The build pipeline's guarantees, proven on small fixture books built end to end.

Each test builds a book in a temporary folder with the project's real configuration and
the real command line (see fixture_book.py). They are slow (a kernel start per chapter),
so they are marked and run by `make test` and CI.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from fixture_book import FixtureBook, chapter

pytestmark = pytest.mark.slow


@pytest.fixture
def book(tmp_path):
    return FixtureBook(tmp_path)


def test_a_clean_book_builds_and_shows_its_outputs(book):
    book.add_chapter("one", chapter("One", "print(6 * 7)"))
    result = book.build()
    assert result.returncode == 0, result.output
    assert ">42<" in book.html("one").replace("\n", "")


def test_failing_cells_in_two_chapters_fail_the_build_and_both_are_named(book):
    book.add_chapter("good", chapter("Good", "print('fine')"))
    book.add_chapter("bad-assert", chapter("Bad assert", "x = 1", "assert x == 2, 'x is not 2'"))
    book.add_chapter("bad-raise", chapter("Bad raise", "raise ValueError('wrong shape (3, 2)')"))

    for attempt in ("fresh _build", "reused _build"):
        result = book.build()
        assert result.returncode != 0, attempt
        assert "2 chapter(s) failed to execute" in result.output, attempt
        assert re.search(r"book/bad-assert\.md:\d+: code cell 2 \(`assert x == 2, 'x is not 2'`\): "
                         r"AssertionError: x is not 2", result.output), result.output
        assert re.search(r"book/bad-raise\.md:\d+: code cell 1 \(`raise ValueError.*`\): "
                         r"ValueError: wrong shape \(3, 2\)", result.output), result.output
        assert "book/good.md" not in result.output.split("failed to execute")[1]


def test_the_failure_names_the_cells_line_in_the_markdown(book):
    path = book.add_chapter("lines", chapter("Lines", "a = 1", "b = 2", "1 / 0"))
    result = book.build()
    line = path.read_text().splitlines().index("1 / 0")  # the fence is the line before it
    assert f"book/lines.md:{line}: code cell 3 (`1 / 0`): ZeroDivisionError" in result.output


def test_a_chapter_with_code_cells_but_no_header_fails(book):
    book.add_chapter("first", chapter("First", "print(1)"))
    book.add_chapter("headerless", chapter("Headerless", "print('never run')", header=False))
    result = book.build()
    assert result.returncode != 0
    assert "book/headerless.md: has {code-cell} blocks but no jupytext/MyST-NB header" in result.output


def test_a_chapter_missing_from_the_toc_fails(book):
    book.add_chapter("listed", chapter("Listed", "print(1)"))
    book.add_chapter("forgotten", chapter("Forgotten", "print(2)"), in_toc=False)
    result = book.build()
    assert result.returncode != 0
    assert "book/forgotten.md: not listed in _toc.yml" in result.output


def test_a_toc_entry_without_a_file_fails(book):
    book.add_chapter("listed", chapter("Listed", "print(1)"))
    book.write_toc(["book/listed", "book/ghost"])
    result = book.build()
    assert result.returncode != 0
    assert "_toc.yml: entry 'book/ghost' names no file" in result.output


def test_a_broken_reference_fails_also_on_a_reused_build(book):
    book.add_chapter("refs", chapter("Refs") + "\nSee {ref}`no-such-label` and {eq}`no-such-equation`.\n")
    for attempt in ("fresh _build", "reused _build"):
        result = book.build()
        assert result.returncode != 0, attempt
        assert "no-such-label" in result.output, attempt


def test_a_hung_cell_is_stopped_by_the_timeout_and_named(tmp_path):
    book = FixtureBook(tmp_path, cell_timeout=3)
    book.add_chapter("hangs", chapter("Hangs", "import time\ntime.sleep(600)"))
    start = time.monotonic()
    result = book.build()
    assert time.monotonic() - start < 60
    assert result.returncode != 0
    assert "book/hangs.md" in result.output and "did not finish within 3 s" in result.output


def test_a_package_change_reaches_the_rebuilt_html(book):
    book.write("fixturepkg/values.py", "ANSWER = 41\n")
    book.add_chapter("answer", chapter("Answer", "from fixturepkg.values import ANSWER\nprint(f'answer={ANSWER}')"))
    assert book.build().returncode == 0
    assert "answer=41" in book.html("answer")

    book.write("fixturepkg/values.py", "ANSWER = 42\n")
    result = book.build()
    assert result.returncode == 0, result.output
    assert book.executed() == ["book/answer.md"]
    assert "answer=42" in book.html("answer") and "answer=41" not in book.html("answer")


def test_a_no_op_rebuild_executes_nothing(book):
    book.add_chapter("one", chapter("One", "print(1)"))
    book.add_chapter("two", chapter("Two", "print(2)"))
    assert book.build().returncode == 0
    assert book.executed() == ["book/one.md", "book/two.md"]
    result = book.build()
    assert result.returncode == 0
    assert book.executed() == []
    assert "0 of 2 chapters executed" in result.output


def test_kernels_are_forked_warm_and_behave_like_fresh_ones(book):
    probe = """
    import os, subprocess, sys
    print("torch preloaded:", "torch" in sys.modules)
    print("cwd:", os.getcwd())
    print("hash:", hash("nnmath"))
    print("subprocess:", subprocess.run(["true"]).returncode)
    """
    book.add_chapter("first", chapter("First", probe))
    book.add_chapter("second", chapter("Second", probe))
    result = book.build()
    assert result.returncode == 0, result.output
    fresh_hash = subprocess.run([sys.executable, "-c", "print(hash('nnmath'))"], env={"PYTHONHASHSEED": "0"},
                                capture_output=True, text=True).stdout.strip()
    for name in ("first", "second"):
        text = re.sub(r"<[^>]+>", "", book.html(name))
        assert "torch preloaded: True" in text  # forked from the zygote, not started afresh
        assert f"cwd: {book.root / 'book'}" in text
        assert f"hash: {fresh_hash}" in text  # PYTHONHASHSEED=0, as in a fresh kernel
        assert "subprocess: 0" in text  # the zygote's SIGCHLD setting is not inherited
    assert "Kernel is running over TCP" not in result.output


def test_a_no_op_rebuild_skips_sphinx_and_any_change_runs_it_again(book):
    book.add_chapter("one", chapter("One", "print(1)"))
    assert book.build().returncode == 0
    skipped = "Sphinx (html): nothing it reads has changed"
    assert skipped in book.build().output
    page = book.root / "_build" / "html" / "book" / "one.html"
    changes = {
        "a static file": lambda: book.write("book/_static/extra.css", "p { margin: 0; }\n"),
        "a page Sphinx wrote, deleted": page.unlink,
        "the tracked package": lambda: book.write("fixturepkg/__init__.py", '"""Changed."""\n'),
        "the configuration": lambda: book.write("_config.yml", (book.root / "_config.yml").read_text() + "\n"),
    }
    for name, change in changes.items():
        change()
        result = book.build()
        assert result.returncode == 0, (name, result.output)
        assert skipped not in result.output, name
        assert page.is_file() and "Some prose about one" in page.read_text(), name
        assert skipped in book.build().output, name


def test_only_what_changed_is_executed_again(book):
    book.write("fixturepkg/base.py", "SCALE = 1\n")
    book.write("fixturepkg/derived.py", "from .base import SCALE\n\nDOUBLE = 2 * SCALE\n")
    book.write("fixturepkg/other.py", "OTHER = 7\n")
    book.add_chapter("uses-derived", chapter("Derived", "from fixturepkg.derived import DOUBLE\nprint(DOUBLE)"))
    book.add_chapter("uses-other", chapter("Other", "import fixturepkg.other as other\nprint(other.OTHER)"))
    book.add_chapter("uses-nothing", chapter("Nothing", "print('plain')"))
    assert book.build().returncode == 0

    def rebuild_after(relative, old, new):
        path = book.root / relative
        path.write_text(path.read_text().replace(old, new))
        result = book.build()
        assert result.returncode == 0, result.output
        return book.executed()

    assert rebuild_after("fixturepkg/base.py", "SCALE = 1", "SCALE = 3") == ["book/uses-derived.md"]
    assert rebuild_after("fixturepkg/other.py", "OTHER = 7", "OTHER = 8") == ["book/uses-other.md"]
    assert rebuild_after("book/uses-nothing.md", "print('plain')", "print('changed')") == ["book/uses-nothing.md"]
    assert rebuild_after("book/uses-nothing.md", "Some prose", "Other prose") == []
    assert "Other prose" in book.html("uses-nothing")
    assert rebuild_after("requirements.txt", "numpy==1.0", "numpy==1.1") == [
        "book/uses-derived.md", "book/uses-nothing.md", "book/uses-other.md"]


def test_a_chapter_over_its_budget_fails(tmp_path):
    book = FixtureBook(tmp_path)
    config = book.root / "_config.yml"
    config.write_text(config.read_text().replace("bookbuild_chapter_budget: 20", "bookbuild_chapter_budget: 1"))
    book.add_chapter("slow", chapter("Slow", "import time\ntime.sleep(2)"))
    result = book.build()
    assert result.returncode != 0
    assert re.search(r"book/slow\.md: executed in [\d.]+ s, over its budget of 1 s", result.output)


def test_two_clean_builds_give_identical_outputs(tmp_path):
    source = chapter("Seeded", "import numpy as np\nprint(np.random.default_rng(0).normal(size=3))")
    outputs = []
    for name in ("first", "second"):
        book = FixtureBook(tmp_path / name)
        book.add_chapter("seeded", source)
        assert book.build().returncode == 0
        outputs.append(re.search(r"\[[-\d. e]+\]", book.html("seeded")).group())
    assert outputs[0] == outputs[1]
