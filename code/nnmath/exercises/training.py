r"""The exercises of the chapter :doc:`training`: the book's solutions,
their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

import itertools
from functools import cache

import numpy as np

from nnmath import layers, losses
from nnmath.exercises import Case, Exercise, Slip, Unusable, describe


def sgd_step(W, b, X, y, learning_rate):
    r"""One step of gradient descent for a softmax classifier, on a
    mini-batch of B examples.

    With :math:`Z = X W^T + \mathbf{1} b^T` and the mean cross-entropy of
    the batch, :math:`\delta = (\operatorname{softmax}(Z) - Y) / B`:

    .. math:: W := W - \eta\, \delta^T X, \qquad
              b := b - \eta\, \delta^T \mathbf{1}

    Parameters
    ----------
    W : ndarray, shape (K, n_0)
    b : ndarray, shape (K,)
    X : ndarray, shape (B, n_0)
    y : ndarray of int, shape (B,)
        Class labels in 0 .. K-1.
    learning_rate : float
        :math:`\eta`.

    Returns
    -------
    W, b : ndarray
        The new parameters, in new arrays.

    Book: :doc:`training`
    """
    Z = X @ W.T + b
    delta = losses.cross_entropy_grad(Z, y)
    return W - learning_rate * delta.T @ X, b - learning_rate * delta.sum(0)


def _sgd_reference(W, b, X, y, learning_rate):
    """``MLP.train_step`` of a network with no hidden layer."""
    net = layers.MLP([X.shape[1], len(b)], head="softmax")
    net.layers[0].W, net.layers[0].b = W.copy(), b.copy()
    net.train_step(X, y, learning_rate)
    return net.layers[0].W, net.layers[0].b


@cache
def _sgd_cases():
    rng = np.random.default_rng(210)
    cases = []
    for B, n0, K, eta in [(8, 4, 3, 0.1), (5, 3, 5, 0.5), (6, 2, 2, 0.25),
                          (4, 6, 3, 2.0)]:
        W, b = rng.normal(size=(K, n0)), rng.normal(size=K)
        X, y = rng.normal(size=(B, n0)), rng.integers(0, K, size=B)
        cases.append(Case((W, b, X, y, eta),
                          describe(W=W, b=b, X=X, y=y) + f", η = {eta:g}"))
    return cases


def _run_sgd_step(fn, W, b, X, y, learning_rate):
    """The reader's step, refused when it changed W, b or X in place."""
    before = {"W": W.copy(), "b": b.copy(), "X": X.copy()}
    answer = fn(W, b, X, y, learning_rate)
    changed = [name for name, array in zip(before, (W, b, X), strict=True)
               if not np.array_equal(array, before[name])]
    if changed:
        raise Unusable(
            f"Your function changed {' and '.join(changed)} in place: "
            "return the new W and b in new arrays, W - η δᵀX and "
            "b - η δᵀ1, and leave the arguments as they were.")
    return answer


def _step(W, b, new_W, new_b, factor):
    """The step from (W, b) to (new_W, new_b), times ``factor``."""
    return W + factor * (new_W - W), b + factor * (new_b - b)


def _sgd_gradient(W, b, X, y):
    Z = X @ W.T + b
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    return P


def _sgd_ascent(W, b, X, y, learning_rate):
    delta = _sgd_gradient(W, b, X, y) / len(y)
    return W + learning_rate * delta.T @ X, b + learning_rate * delta.sum(0)


def _sgd_sum(W, b, X, y, learning_rate):
    delta = _sgd_gradient(W, b, X, y)
    return W - learning_rate * delta.T @ X, b - learning_rate * delta.sum(0)


def _sgd_without_rate(W, b, X, y, learning_rate):
    delta = _sgd_gradient(W, b, X, y) / len(y)
    return W - delta.T @ X, b - delta.sum(0)


def _sgd_bias_fixed(W, b, X, y, learning_rate):
    delta = _sgd_gradient(W, b, X, y) / len(y)
    return W - learning_rate * delta.T @ X, b


