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

Book: :doc:`how-to-read`
"""

import itertools
import math
from dataclasses import asdict, dataclass

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
    """

    label: str
    method: str
    outcome: str
    cases: int
    max_error: float
    tolerance: float
    anchor: str

    def summary(self):
        """One line for the reader, e.g. ``✓ eq-x: autograd, 1 case,
        error < 1e-12, tolerance 1e-10``."""
        cases = f"{self.cases} case" + ("s" if self.cases != 1 else "")
        if math.isnan(self.max_error):
            measured = "holds in every case"
        elif self.outcome == "differs":
            measured = (f"the wrong formula is off by "
                        f"{self.max_error:.2g} ≥ {self.tolerance:.2g}")
        else:
            measured = (f"error {_order(self.max_error)}, "
                        f"tolerance {self.tolerance:.2g}")
        return f"✓ {self.label}: {self.method}, {cases}, {measured}"

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


def check(label, ours, reference, *, method, tolerance=DEFAULT_TOLERANCE):
    r"""Assert that ``ours`` equals ``reference``, and record it.

    Parameters
    ----------
    label : str
        The equation or correction this proves (its MyST label).
    ours, reference : array_like, torch.Tensor or float
        Same shape, float64 or integers.
    method : str
        How ``reference`` was computed, one of :data:`METHODS`.
    tolerance : float
        The largest error allowed.

    Raises
    ------
    AssertionError
        The error exceeds ``tolerance``.
    TypeError, ValueError
        A side is not float64, or the shapes differ.
    """
    _check_method(method)
    error = max_error(ours, reference)
    if not error <= tolerance:
        raise AssertionError(
            f"{label}: ours differs from the reference ({method}) by "
            f"{error:.3g}, over the tolerance {tolerance:.3g}; "
            + _worst_entry(ours, reference)
        )
    _show(Record(label, method, "agrees", 1, error, tolerance,
                        _anchor()))


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


def check_all(label, inputs, claim, *, method, cases=100,
              tolerance=DEFAULT_TOLERANCE):
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

    The record's method reads ``"property: <method>"``.
    """
    from hypothesis import HealthCheck, given, settings

    _check_method(method)
    errors = []

    def one_case(case):
        outcome = claim(case)
        if isinstance(outcome, tuple):
            error = max_error(*outcome)
            if not error <= tolerance:
                raise AssertionError(
                    f"{label}: the claim fails for {case!r}: error "
                    f"{error:.3g} over the tolerance {tolerance:.3g}"
                )
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
    finite = [error for error in errors if not math.isnan(error)]
    worst = max(finite) if finite else math.nan
    _show(Record(label, f"property: {method}", "agrees", len(errors),
                        worst, tolerance if finite else math.nan,
                        _anchor()))


def batches(min_rows=2, max_rows=6, min_cols=2, max_cols=6,
            scales=(1e-3, 1.0, 30.0)):
    r"""A Hypothesis strategy for float64 arrays of shape (N, n).

    N and n vary (N > 1 by default, so a batch is a batch) and the entries
    are uniform in :math:`[-s, s]` for a scale :math:`s` drawn from
    ``scales``, so small, ordinary and large magnitudes all occur.

    Returns
    -------
    hypothesis strategy of ndarray, shape (N, n)
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def draw_batch(draw):
        shape = (draw(st.integers(min_rows, max_rows)),
                 draw(st.integers(min_cols, max_cols)))
        scale = draw(st.sampled_from(scales))
        unit = draw(hnp.arrays(
            np.float64, shape,
            elements=st.floats(-1.0, 1.0, allow_subnormal=False)))
        return scale * unit

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
           "batches", "max_error", "records_in", "record_from_json"]
