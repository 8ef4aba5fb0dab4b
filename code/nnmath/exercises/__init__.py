r"""Exercises that check the reader's code and name the slip.

Each "implement it" exercise of the book has a checker, ``check_<name>(fn)``,
in the module of its chapter (``nnmath.exercises.softmax_cross_entropy`` for
the chapter ``softmax-cross-entropy``). The reader writes the function the
exercise asks for and passes it to the checker, which calls it on seeded
random cases (N > 1 examples, non-square shapes, random upstream gradients,
edge values such as logits of 1000, exact zeros and ties), compares its
answers with the book's reference (the package's own functions, which the
unit tests check against PyTorch), prints a verdict of one or two sentences
and returns it as a :class:`Verdict`:

- correct: on how many cases, with the worst error;
- a known slip, recognized from how the answer is wrong: every slip an
  exercise declares (:class:`Slip`) says what it would return on each case
  (the reference transposed, N times too large, an overflow to nan, ...),
  and the reader's answers are matched against each in turn;
- otherwise what went wrong where: an exception (with the line of the
  reader's code that raised it), a result of the wrong type or shape (with
  the expected one), nan or inf, or the first entry that differs and by
  how much, never the right values.

A checker never raises because of the reader's code and never shows the
solution.

Each slip comes with a wrong implementation that commits it
(``Slip.commit``); :meth:`Exercise.self_test` and :func:`self_test` run the
checker on the book's solution, which must be judged correct, and on every
wrong implementation, each of which must get its own slip's diagnosis. The
tests run them for every exercise; a chapter runs them for its own
exercises, and :func:`self_test` then displays an :class:`ExerciseRecord`
for the verification ledger (MIME type :data:`MIME_TYPE`).

The book's solution of each exercise is the function of the exercise's
name in its chapter's module (``nnmath.exercises.softmax_cross_entropy.
softmax``), with the docstring the reader's stub shows; :meth:`Exercise.stub`
gives that stub. A chapter imports only its own module, so that editing one
chapter's exercises re-executes that chapter alone.
"""

import ast
import copy
import importlib
import inspect
import math
import sysconfig
import textwrap
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

# The chapters with exercises, in the book's order: nnmath.exercises.<module>
# is the chapter book/<module, with hyphens>.md.
CHAPTERS = ("vectorized_equations", "activations", "softmax_cross_entropy",
            "why_cross_entropy", "traced_example", "backprop_two_layer",
            "backprop_any_depth", "gradient_flow", "automatic_differentiation",
            "gradient_checking", "training")
MIME_TYPE = "application/vnd.nnmath.exercise+json"
METHOD = "exercise checker"
DEFAULT_TOLERANCE = 1e-9
ROUNDING_LEVEL = 1e-12


class Unusable(Exception):
    """Raised by an exercise's runner when the reader's answer cannot be
    used at all; the message, addressed to the reader, says why."""


@dataclass(frozen=True)
class Case:
    """One input of an exercise: the arguments, and how to name them to the
    reader (shapes and edge values, never the values themselves)."""

    args: tuple
    about: str


@dataclass(frozen=True)
class Slip:
    """A mistake the checker of an exercise recognizes.

    Attributes
    ----------
    name : str
        A short identifier, e.g. ``"transposed"``.
    message : str
        What the reader is told: the slip and the right formula, in the
        book's notation.
    predict : callable
        ``predict(reference, *args)`` is the answer this slip gives on the
        case ``args``, computed from the case and the reference answer;
        it may raise, when the slip makes the reader's code raise there.
    commit : callable
        A reader's function that makes this slip (the seeded wrong
        solution that keeps the checker from rotting).
    """

    name: str
    message: str
    predict: Callable
    commit: Callable


