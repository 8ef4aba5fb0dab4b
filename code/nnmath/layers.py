r"""Layers and networks with a hand-written backward pass.

Notation (the book's glossary): layer :math:`l` has weights :math:`W^{[l]}`
of shape :math:`(n_l, n_{l-1})` and bias :math:`b^{[l]}` of shape
:math:`(n_l,)`; a batch of N examples is a matrix with one row per example, so

.. math:: Z^{[l]} = A^{[l-1]} W^{[l]T} + \mathbf{1} b^{[l]T},
          \qquad A^{[l]} = f(Z^{[l]}),
          \qquad A^{[0]} = X.

The loss :math:`\mathcal{L}` is a mean over the batch, so the :math:`1/N` is
already in :math:`\delta^{[l]} = \partial \mathcal{L} / \partial Z^{[l]}`,
the error of layer :math:`l` (shape (N, n_l)); the layers themselves only
sum.
"""

from itertools import pairwise
from typing import NamedTuple

import numpy as np

from nnmath._checks import (
    as_float_array,
    check_batch_size,
    check_probabilities,
    check_shape,
)
from nnmath.activations import (
    leaky_relu,
    leaky_relu_prime,
    log_softmax,
    relu,
    relu_prime,
    sigmoid,
    tanh,
)
from nnmath.losses import as_targets, binary_cross_entropy_with_logits


class Linear:
    r"""A fully connected layer, :math:`Z = A W^T + \mathbf{1} b^T`.

    Parameters
    ----------
    n_in, n_out : int
        :math:`n_{l-1}` and :math:`n_l`.
    rng : numpy.random.Generator, optional
        Source of the initial weights (default ``np.random.default_rng(0)``).
        Like PyTorch's ``nn.Linear``, W and b start uniform in
        :math:`[-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}}]`.

    Attributes
    ----------
    W : ndarray, shape (n_out, n_in)
    b : ndarray, shape (n_out,)
    dW, db : ndarray or None
        :math:`\partial \mathcal{L} / \partial W` and
        :math:`\partial \mathcal{L} / \partial b`, set by :meth:`backward`.
    A : ndarray or None
        The input of the last :meth:`forward`, shape (N, n_in).

    Book: :doc:`vectorized-equations`
    """

    def __init__(self, n_in, n_out, rng=None):
        if n_in < 1 or n_out < 1:
            raise ValueError(
                f"n_in and n_out must be positive, got {n_in} and {n_out}"
            )
        rng = np.random.default_rng(0) if rng is None else rng
        bound = 1.0 / np.sqrt(n_in)
        self.W = rng.uniform(-bound, bound, size=(n_out, n_in))
        self.b = rng.uniform(-bound, bound, size=n_out)
        self.dW = self.db = self.A = None

    @classmethod
    def from_params(cls, W, b):
        """A layer with the given ``W`` of shape (n_out, n_in) and ``b`` of
        shape (n_out,).

        Both are copied, so training the layer leaves the caller's arrays
        alone.

        Book: :doc:`activations`
        """
        W = as_float_array(W, "W")
        b = as_float_array(b, "b")
        check_shape(W, 2, "W", "(n_out, n_in)")
        if b.shape != (len(W),):
            raise ValueError(
                f"b must have shape ({len(W)},) to match W, got {b.shape}"
            )
        layer = cls(W.shape[1], W.shape[0])
        layer.W, layer.b = W.copy(), b.copy()
        return layer

    def forward(self, A):
        r"""Compute :math:`Z = A W^T + \mathbf{1} b^T` and remember ``A`` for
        the backward pass.

        Parameters
        ----------
        A : array_like, shape (N, n_in)

        Returns
        -------
        ndarray, shape (N, n_out)

        Book: :doc:`vectorized-equations`
        """
        A = as_float_array(A, "A")
        if A.ndim != 2 or A.shape[1] != self.W.shape[1]:
            raise ValueError(
                f"A must have shape (N, {self.W.shape[1]}), got {A.shape}"
            )
        self.A = A
        return A @ self.W.T + self.b

    def backward(self, delta, input_grad=True):
        r"""Backpropagate the layer's error
        :math:`\delta = \partial \mathcal{L} / \partial Z` through it.

        .. math:: \frac{\partial \mathcal{L}}{\partial W} = \delta^T A,
                  \qquad \frac{\partial \mathcal{L}}{\partial b}
                  = \delta^T \mathbf{1},
                  \qquad \frac{\partial \mathcal{L}}{\partial A} = \delta W

        Sums over the rows, not means: :math:`\delta` already carries the
        1/N of the mean loss.

        Parameters
        ----------
        delta : array_like, shape (N, n_out)
        input_grad : bool
            Whether to compute :math:`\partial \mathcal{L} / \partial A`. A
            network's first layer skips it: its input is the data, which
            nothing updates (PyTorch skips it the same way for a tensor that
            does not require gradients).

        Returns
        -------
        ndarray, shape (N, n_in), or None if ``input_grad`` is False
            :math:`\partial \mathcal{L} / \partial A`; ``dW`` and ``db`` are
            stored on the layer.

        Book: :doc:`backprop-any-depth`
        """
        if self.A is None:
            raise RuntimeError(
                "call forward before backward: backward needs the input A"
            )
        delta = as_float_array(delta, "delta")
        if delta.shape != (len(self.A), len(self.b)):
            raise ValueError(
                f"delta must have shape {(len(self.A), len(self.b))} "
                f"(N, n_out), got {delta.shape}"
            )
        self.dW = delta.T @ self.A
        self.db = delta.sum(axis=0)
        return delta @ self.W if input_grad else None


