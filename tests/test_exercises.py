"""The exercise checkers: each passes the book's solution, names each of its
seeded slips with a message of its own, and answers any other mistake with a
verdict, never a traceback.

The slip tests are parametrized by exercise and slip, so a checker that
stops recognizing a slip fails under that slip's name; ``pytest -rP -k
slip`` prints every diagnosis.
"""

import ast
import dataclasses
import inspect
import json
import linecache
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from nnmath.autodiff import Tensor
from nnmath.exercises import (
    CHAPTERS,
    MIME_TYPE,
    Exercise,
    Verdict,
    exercises,
    record_from_json,
    records_in,
    self_test,
)
from nnmath.exercises.softmax_cross_entropy import SOFTMAX
from nnmath.exercises.training import check_sgd_step
from nnmath.exercises.vectorized_equations import (
    LINEAR_FORWARD,
    check_linear_forward,
    linear_forward,
)

REPO = Path(__file__).resolve().parent.parent
EXERCISES = exercises()
SLIPS = [(exercise, slip) for exercise in EXERCISES.values()
         for slip in exercise.slips]


def test_the_book_has_its_exercises():
    assert len(EXERCISES) >= 24 and len(SLIPS) >= 100
    assert [module.replace("_", "-") for module in CHAPTERS] == list(dict.fromkeys(
        exercise.chapter for exercise in EXERCISES.values()))


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=EXERCISES)
def test_the_books_solution_is_judged_correct(exercise):
    verdict = exercise.verdict(exercise.solution)
    assert verdict.ok and verdict.kind == "correct", verdict.message
    assert verdict.message.startswith(f"✓ Correct: your function agrees with the book's reference on all "
                                      f"{len(exercise.cases())} cases")
    assert verdict.worst_error <= exercise.tolerance


@pytest.mark.parametrize(("exercise", "slip"), SLIPS, ids=[f"{e.name}-{s.name}" for e, s in SLIPS])
def test_each_slip_gets_its_own_diagnosis(exercise, slip):
    verdict = exercise.verdict(slip.commit)
    print(f"{exercise.name}, {slip.name}: {verdict.message}")
    assert (verdict.ok, verdict.kind, verdict.slip) == (False, "slip", slip.name), verdict.message
    assert verdict.message == f"✗ {slip.message}"


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=EXERCISES)
def test_an_exercise_knows_three_slips_each_named_and_said_once(exercise):
    names = [slip.name for slip in exercise.slips]
    messages = [slip.message for slip in exercise.slips]
    assert len(names) >= 3
    assert len(set(names)) == len(names) and len(set(messages)) == len(messages)


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=EXERCISES)
def test_the_solution_and_its_stub_belong_to_the_chapter(exercise):
    module = sys.modules[exercise.solution.__module__]
    assert module.__name__ == f"nnmath.exercises.{exercise.chapter.replace('-', '_')}"
    assert exercise.solution.__name__ == exercise.name
    assert getattr(module, f"check_{exercise.name}") == exercise.check
    assert exercise.solution.__doc__.rstrip().endswith(f"Book: :doc:`{exercise.chapter}`")
    assert (REPO / "book" / f"{exercise.chapter}.md").is_file()


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=EXERCISES)
def test_the_stub_runs_and_its_checker_says_nothing_is_written_yet(exercise):
    stub = exercise.stub()
    assert stub.startswith(f"def {exercise.name}(") and stub.endswith("    ...  # your code here\n")
    assert ast.get_docstring(ast.parse(stub).body[0]) == inspect.cleandoc(exercise.solution.__doc__)
    namespace = {}
    exec(stub, namespace)
    verdict = exercise.verdict(namespace[exercise.name])
    assert verdict.kind == "empty" and not verdict.ok, verdict.message
    assert verdict.message.startswith("Not attempted yet")


def relu_prime_as_mask(z):
    return z > 0


def sigmoid_prime_of_absolute_value(z):
    e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


def he_uniform(n_in, n_out, rng):
    bound = np.sqrt(6 / n_in)
    return rng.uniform(-bound, bound, size=(n_out, n_in))


def gradient_without_mutation(f, x, h):
    grad = np.empty(x.shape)
    for k in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[k] = h
        grad[k] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def mul_adding_by_hand(u, v):
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        for x, share in ((u, out.grad * v.data), (v, out.grad * u.data)):
            share = share.reshape(-1, *x.shape).sum(axis=0)
            x.grad = share if x.grad is None else x.grad + share

    out._backward = _backward
    return out


