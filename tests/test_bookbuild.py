"""Fast unit tests of the pipeline's parts: execution keys, dependencies, macros, book checks, the zygote."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bookbuild.book import BookError, check_book, load_config, read_notebook
from bookbuild.keys import execution_key, imported_modules, module_closure, package_modules
from bookbuild.macros import latex_preamble, mathjax_macros, read_macros
from bookbuild.zygote import ForkedKernel, Zygote
from fixture_book import FixtureBook, chapter


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A tracked package ``keypkg``: ``a`` imports ``b`` (relatively), ``b`` imports ``c``."""
    root = tmp_path / "keypkg"
    root.mkdir()
    files = {
        "__init__.py": '"""Top."""\n',
        "a.py": "from .b import VALUE\n",
        "b.py": "import keypkg.c\n\nVALUE = 1\n",
        "c.py": "import numpy\n",
        "unrelated.py": "X = 0\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    package_modules.cache_clear()
    yield root
    package_modules.cache_clear()


def test_imported_modules_reads_imports_and_skips_magics():
    source = ("%matplotlib inline\n!ls\nimport numpy as np\n"
              "from nnmath.losses import cross_entropy\nfrom nnmath import layers")
    assert imported_modules(source) == {
        "numpy", "nnmath.losses", "nnmath.losses.cross_entropy", "nnmath", "nnmath.layers"}


def test_module_closure_follows_imports_through_the_package(package):
    names = [path.name for path in module_closure({"keypkg.a"}, ("keypkg",))]
    assert names == ["__init__.py", "a.py", "b.py", "c.py"]
    assert [path.name for path in module_closure({"keypkg"}, ("keypkg",))] == ["__init__.py"]
    assert module_closure({"numpy"}, ("keypkg",)) == []


def test_an_untracked_missing_package_is_a_clear_error():
    with pytest.raises(ModuleNotFoundError, match="tracked package 'no_such_package' is not installed"):
        package_modules("no_such_package")


def _key(text: str, requirements) -> str:
    return execution_key(read_notebook(text), ("keypkg",), requirements)


def test_the_execution_key_covers_code_imported_modules_and_requirements(package, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==1\n")
    text = chapter("A", "from keypkg.a import VALUE\nprint(VALUE)")
    key = _key(text, requirements)

    assert _key(text.replace("Some prose", "Other prose"), requirements) == key
    (package / "unrelated.py").write_text("X = 1\n")
    assert _key(text, requirements) == key

    (package / "c.py").write_text("import numpy  # changed\n")
    changed_module = _key(text, requirements)
    assert changed_module != key

    requirements.write_text("numpy==2\n")
    assert _key(text, requirements) != changed_module
    threaded = execution_key(read_notebook(text), ("keypkg",), requirements, blas_threads=2)
    assert threaded != _key(text, requirements)
    assert execution_key(read_notebook(text), ("keypkg",), requirements, blas_threads=1) == _key(text, requirements)
    assert _key(text.replace("print(VALUE)", "print(VALUE + 1)"), requirements) != _key(text, requirements)


def test_macros_feed_mathjax_and_latex_alike(tmp_path):
    path = tmp_path / "macros.tex"
    path.write_text("% vectors\n\\newcommand{\\vb}{\\mathbf{b}}\n\n"
                    "\\newcommand{\\pd}[2]{\\frac{\\partial #1}{\\partial #2}}\n")
    macros = read_macros(path)
    assert mathjax_macros(macros) == {"vb": "\\mathbf{b}", "pd": ["\\frac{\\partial #1}{\\partial #2}", 2]}
    assert "\\newcommand{\\vb}{\\mathbf{b}}" in latex_preamble(macros)
    assert "\\newcommand{\\pd}[2]{\\frac{\\partial #1}{\\partial #2}}" in latex_preamble(macros)


def test_a_malformed_macro_line_names_its_file_and_line(tmp_path):
    path = tmp_path / "macros.tex"
    path.write_text("\\newcommand{\\vb}{\\mathbf{b}}\n\\def\\bad{x}\n")
    with pytest.raises(ValueError, match=r"macros.tex:2: expected \\newcommand"):
        read_macros(path)


def test_the_repository_macros_parse():
    from fixture_book import REPO

    names = {macro.name for macro in read_macros(REPO / "book" / "macros.tex")}
    assert {"va", "vb", "vw", "vz", "pd", "loss"} <= names


def test_check_book_names_unlisted_and_headerless_chapters(tmp_path):
    book = FixtureBook(tmp_path)
    book.add_chapter("fine", chapter("Fine", "print(1)"))
    book.add_chapter("headerless", chapter("Headerless", "print(2)", header=False))
    book.add_chapter("unlisted", chapter("Unlisted"), in_toc=False)
    with pytest.raises(BookError) as error:
        check_book(load_config(tmp_path))
    message = str(error.value)
    assert "book/unlisted.md: not listed in _toc.yml" in message
    assert "book/headerless.md: has {code-cell} blocks but no jupytext/MyST-NB header" in message
    assert "fine.md" not in message


def test_a_toc_entry_without_a_file_is_refused(tmp_path):
    book = FixtureBook(tmp_path)
    book.add_chapter("fine", chapter("Fine"))
    book.write_toc(["book/fine", "book/missing"])
    with pytest.raises(BookError, match="entry 'book/missing' names no file"):
        load_config(tmp_path)


def test_the_zygote_forks_only_this_pythons_ipykernel():
    zygote = Zygote.__new__(Zygote)  # can_launch reads nothing of a started zygote
    assert zygote.can_launch([sys.executable, "-m", "ipykernel_launcher", "-f", "kernel.json"])
    assert not zygote.can_launch(["/usr/bin/python3.9", "-m", "ipykernel_launcher", "-f", "kernel.json"])
    assert not zygote.can_launch([sys.executable, "-m", "other_kernel", "-f", "kernel.json"])
    assert not zygote.can_launch(["R", "--slave", "-e", "IRkernel::main()"])


def test_a_forked_kernel_is_alive_while_its_pid_exists():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    kernel = ForkedKernel(process.pid)
    assert kernel.poll() is None
    kernel.kill()
    process.wait()  # our child here, so we reap it; the zygote reaps its kernels at once
    assert kernel.poll() == 0 and kernel.wait(timeout=1) == 0


def test_listings_keep_each_docstrings_summary_and_every_line_of_code():
    from bookbuild.listings import caption, trim_docstrings

    method = '''    def backward(self, delta):
        r"""Backpropagate the layer's error
        through it.

        .. math:: \\frac{\\partial L}{\\partial W} = \\delta^T A
        """
        text = """not a docstring"""
        return delta @ self.W
'''
    assert trim_docstrings(method) == '''    def backward(self, delta):
        """Backpropagate the layer's error through it."""
        text = """not a docstring"""
        return delta @ self.W
'''
    assert trim_docstrings("def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert caption("/code/nnmath/layers.py", "Linear.backward") == "code/nnmath/layers.py: Linear.backward"


def test_a_listings_summary_reads_as_text_not_as_markup():
    from bookbuild.listings import plain

    assert plain(r"Backpropagate :math:`\delta = \partial \mathcal{L} / \partial Z` through ``Linear``.") == \
        "Backpropagate δ = ∂ℒ / ∂Z through Linear."
    assert plain(r"Compute :math:`Z = A W^T + \mathbf{1} b^T`.") == "Compute Z = A Wᵀ + 1 bᵀ."


def test_a_kernel_that_dies_is_reported_as_dead_not_as_nbclients_own_assertion():
    from bookbuild.execute import _execute
    from nbclient.exceptions import DeadKernelError

    class DyingClient:
        def execute(self):
            try:
                raise DeadKernelError("Kernel died")
            except DeadKernelError:
                assert self is None  # what nbclient's clean-up does after a dead kernel

    with pytest.raises(DeadKernelError, match="Kernel died"):
        _execute(DyingClient())


def test_only_inputs_of_the_build_start_a_preview_rebuild(tmp_path):
    from bookbuild.preview import is_input

    root = tmp_path
    package = root / "code" / "nnmath"
    inputs = ["book/x.md", "book/references.bib", "book/macros.tex", "book/_static/book.css",
              "book/_templates/pdf-link.html", "code/nnmath/layers.py", "_config.yml", "_toc.yml", "requirements.txt"]
    others = ["book/.hypothesis/constants/1a2b", "code/nnmath/.ruff_cache/0.17/123", "book/.ipynb_checkpoints/x.md",
              "code/nnmath/__pycache__/layers.cpython-311.pyc", "book/x.md~", "book/.x.md.swp", "book/4913",
              "book/_build/html/x.html", "code/nnmath/ruff.toml", "README.md", "tests/test_layers.py", ".git/index"]
    assert [name for name in inputs if not is_input(root, {package}, root / name)] == []
    assert [name for name in others if is_input(root, {package}, root / name)] == []


def test_the_calibration_converts_cpu_seconds_to_reference_seconds_and_back(monkeypatch):
    from bookbuild.budget import CALIBRATION_VARIABLE, REFERENCE_SECONDS, Calibration, calibrate

    twice_as_slow = Calibration(2 * REFERENCE_SECONDS)
    assert twice_as_slow.scale == pytest.approx(2)
    assert twice_as_slow.reference_seconds(30) == pytest.approx(15)
    assert twice_as_slow.cpu_seconds(20) == pytest.approx(40)
    monkeypatch.setenv(CALIBRATION_VARIABLE, "0.5")
    assert calibrate() == Calibration(0.5)
    monkeypatch.delenv(CALIBRATION_VARIABLE)
    measured = calibrate(runs=3)
    assert 0.2 < measured.scale < 20, measured  # a machine from ten times faster to ten times slower


def test_sphinx_problems_read_like_the_lints_and_the_summary_names_each_once(tmp_path):
    from bookbuild.rules import Summary, sphinx_problem

    root = tmp_path
    assert sphinx_problem(f"{root}/book/x.md:12: ERROR: equation 'eq-x' is neither checked [bookbuild.ledger]",
                          root) == "book/x.md:12: equation 'eq-x' is neither checked"
    assert sphinx_problem(f"{root}/book/x.md:3: WARNING: undefined label: 'nope' [ref.ref]", root) == \
        "book/x.md:3: undefined label: 'nope'"
    assert sphinx_problem("WARNING: html_static_path entry 'x' does not exist", root) == \
        "html_static_path entry 'x' does not exist"
    assert sphinx_problem("reading sources... [100%] book/x", root) is None
    summary = Summary()
    summary.add("the lint", ["book/x.md:12: equation 'eq-x' is neither checked", "book/y.md:1: other"])
    summary.add("Sphinx", ["book/x.md:12: equation 'eq-x' is neither checked"])
    summary.add("nothing", [])
    assert str(summary) == ("the lint:\n  book/x.md:12: equation 'eq-x' is neither checked\n  book/y.md:1: other\n"
                            "Sphinx:\n  (the same problems as above)")


def test_the_lints_problems_are_reused_while_nothing_it_reads_changes(tmp_path, monkeypatch):
    import bookbuild.lint
    from bookbuild import rules

    book = FixtureBook(tmp_path)
    book.add_chapter("one", chapter("One", "print(1)"))
    calls = []
    monkeypatch.setattr(bookbuild.lint, "lint_book", lambda root: calls.append(root) or ["book/one.md:1: a problem"])
    config = load_config(tmp_path)
    assert rules.lint_problems(config) == ["book/one.md:1: a problem"]
    assert rules.lint_problems(config) == ["book/one.md:1: a problem"] and len(calls) == 1
    for change in (lambda: book.write("book/one.md", chapter("One", "print(2)")),
                   lambda: book.write("book/.ipynb_checkpoints/one-checkpoint.ipynb", "{}"),
                   lambda: book.write("_toc.yml", (tmp_path / "_toc.yml").read_text() + "\n")):
        change()
        rules.lint_problems(config)
        rules.lint_problems(config)
    assert len(calls) == 4


def test_a_lint_that_cannot_run_is_a_problem_of_the_build_not_a_traceback(tmp_path, monkeypatch):
    import bookbuild.lint
    from bookbuild import rules

    book = FixtureBook(tmp_path)
    book.add_chapter("one", chapter("One", "print(1)"))

    def broken_ruff(root):
        raise RuntimeError("ruff failed (ruff check code):\nFailed to read pyproject.toml")

    monkeypatch.setattr(bookbuild.lint, "lint_book", broken_ruff)
    problems = rules.lint_problems(load_config(tmp_path))
    assert problems == ["the lint could not run: ruff failed (ruff check code): Failed to read pyproject.toml"]
    assert not (tmp_path / "_build" / "reports" / "lint.json").exists()  # tried again at the next build


def test_a_latex_failure_quotes_texs_error_and_where_it_is():
    from bookbuild.__main__ import tex_error

    log = ("This is pdfTeX\n(./book.tex\n! Undefined control sequence.\nl.7811 .... Along \\(\\vp = t\\vu\n"
           "                          )\\), a Taylor\nHere is how much of TeX's memory you used:\n")
    assert tex_error(log).splitlines() == ["  ! Undefined control sequence.", "  l.7811 .... Along \\(\\vp = t\\vu",
                                           "                            )\\), a Taylor"]
    assert "no TeX error" in tex_error("This is pdfTeX\nOutput written on book.pdf\n")