@dataclass(frozen=True)
class Verdict:
    """What a checker found.

    Attributes
    ----------
    ok : bool
        The reader's function agrees with the reference on every case.
    message : str
        The verdict in one or two sentences, as printed.
    exercise : str
        The exercise's name.
    kind : str
        ``"correct"``, ``"slip"``, ``"empty"`` (nothing written yet),
        ``"exception"``, ``"type"``, ``"shape"``, ``"nonfinite"`` or
        ``"wrong"``.
    cases : int
        The cases tried.
    worst_error : float
        The largest error over the cases (see :func:`entry_errors`);
        infinite when some answer could not be compared.
    slip : str or None
        The name of the recognized slip.
    """

    ok: bool
    message: str
    exercise: str
    kind: str
    cases: int
    worst_error: float
    slip: str | None = None

    def __str__(self):
        return self.message

    def _ipython_display_(self):
        """Nothing: the checker has printed the verdict already, so a
        notebook cell that ends with ``check_x(fn)`` shows it once."""


@dataclass(frozen=True)
class ExerciseRecord:
    """What a self-test proved, for the verification ledger.

    Attributes
    ----------
    label : str
        The exercise's label in its chapter (``ex-...``), or its name.
    exercise, chapter : str
    method : str
        Always :data:`METHOD`.
    cases : int
        The cases each of the checker's runs tries.
    max_error : float
        The book's solution's worst error.
    tolerance : float
    slips : tuple of str
        The slips diagnosed, each with its own message.
    """

    label: str
    exercise: str
    chapter: str
    method: str
    cases: int
    max_error: float
    tolerance: float
    slips: tuple

    def summary(self):
        """One line for the reader of the book."""
        return (f"✓ {self.label}: {self.method}, {self.cases} cases; the "
                f"book's solution passes (worst error "
                f"{format_error(self.max_error)}) and each of its "
                f"{len(self.slips)} slips gets its own diagnosis "
                f"({', '.join(self.slips)})")

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = asdict(self)
        data["slips"] = list(self.slips)
        data["anchor"] = f"exercise-{self.exercise}"
        html = (f'<p class="nnmath-exercise" id="{data["anchor"]}">'
                f"{_escape(self.summary())}</p>")
        return {MIME_TYPE: data, "text/html": html,
                "text/plain": self.summary()}


def records_in(outputs):
    """The exercise records among a code cell's outputs (nbformat dicts)."""
    return [record_from_json(output["data"][MIME_TYPE]) for output in outputs
            if MIME_TYPE in output.get("data", {})]


def record_from_json(data):
    """An :class:`ExerciseRecord` from its MIME data."""
    fields = {key: value for key, value in data.items() if key != "anchor"}
    fields["slips"] = tuple(fields["slips"])
    return ExerciseRecord(**fields)


def describe(**arrays):
    """The arguments of a case as the reader sees them, names and shapes:
    ``describe(A=A, W=W)`` is e.g. ``"A (4, 3), W (2, 3)"``."""
    return ", ".join(f"{name} {np.shape(value)}"
                     for name, value in arrays.items())


def format_error(error):
    """An error as a verdict shows it: rounding-level errors (zero included),
    whose last digits depend on the machine, as "below 1e-12"."""
    if not math.isfinite(error):
        return "unbounded"
    if error < ROUNDING_LEVEL:
        return f"below {ROUNDING_LEVEL:.0e}"
    return f"{error:.1g}"


@dataclass(frozen=True)
class _Kind:
    """An answer, or a part of one, that is not an array of real numbers:
    ``what`` names it for the reader ("None", "a Python list")."""

    what: str


@dataclass
class _Outcome:
    """What the reader's function did on one case."""

    answer: tuple | None = None  # one float64 array or _Kind per output
    problem: str | None = None  # an Unusable answer, said to the reader
    error: BaseException | None = None
    blank: bool = False  # returned None, or raised NotImplementedError


def entry_errors(ours, reference):
    r"""The error of each entry, :math:`|o - r| / \max(1, |r|)`, as in
    :mod:`nnmath.verify`; equal entries (equal infinities, and nan against
    nan, which is what a predicted overflow returns) count as 0, nan on one
    side only as an infinite error."""
    with np.errstate(invalid="ignore", over="ignore"):
        errors = np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))
    same = (ours == reference) | (np.isnan(ours) & np.isnan(reference))
    errors = np.where(same, 0.0, errors)
    return np.where(np.isnan(errors), np.inf, errors)


