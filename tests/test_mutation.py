"""Mutation testing: the package's tests kill at least 90 % of single-line mutants.

The slow test runs bench/mutation.py in a subprocess (a few minutes on two cores);
the fast ones check that the mutants are what that script says they are.
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
def test_the_tests_kill_at_least_90_percent_of_the_mutants():
    result = subprocess.run([sys.executable, str(REPO / "bench" / "mutation.py")], cwd=REPO,
                            capture_output=True, text=True, timeout=3600)
    report = result.stdout[result.stdout.find("\nKilled"):]
    print(report)
    assert result.returncode == 0, result.stderr[-3000:]
    killed, total = map(int, re.search(r"Killed (\d+) of (\d+) mutants", result.stdout).groups())
    assert total >= 500
    assert killed / total >= 0.90, report


def test_every_module_has_its_tests_and_mutants():
    mutation = load_mutation_script()
    modules = {path.stem for path in (REPO / "code" / "nnmath").glob("*.py")} - {"__init__"}
    assert set(mutation.MODULE_TESTS) == modules
    for module, tests in mutation.MODULE_TESTS.items():
        assert all((REPO / test).exists() for test in tests)
        assert len(mutation.list_mutants(module)) > 10, module


def test_mutants_change_one_node_of_the_kinds_promised():
    mutation = load_mutation_script()
    mutants = [m for module in mutation.MODULE_TESTS for m in mutation.list_mutants(module)]
    kinds = {m.description for m in mutants}
    for kind in ["Add -> Sub", "Mult -> Div", "drop .T", "drop unary USub", "axis=0 -> axis=1", "1 -> 2",
                 "0.5 -> 1.0", "Gt -> LtE", ".sum -> .mean", "drop the right operand of Mult"]:
        assert kind in kinds, kind
    original = ast.unparse(ast.parse((REPO / "code" / "nnmath" / "layers.py").read_text())).splitlines()
    for mutant in (m for m in mutants if m.module == "layers"):
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
def test_every_function_a_chapter_shows_fails_the_book_when_it_is_off_by_one_percent():
    result = subprocess.run([sys.executable, str(REPO / "bench" / "shown_functions.py")], cwd=REPO,
                            capture_output=True, text=True, timeout=3600)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    caught, total = map(int, re.search(r"Caught (\d+) of (\d+) functions", result.stdout).groups())
    assert caught == total >= 30