def full_gradient_by_average(batch_gradients, batch_sizes):
    return np.average(np.stack(batch_gradients), axis=0, weights=batch_sizes)


OTHER_SOLUTIONS = {"relu_prime": relu_prime_as_mask, "sigmoid_prime": sigmoid_prime_of_absolute_value,
                   "he_init": he_uniform, "numerical_gradient": gradient_without_mutation,
                   "mul": mul_adding_by_hand, "full_gradient": full_gradient_by_average}


@pytest.mark.parametrize("name", OTHER_SOLUTIONS)
def test_another_right_solution_is_judged_correct(name):
    verdict = EXERCISES[name].verdict(OTHER_SOLUTIONS[name])
    assert verdict.ok, verdict.message


# What a checker says when the mistake is not one of its slips


def raising(A, W, b):
    Z = W @ A
    return Z + b


def test_an_exception_is_reported_with_the_readers_line():
    verdict = LINEAR_FORWARD.verdict(raising)
    line = raising.__code__.co_firstlineno + 1
    assert verdict.kind == "exception"
    assert verdict.message.startswith("✗ Your function raised ValueError on the case A (4, 3), W (2, 3), b (2,), at "
                                      f"line {line} of test_exercises.py, Z = W @ A: ")
    assert "__init__.py" not in verdict.message


def inverse_of_w(W):
    return np.linalg.inv(W)


def calling_a_helper(A, W, b):
    return A @ inverse_of_w(W) + b


def test_the_line_is_the_deepest_of_the_readers_code_not_numpys():
    verdict = LINEAR_FORWARD.verdict(calling_a_helper)
    line = inverse_of_w.__code__.co_firstlineno + 1
    assert verdict.message.startswith("✗ Your function raised LinAlgError on the case A (4, 3), W (2, 3), b (2,), at "
                                      f"line {line} of test_exercises.py, return np.linalg.inv(W): ")


def test_an_exception_in_a_notebook_cell_names_the_cell():
    filename = "/tmp/ipykernel_4242/1234567.py"
    source = "import numpy as np\ndef linear_forward(A, W, b):\n    return np.dot(W, A) + b\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    try:
        verdict = LINEAR_FORWARD.verdict(namespace["linear_forward"])
    finally:
        del linecache.cache[filename]
    assert "at line 3 of your cell, return np.dot(W, A) + b: shapes" in verdict.message


def test_code_in_the_package_raising_is_located_in_its_module():
    from nnmath.exercises import vectorized_equations

    non_square = [case for case in LINEAR_FORWARD.cases() if len(set(case.args[1].shape)) == 2]
    unsquare = dataclasses.replace(LINEAR_FORWARD, cases=lambda: non_square, slips=())
    verdict = unsquare.verdict(vectorized_equations._w_not_transposed)
    line = vectorized_equations._w_not_transposed.__code__.co_firstlineno + 1
    assert f"at line {line} of vectorized_equations.py, Z = A @ W: matmul" in verdict.message


def test_a_function_that_cannot_be_called_so_is_told_how_it_is_called():
    verdict = LINEAR_FORWARD.verdict(lambda A, W: A)
    assert verdict.kind == "exception"
    assert verdict.message.startswith("✗ Your function could not be called as (A, W, b): TypeError: ")


def test_a_slip_whose_code_only_raises_explains_no_exception():
    non_square = [case for case in LINEAR_FORWARD.cases() if len(set(case.args[1].shape)) == 2]
    unsquare = dataclasses.replace(LINEAR_FORWARD, cases=lambda: non_square)

    def raising_everywhere(A, W, b):
        raise ValueError("a mistake of another kind")

    verdict = unsquare.verdict(raising_everywhere)
    assert verdict.kind == "exception" and "a mistake of another kind" in verdict.message


def test_not_implemented_counts_as_not_written_yet():
    def stub(A, W, b):
        raise NotImplementedError

    assert LINEAR_FORWARD.verdict(stub).kind == "empty"


class FakeTensor:
    """What the checker sees of a PyTorch tensor: it has .detach()."""

    def detach(self):
        return self