@dataclass(frozen=True)
class Exercise:
    """An "implement it" exercise: its solution, reference, cases and slips.

    Attributes
    ----------
    name : str
        The function the reader writes, e.g. ``"softmax"``.
    chapter : str
        The chapter it belongs to.
    solution : callable
        The book's solution; its docstring is the reader's stub's.
    reference : callable
        ``reference(*args)``: the right answer, from the package's own
        functions (or computed another way).
    cases : callable
        ``cases()``: the list of :class:`Case` every check tries, seeded.
    outputs : tuple of str, or callable
        The names of the answer's parts, in the book's notation, e.g.
        ``("dW", "db")``; a callable gives them per case, ``outputs(*args)``.
    shapes : tuple of str, or callable
        Each part's shape in symbols, e.g. ``("(n_l, n_{l-1})", "(n_l,)")``.
    about : str
        The cases in words, for the verdict "correct".
    slips : tuple of Slip
    tolerance : float
        The largest error (see :func:`entry_errors`) that counts as right.
    run : callable, optional
        ``run(fn, *args)`` calls the reader's function on a case and returns
        its answer (raising :class:`Unusable` when it cannot be used); by
        default ``fn(*args)``.
    explain : callable, optional
        ``explain(answer, expected, case)``: the sentence for an answer that
        is wrong in no known way, when the generic one (the first entry that
        differs) would not speak to the reader.
    """

    name: str
    chapter: str
    solution: Callable
    reference: Callable
    cases: Callable
    outputs: tuple | Callable
    shapes: tuple | Callable
    about: str
    slips: tuple
    tolerance: float = DEFAULT_TOLERANCE
    run: Callable | None = None
    explain: Callable | None = None

    def check(self, fn):
        """Check your function: print the verdict and return it.

        Parameters
        ----------
        fn : callable
            Your implementation, called as the exercise's stub shows.

        Returns
        -------
        Verdict
        """
        verdict = self.verdict(fn)
        print(verdict.message)
        return verdict

    def verdict(self, fn):
        """The :class:`Verdict` on ``fn``, without printing it."""
        cases = self.cases()
        if not callable(fn):
            return self._verdict(
                "type", len(cases), math.inf,
                f"✗ check_{self.name} takes your function itself, as in "
                f"check_{self.name}({self.name}); it got "
                f"{_what(fn).what}.")
        expected = [self._answer(self.reference(*case.args), case)
                    for case in cases]
        outcomes = [self._attempt(fn, case) for case in cases]
        if all(outcome.blank for outcome in outcomes):
            return self._verdict(
                "empty", len(cases), math.inf,
                "Not attempted yet: your function returns None. Write "
                "its body, ending with a return statement, and run this "
                "check again.")
        errors = [self._error(outcome, right)
                  for outcome, right in zip(outcomes, expected, strict=True)]
        worst = max(errors)
        if worst <= self.tolerance:
            return self._verdict(
                "correct", len(cases), worst,
                f"✓ Correct: your function agrees with the book's reference "
                f"on all {len(cases)} cases ({self.about}); the worst error "
                f"is {format_error(worst)}.", ok=True)
        for slip in self.slips:
            if self._explains(slip, outcomes, cases, expected):
                return self._verdict("slip", len(cases), worst,
                                     f"✗ {slip.message}", slip=slip.name)
        first = next(i for i, error in enumerate(errors)
                     if not error <= self.tolerance)
        kind, message = self._diagnose(outcomes[first], expected[first],
                                       cases[first], fn)
        return self._verdict(kind, len(cases), worst, message)

    def self_test(self, label=None):
        """Check the checker: the book's solution must be judged correct and
        each slip's wrong implementation must get that slip's diagnosis, each
        slip with a message of its own.

        Returns
        -------
        ExerciseRecord

        Raises
        ------
        AssertionError
            Naming the exercise, the slip and the verdict it got instead.
        """
        solved = self.verdict(self.solution)
        if not solved.ok:
            raise AssertionError(
                f"{self.name}: the book's solution is judged wrong: "
                f"{solved.message}")
        names = [slip.name for slip in self.slips]
        messages = [slip.message for slip in self.slips]
        if len(set(names)) < len(names) or len(set(messages)) < len(names):
            raise AssertionError(
                f"{self.name}: two slips share a name or a message: {names}")
        for slip in self.slips:
            verdict = self.verdict(slip.commit)
            if verdict.slip != slip.name:
                raise AssertionError(
                    f"{self.name}: the slip '{slip.name}' is diagnosed as "
                    f"{verdict.slip or verdict.kind}: {verdict.message}")
        return ExerciseRecord(
            label or self.name, self.name, self.chapter, METHOD,
            solved.cases, solved.worst_error, self.tolerance, tuple(names))

    def stub(self):
        """The stub the reader fills in: the solution's signature and
        docstring, and a body of ``...``."""
        source = textwrap.dedent(inspect.getsource(self.solution))
        docstring = ast.parse(source).body[0].body[0]
        head = source.splitlines()[:docstring.end_lineno]
        return "\n".join([*head, "    ...  # your code here", ""])

    def names(self, case):
        """The names of the answer's parts on ``case``."""
        return _per_case(self.outputs, case)

    def _verdict(self, kind, cases, worst, message, ok=False, slip=None):
        return Verdict(ok, message, self.name, kind, cases, worst, slip)

    def _attempt(self, fn, case):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                args = copy.deepcopy(case.args)
                raw = self.run(fn, *args) if self.run else fn(*args)
        except Unusable as problem:
            return _Outcome(problem=str(problem))
        except NotImplementedError as error:
            return _Outcome(error=error, blank=True)
        except Exception as error:
            return _Outcome(error=error)
        outcome = self._answer(raw, case)
        outcome.blank = raw is None
        return outcome

    def _answer(self, raw, case):
        names = self.names(case)
        if len(names) == 1:
            return _Outcome(answer=(_as_array(raw),))
        if not isinstance(raw, tuple | list) or len(raw) != len(names):
            return _Outcome(problem=(
                f"Your function should return {len(names)} results, "
                f"{_listing(names)}, as a tuple; it returned "
                f"{_what(raw).what}."))
        return _Outcome(answer=tuple(_as_array(part) for part in raw))

    def _prediction(self, slip, case, right):
        try:
            with np.errstate(all="ignore"):
                raw = slip.predict(_raw(right.answer), *case.args)
        except Exception as error:
            return _Outcome(error=error)
        return self._answer(raw, case)

    def _error(self, outcome, right):
        if outcome.answer is None:
            return math.inf
        worst = 0.0
        for ours, reference in zip(outcome.answer, right.answer, strict=True):
            if isinstance(ours, _Kind) or ours.shape != reference.shape:
                return math.inf
            if ours.size:
                worst = max(worst, float(entry_errors(ours, reference).max()))
        return worst

    def _explains(self, slip, outcomes, cases, expected):
        """Whether the reader's answers are the slip's on every case: the
        same answers, or the same exception where the slip raises one, and
        on at least one case an answer (an exception alone says little)."""
        predictions = [self._prediction(slip, case, right)
                       for case, right in zip(cases, expected, strict=True)]
        return (any(predicted.error is None for predicted in predictions)
                and all(self._matches(outcome, predicted) for
                        outcome, predicted in zip(outcomes, predictions,
                                                  strict=True)))

    def _matches(self, outcome, predicted):
        if predicted.error is not None or outcome.error is not None:
            return (predicted.error is not None and outcome.error is not None
                    and type(predicted.error) is type(outcome.error))
        if outcome.answer is None or predicted.answer is None:
            return False
        for ours, slip in zip(outcome.answer, predicted.answer, strict=True):
            if isinstance(ours, _Kind) or isinstance(slip, _Kind):
                if not (isinstance(ours, _Kind) and isinstance(slip, _Kind)
                        and ours.what == slip.what):
                    return False
            elif ours.shape != slip.shape or (
                    ours.size and entry_errors(ours, slip).max()
                    > self.tolerance):
                return False
        return True

    def _diagnose(self, outcome, right, case, fn):
        """The kind of the first thing wrong on ``case``, and the verdict."""
        if outcome.error is not None:
            return "exception", _exception_message(outcome.error, fn, case,
                                                   self.solution)
        if outcome.problem is not None:
            return "type", f"✗ {outcome.problem}"
        names = self.names(case)
        shapes = _per_case(self.shapes, case)
        for name, ours in zip(names, outcome.answer, strict=True):
            if isinstance(ours, _Kind):
                return "type", _type_message(name, ours, len(names) == 1)
        for name, shape, ours, reference in zip(
                names, shapes, outcome.answer, right.answer, strict=True):
            if ours.shape != reference.shape:
                transposed = (" (the shape of its transpose)"
                              if ours.shape == reference.shape[::-1] else "")
                return "shape", (
                    f"✗ On the case {case.about}, your {name} has shape "
                    f"{ours.shape}{transposed}; it should have shape "
                    f"{reference.shape}, that is {shape}.")
        if self.explain is not None:
            return "wrong", self.explain(outcome.answer, right.answer, case)
        for name, ours, reference in zip(names, outcome.answer, right.answer,
                                         strict=True):
            errors = entry_errors(ours, reference)
            wrong = errors > self.tolerance
            if not wrong.any():
                continue
            first = _first(wrong)
            place = f" at {_index(first)}" if ours.ndim else ""
            bad = ~np.isfinite(ours) & np.isfinite(reference)
            if bad.any():
                return "nonfinite", (
                    f"✗ On the case {case.about}, your {name} has nan or inf "
                    f"in {_count(bad)} of {ours.size}, first{_at(bad, ours)},"
                    f" where the right answer is finite: something "
                    f"overflowed (e^z of a large z?) or divided 0 by 0.")
            size = errors[first]
            how = (f"by {_number(100 * size)} % of its size"
                   if abs(reference[first]) > 1 else f"by {_number(size)}")
            where = (f"off {how}" if ours.size == 1 else
                     f"off in {_count(wrong)} of {ours.size}, the "
                     f"first{place} {how}")
            return "wrong", (
                f"✗ On the case {case.about}, your {name} is {where}. "
                f"That is not one of the slips I know: compare your code "
                f"with the formula in the docstring, one step at a time.")
        raise AssertionError("_diagnose is called on a wrong answer only")


