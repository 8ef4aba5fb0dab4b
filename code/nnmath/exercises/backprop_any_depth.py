r"""The exercises of the chapter :doc:`backprop-any-depth`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

import itertools
from functools import cache

import numpy as np

from nnmath import activations, layers, losses
from nnmath.exercises import Case, Exercise, Slip, Unusable, describe


def _one(A):
    return 1.0


def backprop(X, y, weights, biases):
    r"""The gradients of a network of any depth, by the delta recursion:
    sigmoid hidden layers, a softmax output, the mean cross-entropy.

    .. math:: \delta^{[L]} = \frac{1}{N} \big(\operatorname{softmax}
              (Z^{[L]}) - Y\big), \qquad
              \delta^{[l]} = \big(\delta^{[l+1]} W^{[l+1]}\big)
              \odot \sigma'(Z^{[l]})

    .. math:: \frac{\partial \mathcal{L}}{\partial W^{[l]}}
              = \delta^{[l]T} A^{[l-1]}, \qquad
              \frac{\partial \mathcal{L}}{\partial b^{[l]}}
              = \delta^{[l]T} \mathbf{1}

    with :math:`\sigma'(Z^{[l]}) = A^{[l]} \odot (1 - A^{[l]})`.

    Parameters
    ----------
    X : ndarray, shape (N, n_0)
    y : ndarray of int, shape (N,)
        Class labels in 0 .. n_L - 1.
    weights : list of ndarray
        ``weights[l - 1]`` is :math:`W^{[l]}`, shape (n_l, n_{l-1}).
    biases : list of ndarray
        ``biases[l - 1]`` is :math:`b^{[l]}`, shape (n_l,).

    Returns
    -------
    list of (dW, db) pairs
        Layer 1 first: ``[(dW1, db1), ..., (dWL, dbL)]``.

    Book: :doc:`backprop-any-depth`
    """
    A = [X]
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        A.append(activations.sigmoid(A[-1] @ W.T + b))
    Z = A[-1] @ weights[-1].T + biases[-1]
    delta = (activations.softmax(Z) - losses.one_hot(y, Z.shape[1])) / len(X)
    gradients = []
    for l in range(len(weights), 0, -1):  # noqa: E741 (the book's layer l)
        gradients.append((delta.T @ A[l - 1], delta.sum(axis=0)))
        if l > 1:
            delta = (delta @ weights[l - 1]) * A[l - 1] * (1 - A[l - 1])
    return gradients[::-1]


@cache
def _backprop_cases():
    rng = np.random.default_rng(203)
    cases = []
    for sizes, N in [([3, 4, 2], 5), ([2, 3, 3, 4], 4), ([4, 2], 3),
                     ([3, 5, 4, 3, 2], 6)]:
        X = rng.normal(size=(N, sizes[0]))
        y = rng.integers(0, sizes[-1], size=N)
        weights = [rng.normal(size=(n_out, n_in))
                   for n_in, n_out in itertools.pairwise(sizes)]
        biases = [rng.normal(size=n_out) for n_out in sizes[1:]]
        cases.append(Case((X, y, weights, biases),
                          f"N = {N} examples, sizes "
                          + "-".join(map(str, sizes))))
    return cases


def _backprop_reference(X, y, weights, biases):
    sizes = [X.shape[1]] + [len(b) for b in biases]
    net = layers.MLP(sizes, hidden_activation="sigmoid", head="softmax")
    for layer, W, b in zip(net.layers, weights, biases, strict=True):
        layer.W, layer.b = W.copy(), b.copy()
    net.loss(X, y)
    net.backward(y)
    return tuple(g for layer in net.layers for g in (layer.dW, layer.db))


def _run_backprop(fn, X, y, weights, biases):
    """The reader's list of pairs, as one tuple dW1, db1, ..., dWL, dbL."""
    gradients = fn(X, y, weights, biases)
    L = len(weights)
    if gradients is None:
        return None
    if not (isinstance(gradients, list | tuple) and len(gradients) == L
            and all(isinstance(pair, list | tuple) and len(pair) == 2
                    for pair in gradients)):
        raise Unusable(
            f"Your function should return a list of L = {L} pairs "
            f"(dW, db), layer 1 first; it returned {_outline(gradients)}.")
    return tuple(g for pair in gradients for g in pair)


def _outline(value):
    """What a returned value holds, e.g. "a list of 2 ndarray"."""
    if not isinstance(value, list | tuple):
        return f"an object of type {type(value).__name__}"
    kinds = sorted({type(item).__name__ for item in value})
    return (f"a {type(value).__name__} of {len(value)} "
            f"{' and '.join(kinds)}")


def _backprop_names(X, y, weights, biases):
    return tuple(f"{name}^[{layer}]" for layer in range(1, len(weights) + 1)
                 for name in ("dW", "db"))


def _backprop_shapes(X, y, weights, biases):
    return tuple(shape for layer in range(1, len(weights) + 1)
                 for shape in (f"(n_{layer}, n_{layer - 1})",
                               f"(n_{layer},)"))