@pytest.mark.parametrize(("returned", "said"), [
    (lambda Z: None, "✗ Your function returned None, not a NumPy array of float64: does your function end with a "
                     "return statement?"),
    (lambda Z: FakeTensor(), "✗ Your function returned a PyTorch tensor, not a NumPy array of float64: return a "
                             "NumPy array (t.detach().numpy())"),
    (lambda Z: Z.tolist(), "✗ Your function returned a Python list, not a NumPy array of float64: np.array(...) "
                           "turns it into one."),
    (lambda Z: Z.astype(np.float32), "✗ Your function returned an array of float32, not a NumPy array of float64: "
                                     "compute in float64"),
    (lambda Z: str(Z), "✗ Your function returned an object of type str, not a NumPy array of float64"),
])
def test_a_result_of_the_wrong_type_is_named(returned, said):
    def answer(A, W, b):
        return returned(linear_forward(A, W, b)) if len(A) == 4 else linear_forward(A, W, b)

    verdict = LINEAR_FORWARD.verdict(answer)
    assert verdict.kind == "type" and verdict.message.startswith(said), verdict.message


def test_an_answer_of_the_wrong_structure_lists_the_results_expected():
    from nnmath.exercises.backprop_two_layer import check_two_layer_gradients

    verdict = check_two_layer_gradients(lambda X, Y, W1, b1, W2, b2: [W1, b1])
    assert verdict.message == ("✗ Your function should return 4 results, dW1, db1, dW2 and db2, as a tuple; it "
                               "returned a Python list.")


def test_a_part_of_several_results_of_the_wrong_type_is_named():
    from nnmath.exercises.vectorized_equations import check_layer_gradients

    verdict = check_layer_gradients(lambda delta, A: (delta.T @ A, None))
    assert verdict.message == ("✗ Your db is None, not a NumPy array of float64: each result must be an array (an "
                               "assignment or a return missing?).")
    verdict = check_layer_gradients(lambda delta, A: delta.T @ A)
    assert verdict.message == ("✗ Your function should return 2 results, dW and db, as a tuple; it returned an "
                               "object of type ndarray.")


def test_a_wrong_shape_is_named_with_the_expected_one():
    verdict = check_linear_forward(lambda A, W, b: linear_forward(A, W, b)[:, :1])
    assert verdict.message == ("✗ On the case A (4, 3), W (2, 3), b (2,), your Z has shape (4, 1); it should have "
                               "shape (4, 2), that is (N, n_l).")
    verdict = check_linear_forward(lambda A, W, b: linear_forward(A, W, b).T[:, :3] if len(A) == 4
                                   else linear_forward(A, W, b))
    assert "your Z has shape (2, 3); it should have shape (4, 2)" in verdict.message
    verdict = check_linear_forward(lambda A, W, b: linear_forward(A, W, b).T if len(A) == 4
                                   else linear_forward(A, W, b))
    assert "your Z has shape (2, 4) (the shape of its transpose); it should have shape (4, 2)" in verdict.message


def test_nan_is_reported_where_the_answer_is_finite():
    def with_nan(A, W, b):
        Z = linear_forward(A, W, b)
        Z[1, 1] = np.nan
        return Z

    verdict = LINEAR_FORWARD.verdict(with_nan)
    assert verdict.kind == "nonfinite"
    assert verdict.message.startswith("✗ On the case A (4, 3), W (2, 3), b (2,), your Z has nan or inf in 1 entry "
                                      "of 8, first at [1, 1], where the right answer is finite")


def test_an_unknown_mistake_is_located_and_sized_without_the_right_values():
    right = linear_forward(*LINEAR_FORWARD.cases()[0].args)
    first = tuple(int(i) for i in np.argwhere(abs(right) < 1)[0])

    def off(A, W, b):
        Z = linear_forward(A, W, b)
        if len(A) == 4:
            Z[first] += 0.125
        return Z

    verdict = LINEAR_FORWARD.verdict(off)
    assert verdict.kind == "wrong"
    assert verdict.message == ("✗ On the case A (4, 3), W (2, 3), b (2,), your Z is off in 1 entry of 8, the first "
                               f"at [{first[0]}, {first[1]}] by 0.12. That is not one of the slips I know: compare "
                               "your code with the formula in the docstring, one step at a time.")
    shown = set(re.findall(r"-?\d+\.\d+", verdict.message))
    assert not {f"{value:.{digits}f}" for value in right.ravel() for digits in (1, 2, 3, 4)} & shown


def test_a_wrong_number_is_sized_alone():
    from nnmath.exercises.softmax_cross_entropy import check_cross_entropy, cross_entropy

    verdict = check_cross_entropy(lambda Z, y: cross_entropy(Z, y) + 0.25 if len(y) == 4 else cross_entropy(Z, y))
    assert verdict.message.startswith("✗ On the case Z (4, 3), y (4,), your ℒ is off by 0.25. That is not one "
                                      "of the slips I know")


