r"""The exercises of the chapter :doc:`activations`: the book's solutions,
their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath import activations
from nnmath.exercises import Case, Exercise, Slip


def _activation_cases(seed):
    """Ordinary values, the extremes ±1000 and ±40, and exact zeros."""
    rng = np.random.default_rng(seed)
    extremes = np.array([[-1000.0, -40.0, 0.0, 2.0],
                         [0.5, 40.0, 1000.0, -3.0]])
    return [
        Case((rng.normal(scale=3.0, size=(4, 3)),), "z of shape (4, 3)"),
        Case((extremes,), "z of shape (2, 4), with 0, ±40 and ±1000"),
        Case((np.linspace(-8.0, 8.0, 15).reshape(3, 5),),
             "z of shape (3, 5), from -8 to 8"),
    ]


def sigmoid_prime(z):
    r"""The derivative of the sigmoid, elementwise.

    .. math:: \sigma'(z) = \sigma(z) \big(1 - \sigma(z)\big), \qquad
              \sigma(z) = \frac{1}{1 + e^{-z}}

    Parameters
    ----------
    z : ndarray, any shape

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    s = 1.0 / (1.0 + np.exp(-z))
    return s * (1.0 - s)


def _sigmoid_itself(z):
    return 1 / (1 + np.exp(-z))


def _a_times_one_minus_a_of_z(z):
    return z * (1 - z)


def _one_minus_sigmoid_squared(z):
    s = 1 / (1 + np.exp(-z))
    return 1 - s**2


def _sigmoid_prime_of_exponentials(z):
    e = np.exp(-z)
    return e / (1 + e) ** 2


SIGMOID_PRIME = Exercise(
    name="sigmoid_prime",
    chapter="activations",
    solution=sigmoid_prime,
    reference=activations.sigmoid_prime,
    cases=cache(lambda: _activation_cases(103)),
    outputs=("σ'(z)",),
    shapes=("the shape of z",),
    about="z from -1000 to 1000, zero included",
    slips=(
        Slip("sigmoid-itself",
             "You returned σ(z), the sigmoid itself, not its derivative: "
             "σ'(z) = σ(z)(1 − σ(z)).",
             lambda ref, z: activations.sigmoid(z), _sigmoid_itself),
        Slip("formula-on-z",
             "You applied a(1 − a) to z itself: that formula takes the "
             "sigmoid's output a = σ(z), so σ'(z) = σ(z)(1 − σ(z)).",
             lambda ref, z: z * (1.0 - z), _a_times_one_minus_a_of_z),
        Slip("tanh-pattern",
             "You used 1 − σ(z)², the pattern of tanh' = 1 − tanh²: the "
             "sigmoid's derivative is σ(z)(1 − σ(z)).",
             lambda ref, z: 1.0 - activations.sigmoid(z) ** 2,
             _one_minus_sigmoid_squared),
        Slip("overflow",
             "Your formula gives nan at z = −1000, where σ'(z) is "
             "tiny: e^{−z} overflows to inf, and inf/inf is nan. "
             "Compute s = σ(z) = 1/(1 + e^{−z}) first (it is 0 there, "
             "harmlessly) and return s(1 − s).",
             lambda ref, z: np.exp(-z) / np.square(1.0 + np.exp(-z)),
             _sigmoid_prime_of_exponentials),
    ),
)
check_sigmoid_prime = SIGMOID_PRIME.check