def _backprop_from(X, y, weights, biases, hidden_factor):
    """The gradients when δ^[l+1] W^[l+1] is multiplied by
    ``hidden_factor(A^[l])`` instead of σ'(Z^[l])."""
    A = [X]
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        A.append(activations.sigmoid(A[-1] @ W.T + b))
    Z = A[-1] @ weights[-1].T + biases[-1]
    delta = losses.cross_entropy_grad(Z, y)
    gradients = []
    for l in range(len(weights), 0, -1):  # noqa: E741 (the book's layer l)
        gradients[:0] = [delta.T @ A[l - 1], delta.sum(axis=0)]
        if l > 1:
            delta = delta @ weights[l - 1] * hidden_factor(A[l - 1])
    return tuple(gradients)


def _backprop_solved(X, y, weights, biases, hidden_derivative):
    """Forward, then the recursion with δ^[l+1] W^[l+1] multiplied by
    ``hidden_derivative(A^[l])``; as a reader writes it."""
    A = [X]
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        A.append(1 / (1 + np.exp(-(A[-1] @ W.T + b))))
    Z = A[-1] @ weights[-1].T + biases[-1]
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    delta = P / len(y)
    grads = []
    for l in reversed(range(len(weights))):  # noqa: E741
        grads.insert(0, (delta.T @ A[l], delta.sum(axis=0)))
        if l > 0:
            delta = (delta @ weights[l]) * hidden_derivative(A[l])
    return grads


def _backprop_without_derivative(X, y, weights, biases):
    return _backprop_solved(X, y, weights, biases, lambda A: 1)


def _backprop_derivative_of_a(X, y, weights, biases):
    def derivative(A):
        s = 1 / (1 + np.exp(-A))
        return s * (1 - s)

    return _backprop_solved(X, y, weights, biases, derivative)


def _backprop_sum(X, y, weights, biases):
    grads = _backprop_solved(X, y, weights, biases, lambda A: A * (1 - A))
    return [(len(X) * dW, len(X) * db) for dW, db in grads]


def _backprop_reversed(X, y, weights, biases):
    grads = _backprop_solved(X, y, weights, biases, lambda A: A * (1 - A))
    return grads[::-1]


def _backprop_transposed(X, y, weights, biases):
    grads = _backprop_solved(X, y, weights, biases, lambda A: A * (1 - A))
    return [(dW.T, db) for dW, db in grads]


def _pairs(flat):
    return [flat[i:i + 2] for i in range(0, len(flat), 2)]


BACKPROP = Exercise(
    name="backprop",
    chapter="backprop-any-depth",
    solution=backprop,
    reference=_backprop_reference,
    cases=_backprop_cases,
    outputs=_backprop_names,
    shapes=_backprop_shapes,
    about="3 to 6 examples, networks of 1 to 4 layers",
    run=_run_backprop,
    slips=(
        Slip("missing-derivative",
             "Your δ^[l] lacks the activation's derivative: δ^[l] = "
             "(δ^[l+1] W^[l+1]) ⊙ σ'(Z^[l]). The last layer's gradients "
             "are right, every layer below it is wrong.",
             lambda grads, *args: _backprop_from(*args, _one),
             _backprop_without_derivative),
        Slip("derivative-of-a",
             "You took σ' of A^[l], that is σ'(σ(Z^[l])): from the cached "
             "output the derivative is A^[l] ⊙ (1 − A^[l]).",
             lambda grads, *args: _backprop_from(
                 *args, activations.sigmoid_prime),
             _backprop_derivative_of_a),
        Slip("missing-1/N",
             "All your gradients are N times too large: the loss is a mean "
             "over the N examples, so δ^[L] = (softmax(Z^[L]) − Y)/N "
             "carries the 1/N, and the recursion passes it down.",
             lambda grads, X, *rest: tuple(len(X) * g for g in grads),
             _backprop_sum),
        Slip("reversed",
             "Your list runs from the last layer to the first: return "
             "layer 1's gradients first, [(dW^[1], db^[1]), ..., "
             "(dW^[L], db^[L])].",
             lambda grads, *args: tuple(g for pair in _pairs(grads)[::-1]
                                        for g in pair),
             _backprop_reversed),
        Slip("transposed",
             "Your weight gradients are transposed: "
             "∂ℒ/∂W^[l] = δ^[l]ᵀ A^[l−1] has the shape of W^[l], "
             "(n_l, n_{l−1}).",
             lambda grads, *args: tuple(g.T if g.ndim == 2 else g
                                        for g in grads),
             _backprop_transposed),
    ),
)
check_backprop = BACKPROP.check