def test_a_relative_error_is_said_in_percent():
    from nnmath.exercises.softmax_cross_entropy import check_logsumexp, logsumexp

    verdict = check_logsumexp(lambda Z: logsumexp(Z) * 1.5)
    assert verdict.message.startswith("✗ On the case Z of shape (4, 3), your log-sum-exp is off in 4 entries of 4, "
                                      "the first at [0] by 50 % of its size.")


def test_a_wrong_initialisation_is_told_its_variance_and_mean():
    verdict = EXERCISES["he_init"].verdict(lambda n_in, n_out, rng: rng.uniform(0, 1, size=(n_out, n_in)))
    assert verdict.kind == "wrong"
    assert re.fullmatch(r"✗ On a layer of n_\{l-1\} = 400 inputs and n_l = 100 neurons, the variance of your weights "
                        r"is 16\.\d times the one asked for, and their mean is 7(\.\d)? standard deviations from "
                        r"0: that is not one of the slips I know\. Compare with the variance in the docstring\.",
                        verdict.message), verdict.message


WEIRD = [None, "text", {}, object(), [1, 2], (np.zeros(2),), np.array(["a"]), np.array([1 + 2j]), np.float32(1.0),
         np.zeros((0,)), np.full(3, np.inf), Tensor(np.zeros(2)), (i for i in range(2)), 7, True]


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=EXERCISES)
def test_any_returned_value_gets_a_verdict_not_a_traceback(exercise):
    for weird in WEIRD:
        verdict = exercise.verdict(lambda *args, weird=weird: weird)
        assert isinstance(verdict, Verdict) and not verdict.ok, (weird, verdict)
        assert verdict.message.startswith("✗ ") or (weird is None and verdict.kind == "empty"), verdict.message
    assert exercise.verdict("not a function").message.startswith(f"✗ check_{exercise.name} takes your function "
                                                                 "itself")


def test_the_checker_prints_its_verdict_and_returns_it(capsys):
    verdict = check_linear_forward(linear_forward)
    assert capsys.readouterr().out == verdict.message + "\n"
    assert str(verdict) == verdict.message


def test_a_notebook_shows_the_verdict_once():
    formatters = pytest.importorskip("IPython.core.formatters")
    verdict = LINEAR_FORWARD.verdict(linear_forward)
    assert formatters.DisplayFormatter().format(verdict) == ({}, {})


# The self-test, and its record for the ledger


def test_a_self_test_shows_one_record_with_its_label(capsys):
    self_test("softmax", label="ex-softmax-cross-entropy-softmax")
    assert capsys.readouterr().out == (
        "✓ ex-softmax-cross-entropy-softmax: exercise checker, 4 cases; the book's solution passes (worst error "
        "below 1e-12) and each of its 4 slips gets its own diagnosis (overflow, wrong-axis, whole-batch, "
        "global-max)\n")
    with pytest.raises(ValueError, match="a label names one exercise"):
        self_test(label="ex-x")
    with pytest.raises(ValueError, match="no exercise is called 'soft_max'; the exercises are linear_forward, "):
        self_test("soft_max")


def test_in_a_notebook_the_self_test_displays_its_record(monkeypatch, capsys):
    ipython = pytest.importorskip("IPython")
    shown = []
    monkeypatch.setattr(ipython, "get_ipython", lambda: object())
    monkeypatch.setattr("IPython.display.display", shown.append)
    self_test("relu_prime", label="ex-activations-relu")
    assert capsys.readouterr().out == ""
    assert [record.label for record in shown] == ["ex-activations-relu"]


def test_the_self_test_fails_when_a_diagnosis_or_the_solution_breaks():
    overflow, axis, *others = SOFTMAX.slips
    blurred = dataclasses.replace(SOFTMAX, slips=(overflow, dataclasses.replace(
        axis, predict=lambda S, Z: np.exp(Z) / np.exp(Z).sum(axis=0)), *others))
    with pytest.raises(AssertionError, match="softmax: the slip 'wrong-axis' is diagnosed as wrong: ✗ On the case"):
        blurred.self_test()
    shadowed = dataclasses.replace(SOFTMAX, slips=(overflow, dataclasses.replace(axis, commit=overflow.commit),
                                                   *others))
    with pytest.raises(AssertionError, match="the slip 'wrong-axis' is diagnosed as overflow"):
        shadowed.self_test()
    unsolved = dataclasses.replace(SOFTMAX, solution=overflow.commit)
    with pytest.raises(AssertionError, match="softmax: the book's solution is judged wrong: ✗ Your softmax is nan"):
        unsolved.self_test()
    repeated = dataclasses.replace(SOFTMAX, slips=(overflow, dataclasses.replace(axis, message=overflow.message)))
    with pytest.raises(AssertionError, match="two slips share a name or a message"):
        repeated.self_test()


