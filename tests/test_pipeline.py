"""The build pipeline's guarantees, proven on small fixture books built end to end.

Each test builds a book in a temporary folder with the project's real configuration and
the real command line (see fixture_book.py). They are slow (a kernel start per chapter),
so they are marked and run by `make test` and CI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from bookbuild.changes import user_cache
from fixture_book import FixtureBook, chapter
from real_book import text_outputs

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


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
    report = (book.root / "_build" / "reports" / "bad-raise.log").read_text()
    assert "ValueError: wrong shape (3, 2)" in report and "Traceback" in report
    assert "\x1b" not in report, "the report should be plain text, without terminal colours"


def closing_summary(output: str, command: str = "html") -> str:
    """What the build says after `bookbuild <command>: FAILED`."""
    assert f"bookbuild {command}: FAILED" in output, output
    return output.split(f"bookbuild {command}: FAILED", 1)[1]


def test_the_lints_rules_fail_the_build_and_its_summary_repeats_every_problem(book):
    """One rule set: what fails `make lint` fails `make html`, and the summary names each problem."""
    path = book.add_chapter("one", chapter("One", "print(1)").replace(
        "```{solution} ex-one-2\n:class: dropdown\nBecause.\n```\n", ""))
    book.add_chapter("two", chapter("Two", "print(2)") + "\n$$ y = 2 x $$ (eq-two-double)\n")
    result = book.build()
    assert result.returncode != 0
    summary = closing_summary(result.output)
    line = path.read_text().splitlines().index(":label: ex-one-2")
    assert re.search(rf"problem\(s\) found by the lint's rules \(make lint\):\n(  .*\n)*  book/one\.md:{line}: "
                     r"exercise 'ex-one-2' has no solution", summary), summary
    assert re.search(r"\n  book/two\.md:\d+: equation 'eq-two-double' is neither checked nor declared a definition",
                     summary), summary
    assert "see the lines above" not in summary and "\x1b" not in summary
    assert (book.root / "_build" / "html" / "book" / "one.html").is_file()  # still rendered: one build, every problem
    rebuilt = book.build()  # a reused _build, and the lint's stored result: the same verdict
    assert rebuilt.returncode != 0 and closing_summary(rebuilt.output) == summary


def test_the_failure_names_the_failing_statements_line_and_shows_the_values(book):
    path = book.add_chapter("lines", chapter("Lines", "a = 1", "b = 2", """
        import numpy as np
        from nnmath.verify import check

        ours = np.array([1.0, 2.02])
        check("eq-x", ours, np.array([1.0, 2.0]), method="another formula")
        print("never reached")
        """))
    result = book.build()
    line = path.read_text().splitlines().index('check("eq-x", ours, np.array([1.0, 2.0]), method="another formula")')
    assert (f"book/lines.md:{line + 1}: code cell 3 (`check(\"eq-x\", ours, np.array([1.0, 2.0]), "
            "method=\"another formula\")`): AssertionError: eq-x: ours differs from the reference "
            "(another formula) by 0.01, over the tolerance 1e-10; the largest error is at index (1,): "
            "ours 2.02, reference 2") in result.output, result.output


def test_a_statement_inside_a_function_is_named_where_the_cell_calls_it(book):
    path = book.add_chapter("nested", chapter("Nested", "def f():\n    return 1 / 0\n\n\nvalue = f()"))
    result = book.build()
    line = path.read_text().splitlines().index("value = f()") + 1
    assert f"book/nested.md:{line}: code cell 1 (`value = f()`): ZeroDivisionError" in result.output


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


def test_the_kernels_tools_keep_their_caches_out_of_the_sources(book, tmp_path_factory, monkeypatch):
    """Hypothesis writes what it collects from the package's code beside the chapter (the
    kernel's working folder) unless told otherwise; the preview would take it for an edit.
    The user's cache is outside the book (as a real one is), with the MathJax it already has."""
    user_cache_home = tmp_path_factory.mktemp("user-cache")
    (user_cache_home / "nnmath-book").mkdir()
    if user_cache("mathjax").is_dir():
        (user_cache_home / "nnmath-book" / "mathjax").symlink_to(user_cache("mathjax"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache_home))
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    book.write("fixturepkg/bounds.py", "LIMIT = 12345\n\n\ndef within(x):\n    return abs(x) <= LIMIT\n")
    book.add_chapter("props", chapter("Props", """
        from hypothesis import given, settings, strategies as st
        from fixturepkg.bounds import within

        @settings(max_examples=20, derandomize=True, database=None)
        @given(st.integers(-100, 100))
        def claim(x):
            assert within(x), f"{x} should be within the bounds"

        claim()
        print("claim holds")
        """))
    result = book.build()
    assert result.returncode == 0, result.output
    written = sorted(path.relative_to(book.root).as_posix() for path in book.root.rglob("*")
                     if path.is_file() and "_build" not in path.parts and "__pycache__" not in path.parts)
    assert [name for name in written if ".hypothesis" in name] == []
    assert (user_cache_home / "nnmath-book" / "hypothesis").is_dir()


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
    import os
    import subprocess
    import sys

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
    # A static file that changes again reaches the site, although no page is out of date.
    book.write("book/_static/extra.css", "p { margin: 1px; }\n")
    assert book.build().returncode == 0
    assert (book.root / "_build" / "html" / "_static" / "extra.css").read_text() == "p { margin: 1px; }\n"