SGD_STEP = Exercise(
    name="sgd_step",
    chapter="training",
    solution=sgd_step,
    reference=_sgd_reference,
    cases=_sgd_cases,
    outputs=("new W", "new b"),
    shapes=("(K, n_0)", "(K,)"),
    about="batches of 4 to 8 examples, 2 to 5 classes, η from 0.1 to 2",
    run=_run_sgd_step,
    slips=(
        Slip("ascent",
             "Your step goes up the gradient: gradient descent subtracts "
             "it, W := W − η ∂ℒ/∂W and b := b − η ∂ℒ/∂b.",
             lambda new, W, b, X, y, eta: _step(W, b, *new, -1.0),
             _sgd_ascent),
        Slip("sum",
             "Your step is B times too long: the batch's loss is the mean "
             "over its B examples, so δ = (softmax(Z) − Y)/B.",
             lambda new, W, b, X, y, eta: _step(W, b, *new, len(y)),
             _sgd_sum),
        Slip("no-learning-rate",
             "Your step ignores η: W := W − η ∂ℒ/∂W, and b likewise.",
             lambda new, W, b, X, y, eta: _step(W, b, *new, 1.0 / eta),
             _sgd_without_rate),
        Slip("bias-fixed",
             "Your b did not move: the bias has a gradient too, "
             "∂ℒ/∂b = δᵀ 1, and takes the same step, b := b − η δᵀ 1.",
             lambda new, W, b, X, y, eta: (new[0], b), _sgd_bias_fixed),
    ),
)
check_sgd_step = SGD_STEP.check


def full_gradient(batch_gradients, batch_sizes):
    r"""The gradient of the mean loss over all N examples, from the
    gradients of the mean losses of the batches that split them.

    .. math:: \frac{\partial \mathcal{L}}{\partial W}
              = \sum_{\mathcal{B}} \frac{|\mathcal{B}|}{N}
              \frac{\partial \mathcal{L}_{\mathcal{B}}}{\partial W},
              \qquad N = \sum_{\mathcal{B}} |\mathcal{B}|

    Parameters
    ----------
    batch_gradients : list of ndarray, each of shape (n_l, n_{l-1})
        :math:`\partial \mathcal{L}_{\mathcal{B}} / \partial W`, one per
        batch.
    batch_sizes : list of int
        :math:`|\mathcal{B}|`, in the same order.

    Returns
    -------
    ndarray, shape (n_l, n_{l-1})

    Book: :doc:`training`
    """
    N = sum(batch_sizes)
    return sum(size / N * gradient
               for gradient, size in zip(batch_gradients, batch_sizes,
                                         strict=True))


@cache
def _epoch_cases():
    """Batch gradients made as the means of per-example gradients; the
    reference is the mean of all of them."""
    rng = np.random.default_rng(211)
    cases = []
    for sizes, shape in [([3, 3, 1], (2, 3)), ([4, 4, 2], (3, 2)),
                         ([1, 2], (2, 2)), ([2, 2, 2], (4, 3))]:
        per_example = rng.normal(size=(sum(sizes), *shape))
        starts = np.cumsum([0, *sizes])
        batches = [per_example[start:end].mean(axis=0)
                   for start, end in itertools.pairwise(starts)]
        cases.append(Case((batches, sizes, per_example),
                          f"N = {sum(sizes)} examples in batches of "
                          + ", ".join(map(str, sizes))
                          + f", gradients of shape {shape}"))
    return cases


def _run_full_gradient(fn, batches, sizes, per_example):
    return fn(batches, sizes)


def _full_gradient_mean(batch_gradients, batch_sizes):
    return np.mean(batch_gradients, axis=0)


def _full_gradient_sum(batch_gradients, batch_sizes):
    return np.sum(batch_gradients, axis=0)


def _full_gradient_unnormalized(batch_gradients, batch_sizes):
    total = np.zeros_like(batch_gradients[0])
    for gradient, size in zip(batch_gradients, batch_sizes, strict=True):
        total += size * gradient
    return total


FULL_GRADIENT = Exercise(
    name="full_gradient",
    chapter="training",
    solution=full_gradient,
    reference=lambda batches, sizes, per_example: per_example.mean(axis=0),
    cases=_epoch_cases,
    outputs=("gradient",),
    shapes=("(n_l, n_{l-1}), the shape of each batch's gradient",),
    about="epochs of 3 to 10 examples in 2 or 3 batches, two with a "
          "smaller last batch",
    run=_run_full_gradient,
    slips=(
        Slip("plain-mean",
             "You took the plain mean of the batches' gradients: when the "
             "last batch is smaller, its few examples get too much "
             "weight. Weight each batch by its share of the examples, "
             "∑ (|B|/N) ∂ℒ_B/∂W.",
             lambda right, batches, sizes, per_example: np.mean(batches,
                                                                axis=0),
             _full_gradient_mean),
        Slip("sum",
             "You added the batches' gradients: each is already a mean "
             "over its batch, so weight them by their shares |B|/N, which "
             "sum to 1.",
             lambda right, batches, sizes, per_example: np.sum(batches,
                                                               axis=0),
             _full_gradient_sum),
        Slip("unnormalized",
             "You weighted each batch by |B| but did not divide by "
             "N = ∑ |B|: the weights |B|/N sum to 1.",
             lambda right, batches, sizes, per_example: sum(sizes) * right,
             _full_gradient_unnormalized),
    ),
)
check_full_gradient = FULL_GRADIENT.check


EXERCISES = (SGD_STEP, FULL_GRADIENT)
