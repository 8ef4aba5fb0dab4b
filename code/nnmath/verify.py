r"""Checks that assert, and leave a record for the verification ledger.

Every equation the book labels and every correction it makes is proved by a
check in an executed cell. The three kinds:

- :func:`check`: our value equals a reference computed another way
  (autograd, finite differences, another formula, the source's printed
  numbers, exact numbers);
- :func:`check_all`: a claim about all inputs holds over many random cases,
  drawn by Hypothesis, derandomized so that two builds print the same;
- :func:`refute`: a wrong formula (usually a source's) differs from the
  reference, by at least a given amount.

Each one raises ``AssertionError`` when it fails, naming the label, the
error and the tolerance, so a wrong formula fails the book's build. When it
passes it displays a :class:`Record`: a line for the reader and, in a MIME
type of its own (:data:`MIME_TYPE`), the data the build collects into the
ledger, so a chapter whose stored outputs are reused keeps its rows. It
returns nothing (a cell that ends with a check shows it once), and appends
the record to :data:`RECORDED`.

The error of ``ours`` against ``reference`` is measured entry by entry as

.. math:: e = \max_k \frac{|o_k - r_k|}{\max(1, |r_k|)}

the absolute error where the reference is at most 1 in size and the
relative error where it is larger. Both sides must be float64 (or exact
integers) and have the same shape: a check never broadcasts, so an array of
the wrong shape fails instead of being compared with copies of itself.

No check is vacuous:

- a comparison whose two sides are both smaller than its tolerance (every
  entry) proves nothing, whatever the formulas, and is refused with a
  ``ValueError``; a :func:`check_all` is refused when every case is such a
  comparison, and its record counts the cases that were;
- a claim that a quantity *is* zero says so, ``zero=True``: the reference
  must then be exactly 0, and ours within the tolerance of it (absolutely;
  set the tolerance for the size of the terms that cancel). The record
  says so: "exactly zero" when ours is exactly 0 (a product with 0, a
  ReLU that is off), "zero" with the error when rounding leaves a residue;
- numbers printed on a page or in a source (``method="printed numbers"``)
  are given as the printed strings, ``"2.5908"``, and each must be within
  half a unit of its last digit (here :math:`5 \cdot 10^{-5}`),
  absolutely: 2.58 does not pass for 2.5908.

Book: :doc:`how-to-read`
"""

import itertools
import math
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

MIME_TYPE = "application/vnd.nnmath.check+json"
METHODS = (
    "autograd",
    "finite differences",
    "another formula",
    "printed numbers",
    "exact",
)
DEFAULT_TOLERANCE = 1e-10
ROUNDING_LEVEL = 1e-12
RECORDED = []  # every Record made in this process, in order
_anchors = itertools.count(1)


@dataclass(frozen=True)
class Record:
    """What one check proved, as the verification ledger lists it.

    Attributes
    ----------
    label : str
        The equation or correction proved, e.g. ``"eq-softmax-shift"``.
    method : str
        What our value was compared with, one of :data:`METHODS`; a
        property check prefixes it with ``"property: "``.
    outcome : str
        ``"agrees"`` (check, check_all) or ``"differs"`` (refute).
    cases : int
        Inputs tried.
    max_error : float
        The largest error over the cases (the module docstring says how
        it is measured); NaN for a claim that is true or false, not near.
    tolerance : float
        ``"agrees"``: the largest error allowed. ``"differs"``: the
        smallest difference required.
    anchor : str
        The id of the check's output on the page, ``check-<n>``.
    exact_zero : bool
        The claim is that ours is 0 (``zero=True``): exactly, when
        ``max_error`` is 0, or up to rounding.
    printed : str
        Printed numbers: the precision they were printed to, e.g.
        ``"4 decimals"``; empty otherwise.
    trivial_cases : int
        Property checks: the cases whose two sides were both smaller than
        the tolerance (they prove nothing; not all of them may be).
    """

    label: str
    method: str
    outcome: str
    cases: int
    max_error: float
    tolerance: float
    anchor: str
    exact_zero: bool = False
    printed: str = ""
    trivial_cases: int = 0

    def summary(self):
        """One line for the reader, e.g. ``✓ eq-x: autograd, 1 case,
        error < 1e-12, tolerance 1e-10``."""
        cases = f"{self.cases} case" + ("s" if self.cases != 1 else "")
        if self.trivial_cases:
            cases += f" ({self.trivial_cases} too small to tell)"
        method = (f"{self.method} to {self.printed}" if self.printed
                  else self.method)
        if self.exact_zero:
            measured = ("exactly zero" if self.max_error == 0 else
                        f"zero, error {_order(self.max_error)}, tolerance "
                        f"{self.tolerance:.2g}")
        elif math.isnan(self.max_error):
            measured = "holds in every case"
        elif self.outcome == "differs":
            measured = (f"the wrong formula is off by "
                        f"{self.max_error:.2g} ≥ {self.tolerance:.2g}")
        else:
            measured = (f"error {_order(self.max_error)}, "
                        f"tolerance {self.tolerance:.2g}")
        return f"✓ {self.label}: {method}, {cases}, {measured}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        record = {key: _json_number(value)
                  for key, value in asdict(self).items()}
        html = (f'<p class="nnmath-check" id="{self.anchor}">'
                f"{_escape(self.summary())}</p>")
        return {
            MIME_TYPE: record,
            "text/html": html,
            "text/plain": self.summary(),
        }