def tanh_prime(z):
    r"""The derivative of tanh, elementwise.

    .. math:: \tanh'(z) = 1 - \tanh^2(z)

    Parameters
    ----------
    z : ndarray, any shape

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    t = np.tanh(z)
    return 1.0 - t * t


def _one_minus_z_squared(z):
    return 1 - z**2


def _one_minus_tanh(z):
    return 1 - np.tanh(z)


def _tanh_times_one_minus_tanh(z):
    t = np.tanh(z)
    return t * (1 - t)


def _tanh_prime_of_exponentials(z):
    up, down = np.exp(z), np.exp(-z)
    t = (up - down) / (up + down)
    return 1 - t**2


def _tanh_from_exponentials(z):
    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))


TANH_PRIME = Exercise(
    name="tanh_prime",
    chapter="activations",
    solution=tanh_prime,
    reference=activations.tanh_prime,
    cases=cache(lambda: _activation_cases(104)),
    outputs=("tanh'(z)",),
    shapes=("the shape of z",),
    about="z from -1000 to 1000, zero included",
    slips=(
        Slip("formula-on-z",
             "You applied 1 − a² to z itself: that formula takes tanh's "
             "output a = tanh(z), so tanh'(z) = 1 − tanh²(z).",
             lambda ref, z: 1.0 - z**2, _one_minus_z_squared),
        Slip("missing-square",
             "You forgot the square: tanh'(z) = 1 − tanh(z)², not "
             "1 − tanh(z).",
             lambda ref, z: 1.0 - np.tanh(z), _one_minus_tanh),
        Slip("sigmoid-pattern",
             "You used the sigmoid's pattern a(1 − a): for tanh the "
             "derivative is 1 − a² with a = tanh(z).",
             lambda ref, z: np.tanh(z) * (1.0 - np.tanh(z)),
             _tanh_times_one_minus_tanh),
        Slip("overflow",
             "Your tanh, built from e^z and e^{−z}, gives nan at "
             "z = ±1000: both overflow to inf, and inf/inf is nan. Use "
             "np.tanh, which is safe for every z, then 1 − tanh².",
             lambda ref, z: 1.0 - _tanh_from_exponentials(z) ** 2,
             _tanh_prime_of_exponentials),
    ),
)
check_tanh_prime = TANH_PRIME.check


def relu_prime(z):
    r"""The derivative of ReLU, elementwise, with 0 at z = 0 as the book
    (and PyTorch) takes it.

    .. math:: \operatorname{ReLU}'(z) =
              \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}

    Parameters
    ----------
    z : ndarray, any shape

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    return (z > 0).astype(np.float64)


@cache
def _relu_cases():
    rng = np.random.default_rng(105)
    scattered = rng.normal(size=(4, 5))
    scattered[1, 2] = scattered[3, 0] = 0.0
    return [
        Case((np.array([[-2.0, 0.0, 3.0], [0.0, 0.5, -0.1]]),),
             "z of shape (2, 3), two entries exactly 0"),
        Case((scattered,), "z of shape (4, 5), two entries exactly 0"),
        Case((rng.integers(-2, 3, size=(3, 4)).astype(np.float64),),
             "z of shape (3, 4), integers from -2 to 2"),
    ]


def _one_at_zero(z):
    return (z >= 0).astype(float)


def _relu_itself(z):
    return np.maximum(z, 0)


def _sign(z):
    return np.sign(z)


def _half_at_zero(z):
    return np.heaviside(z, 0.5)


RELU_PRIME = Exercise(
    name="relu_prime",
    chapter="activations",
    solution=relu_prime,
    reference=activations.relu_prime,
    cases=_relu_cases,
    outputs=("ReLU'(z)",),
    shapes=("the shape of z",),
    about="z of 2 to 4 rows, exact zeros included",
    slips=(
        Slip("one-at-zero",
             "At z = 0 your derivative is 1: ReLU has no derivative "
             "there, and the book (like PyTorch) takes 0, so ReLU'(z) is "
             "1 for z > 0 and 0 for z ≤ 0.",
             lambda ref, z: (z >= 0).astype(np.float64), _one_at_zero),
        Slip("relu-itself",
             "You returned ReLU(z) = max(0, z) itself, not its "
             "derivative, which is 1 for z > 0 and 0 for z ≤ 0.",
             lambda ref, z: activations.relu(z), _relu_itself),
        Slip("sign",
             "You returned the sign of z, −1 for z < 0: there ReLU is "
             "constant, so its derivative is 0 (1 for z > 0, 0 for "
             "z ≤ 0).",
             lambda ref, z: np.sign(z), _sign),
        Slip("half-at-zero",
             "At z = 0 your derivative is 1/2: the book (like PyTorch) "
             "takes 0 there, so ReLU'(z) is 1 for z > 0 and 0 for z ≤ 0.",
             lambda ref, z: ref + 0.5 * (z == 0), _half_at_zero),
    ),
)
check_relu_prime = RELU_PRIME.check


EXERCISES = (SIGMOID_PRIME, TANH_PRIME, RELU_PRIME)