def test_an_edited_bibliography_entry_reaches_the_pages_that_cite_it(book):
    entry = "@misc{{lovelace1843,\n  author = {{Lovelace, Ada}},\n  title = {{{title}}},\n  year = {{1843}}\n}}\n"
    book.write("book/references.bib", entry.format(title="Notes on the Engine"))
    book.add_chapter("one", chapter("One", "print(1)") + "\nAs {cite}`lovelace1843`.\n")
    book.add_chapter("references", "# References\n\n```{bibliography}\n```\n")
    result = book.build()
    assert result.returncode == 0, result.output
    assert "notes on the engine" in book.html("one").lower()  # the citation's tooltip
    book.write("book/references.bib", entry.format(title="Notes on the Analytical Engine"))
    result = book.build()
    assert result.returncode == 0, result.output
    assert "notes on the analytical engine" in book.html("references").lower()
    assert "notes on the analytical engine" in book.html("one").lower()


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


BURN = """
import time

start = time.process_time()
while time.process_time() - start < {seconds}:
    pass
"""


def burn(reference_seconds: float) -> str:
    """A cell that uses ``reference_seconds`` of CPU time on the reference machine (on this one,
    as calibrated here, as the build calibrates)."""
    from bookbuild.budget import calibrate

    return BURN.format(seconds=round(calibrate().cpu_seconds(reference_seconds), 3))


def test_a_chapter_over_its_budget_of_cpu_time_fails(tmp_path):
    book = FixtureBook(tmp_path, chapter_budget=1)
    book.add_chapter("slow", chapter("Slow", burn(1.5)))
    result = book.build()
    assert result.returncode != 0
    assert re.search(r"book/slow\.md: used [\d.]+ reference seconds of CPU time \([\d.]+ s of CPU here, [\d.]+ s on "
                     r"the clock\), over its budget of 1 \(bookbuild_chapter_budget in _config.yml; on this machine "
                     r"1 reference second is [\d.]+ s of CPU\)", result.output), result.output