def _order(error):
    """An error as the line shows it: the power of ten above it, and
    "< 1e-12" for rounding-level errors (zero included), whose last digits
    depend on how the arrays happen to sit in memory; the record keeps the
    exact value."""
    if error < ROUNDING_LEVEL:
        return f"< {ROUNDING_LEVEL:.0e}"
    return f"< {10.0 ** math.ceil(math.log10(error) + 1e-12):.0e}"


def check(label, ours, reference, *, method, tolerance=DEFAULT_TOLERANCE,
          zero=False):
    r"""Assert that ``ours`` equals ``reference``, and record it.

    Parameters
    ----------
    label : str
        The equation or correction this proves (its MyST label).
    ours, reference : array_like, torch.Tensor or float
        Same shape, float64 or integers. With ``method="printed numbers"``
        the reference is the printed text: a string such as ``"2.5908"``, or
        a (nested) list of them.
    method : str
        How ``reference`` was computed, one of :data:`METHODS`.
    tolerance : float
        The largest error allowed. Printed numbers take theirs from their
        digits: half a unit in the last one, absolutely, entry by entry.
    zero : bool
        The claim is that ``ours`` is 0: the reference must be exactly 0,
        and ours within ``tolerance`` of it.

    Raises
    ------
    AssertionError
        The error exceeds ``tolerance``.
    TypeError, ValueError
        A side is not float64, the shapes differ, or the comparison is
        vacuous: both sides are smaller than the tolerance, and the claim is
        not declared ``zero=True``.
    """
    _check_method(method)
    if method == "printed numbers":
        _check_printed(label, ours, reference, tolerance, zero)
        return
    if zero:
        _check_zero(label, ours, reference, method, tolerance)
        return
    error = max_error(ours, reference)
    if not error <= tolerance:
        raise AssertionError(
            f"{label}: ours differs from the reference ({method}) by "
            f"{error:.3g}, over the tolerance {tolerance:.3g}; "
            + _worst_entry(ours, reference)
        )
    if _too_small(ours, reference, tolerance):
        raise ValueError(
            f"{label}: both sides are smaller than the tolerance "
            f"{tolerance:.3g} (ours up to {_size(ours):.3g}, the reference "
            f"up to {_size(reference):.3g}), so the comparison proves "
            "nothing: compare quantities of a size the tolerance can tell "
            "apart (scale them, or compare the terms that cancel), or, if "
            "the claim is that ours is 0, say so with zero=True"
        )
    _show(Record(label, method, "agrees", 1, error, tolerance, _anchor()))


def _size(x):
    """The largest magnitude of an array's entries (0 for an empty one)."""
    array = _as_float64(x, "a side")
    return float(np.abs(array).max()) if array.size else 0.0


def _too_small(ours, reference, tolerance):
    """Both sides smaller than the tolerance: any formula would pass."""
    return _size(ours) < tolerance and _size(reference) < tolerance


