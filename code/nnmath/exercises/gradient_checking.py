r"""The exercises of the chapter :doc:`gradient-checking`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath.exercises import Case, Exercise, Slip


def numerical_gradient(f, x, h):
    r"""The gradient of a scalar function by central differences, one entry
    at a time.

    .. math:: \frac{\partial f}{\partial x_k} \approx
              \frac{f(x + h e_k) - f(x - h e_k)}{2h}

    with :math:`e_k` the unit array of entry k.

    Parameters
    ----------
    f : callable
        Takes an array of the shape of ``x``, returns a number.
    x : ndarray, any shape
        Where to differentiate; change its entries only for a moment.
    h : float
        The step.

    Returns
    -------
    ndarray, the shape of ``x``

    Book: :doc:`gradient-checking`
    """
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        saved = x[k]
        x[k] = saved + h
        up = f(x)
        x[k] = saved - h
        down = f(x)
        x[k] = saved
        grad[k] = (up - down) / (2 * h)
    return grad


class _CubicPlusSquare:
    r""":math:`f(x) = \sum_k c_k x_k^3 + (a^T x)^2`: its central
    differences are known exactly, :math:`3 c_k x_k^2 + c_k h^2 + 2 (a^T x)
    a_k`, and its square couples the entries."""

    def __init__(self, c, a):
        self.c, self.a = c, a

    def __call__(self, x):
        return float(np.sum(self.c * x**3) + np.sum(self.a * x) ** 2)


def _central_reference(f, x, h):
    return 3 * f.c * x**2 + f.c * h**2 + 2 * np.sum(f.a * x) * f.a


@cache
def _gradient_cases():
    rng = np.random.default_rng(209)
    cases = []
    for shape, h in [((5,), 1e-3), ((3, 4), 1e-2), ((2, 3), 1e-3)]:
        f = _CubicPlusSquare(rng.normal(size=shape), rng.normal(size=shape))
        x = rng.normal(size=shape)
        cases.append(Case((f, x, h),
                          f"f(x) = ∑ c_k x_k³ + (aᵀx)², x {shape}, "
                          f"h = {h:g}"))
    return cases


def _forward_difference(f, x, h):
    return (f.c * (3 * x**2 + 3 * x * h + h**2)
            + 2 * np.sum(f.a * x) * f.a + h * f.a**2)


def _not_restored(f, x, h):
    """Entry k measured with every earlier entry j left at x_j − h."""
    earlier = (np.cumsum(f.a.ravel()) - f.a.ravel()).reshape(x.shape)
    return (3 * f.c * x**2 + f.c * h**2
            + 2 * (np.sum(f.a * x) - h * earlier) * f.a)


def _derivative(f, x, h):
    """The exact gradient, which central differences with a step far below
    h give (to rounding)."""
    return 3 * f.c * x**2 + 2 * np.sum(f.a * x) * f.a


def _all_at_once(f, x, h):
    along_ones = np.sum(f.c * (3 * x**2 + h**2)) + 2 * np.sum(f.a * x) * \
        np.sum(f.a)
    return np.full(x.shape, along_ones)


def _gradient_forward(f, x, h):
    grad = np.zeros_like(x)
    base = f(x)
    for k in np.ndindex(x.shape):
        x[k] += h
        grad[k] = (f(x) - base) / h
        x[k] -= h
    return grad


def _gradient_over_h(f, x, h):
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        x[k] += h
        up = f(x)
        x[k] -= 2 * h
        down = f(x)
        x[k] += h
        grad[k] = (up - down) / h
    return grad


def _gradient_not_restored(f, x, h):
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        x[k] += h
        up = f(x)
        x[k] -= 2 * h
        down = f(x)
        grad[k] = (up - down) / (2 * h)
    return grad


def _gradient_own_step(f, x, h):
    """The book's central difference, with a step of its own instead of h."""
    return numerical_gradient(f, x, 1e-5)


def _gradient_all_at_once(f, x, h):
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        grad[k] = (f(x + h) - f(x - h)) / (2 * h)
    return grad


NUMERICAL_GRADIENT = Exercise(
    name="numerical_gradient",
    chapter="gradient-checking",
    solution=numerical_gradient,
    reference=_central_reference,
    cases=_gradient_cases,
    outputs=("gradient",),
    shapes=("the shape of x",),
    about="x a vector of 5 or a matrix of 2 × 3 or 3 × 4, steps h of 1e-3 "
          "and 1e-2, against the central differences computed exactly",
    tolerance=1e-7,
    slips=(
        Slip("forward-difference",
             "That is the forward difference (f(x + h e_k) − f(x))/h, "
             "whose error is of order h: the central difference "
             "(f(x + h e_k) − f(x − h e_k))/(2h) cancels the term in h "
             "and errs by order h² only.",
             lambda right, f, x, h: _forward_difference(f, x, h),
             _gradient_forward),
        Slip("over-h",
             "You divided by h: the points x + h e_k and x − h e_k are 2h "
             "apart, so the central difference divides by 2h; yours is "
             "twice too large.",
             lambda right, f, x, h: 2 * right, _gradient_over_h),
        Slip("not-restored",
             "You do not put x_k back after the two evaluations, so every "
             "later entry is measured at a shifted point: save x[k], "
             "perturb it, evaluate, and restore it before the next k.",
             lambda right, f, x, h: _not_restored(f, x, h),
             _gradient_not_restored),
        Slip("all-at-once",
             "You move every entry of x at once (x + h): that measures "
             "the derivative along the all-ones direction, the sum of "
             "all the partial derivatives. Move one entry at a time, "
             "x ± h e_k.",
             lambda right, f, x, h: _all_at_once(f, x, h),
             _gradient_all_at_once),
        Slip("own-step",
             "Your differences do not use the step h they are given: "
             "they come out as the derivative itself, as a step of your "
             "own, far smaller than h, gives. Step by h: the central "
             "difference at h errs by about h²/6 times the third "
             "derivative, and that error is what a gradient check has to "
             "expect.",
             lambda right, f, x, h: _derivative(f, x, h),
             _gradient_own_step),
    ),
)
check_numerical_gradient = NUMERICAL_GRADIENT.check


EXERCISES = (NUMERICAL_GRADIENT,)
