r"""The exercises of the chapter :doc:`vectorized-equations`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath.exercises import Case, Exercise, Slip, describe
from nnmath.layers import Linear


def linear_forward(A, W, b):
    r"""The linear step of one layer, for a batch of examples.

    .. math:: Z = A W^T + \mathbf{1} b^T

    Parameters
    ----------
    A : ndarray, shape (N, n_{l-1})
        The previous layer's outputs, one example per row.
    W : ndarray, shape (n_l, n_{l-1})
        Row j holds the weights of neuron j.
    b : ndarray, shape (n_l,)

    Returns
    -------
    ndarray, shape (N, n_l)

    Book: :doc:`vectorized-equations`
    """
    return A @ W.T + b


@cache
def _linear_cases():
    rng = np.random.default_rng(101)
    cases = []
    for N, n_in, n_out in [(4, 3, 2), (5, 3, 3), (2, 1, 4), (6, 5, 2)]:
        A = rng.normal(size=(N, n_in))
        W = rng.normal(size=(n_out, n_in))
        b = rng.normal(size=n_out)
        cases.append(Case((A, W, b), describe(A=A, W=W, b=b)))
    return cases


def _z_transposed(A, W, b):
    return W @ A.T + b[:, None]


def _w_not_transposed(A, W, b):
    Z = A @ W
    return Z + b


def _no_bias(A, W, b):
    return A @ W.T


LINEAR_FORWARD = Exercise(
    name="linear_forward",
    chapter="vectorized-equations",
    solution=linear_forward,
    reference=lambda A, W, b: Linear.from_params(W, b).forward(A),
    cases=_linear_cases,
    outputs=("Z",),
    shapes=("(N, n_l)",),
    about="batches of 2 to 6 examples, layers of 1 to 5 inputs and 2 to "
          "4 neurons, one W square",
    slips=(
        Slip("z-transposed",
             "Your Z is transposed: one example per column, shape "
             "(n_l, N). The book stacks the examples as rows: "
             "Z = A Wᵀ + 1 bᵀ has shape (N, n_l), row i being example "
             "i's zᵀ.",
             lambda Z, A, W, b: Z.T, _z_transposed),
        Slip("w-not-transposed",
             "You multiply A by W instead of Wᵀ: W has shape "
             "(n_l, n_{l-1}), so A W only fits when W is square, and "
             "then gives the wrong numbers. The batch form is "
             "Z = A Wᵀ + 1 bᵀ.",
             lambda Z, A, W, b: A @ W + b, _w_not_transposed),
        Slip("no-bias",
             "The bias is missing: every example's z gets b added, "
             "Z = A Wᵀ + 1 bᵀ (adding b of shape (n_l,) to an (N, n_l) "
             "array adds it to every row).",
             lambda Z, A, W, b: Z - b, _no_bias),
    ),
)
check_linear_forward = LINEAR_FORWARD.check


# Vectorized equations: the gradient of a linear layer


def layer_gradients(delta, A):
    r"""The gradients of a layer's parameters, from its error and its input.

    With :math:`\delta = \partial \mathcal{L} / \partial Z` for
    :math:`Z = A W^T + \mathbf{1} b^T`, where :math:`\delta` already carries
    the :math:`1/N` of the mean loss:

    .. math:: \frac{\partial \mathcal{L}}{\partial W} = \delta^T A, \qquad
              \frac{\partial \mathcal{L}}{\partial b} = \delta^T \mathbf{1}

    Parameters
    ----------
    delta : ndarray, shape (N, n_l)
    A : ndarray, shape (N, n_{l-1})
        The layer's input.

    Returns
    -------
    dW : ndarray, shape (n_l, n_{l-1})
    db : ndarray, shape (n_l,)

    Book: :doc:`vectorized-equations`
    """
    return delta.T @ A, delta.sum(axis=0)


@cache
def _layer_gradient_cases():
    rng = np.random.default_rng(102)
    cases = []
    for N, n_in, n_out in [(4, 3, 2), (3, 5, 3), (5, 4, 5), (2, 2, 4)]:
        delta = rng.normal(size=(N, n_out)) / N
        A = rng.normal(size=(N, n_in))
        cases.append(Case((delta, A), describe(delta=delta, A=A)))
    return cases


def _layer_gradients_reference(delta, A):
    n_out, n_in = delta.shape[1], A.shape[1]
    layer = Linear.from_params(np.zeros((n_out, n_in)), np.zeros(n_out))
    layer.forward(A)
    layer.backward(delta, input_grad=False)
    return layer.dW, layer.db


def _dw_transposed(delta, A):
    return A.T @ delta, delta.sum(axis=0)


def _gradients_mean(delta, A):
    N = len(A)
    return delta.T @ A / N, delta.mean(axis=0)


def _db_wrong_axis(delta, A):
    return delta.T @ A, delta.sum(axis=1)


def _db_not_summed(delta, A):
    return delta.T @ A, delta


LAYER_GRADIENTS = Exercise(
    name="layer_gradients",
    chapter="vectorized-equations",
    solution=layer_gradients,
    reference=_layer_gradients_reference,
    cases=_layer_gradient_cases,
    outputs=("dW", "db"),
    shapes=("(n_l, n_{l-1})", "(n_l,)"),
    about="batches of 2 to 5 examples, layers of 2 to 5 inputs and "
          "neurons, random δ",
    slips=(
        Slip("dw-transposed",
             "Your dW is transposed, like Aᵀ δ: the gradient of W has "
             "W's shape (n_l, n_{l-1}), and ∂ℒ/∂W = δᵀ A.",
             lambda grads, delta, A: (grads[0].T, grads[1]),
             _dw_transposed),
        Slip("mean",
             "Your gradients are N times too small: you divided by N, "
             "but δ = ∂ℒ/∂Z already carries the 1/N of the mean loss, so "
             "dW = δᵀ A and db = δᵀ 1 are plain sums over the examples.",
             lambda grads, delta, A: (grads[0] / len(A), grads[1] / len(A)),
             _gradients_mean),
        Slip("db-wrong-axis",
             "Your db sums over the wrong axis, the neurons: b has one "
             "entry per neuron, and db = δᵀ 1 sums δ over its rows, the "
             "examples (axis 0).",
             lambda grads, delta, A: (grads[0], delta.sum(axis=1)),
             _db_wrong_axis),
        Slip("db-not-summed",
             "Your db is δ itself, one row per example: every example "
             "uses the bias, so its gradient sums their contributions, "
             "db = δᵀ 1, of shape (n_l,).",
             lambda grads, delta, A: (grads[0], delta), _db_not_summed),
    ),
)
check_layer_gradients = LAYER_GRADIENTS.check


EXERCISES = (LINEAR_FORWARD, LAYER_GRADIENTS)