def _check_zero(label, ours, reference, method, tolerance):
    """``zero=True``: the reference is exactly 0, ours within the tolerance."""
    reference_size = _size(reference)
    if reference_size != 0:
        raise ValueError(
            f"{label}: zero=True claims that ours is 0, but the reference "
            f"is not 0 (up to {reference_size:.3g})"
        )
    error = max_error(ours, reference)
    if not error <= tolerance:
        raise AssertionError(
            f"{label}: ours should be 0 ({method}), and is up to "
            f"{error:.3g}, over the tolerance {tolerance:.3g}; "
            + _worst_entry(ours, reference)
        )
    _show(Record(label, method, "agrees", 1, error, tolerance, _anchor(),
                 exact_zero=True))


def printed_values(printed):
    r"""Printed numbers, as the page or the source shows them, with the
    tolerance each one carries: half a unit in its last digit.

    Parameters
    ----------
    printed : str or (nested) sequence of str
        E.g. ``"2.5908"``, ``["0.45", "-0.79"]`` or ``"1.8e308"``.

    Returns
    -------
    values, tolerances : ndarray of float64, same shape as ``printed``
        ``"2.5908"`` gives 2.5908 and :math:`5 \cdot 10^{-5}`; ``"1.8e308"``
        gives :math:`1.8 \cdot 10^{308}` and :math:`5 \cdot 10^{306}`.

    Raises
    ------
    TypeError
        An entry is not a string (a float has lost its printed digits).
    ValueError
        A string is not a number.
    """
    array = np.asarray(printed, dtype=object)
    values = np.empty(array.shape)
    tolerances = np.empty(array.shape)
    for index, text in np.ndenumerate(array):
        if not isinstance(text, str):
            raise TypeError(
                f"printed numbers are given as the printed text, e.g. "
                f"'2.5908', so that their digits set the tolerance; got "
                f"{text!r}"
            )
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a printed number") from None
        if not number.is_finite():
            raise ValueError(f"{text!r} is not a printed number")
        values[index] = float(number)
        tolerances[index] = float(Decimal(5).scaleb(
            number.as_tuple().exponent - 1))
    return values, tolerances


def _precision(tolerances):
    """What the printed numbers' last digits are, for the record: "4
    decimals", "2 to 4 decimals", "units" (whole numbers), or "units of
    1e+307"."""
    exponents = sorted({round(math.log10(2 * t)) for t in tolerances.flat})
    if exponents[-1] > 0:
        units = ", ".join(f"{10.0 ** e:.0e}" for e in exponents)
        return f"units of {units}"
    decimals = sorted(-e for e in exponents)
    if decimals == [0]:
        return "units"
    if len(decimals) == 1:
        return f"{decimals[0]} decimal" + ("s" if decimals[0] != 1 else "")
    return f"{decimals[0]} to {decimals[-1]} decimals"


def _check_printed(label, ours, printed, tolerance, zero):
    """``method="printed numbers"``: each printed number is ours rounded
    to its last digit, within half a unit of it, absolutely."""
    if tolerance != DEFAULT_TOLERANCE or zero:
        raise ValueError(
            f"{label}: printed numbers take their tolerance from their "
            "digits (half a unit in the last one); give no tolerance or "
            "zero"
        )
    values, tolerances = printed_values(printed)
    ours = _as_float64(ours, "ours")
    if ours.shape != values.shape:
        raise ValueError(
            f"ours has shape {ours.shape} and the printed numbers "
            f"{values.shape}: a check compares arrays of the same shape, "
            "it never broadcasts"
        )
    with np.errstate(invalid="ignore"):
        errors = np.abs(ours - values)
    errors = np.where(np.isnan(errors), np.inf, errors)
    # A printed decimal is itself rounded to the nearest double: allow that.
    allowed = tolerances * (1 + 1e-9)
    bad = errors > allowed
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        shown = np.asarray(printed, dtype=object)[index] if index else printed
        raise AssertionError(
            f"{label}: ours is {ours[index]:.10g} where the page prints "
            f"{shown}, off by {errors[index]:.3g}, more than half a unit in "
            f"its last digit ({tolerances[index]:.3g}); at index {index}"
        )
    _show(Record(label, "printed numbers", "agrees", 1,
                 float(errors.max()) if errors.size else 0.0,
                 float(tolerances.max()) if tolerances.size else 0.0,
                 _anchor(), printed=_precision(tolerances)))


