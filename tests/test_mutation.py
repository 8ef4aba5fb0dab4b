"""Mutation testing: the package's tests kill at least 90 % of single-line mutants.

The slow tests run bench/mutation.py and bench/shown_functions.py in a subprocess, on what
the working tree's change touches (``--changed``: the whole package takes about 15 minutes
on two cores, and runs in ``make mutation`` and CI's scheduled job); the fast ones check
that the mutants are what that script says they are, and how modules and tests are found.
"""

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def load_mutation_script():
    spec = importlib.util.spec_from_file_location("mutation", REPO / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.mutation
def test_the_tests_kill_at_least_90_percent_of_the_mutants_of_the_modules_a_change_touches(record_property):
    result = subprocess.run([sys.executable, str(REPO / "bench" / "mutation.py"), "--changed"], cwd=REPO,
                            capture_output=True, text=True, timeout=3600)
    compared = result.stdout.splitlines()[0] if result.stdout else ""
    report = result.stdout[result.stdout.find("\nKilled"):] if "\nKilled" in result.stdout else ""
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert compared.startswith("Compared with "), result.stdout
    record_property("summary", f"mutation testing: {compared}{report.splitlines()[1] if report else ''}")
    if "nothing to mutate" not in compared:
        killed, total = map(int, re.search(r"Killed (\d+) of (\d+) mutants", report).groups())
        assert total > 0 and killed / total >= 0.90, report


def test_every_module_is_found_with_its_tests_and_mutants():
    mutation = load_mutation_script()
    package = REPO / "code" / "nnmath"
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}
    modules |= {"exercises"} | {f"exercises.{path.stem}" for path in (package / "exercises").glob("*.py")} - {
        "exercises.__init__"}
    assert set(mutation.package_modules()) == modules
    for module in modules:
        tests = mutation.module_tests(module)
        assert tests and all((REPO / test).is_file() for test in tests), (module, tests)
        assert mutation.list_mutants(module), module
    assert mutation.module_tests("layers") == ["tests/test_layers.py"]
    # A private module is guarded by the tests of the modules that import it.
    assert {"tests/test_activations.py", "tests/test_losses.py", "tests/test_layers.py"} <= set(
        mutation.module_tests("_checks"))


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """The mutation script, looking at a copy of the package and of its tests' folder."""
    mutation = load_mutation_script()
    shutil.copytree(mutation.PACKAGE, tmp_path / "nnmath", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(mutation.TESTS, tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__", "node"))
    monkeypatch.setattr(mutation, "REPO", tmp_path)
    monkeypatch.setattr(mutation, "PACKAGE", tmp_path / "nnmath")
    monkeypatch.setattr(mutation, "TESTS", tmp_path / "tests")
    return mutation


def test_a_new_module_is_picked_up_by_convention_or_named_with_the_test_file_to_create(package_copy):
    mutation = package_copy
    (mutation.PACKAGE / "sched.py").write_text('"""Schedules."""\n\n\ndef step(w, g, lr):\n    return w - lr * g\n')
    assert "sched" in mutation.package_modules()
    with pytest.raises(mutation.MissingTests, match=r"code/nnmath/sched\.py has no tests: create tests/test_sched\.py"):
        mutation.module_tests("sched")
    (mutation.TESTS / "test_sched.py").write_text("def test_step():\n    pass\n")
    assert mutation.module_tests("sched") == ["tests/test_sched.py"]
    assert {str(m) for m in mutation.list_mutants("sched")} == {
        "sched.py:5: Sub -> Add", "sched.py:5: drop the right operand of Sub", "sched.py:5: Mult -> Div",
        "sched.py:5: drop the right operand of Mult", "sched.py:5: drop the left factor"}


def test_a_subpackages_modules_are_found_and_share_its_test_file(package_copy):
    from bookbuild.changes import Changes

    mutation = package_copy
    (mutation.PACKAGE / "sched").mkdir()
    (mutation.PACKAGE / "sched" / "__init__.py").write_text('"""Schedules."""\n\nfrom .sgd import step\n')
    (mutation.PACKAGE / "sched" / "sgd.py").write_text(
        "from nnmath._checks import as_float_array\n\n\ndef step(w, g, lr):\n    return as_float_array(w) - lr * g\n")
    assert {"sched", "sched.sgd"} <= set(mutation.package_modules())
    with pytest.raises(mutation.MissingTests,
                       match=r"code/nnmath/sched/sgd\.py has no tests: create tests/test_sched\.py"):
        mutation.module_tests("sched.sgd")
    (mutation.TESTS / "test_sched.py").write_text("def test_step():\n    pass\n")
    assert mutation.module_tests("sched.sgd") == mutation.module_tests("sched") == ["tests/test_sched.py"]
    assert mutation.imported_package_modules("sched") == {"sched.sgd"}
    assert "tests/test_sched.py" in mutation.module_tests("_checks")  # sched.sgd imports _checks
    assert str(mutation.list_mutants("sched.sgd")[0]).startswith("sched/sgd.py:5: ")
    touched = Changes("0" * 40, "a base", frozenset({"code/nnmath/sched/sgd.py"}))
    assert mutation.changed_modules(touched) == ["sched.sgd"]


def test_a_private_module_that_nothing_imports_is_named(package_copy):
    mutation = package_copy
    (mutation.PACKAGE / "_helpers.py").write_text("X = 1\n")
    with pytest.raises(mutation.MissingTests, match=r"code/nnmath/_helpers\.py: a private module that no public"):
        mutation.module_tests("_helpers")


def test_a_change_touches_the_modules_whose_source_or_tests_changed_or_all_with_the_harness():
    from bookbuild.changes import Changes

    mutation = load_mutation_script()

    def touched(*files):
        return mutation.changed_modules(Changes("0" * 40, "a base", frozenset(files)))

    assert touched() == []
    assert touched("book/activations.md", "README.md") == []
    assert touched("code/nnmath/layers.py") == ["layers"]
    assert touched("tests/test_losses.py") == ["_checks", "losses"]  # _checks is guarded by test_losses too
    assert touched("bench/mutation.py") == mutation.package_modules()
    assert mutation.changed_modules(Changes(None, "no base", frozenset())) == mutation.package_modules()


def test_mutants_change_one_node_of_the_kinds_promised():
    mutation = load_mutation_script()
    # The layers, losses and activations between them have every kind (all 24 modules: 160 s).
    mutants = [m for module in ("layers", "losses", "activations") for m in mutation.list_mutants(module)]
    kinds = {m.description for m in mutants}
    for kind in ["Add -> Sub", "Mult -> Div", "drop .T", "drop unary USub", "axis=0 -> axis=1", "1 -> 2",
                 "0.5 -> 1.0", "Gt -> LtE", ".sum -> .mean", "drop the right operand of Mult"]:
        assert kind in kinds, kind
    # Each mutant of one module changes one line (losses: 115 mutants, 1 s; layers' 607 take 30 s).
    original = ast.unparse(ast.parse((REPO / "code" / "nnmath" / "losses.py").read_text())).splitlines()
    for mutant in (m for m in mutants if m.module == "losses"):
        changed = mutation.mutated_source(mutant).splitlines()
        assert len(changed) == len(original)
        assert sum(a != b for a, b in zip(original, changed, strict=True)) == 1, mutant


def messages_and_docstrings(source):
    return [ast.dump(node) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Raise | ast.JoinedStr)
            or isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]


@pytest.mark.parametrize("module", ["_checks", "losses"])
def test_docstrings_and_error_messages_are_not_mutated(module):
    mutation = load_mutation_script()
    original = messages_and_docstrings(ast.unparse(ast.parse((REPO / "code" / "nnmath" / f"{module}.py").read_text())))
    for mutant in mutation.list_mutants(module):
        assert messages_and_docstrings(mutation.mutated_source(mutant)) == original, mutant


def test_a_modules_result_is_stored_under_a_key_of_its_code_and_tests_and_reused(tmp_path, monkeypatch):
    mutation = load_mutation_script()
    monkeypatch.setenv("NNMATH_MUTATION_CACHE", str(tmp_path))
    key = mutation.module_key("dual")
    assert key == mutation.module_key("dual") and key != mutation.module_key("losses")
    (tmp_path / f"dual-{key}.json").write_text(
        '{"killed": 9, "total": 10, "survivors": [{"module": "dual", "index": 3, "line": 40, "description": "x"}]}')

    def must_not_run(*args, **kwargs):
        raise AssertionError("a stored result was run again")

    monkeypatch.setattr(mutation, "run_mutants", must_not_run)
    killed, total, survivors = mutation.mutation_score(["dual"], progress=lambda line: None)
    assert (killed, total) == (9, 10) and survivors[0].line == 40


def test_the_key_changes_with_the_module_and_with_its_tests(tmp_path, monkeypatch):
    mutation = load_mutation_script()
    before = mutation.module_key("dual")
    package = tmp_path / "nnmath"
    shutil.copytree(mutation.PACKAGE, package)
    monkeypatch.setattr(mutation, "PACKAGE", package)
    assert mutation.module_key("dual") == before
    (package / "dual.py").write_text((package / "dual.py").read_text() + "\n# changed\n")
    assert mutation.module_key("dual") != before


@pytest.mark.slow
@pytest.mark.mutation
def test_every_function_a_change_touches_fails_the_book_when_it_is_off_by_one_percent(record_property):
    result = subprocess.run([sys.executable, str(REPO / "bench" / "shown_functions.py"), "--changed"], cwd=REPO,
                            capture_output=True, text=True, timeout=3600)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stdout.startswith("Compared with "), result.stdout
    caught, total = map(int, re.search(r"Caught (\d+) of (\d+) functions", result.stdout).groups())
    assert caught == total
    record_property("summary", f"shown functions off by 1 %: {result.stdout.splitlines()[0]}; "
                               f"caught {caught} of {total}")


def test_a_tests_summary_line_reaches_the_end_of_the_run_from_an_xdist_worker(tmp_path):
    for name in ("conftest.py", "real_book.py"):
        shutil.copy(REPO / "tests" / name, tmp_path / name)
    (tmp_path / "test_it.py").write_text(
        "def test_one(record_property):\n    record_property('summary', 'mutation testing: compared with X')\n\n\n"
        "def test_two():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    summary = result.stdout[result.stdout.index("what the slow checks covered"):]
    assert summary.splitlines()[1] == "mutation testing: compared with X", result.stdout