def _per_case(value, case):
    return value(*case.args) if callable(value) else value


def _as_array(value):
    """A float64 array, or the :class:`_Kind` of a value that is not one."""
    if isinstance(value, bool | int | float | np.number):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu" or value.dtype == np.float64:
            return value.astype(np.float64)
        return _Kind(f"an array of {value.dtype}")
    return _what(value)


def _what(value):
    if value is None:
        return _Kind("None")
    if hasattr(value, "detach"):
        return _Kind("a PyTorch tensor")
    if isinstance(value, list | tuple):
        return _Kind(f"a Python {type(value).__name__}")
    return _Kind(f"an object of type {type(value).__name__}")


def _raw(answer):
    """The reference's answer as its parts, or its one array."""
    return answer[0] if len(answer) == 1 else answer


ADVICE = {
    "None": "does your function end with a return statement?",
    "a PyTorch tensor": "return a NumPy array (t.detach().numpy()); the "
                        "book's functions take and return NumPy arrays.",
    "a Python list": "np.array(...) turns it into one.",
    "a Python tuple": "np.array(...) turns it into one.",
}


def _type_message(name, kind, only):
    subject = "Your function returned" if only else f"Your {name} is"
    if kind.what.startswith("an array of float"):
        advice = ("compute in float64, NumPy's default: lower precision "
                  "keeps only a few digits.")
    elif kind.what == "None" and not only:
        advice = "each result must be an array (an assignment or a return "\
                 "missing?)."
    else:
        advice = ADVICE.get(kind.what, "return a NumPy array of floats.")
    return f"✗ {subject} {kind.what}, not a NumPy array of float64: {advice}"