def refute(label, wrong, reference, *, method, at_least=1e-3):
    r"""Assert that a wrong formula's value differs from the reference.

    Used for corrections: the source's formula, computed as printed, is
    compared with the right value, and must miss it by at least
    ``at_least``, so that a mistake of our own in writing down the wrong
    formula cannot make it accidentally right.

    Parameters
    ----------
    label : str
        The correction this proves.
    wrong, reference : array_like, torch.Tensor or float
        Same shape, float64 or integers.
    method : str
        How ``reference`` was computed, one of :data:`METHODS`.
    at_least : float
        The smallest error that counts as wrong.

    Raises
    ------
    AssertionError
        The wrong formula comes within ``at_least`` of the reference.
    """
    _check_method(method)
    error = max_error(wrong, reference)
    if not error >= at_least:
        raise AssertionError(
            f"{label}: the wrong formula is within {error:.3g} of the "
            f"reference ({method}); expected a difference of at least "
            f"{at_least:.3g}"
        )
    _show(Record(label, method, "differs", 1, error, at_least,
                        _anchor()))


def _same_cases_wherever_installed():
    """Make Hypothesis draw the same cases whether this package is installed
    editable (the book's build) or as a wheel (a reader's notebook).

    Hypothesis mixes into its draws the constants it finds in the source of
    *local* modules, those outside site-packages: an editable ``nnmath`` is
    local, a wheel is not, so the same chapter drew other cases, and printed
    other counts and errors, in a reader's notebook than on its page. Its
    pinned version (``requirements.txt``) reads them through one function,
    replaced here by one that finds none. A version without that function
    is an error, not other cases unnoticed.
    """
    from hypothesis.internal.conjecture import providers

    if getattr(providers, "_get_local_constants", None) is _no_local_constants:
        return
    if not hasattr(providers, "_get_local_constants"):
        raise RuntimeError(
            "this Hypothesis has no providers._get_local_constants: check "
            "that nnmath.verify still draws the same cases in a build and "
            "in a notebook")
    providers._get_local_constants = _no_local_constants
    providers.CONSTANTS_CACHE.cache.clear()  # constants drawn before, if any


def _no_local_constants():
    from hypothesis.internal.conjecture import providers

    return providers.Constants()


def check_all(label, inputs, claim, *, method, cases=100,
              tolerance=DEFAULT_TOLERANCE, zero=False):
    r"""Assert a claim about all inputs on ``cases`` random ones, and record
    it.

    Hypothesis draws the inputs from the strategy ``inputs``,
    derandomized (the same cases on every build), and on a failure
    shrinks it to a small counterexample, which the error names.

    Parameters
    ----------
    label : str
        The equation or correction this proves.
    inputs : hypothesis strategy
        Draws one case, e.g. :func:`batches`.
    claim : callable
        ``claim(case)`` returns either a pair ``(ours, reference)``, which
        must agree within ``tolerance``, or a boolean (array), which must
        be true (for inequalities such as :math:`0 < \sigma' \le 1/4`).
    method : str
        How the reference is computed, one of :data:`METHODS`.
    cases : int
        How many distinct cases to try; fewer is an error.
    tolerance : float
    zero : bool
        The claim is that ours is 0 in every case: each pair's reference is
        exactly 0, and ours within ``tolerance`` of it.

    A pair whose two sides are both smaller than ``tolerance`` proves
    nothing: the record counts such cases, and a claim for which every case
    is one is refused (``ValueError``), unless declared ``zero=True``.
    The record's method reads ``"property: <method>"``.
    """
    from hypothesis import HealthCheck, given, settings

    _check_method(method)
    _same_cases_wherever_installed()
    errors = []
    trivial = []

    def one_case(case):
        outcome = claim(case)
        if isinstance(outcome, tuple):
            if zero and _size(outcome[1]) != 0:
                raise ValueError(
                    f"{label}: zero=True claims that ours is 0, but the "
                    f"reference is not 0 for {case!r}"
                )
            error = max_error(*outcome)
            if not error <= tolerance:
                raise AssertionError(
                    f"{label}: the claim fails for {case!r}: error "
                    f"{error:.3g} over the tolerance {tolerance:.3g}"
                )
            trivial.append(not zero and _too_small(*outcome, tolerance))
        else:
            if not np.all(outcome):
                raise AssertionError(
                    f"{label}: the claim is false for {case!r}")
            error = math.nan
        errors.append(error)

    run = settings(
        max_examples=cases, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
    )(given(inputs)(one_case))
    run()
    if len(errors) < cases:
        raise ValueError(
            f"{label}: only {len(errors)} distinct cases could be drawn, "
            f"{cases} were asked for; widen the strategy"
        )
    if trivial and all(trivial):
        raise ValueError(
            f"{label}: in every case both sides are smaller than the "
            f"tolerance {tolerance:.3g}, so the claim is not tested: compare "
            "quantities of a size the tolerance can tell apart, or, if the "
            "claim is that ours is 0, say so with zero=True"
        )
    finite = [error for error in errors if not math.isnan(error)]
    worst = max(finite) if finite else math.nan
    bound = tolerance if finite else math.nan
    _show(Record(label, f"property: {method}", "agrees", len(errors),
                 worst, bound, _anchor(), exact_zero=zero,
                 trivial_cases=sum(trivial)))


