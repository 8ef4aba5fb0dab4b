r"""The exercises of the chapter :doc:`traced-example`: the book's solutions,
their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath import activations
from nnmath.autodiff import Tensor
from nnmath.exercises import Case, Exercise, Slip


def neuron_gradient(x, w, b, y):
    r"""The gradient of one sigmoid neuron's binary cross-entropy, for one
    example.

    .. math:: z = w^T x + b, \quad a = \sigma(z), \quad
              \ell = -\big(y \log a + (1 - y) \log(1 - a)\big)

    .. math:: \frac{\partial \ell}{\partial w} = (a - y)\, x, \qquad
              \frac{\partial \ell}{\partial b} = a - y

    Parameters
    ----------
    x : ndarray, shape (n,)
        The example's inputs.
    w : ndarray, shape (n,)
        The neuron's weights.
    b : float
    y : float
        The target, 0 or 1.

    Returns
    -------
    dw : ndarray, shape (n,)
    db : float

    Book: :doc:`traced-example`
    """
    a = activations.sigmoid(w @ x + b)
    return (a - y) * x, a - y


def _neuron_reference(x, w, b, y):
    """By the autodiff engine, on the loss written out."""
    w_t, b_t = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    a = ((w_t * x).sum() + b_t).sigmoid()
    (-(y * a.log() + (1.0 - y) * (1.0 - a).log())).backward()
    return w_t.grad, b_t.grad


@cache
def _neuron_cases():
    rng = np.random.default_rng(201)
    cases = [Case((np.array([0.9, 0.5, 0.3]), np.array([0.2, 0.1, 0.4]),
                   0.1, 1.0), "the book's neuron, n = 3, y = 1")]
    for n, y in [(4, 0.0), (5, 1.0), (2, 0.0)]:
        x, w = rng.normal(size=n), rng.normal(size=n)
        cases.append(Case((x, w, float(rng.normal()), y),
                          f"a neuron of n = {n} inputs, y = {y:g}"))
    return cases


def _error(x, w, b, y):
    """δ = a − y, the neuron's error."""
    return activations.sigmoid(w @ x + b) - y


def _neuron_swapped(x, w, b, y):
    a = 1 / (1 + np.exp(-(w @ x + b)))
    return (a - y) * w, a - y


def _neuron_sign(x, w, b, y):
    a = 1 / (1 + np.exp(-(w @ x + b)))
    return (y - a) * x, y - a


def _neuron_without_sigmoid(x, w, b, y):
    z = w @ x + b
    return (z - y) * x, z - y


def _neuron_extra_derivative(x, w, b, y):
    a = 1 / (1 + np.exp(-(w @ x + b)))
    delta = (a - y) * a * (1 - a)
    return delta * x, delta


def _neuron_bias_times_x(x, w, b, y):
    a = 1 / (1 + np.exp(-(w @ x + b)))
    return (a - y) * x, (a - y) * x


NEURON_GRADIENT = Exercise(
    name="neuron_gradient",
    chapter="traced-example",
    solution=neuron_gradient,
    reference=_neuron_reference,
    cases=_neuron_cases,
    outputs=("dw", "db"),
    shapes=("(n,), the shape of w", "(), one number"),
    about="the book's neuron and neurons of 2 to 5 inputs, targets 0 and 1",
    slips=(
        Slip("swapped",
             "Your ∂ℒ/∂w uses the weights where it needs the inputs: a "
             "multiply node u = w_k x_k gives each factor the upstream "
             "gradient times the other one, so ∂ℒ/∂w_k = (a − y) x_k.",
             lambda grads, x, w, b, y: (grads[1] * w, grads[1]),
             _neuron_swapped),
        Slip("sign",
             "Your gradients have the wrong sign: the error of the neuron "
             "is a − y, prediction minus target, so ∂ℒ/∂w = (a − y) x.",
             lambda grads, x, w, b, y: (-grads[0], -grads[1]),
             _neuron_sign),
        Slip("no-sigmoid",
             "You used z − y: the neuron's error is a − y, with "
             "a = σ(z) its output (what cancels is the sigmoid's "
             "derivative, not the sigmoid).",
             lambda grads, x, w, b, y: ((w @ x + b - y) * x, w @ x + b - y),
             _neuron_without_sigmoid),
        Slip("extra-derivative",
             "You multiplied by σ'(z) once more: ∂ℒ/∂a · σ'(z) is already "
             "a − y (the loss's 1/(a(1 − a)) cancels σ'(z) = a(1 − a)), so "
             "∂ℒ/∂w = (a − y) x.",
             lambda grads, x, w, b, y: (
                 grads[0] * activations.sigmoid_prime(w @ x + b),
                 grads[1] * activations.sigmoid_prime(w @ x + b)),
             _neuron_extra_derivative),
        Slip("bias-times-x",
             "Your ∂ℒ/∂b is multiplied by the inputs: b enters z with the "
             "coefficient 1, so ∂ℒ/∂b = a − y, one number.",
             lambda grads, x, w, b, y: (grads[0], grads[0]),
             _neuron_bias_times_x),
    ),
)
check_neuron_gradient = NEURON_GRADIENT.check


EXERCISES = (NEURON_GRADIENT,)