def linear_backward(self, delta):
    r"""``Linear.backward``: backpropagate a layer's error through it.

    ``self`` is a :class:`~nnmath.layers.Linear` layer after ``forward``:
    ``self.A`` (N, n_{l-1}) is its input, ``self.W`` (n_l, n_{l-1}) and
    ``self.b`` (n_l,) its parameters. For
    :math:`Z = A W^T + \mathbf{1} b^T` and
    :math:`\delta = \partial \mathcal{L} / \partial Z`:

    .. math:: \frac{\partial \mathcal{L}}{\partial W} = \delta^T A, \qquad
              \frac{\partial \mathcal{L}}{\partial b} = \delta^T \mathbf{1},
              \qquad \frac{\partial \mathcal{L}}{\partial A} = \delta W

    Parameters
    ----------
    delta : ndarray, shape (N, n_l)

    Returns
    -------
    ndarray, shape (N, n_{l-1})
        :math:`\partial \mathcal{L} / \partial A`; the method stores
        :math:`\partial \mathcal{L} / \partial W` in ``self.dW`` and
        :math:`\partial \mathcal{L} / \partial b` in ``self.db``.

    Book: :doc:`backprop-any-depth`
    """
    self.dW = delta.T @ self.A
    self.db = delta.sum(axis=0)
    return delta @ self.W


@cache
def _linear_backward_cases():
    rng = np.random.default_rng(204)
    cases = []
    for N, n_in, n_out in [(4, 3, 2), (5, 2, 4), (3, 3, 3), (6, 4, 1)]:
        A, W = rng.normal(size=(N, n_in)), rng.normal(size=(n_out, n_in))
        b, delta = rng.normal(size=n_out), rng.normal(size=(N, n_out)) / N
        cases.append(Case((A, W, b, delta),
                          describe(A=A, W=W, b=b, delta=delta)))
    return cases


def _run_linear_backward(fn, A, W, b, delta):
    layer = layers.Linear.from_params(W, b)
    layer.forward(A)
    grad_A = fn(layer, delta)
    if grad_A is None and layer.dW is None and layer.db is None:
        return None
    return grad_A, layer.dW, layer.db


def _linear_backward_reference(A, W, b, delta):
    layer = layers.Linear.from_params(W, b)
    layer.forward(A)
    return layer.backward(delta), layer.dW, layer.db


def _backward_w_transposed(self, delta):
    self.dW = delta.T @ self.A
    self.db = delta.sum(axis=0)
    return delta @ self.W.T


def _backward_dw_transposed(self, delta):
    self.dW = self.A.T @ delta
    self.db = delta.sum(axis=0)
    return delta @ self.W


def _backward_mean(self, delta):
    N = len(delta)
    self.dW = delta.T @ self.A / N
    self.db = delta.mean(axis=0)
    return delta @ self.W


def _backward_not_stored(self, delta):
    return delta @ self.W


def _backward_returns_dw(self, delta):
    self.dW = delta.T @ self.A
    self.db = delta.sum(axis=0)
    return self.dW


LINEAR_BACKWARD = Exercise(
    name="linear_backward",
    chapter="backprop-any-depth",
    solution=linear_backward,
    reference=_linear_backward_reference,
    cases=_linear_backward_cases,
    outputs=("returned ∂ℒ/∂A", "self.dW", "self.db"),
    shapes=("(N, n_{l-1})", "(n_l, n_{l-1})", "(n_l,)"),
    about="3 to 6 examples, layers of 2 to 4 inputs and 1 to 4 neurons, "
          "one W square",
    run=_run_linear_backward,
    slips=(
        Slip("w-transposed",
             "Your ∂ℒ/∂A multiplies δ by Wᵀ: from Z = A Wᵀ + 1 bᵀ, "
             "∂ℒ/∂A = δ W, of shape (N, n_{l−1}); δ Wᵀ only fits when W "
             "is square, and is wrong there.",
             lambda grads, A, W, b, delta: (delta @ W.T, *grads[1:]),
             _backward_w_transposed),
        Slip("dw-transposed",
             "Your self.dW is transposed, like Aᵀ δ: the gradient of W has "
             "W's shape (n_l, n_{l−1}), ∂ℒ/∂W = δᵀ A.",
             lambda grads, *args: (grads[0], grads[1].T, grads[2]),
             _backward_dw_transposed),
        Slip("mean",
             "Your self.dW and self.db are N times too small: δ already "
             "carries the 1/N of the mean loss, so the layer sums over "
             "the examples, dW = δᵀ A and db = δᵀ 1.",
             lambda grads, A, *rest: (grads[0], grads[1] / len(A),
                                      grads[2] / len(A)),
             _backward_mean),
        Slip("not-stored",
             "self.dW and self.db are not set: backward stores each "
             "parameter's gradient on the layer (self.dW = δᵀ A, "
             "self.db = δᵀ 1) and returns ∂ℒ/∂A = δ W.",
             lambda grads, *args: (grads[0], None, None),
             _backward_not_stored),
        Slip("returns-dw",
             "Your backward returns dW: it must return ∂ℒ/∂A = δ W, "
             "which the layer below needs, and store dW and db on the "
             "layer.",
             lambda grads, *args: (grads[1], grads[1], grads[2]),
             _backward_returns_dw),
    ),
)
check_linear_backward = LINEAR_BACKWARD.check


EXERCISES = (BACKPROP, LINEAR_BACKWARD)