def batches(min_rows=2, max_rows=6, min_cols=2, max_cols=6,
            scales=(1e-3, 1.0, 30.0)):
    r"""A Hypothesis strategy for float64 arrays of shape (N, n).

    N and n vary (N > 1 by default, so a batch is a batch) and the entries
    are uniform in :math:`[-s, s]` for a scale :math:`s` drawn from
    ``scales``, so small, ordinary and large magnitudes all occur. The
    entries come from a generator seeded by Hypothesis: drawn entry by entry
    by Hypothesis, about one batch in five was all zeros and half had at
    most two distinct values, which made many checks weaker than they say.

    Returns
    -------
    hypothesis strategy of ndarray, shape (N, n)
    """
    from hypothesis import strategies as st

    @st.composite
    def draw_batch(draw):
        shape = (draw(st.integers(min_rows, max_rows)),
                 draw(st.integers(min_cols, max_cols)))
        scale = draw(st.sampled_from(scales))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return scale * rng.uniform(-1.0, 1.0, size=shape)

    return draw_batch()


def max_error(ours, reference):
    r"""The largest entrywise error
    :math:`|o_k - r_k| / \max(1, |r_k|)`; equal infinities count as 0.

    Raises TypeError unless both sides are float64 or integers, and
    ValueError unless they have the same shape.
    """
    errors = _entry_errors(ours, reference)
    return float(errors.max()) if errors.size else 0.0


def _entry_errors(ours, reference):
    """The error of each entry; NaN on either side is an infinite error."""
    ours = _as_float64(ours, "ours")
    reference = _as_float64(reference, "reference")
    if ours.shape != reference.shape:
        raise ValueError(
            f"ours has shape {ours.shape} and the reference "
            f"{reference.shape}: a check compares arrays of the same shape, "
            "it never broadcasts"
        )
    with np.errstate(invalid="ignore"):
        errors = np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))
    errors = np.where(ours == reference, 0.0, errors)  # also equal infinities
    return np.where(np.isnan(errors), np.inf, errors)


def _worst_entry(ours, reference):
    """Where the error is largest, and the two values there."""
    ours = _as_float64(ours, "ours")
    reference = _as_float64(reference, "reference")
    errors = _entry_errors(ours, reference)
    index = np.unravel_index(np.argmax(errors), errors.shape)
    return (f"the largest error is at index {tuple(map(int, index))}: ours "
            f"{ours[index]:.6g}, reference {reference[index]:.6g}")


def _as_float64(x, name):
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if array.dtype != np.float64:
        raise TypeError(
            f"{name} has dtype {array.dtype}: checks compare in float64"
        )
    return array


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _anchor():
    return f"check-{next(_anchors)}"


def _escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _show(record):
    """Record it; display it in a notebook, print its line elsewhere."""
    RECORDED.append(record)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(record)
    else:
        print(record.summary())


def records_in(outputs):
    """The check records among a code cell's outputs (nbformat dicts)."""
    return [output["data"][MIME_TYPE] for output in outputs
            if MIME_TYPE in output.get("data", {})]


def _json_number(value):
    """JSON has no NaN or infinity: NaN is null, infinity "inf" or "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def record_from_json(data):
    """A :class:`Record` from its MIME data (the inverse of its JSON form)."""
    data = dict(data)
    for key in ("max_error", "tolerance"):
        data[key] = math.nan if data[key] is None else float(data[key])
    return Record(**data)


__all__ = ["MIME_TYPE", "METHODS", "Record", "check", "refute", "check_all",
           "batches", "max_error", "printed_values", "records_in",
           "record_from_json"]