def test_the_record_travels_as_json_in_its_own_mime_type():
    record = SOFTMAX.self_test(label="ex-softmax")
    bundle = record._repr_mimebundle_()
    assert bundle["text/plain"] == record.summary()
    assert bundle["text/html"].startswith('<p class="nnmath-exercise" id="exercise-softmax">✓ ex-softmax: ')
    data = json.loads(json.dumps(bundle[MIME_TYPE]))
    assert data["method"] == "exercise checker" and data["slips"] == list(record.slips)
    assert records_in([{"data": {MIME_TYPE: data}}, {"data": {"text/plain": "x"}}]) == [record]
    assert record_from_json(data) == record


# What readers get: any Python the package supports, no PyTorch, text the PDF can typeset


def nnmath_modules_imported(path, package=REPO / "code" / "nnmath"):
    """The files of the nnmath modules that ``path`` imports, anywhere in it, and those they import."""
    found, pending = set(), [path]
    while pending:
        source = pending.pop()
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nnmath"):
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")[1:]
                for candidate in (package.joinpath(*parts).with_suffix(".py"), package.joinpath(*parts, "__init__.py")):
                    if name.startswith("nnmath") and candidate.is_file() and candidate not in found:
                        found.add(candidate)
                        pending.append(candidate)
    return found


def test_the_exercises_import_no_torch():
    """Python 3.12 and 3.13 have no PyTorch here: there the package's torch-free tests, these among them, run
    every checker; this catches an import of torch, even inside a function, on any Python."""
    folder = REPO / "code" / "nnmath" / "exercises"
    imported = set().union(*(nnmath_modules_imported(path) for path in folder.glob("*.py")))
    assert {path.name for path in imported} >= {"__init__.py", "activations.py", "losses.py", "layers.py",
                                                "autodiff.py"}
    torch = re.compile(r"^\s*(import|from) torch\b", re.M)
    assert not [path.name for path in imported | set(folder.glob("*.py")) if torch.search(path.read_text())]


def pdf_characters():
    """The characters the PDF can typeset: ASCII, those the LaTeX preamble declares, and Latin-1's that
    pdflatex's T1 and TS1 encodings have."""
    preamble = (REPO / "_config.yml").read_text()
    declared = {chr(int(code, 16)) for code in re.findall(r"DeclareUnicodeCharacter\{([0-9A-F]+)\}", preamble)}
    return {chr(code) for code in range(32, 127)} | declared | set("±²³·×")


def test_every_message_can_be_typeset_in_the_pdf():
    allowed = pdf_characters()
    texts = []
    for exercise in EXERCISES.values():
        texts += [exercise.about, *(slip.message for slip in exercise.slips)]
        texts += [exercise.verdict(fn).message for fn in (exercise.solution, lambda *args: "text")]
        for case in exercise.cases():
            texts += [case.about, *exercise.names(case)]
    odd = {char for text in texts for char in text} - allowed
    assert not odd, f"characters the PDF's preamble does not declare: {sorted(odd)}"


def test_every_exercise_module_is_listed():
    modules = sorted(path.stem for path in (REPO / "code" / "nnmath" / "exercises").glob("*.py"))
    assert modules == sorted(["__init__", *CHAPTERS])
    assert all(isinstance(exercise, Exercise) for exercise in EXERCISES.values())


def test_sgd_step_that_changes_its_inputs_in_place_is_refused():
    """The text asks for new arrays: a step that also overwrites W and b
    returns the right values but is not accepted."""
    def sgd_step_in_place(W, b, X, y, learning_rate):
        Z = X @ W.T + b
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        P[np.arange(len(y)), y] -= 1
        delta = P / len(y)
        W -= learning_rate * delta.T @ X
        b -= learning_rate * delta.sum(0)
        return W, b

    verdict = check_sgd_step(sgd_step_in_place)
    assert not verdict.ok
    assert "in place" in verdict.message
