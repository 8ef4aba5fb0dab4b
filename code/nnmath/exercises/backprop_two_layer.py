r"""The exercises of the chapter :doc:`backprop-two-layer`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath import activations, layers
from nnmath.exercises import Case, Exercise, Slip


def two_layer_gradients(X, Y, W1, b1, W2, b2):
    r"""The gradients of a two-layer sigmoid network with binary
    cross-entropy, summed over the outputs and averaged over the examples.

    Forward: :math:`A^{[1]} = \sigma(X W^{[1]T} + \mathbf{1} b^{[1]T})`,
    :math:`A^{[2]} = \sigma(A^{[1]} W^{[2]T} + \mathbf{1} b^{[2]T})`.
    Backward:

    .. math:: \delta^{[2]} = \frac{1}{N} (A^{[2]} - Y), \qquad
              \delta^{[1]} = (\delta^{[2]} W^{[2]})
              \odot A^{[1]} \odot (1 - A^{[1]})

    .. math:: \frac{\partial \mathcal{L}}{\partial W^{[l]}}
              = \delta^{[l]T} A^{[l-1]}, \qquad
              \frac{\partial \mathcal{L}}{\partial b^{[l]}}
              = \delta^{[l]T} \mathbf{1}, \qquad A^{[0]} = X

    Parameters
    ----------
    X : ndarray, shape (N, n_0)
    Y : ndarray, shape (N, n_2)
        Targets, 0 or 1.
    W1 : ndarray, shape (n_1, n_0)
    b1 : ndarray, shape (n_1,)
    W2 : ndarray, shape (n_2, n_1)
    b2 : ndarray, shape (n_2,)

    Returns
    -------
    dW1, db1, dW2, db2 : ndarray
        The shapes of W1, b1, W2, b2.

    Book: :doc:`backprop-two-layer`
    """
    A1 = activations.sigmoid(X @ W1.T + b1)
    A2 = activations.sigmoid(A1 @ W2.T + b2)
    delta2 = (A2 - Y) / len(X)
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


@cache
def _two_layer_cases():
    rng = np.random.default_rng(202)
    cases = []
    for N, n0, n1, n2 in [(4, 3, 2, 3), (5, 4, 3, 2), (3, 2, 4, 1),
                          (6, 3, 3, 3)]:
        X = rng.normal(size=(N, n0))
        Y = rng.integers(0, 2, size=(N, n2)).astype(np.float64)
        W1, b1 = rng.normal(size=(n1, n0)), rng.normal(size=n1)
        W2, b2 = rng.normal(size=(n2, n1)), rng.normal(size=n2)
        cases.append(Case((X, Y, W1, b1, W2, b2),
                          f"N = {N} examples, sizes {n0}-{n1}-{n2}"))
    return cases


def _two_layer_from(X, Y, W1, b1, W2, b2, output_factor, hidden_factor,
                    back=None):
    """The four gradients when δ^[2] = (A^[2] − Y)/N is multiplied by
    ``output_factor(A2)``, and δ^[2] goes back through the matrix ``back``
    (W^[2] by default) and is multiplied by ``hidden_factor(A1)``."""
    A1 = activations.sigmoid(X @ W1.T + b1)
    A2 = activations.sigmoid(A1 @ W2.T + b2)
    delta2 = (A2 - Y) / len(X) * output_factor(A2)
    delta1 = delta2 @ (W2 if back is None else back) * hidden_factor(A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _output_of_sigmoid(A):
    return A * (1.0 - A)


def _one(A):
    return 1.0


def _two_layer_without_derivative(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) / len(X)
    delta1 = delta2 @ W2
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _two_layer_derivative_of_a(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) / len(X)
    s = 1 / (1 + np.exp(-A1))
    delta1 = (delta2 @ W2) * s * (1 - s)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _two_layer_sum(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = A2 - Y
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _two_layer_mean_over_all(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) / Y.size
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _two_layer_w2_transposed(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) / len(X)
    delta1 = (delta2 @ W2.T) * A1 * (1 - A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


def _two_layer_transposed(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) / len(X)
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    return X.T @ delta1, delta1.sum(axis=0), A1.T @ delta2, delta2.sum(axis=0)


def _two_layer_output_derivative(X, Y, W1, b1, W2, b2):
    A1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    A2 = 1 / (1 + np.exp(-(A1 @ W2.T + b2)))
    delta2 = (A2 - Y) * A2 * (1 - A2) / len(X)
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    return delta1.T @ X, delta1.sum(axis=0), delta2.T @ A1, delta2.sum(axis=0)


TWO_LAYER_GRADIENTS = Exercise(
    name="two_layer_gradients",
    chapter="backprop-two-layer",
    solution=two_layer_gradients,
    reference=lambda *args: tuple(layers.two_layer_gradients(*args)[1:]),
    cases=_two_layer_cases,
    outputs=("dW1", "db1", "dW2", "db2"),
    shapes=("(n_1, n_0)", "(n_1,)", "(n_2, n_1)", "(n_2,)"),
    about="3 to 6 examples, networks of 2 to 4 inputs, 2 to 4 hidden "
          "neurons and 1 to 3 outputs",
    slips=(
        Slip("missing-derivative",
             "Your δ^[1] lacks the sigmoid's derivative: "
             "δ^[1] = (δ^[2] W^[2]) ⊙ A^[1] ⊙ (1 − A^[1]). Layer 2's "
             "gradients are right, layer 1's are not.",
             lambda grads, *args: _two_layer_from(*args, _one, _one),
             _two_layer_without_derivative),
        Slip("derivative-of-a",
             "You took σ' of A^[1], that is σ'(σ(Z^[1])): the derivative "
             "is taken at Z^[1], and from the cached output it is "
             "A^[1] ⊙ (1 − A^[1]).",
             lambda grads, *args: _two_layer_from(
                 *args, _one, activations.sigmoid_prime),
             _two_layer_derivative_of_a),
        Slip("missing-1/N",
             "All four gradients are N times too large: the loss is a "
             "mean over the N examples, so δ^[2] = (A^[2] − Y)/N carries "
             "the 1/N.",
             lambda grads, X, *rest: tuple(len(X) * g for g in grads),
             _two_layer_sum),
        Slip("mean-over-all",
             "All four gradients are n_2 times too small: you averaged "
             "over all N·n_2 entries (PyTorch's default), but this loss "
             "sums over the n_2 outputs and averages over the N "
             "examples, δ^[2] = (A^[2] − Y)/N.",
             lambda grads, X, Y, *rest: tuple(g / Y.shape[1]
                                              for g in grads),
             _two_layer_mean_over_all),
        Slip("w2-transposed",
             "You sent δ^[2] back through W^[2]ᵀ: from "
             "Z^[2] = A^[1] W^[2]ᵀ + 1 b^[2]ᵀ, ∂ℒ/∂A^[1] = δ^[2] W^[2], of "
             "shape (N, n_1); δ^[2] W^[2]ᵀ only fits when W^[2] is square, "
             "and is wrong there.",
             lambda grads, X, Y, W1, b1, W2, b2: _two_layer_from(
                 X, Y, W1, b1, W2, b2, _one, _output_of_sigmoid, back=W2.T),
             _two_layer_w2_transposed),
        Slip("transposed",
             "Your weight gradients are transposed: "
             "∂ℒ/∂W^[l] = δ^[l]ᵀ A^[l−1] has the shape of W^[l], "
             "(n_l, n_{l−1}).",
             lambda grads, *args: (grads[0].T, grads[1], grads[2].T,
                                   grads[3]),
             _two_layer_transposed),
        Slip("output-derivative",
             "You multiplied δ^[2] by σ'(Z^[2]): with the binary "
             "cross-entropy it cancels, and δ^[2] = (A^[2] − Y)/N.",
             lambda grads, *args: _two_layer_from(
                 *args, _output_of_sigmoid, _output_of_sigmoid),
             _two_layer_output_derivative),
    ),
)
check_two_layer_gradients = TWO_LAYER_GRADIENTS.check


EXERCISES = (TWO_LAYER_GRADIENTS,)