def _exception_message(error, fn, case, solution):
    kind = type(error).__name__
    text = (str(error).strip().splitlines()[0].rstrip(".")
            if str(error).strip() else "")
    said = f"{kind}: {text}" if text else kind
    frame = _reader_frame(error, fn)
    if frame is None:
        arguments = ", ".join(inspect.signature(solution).parameters)
        return (f"✗ Your function could not be called as ({arguments}): "
                f"{said}.")
    where = ("your cell" if "ipykernel_" in frame.filename
             or frame.filename.startswith("<") else Path(frame.filename).name)
    code = f", {frame.line.strip()}" if frame.line else ""
    return (f"✗ Your function raised {kind} on the case {case.about}, at "
            f"line {frame.lineno} of {where}{code}"
            + (f": {text}." if text else "."))


def _reader_frame(error, fn):
    """The deepest frame of the traceback in the reader's code: the file of
    ``fn`` itself, or any file outside the standard library, the installed
    packages and nnmath (whose functions the reader's code may call)."""
    own = getattr(getattr(fn, "__code__", None), "co_filename", None)
    library = _library_folders()
    frames = traceback.extract_tb(error.__traceback__)
    mine = [frame for frame in frames if frame.filename == own
            or not any(frame.filename.startswith(folder)
                       for folder in library)]
    return mine[-1] if mine else None