# Each hidden activation g, with its derivative written in terms of the
# output A = g(Z) that the forward pass caches, so the backward pass needs no
# second pass over Z: sigmoid' = A (1 - A), tanh' = 1 - A^2. (Leaky) ReLU's
# derivative reads only the sign, and A > 0 exactly where Z > 0, so its
# function of Z serves A unchanged.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda A: A * (1.0 - A)),
    "tanh": (tanh, lambda A: 1.0 - A * A),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
}
HEADS = ("softmax", "sigmoid")


class MLP:
    r"""A multilayer perceptron trained by hand-written backpropagation.

    Hidden layers use ``hidden_activation``; the output layer ("head") is
    either

    - ``"softmax"``: softmax with cross-entropy, for K >= 2 exclusive classes,
      labels as class indices (N,) or one-hot targets (N, K);
    - ``"sigmoid"``: a sigmoid per output with binary cross-entropy summed over
      the outputs and averaged over the examples (``reduction="batch_mean"``);
      targets of 0/1 with shape (N, K), or (N,) when there is one output.

    With either head the loss :math:`\mathcal{L}` is a mean over the N
    examples and the last layer's error is
    :math:`\delta^{[L]} = (\hat Y - Y) / N`.

    Parameters
    ----------
    layer_sizes : sequence of int
        :math:`(n_0, n_1, \dots, n_L)`, inputs first.
    hidden_activation : {"sigmoid", "tanh", "relu", "leaky_relu"}
    head : {"softmax", "sigmoid"}
    seed : int
        Seeds the initial weights.

    Attributes
    ----------
    layers : list of Linear
        ``layers[l - 1]`` is layer l.
    Z, A, deltas : list of ndarray
        After :meth:`forward` and :meth:`backward`, ``Z[l]``, ``A[l]`` and
        ``deltas[l]`` (:math:`\delta^{[l]} = \partial \mathcal{L} / \partial
        Z^{[l]}`) for l = 1..L,
        all of shape (N, n_l); ``A[0]`` is X, and ``Z[0]``, ``deltas[0]`` are
        None.
    log_probs : ndarray or None
        With the softmax head, :math:`\log \hat Y` of the last forward
        pass, shape (N, n_L).

    Book: :doc:`backprop-any-depth`
    """

    def __init__(
        self, layer_sizes, hidden_activation="sigmoid", head="softmax", seed=0
    ):
        if len(layer_sizes) < 2:
            raise ValueError(
                "layer_sizes needs at least (n_in, n_out), "
                f"got {layer_sizes!r}"
            )
        if hidden_activation not in ACTIVATIONS:
            raise ValueError(
                f"hidden_activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {hidden_activation!r}"
            )
        if head not in HEADS:
            raise ValueError(
                f"head must be one of {HEADS}, got {head!r}"
            )
        rng = np.random.default_rng(seed)
        self.layers = [
            Linear(n_in, n_out, rng)
            for n_in, n_out in pairwise(layer_sizes)
        ]
        self.f, self.f_prime_of_output = ACTIVATIONS[hidden_activation]
        self.head = head
        self.Z, self.A, self.deltas = [], [], []
        self.log_probs = None

    def forward(self, X):
        r"""Run the network on a batch and cache every :math:`Z^{[l]}` and
        :math:`A^{[l]}`.

        Parameters
        ----------
        X : array_like, shape (N, n_0)

        Returns
        -------
        ndarray, shape (N, n_L)
            :math:`\hat Y`: class probabilities (softmax head) or per-output
            probabilities (sigmoid head).

        Book: :doc:`backprop-any-depth`
        """
        self.Z, self.A = [None], [as_float_array(X, "X")]
        for layer in self.layers[:-1]:
            self.Z.append(layer.forward(self.A[-1]))
            self.A.append(self.f(self.Z[-1]))
        Z_L = self.layers[-1].forward(self.A[-1])
        self.Z.append(Z_L)
        if self.head == "softmax":
            # The loss needs log(softmax): compute it stably, once.
            self.log_probs = log_softmax(Z_L)
            self.A.append(np.exp(self.log_probs))
        else:
            self.A.append(sigmoid(Z_L))
        return self.A[-1]

    def _targets(self, y):
        """Targets Y of shape (N, n_L) for the head, checked against the
        cached batch."""
        n_out = len(self.layers[-1].b)
        if self.head == "softmax":
            Y = as_targets(y, n_out)
        else:
            Y = as_float_array(y, "y")
            if Y.ndim == 1 and n_out == 1:
                Y = Y[:, None]
            if Y.ndim != 2 or Y.shape[1] != n_out:
                raise ValueError(
                    f"y must have shape (N, {n_out}), got {Y.shape}"
                )
            check_probabilities(Y, "y")
        check_batch_size(len(self.A[0]), Y, "y")
        return Y

    def loss(self, X, y):
        """Forward pass on ``X``, then the mean loss over the batch (a
        float)."""
        self.forward(X)
        Y = self._targets(y)
        if self.head == "softmax":
            # cross_entropy(Z_L, Y), from the cached log-probabilities
            return float(-(Y * self.log_probs).sum() / len(Y))
        return binary_cross_entropy_with_logits(self.Z[-1], Y, "batch_mean")

    def backward(self, y):
        r"""Backpropagate from the cached forward pass by the delta recursion.

        .. math:: \delta^{[L]} = \frac{1}{N} (\hat Y - Y), \qquad
                  \delta^{[l]}
                  = \big(\delta^{[l+1]} W^{[l+1]}\big) \odot f'(Z^{[l]})

        and each layer's :meth:`Linear.backward` turns its :math:`\delta^{[l]}`
        into ``dW`` and ``db``.

        Parameters
        ----------
        y : array_like
            The labels or targets of the batch given to :meth:`forward`.

        Book: :doc:`backprop-any-depth`
        """
        if not self.Z:
            raise RuntimeError("call forward (or loss) before backward")
        Y = self._targets(y)
        L = len(self.layers)
        self.deltas = [None] * (L + 1)
        self.deltas[L] = (self.A[L] - Y) / len(Y)
        for l in range(L, 1, -1):  # noqa: E741 (l is the book's layer index)
            grad_A = self.layers[l - 1].backward(self.deltas[l])
            # g'(Z[l-1]), from the cached A[l-1] = g(Z[l-1])
            g_prime = self.f_prime_of_output(self.A[l - 1])
            self.deltas[l - 1] = grad_A * g_prime
        self.layers[0].backward(self.deltas[1], input_grad=False)

    def step(self, learning_rate):
        r"""One gradient-descent update,
        :math:`W := W - \eta \, \partial \mathcal{L} / \partial W` (and b).

        Book: :doc:`training`
        """
        for layer in self.layers:
            if layer.dW is None:
                raise RuntimeError(
                    "call backward before step: there are no gradients yet"
                )
            layer.W -= learning_rate * layer.dW
            layer.b -= learning_rate * layer.db

    def train_step(self, X, y, learning_rate):
        """Forward, backward and update on one batch; returns the loss before
        the update.

        Book: :doc:`training`
        """
        loss = self.loss(X, y)
        self.backward(y)
        self.step(learning_rate)
        return loss

    def predict(self, X):
        """Predicted labels: the most probable class (N,), or
        probabilities >= 0.5 as 0/1."""
        P = self.forward(X)
        if self.head == "softmax":
            return P.argmax(axis=1)
        labels = (P >= 0.5).astype(np.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels

    def accuracy(self, X, y):
        """Fraction of correct predictions; ``y`` as class indices or 0/1
        targets."""
        predicted = self.predict(X)
        y = np.asarray(y)
        if self.head == "softmax" and y.ndim == 2:
            y = y.argmax(axis=1)
        return float(np.mean(predicted == y.reshape(predicted.shape)))

    def parameters(self):
        """The list of ``(W, b)`` pairs, layer 1 first (the arrays
        themselves, not copies)."""
        return [(layer.W, layer.b) for layer in self.layers]


class TwoLayerGradients(NamedTuple):
    """The loss of :func:`two_layer_gradients` and its four gradients.

    Book: :doc:`backprop-two-layer`
    """

    loss: float
    dW1: np.ndarray
    db1: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray


def two_layer_gradients(X, Y, W1, b1, W2, b2):
    r"""Gradients of a two-layer sigmoid network with binary cross-entropy,
    equation by equation.

    Forward, with :math:`\mathbf{1}` a column of N ones:

    .. math:: A^{[1]} = \sigma(X W^{[1]T} + \mathbf{1} b^{[1]T}), \quad
              A^{[2]} = \sigma(A^{[1]} W^{[2]T} + \mathbf{1} b^{[2]T})

    The loss is the binary cross-entropy **summed over the** :math:`n_2`
    **outputs and averaged over the N examples**
    (``binary_cross_entropy(A2, Y, reduction="batch_mean")``):

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N} \sum_{j=1}^{n_2}
              \Big(Y_{ij} \log A^{[2]}_{ij}
              + (1 - Y_{ij}) \log (1 - A^{[2]}_{ij})\Big)

    Backward, with :math:`\delta^{[l]} = \partial \mathcal{L} / \partial
    Z^{[l]}`, which carries the :math:`1/N` of the mean:

    .. math:: \delta^{[2]} = \frac{1}{N} (A^{[2]} - Y), \quad
              \frac{\partial \mathcal{L}}{\partial W^{[2]}}
              = \delta^{[2]T} A^{[1]}, \quad
              \frac{\partial \mathcal{L}}{\partial b^{[2]}}
              = \delta^{[2]T} \mathbf{1}

    .. math:: \delta^{[1]}
              = (\delta^{[2]} W^{[2]}) \odot A^{[1]} \odot (1 - A^{[1]}),
              \quad
              \frac{\partial \mathcal{L}}{\partial W^{[1]}}
              = \delta^{[1]T} X, \quad
              \frac{\partial \mathcal{L}}{\partial b^{[1]}}
              = \delta^{[1]T} \mathbf{1}

    PyTorch's default ``F.binary_cross_entropy`` is the mean over all
    :math:`N n_2` entries instead: its gradients are these divided by
    :math:`n_2`.

    Parameters
    ----------
    X : array_like, shape (N, n_0)
    Y : array_like, shape (N, n_2), entries in [0, 1]
    W1 : array_like, shape (n_1, n_0)
    b1 : array_like, shape (n_1,)
    W2 : array_like, shape (n_2, n_1)
    b2 : array_like, shape (n_2,)

    Returns
    -------
    TwoLayerGradients
        ``loss`` (float) and ``dW1``, ``db1``, ``dW2``, ``db2`` with the
        shapes of ``W1``, ``b1``, ``W2``, ``b2``.

    Book: :doc:`backprop-two-layer`
    """
    X, Y, W1, b1, W2, b2 = _two_layer_arrays(X, Y, W1, b1, W2, b2)
    N = len(X)
    A1 = sigmoid(X @ W1.T + b1)
    Z2 = A1 @ W2.T + b2
    A2 = sigmoid(Z2)
    loss = binary_cross_entropy_with_logits(Z2, Y, reduction="batch_mean")
    delta2 = (A2 - Y) / N
    dW2 = delta2.T @ A1
    db2 = delta2.sum(axis=0)
    delta1 = (delta2 @ W2) * A1 * (1 - A1)
    dW1 = delta1.T @ X
    db1 = delta1.sum(axis=0)
    return TwoLayerGradients(loss, dW1, db1, dW2, db2)


def _two_layer_arrays(X, Y, W1, b1, W2, b2):
    """Return the six arrays as float64, after checking that their shapes
    fit together."""
    arrays = {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    arrays = {
        name: as_float_array(value, name) for name, value in arrays.items()
    }
    for name in ("X", "W1", "W2"):
        check_shape(arrays[name], 2, name, "(rows, columns)")
    (N, n0), n1, n2 = (
        arrays["X"].shape, len(arrays["W1"]), len(arrays["W2"])
    )
    expected = {"X": (N, n0), "Y": (N, n2), "W1": (n1, n0), "b1": (n1,),
                "W2": (n2, n1), "b2": (n2,)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} must have shape {shape}, got {arrays[name].shape}"
            )
    return tuple(arrays.values())
