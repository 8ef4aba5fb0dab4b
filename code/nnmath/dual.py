r"""Forward-mode automatic differentiation with dual numbers.

A dual number :math:`a + b\varepsilon` with :math:`\varepsilon^2 = 0` carries
a value and a derivative together. Since
:math:`f(x + \varepsilon) = f(x) + f'(x)\varepsilon` for any differentiable
:math:`f` built from the operations below, evaluating :math:`f` at
``Dual(x, 1)`` returns :math:`f(x)` and :math:`f'(x)` in one forward pass.
"""

import math


class Dual:
    r"""The dual number ``value + derivative * eps``, with
    :math:`\varepsilon^2 = 0`.

    Each operation applies a rule of differentiation to the derivative part:
    the sum, product, quotient and power rules, and the chain rule in the
    functions :func:`exp`, :func:`log`, :func:`sin`, :func:`cos`,
    :func:`sigmoid`.

    Book: :doc:`automatic-differentiation`
    """

    def __init__(self, value, derivative=0.0):
        self.value = float(value)
        self.derivative = float(derivative)

    def __repr__(self):
        return f"Dual({self.value!r}, {self.derivative!r})"

    def __add__(self, other):
        other = _lift(other)
        return Dual(
            self.value + other.value, self.derivative + other.derivative
        )

    def __sub__(self, other):
        other = _lift(other)
        return Dual(
            self.value - other.value, self.derivative - other.derivative
        )

    def __mul__(self, other):
        other = _lift(other)
        return Dual(
            self.value * other.value,
            self.derivative * other.value + self.value * other.derivative,
        )

    def __truediv__(self, other):
        other = _lift(other)
        return Dual(
            self.value / other.value,
            (self.derivative * other.value - self.value * other.derivative)
            / other.value**2,
        )

    def __pow__(self, exponent):
        r""":math:`(u^n)' = n u^{n-1} u'` for a number n;
        :math:`u^v = e^{v \log u}` for a dual v."""
        if isinstance(exponent, Dual):
            return exp(exponent * log(self))
        return Dual(
            self.value**exponent,
            exponent * self.value ** (exponent - 1) * self.derivative,
        )

    def __neg__(self):
        return Dual(-self.value, -self.derivative)

    def __radd__(self, other):
        return _lift(other) + self

    def __rsub__(self, other):
        return _lift(other) - self

    def __rmul__(self, other):
        return _lift(other) * self

    def __rtruediv__(self, other):
        return _lift(other) / self

    def __rpow__(self, base):
        return _lift(base) ** self


def _lift(x):
    """A number becomes a constant: derivative 0."""
    if isinstance(x, Dual):
        return x
    if isinstance(x, int | float):
        return Dual(x, 0.0)
    raise TypeError(
        f"expected a Dual or a real number, got {type(x).__name__}"
    )


def exp(x):
    r""":math:`(e^u)' = e^u u'`.

    Book: :doc:`automatic-differentiation`
    """
    x = _lift(x)
    return Dual(math.exp(x.value), math.exp(x.value) * x.derivative)


def log(x):
    r""":math:`(\log u)' = u' / u`.

    Book: :doc:`automatic-differentiation`
    """
    x = _lift(x)
    return Dual(math.log(x.value), x.derivative / x.value)


def sin(x):
    r""":math:`(\sin u)' = \cos(u) \, u'`.

    Book: :doc:`automatic-differentiation`
    """
    x = _lift(x)
    return Dual(math.sin(x.value), math.cos(x.value) * x.derivative)


def cos(x):
    r""":math:`(\cos u)' = -\sin(u) \, u'`.

    Book: :doc:`automatic-differentiation`
    """
    x = _lift(x)
    return Dual(math.cos(x.value), -math.sin(x.value) * x.derivative)


def sigmoid(x):
    r""":math:`\sigma(u)' = \sigma(u) (1 - \sigma(u)) \, u'`, with
    :math:`\sigma` computed stably.

    Book: :doc:`automatic-differentiation`
    """
    x = _lift(x)
    e = math.exp(-abs(x.value))
    s = 1 / (1 + e) if x.value >= 0 else e / (1 + e)
    return Dual(s, s * (1 - s) * x.derivative)


def derivative(f, x):
    r""":math:`f'(x)`, from one evaluation of ``f`` at the dual number
    :math:`x + \varepsilon`.

    Parameters
    ----------
    f : callable
        Built from the operations of :class:`Dual` and this module's functions.
    x : float

    Returns
    -------
    float

    Book: :doc:`automatic-differentiation`
    """
    return _lift(f(Dual(x, 1.0))).derivative