@cache
def _library_folders():
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib",
                                      "platlib")}
    folders.add(str(Path(__file__).resolve().parent.parent))
    return tuple(folders)


def _number(x):
    """Two significant digits, written 100 rather than 1e+02."""
    return f"{float(f'{x:.2g}'):g}"


def _listing(names):
    return ", ".join(names[:-1]) + " and " + names[-1]


def _first(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _index(index):
    return "[" + ", ".join(map(str, index)) + "]"


def _at(mask, array):
    return f" at {_index(_first(mask))}" if array.ndim else ""


def _count(mask):
    count = int(np.count_nonzero(mask))
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def exercises():
    """Every exercise of the book, by name, in the book's order."""
    found = {}
    for chapter in CHAPTERS:
        module = importlib.import_module(f"nnmath.exercises.{chapter}")
        for exercise in module.EXERCISES:
            found[exercise.name] = exercise
    return found


def exercise(name):
    """The exercise called ``name``; a ValueError lists the names."""
    every = exercises()
    if name not in every:
        raise ValueError(f"no exercise is called {name!r}; the exercises "
                         f"are {', '.join(every)}")
    return every[name]


def self_test(name=None, *, label=None):
    """Check the checker of one exercise, or of all of them, and show a
    record of each for the verification ledger.

    Parameters
    ----------
    name : str, optional
        The exercise (default: every exercise of the book).
    label : str, optional
        The exercise's label in its chapter, for the ledger; only with a
        name.

    Raises
    ------
    AssertionError
        A solution judged wrong, or a slip not given its own diagnosis.
    """
    if label is not None and name is None:
        raise ValueError("a label names one exercise: give its name too")
    chosen = [exercise(name)] if name else list(exercises().values())
    for one in chosen:
        _show(one.self_test(label))


def _show(record):
    """Display the record in a notebook, print its line elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(record)
    else:
        print(record.summary())


__all__ = ["MIME_TYPE", "METHOD", "CHAPTERS", "Case", "Slip", "Verdict",
           "Exercise", "ExerciseRecord", "Unusable", "describe",
           "entry_errors", "exercise", "exercises", "self_test", "records_in",
           "record_from_json", "format_error"]