def test_the_budget_counts_reference_seconds_so_a_slower_machine_may_use_more_cpu_time(tmp_path):
    """1.2 s of CPU (and the kernel's own): over a budget of 1 reference second on the reference
    machine, within it on a machine that takes twice as long (each calibration given, as if
    measured there)."""
    from bookbuild.budget import CALIBRATION_VARIABLE, REFERENCE_SECONDS

    book = FixtureBook(tmp_path, chapter_budget=1)
    book.add_chapter("slow", chapter("Slow", BURN.format(seconds=1.2)))
    as_reference = book.build(**{CALIBRATION_VARIABLE: str(REFERENCE_SECONDS)})
    assert as_reference.returncode != 0
    used = re.search(r"book/slow\.md: used ([\d.]+) reference seconds of CPU time \(([\d.]+) s of CPU here",
                     as_reference.output)
    assert used and float(used[1]) == float(used[2]) >= 1.2, as_reference.output
    twice_as_slow = book.build(**{CALIBRATION_VARIABLE: str(2 * REFERENCE_SECONDS)})
    assert twice_as_slow.returncode == 0, twice_as_slow.output
    assert "(calibrated: 2.00 s here per reference second)" in twice_as_slow.output
    clock, cpu, reference = map(float, re.search(r"book/slow\.md\s+executed\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                                                 twice_as_slow.output).groups())
    assert reference == pytest.approx(cpu / 2, abs=0.06) and 0.6 <= reference < 1, twice_as_slow.output


def test_waiting_does_not_count_against_the_budget(tmp_path):
    book = FixtureBook(tmp_path, chapter_budget=1)
    book.add_chapter("waits", chapter("Waits", "import time\ntime.sleep(2)"))
    result = book.build()
    assert result.returncode == 0, result.output


def test_a_busy_machine_does_not_fail_a_chapter_within_its_budget(tmp_path):
    """Three CPU hogs on two cores stretch the chapter's clock time, not its CPU time."""
    book = FixtureBook(tmp_path, chapter_budget=1.5)
    book.add_chapter("busy", chapter("Busy", burn(1.0)))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        result = book.build(jobs=1)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.returncode == 0, result.output
    row = re.search(r"book/busy\.md\s+executed\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", result.output)
    clock, cpu, reference = map(float, row.groups())
    assert reference < 1.5 < clock, (clock, cpu, reference)  # a budget on the clock would have failed it


def test_a_cell_whose_output_is_over_the_cap_fails_naming_the_cell(tmp_path):
    book = FixtureBook(tmp_path)
    path = book.add_chapter("loud", chapter("Loud", "print('fine')", "print('x' * 3_000_000)"))
    result = book.build()
    assert result.returncode != 0
    line = path.read_text().splitlines().index("print('x' * 3_000_000)") + 1
    assert (f"book/loud.md:{line}: code cell 2 (`print('x' * 3_000_000)`): its outputs take 3.0 MB, over the cap "
            "of 1 MB per cell") in result.output
    assert not list((book.root / "_build" / "executed").glob("*.ipynb"))


def test_two_clean_builds_give_identical_outputs(tmp_path):
    source = chapter("Seeded", "import numpy as np\nprint(np.random.default_rng(0).normal(size=3))")
    outputs = []
    for name in ("first", "second"):
        book = FixtureBook(tmp_path / name)
        book.add_chapter("seeded", source)
        assert book.build().returncode == 0
        outputs.append(re.search(r"\[[-\d. e]+\]", book.html("seeded")).group())
    assert outputs[0] == outputs[1]


def test_the_book_executes_with_more_blas_threads_under_keys_of_its_own(book):
    """As a reader's machine runs it: 2 BLAS threads per kernel, stored apart from the build's
    results, which the pages keep showing."""
    book.add_chapter("threads", chapter("Threads", """\
        import numpy  # noqa: F401 (loads OpenBLAS, for threadpoolctl to report)
        import threadpoolctl
        print("BLAS threads:", *[pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                                 if pool["user_api"] == "blas"])"""))
    assert book.build().returncode == 0
    assert "BLAS threads: 1" in book.html("threads")
    result = book.build("execute", 1, "--blas-threads", "2")
    assert result.returncode == 0, result.output
    assert book.executed() == ["book/threads.md"]
    printed = sorted(output.text for path in (book.root / "_build" / "executed").glob("*.ipynb")
                     for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
                     for output in cell.outputs)
    assert printed == ["BLAS threads: 1\n", "BLAS threads: 2\n"]
    result = book.build()
    assert result.returncode == 0 and re.search(r"\n0 of 1 chapters executed", result.output), result.output
    assert "BLAS threads: 1" in book.html("threads")
    result = book.build("html", 1, "--blas-threads", "2")
    assert result.returncode != 0 and "--blas-threads goes with `execute` only" in result.output


def test_a_claim_that_rests_on_the_order_of_a_sum_fails_with_two_threads(book):
    """What the real book's 2-thread execution is there to catch, planted: a number whose last
    digits the BLAS threads decide, asserted, and printed."""
    path = book.add_chapter("order", chapter("Order", """\
        import numpy as np
        x, y = np.random.default_rng(0).standard_normal((2, 1_000_000))
        print(repr(float(x @ y)))"""))
    assert book.build("execute", 1).returncode == 0
    (one_thread,) = (book.root / "_build" / "executed").glob("*.ipynb")
    assert book.build("execute", 1, "--blas-threads", "2").returncode == 0
    (two_threads,) = set((book.root / "_build" / "executed").glob("*.ipynb")) - {one_thread}
    assert text_outputs(one_thread) != text_outputs(two_threads)  # the real book's test would name it
    printed = text_outputs(one_thread)[0].strip()
    path.write_text(path.read_text().replace("print(repr(float(x @ y)))",
                                             f"assert float(x @ y) == {printed}, 'the sum as printed'"))
    assert book.build("execute", 1).returncode == 0
    result = book.build("execute", 1, "--blas-threads", "2")
    assert result.returncode != 0 and "AssertionError: the sum as printed" in result.output, result.output


def test_undoing_an_edit_costs_nothing(book):
    path = book.add_chapter("undo", chapter("Undo", "print('first version')"))
    assert book.build().returncode == 0
    original = path.read_text()
    path.write_text(original.replace("first version", "second version"))
    assert book.build().returncode == 0 and book.executed() == ["book/undo.md"]
    path.write_text(original)
    result = book.build()
    assert result.returncode == 0 and book.executed() == []
    assert "first version" in book.html("undo")


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action, as a terminal's foreground job has it: a test run started in
    the background (``make test &``, some CI runners) hands its children SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_build(book, **options):
    search_path = [str(book.root), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.Popen([sys.executable, "-m", "bookbuild", "html", "--root", str(book.root), "--jobs", "2"],
                            cwd=book.root, env=dict(os.environ, PYTHONPATH=os.pathsep.join(search_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def test_two_builds_at_once_share_the_work(book):
    book.add_chapter("slowish", chapter("Slowish", "import time\ntime.sleep(3)\nprint('done')"))
    first = _start_build(book)
    time.sleep(1.5)
    second = _start_build(book)
    first_out, first_err = first.communicate(timeout=300)
    second_out, second_err = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first_err + second_err
    assert "1 of 1 chapters executed" in first_out
    assert re.search(r"bookbuild: waiting for `bookbuild html` \(pid \d+\) to finish", second_err), second_err
    assert "0 of 1 chapters executed" in second_out


def _descendants_once_a_kernel_runs(process, book) -> list[psutil.Process]:
    """Wait until the build's chapter kernel is running; return every process the build started."""
    marker = book.root / "book" / "started"
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    return psutil.Process(process.pid).children(recursive=True)


def _signal_masks(processes: list[psutil.Process]) -> str:
    """Each process's blocked and ignored signals, as /proc shows them (what a failure needs)."""
    lines = []
    for process in processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            masks = " ".join(line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn")))
            lines.append(f"  {process.pid} pgid {os.getpgid(process.pid)} {' '.join(process.cmdline())[:60]}: {masks}")
        except (OSError, psutil.Error):
            lines.append(f"  {process.pid}: gone")
    return "\n".join(lines)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


HANGS = "from pathlib import Path\nimport time\n\nPath('started').touch()\ntime.sleep(600)"


def test_a_killed_build_leaves_no_process_behind(book):
    book.add_chapter("hangs", chapter("Hangs", HANGS))
    process = _start_build(book)
    started = _descendants_once_a_kernel_runs(process, book)
    kernels = [p for p in started if "ipykernel" in " ".join(p.cmdline()) or "zygote" in " ".join(p.cmdline())]
    assert kernels, [p.cmdline() for p in started]
    process.kill()
    process.wait()
    process.stdout.close()  # not communicate(): a process left behind would hold the pipes open
    process.stderr.close()
    time.sleep(2)
    left = _alive(started)
    for straggler in left:
        straggler.kill()
    assert left == [], [p.cmdline() for p in left]


def test_ctrl_c_prints_one_line_exits_130_and_the_next_build_is_correct(book):
    book.add_chapter("hangs", chapter("Hangs", HANGS))
    process = _start_build(book, start_new_session=True, preexec_fn=_as_in_a_terminal)  # as in a terminal
    started = _descendants_once_a_kernel_runs(process, book)
    signals = _signal_masks([psutil.Process(process.pid), *started])
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, f"{stdout}{stderr}\nsignal masks before Ctrl-C:\n{signals}"
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "bookbuild html: interrupted; nothing half-done was stored"], stderr
    time.sleep(2)
    assert _alive(started) == [], [p.cmdline() for p in _alive(started)]
    (book.root / "book" / "hangs.md").write_text(chapter("Hangs", "print('fixed')"))
    result = book.build()
    assert result.returncode == 0, result.output
    assert "fixed" in book.html("hangs")
