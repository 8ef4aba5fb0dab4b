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
        The input of the last :meth:`forward`, shape (N, n_in) or
        (..., n_in).

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
        A : array_like, shape (N, n_in), or (..., n_in)
            One example per row; with more leading axes, e.g. (B, T, n_in)
            for B sequences of T positions, every position is an example.

        Returns
        -------
        ndarray, shape (N, n_out), or (..., n_out)

        Book: :doc:`vectorized-equations`
        """
        A = as_float_array(A, "A")
        if A.ndim < 2 or A.shape[-1] != self.W.shape[1]:
            raise ValueError(
                f"A must have shape (N, {self.W.shape[1]}) or "
                f"(..., {self.W.shape[1]}), got {A.shape}"
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
        1/N of the mean loss. With more leading axes, (B, T, n_out), each
        position is a row: :math:`\delta` and A are flattened to
        (B T, n_out) and (B T, n_in) first.

        Parameters
        ----------
        delta : array_like, shape (N, n_out), or the input's leading axes
            and n_out
        input_grad : bool
            Whether to compute :math:`\partial \mathcal{L} / \partial A`. A
            network's first layer skips it: its input is the data, which
            nothing updates (PyTorch skips it the same way for a tensor that
            does not require gradients).

        Returns
        -------
        ndarray, shape of the input A, or None if ``input_grad`` is False
            :math:`\partial \mathcal{L} / \partial A`; ``dW`` and ``db`` are
            stored on the layer.

        Book: :doc:`backprop-any-depth`
        """
        if self.A is None:
            raise RuntimeError(
                "call forward before backward: backward needs the input A"
            )
        delta = as_float_array(delta, "delta")
        expected = (*self.A.shape[:-1], len(self.b))
        if delta.shape != expected:
            raise ValueError(
                f"delta must have shape {expected} (A's leading axes, n_out), "
                f"got {delta.shape}"
            )
        delta_rows = delta.reshape(-1, len(self.b))
        A_rows = self.A.reshape(-1, self.W.shape[1])
        self.dW = delta_rows.T @ A_rows
        self.db = delta_rows.sum(axis=0)
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


# Normalization: LayerNorm and BatchNorm standardize over different axes and
# share one backward pass.


def normalize_vjp(X_hat, inv_std, grad_out, axis):
    r"""Vector-Jacobian product of standardization, in the compact form.

    Standardizing each group of m entries (the entries along ``axis``),

    .. math:: \hat x_k = \frac{x_k - \mu}{\sqrt{v + \epsilon}},
              \qquad \mu = \frac1m \sum_k x_k, \qquad
              v = \frac1m \sum_k (x_k - \mu)^2,

    has, for an upstream gradient :math:`g = \partial \mathcal{L} /
    \partial \hat x` and :math:`r = 1 / \sqrt{v + \epsilon}`,

    .. math:: \frac{\partial \mathcal{L}}{\partial x_k}
              = r \Big(g_k - \frac1m \sum_j g_j
              - \hat x_k \, \frac1m \sum_j g_j \hat x_j\Big)

    because :math:`\partial \mu / \partial x_k = 1/m` and
    :math:`\partial v / \partial x_k = 2 (x_k - \mu) / m`. The result
    sums to 0 over each group (as :math:`\hat x` does); its dot product with
    :math:`\hat x` is :math:`\frac{\epsilon}{v + \epsilon} \, r \sum_j
    g_j \hat x_j`, 0 when :math:`\epsilon = 0`.

    Parameters
    ----------
    X_hat : ndarray, any shape
        :math:`\hat x`, the standardized input.
    inv_std : ndarray, X_hat's shape with size 1 along ``axis``
        r, one per group.
    grad_out : ndarray, shape of ``X_hat``
        :math:`\partial \mathcal{L} / \partial \hat X`.
    axis : int or tuple of int
        The axes of each group.

    Returns
    -------
    ndarray, shape of ``X_hat``
        :math:`\partial \mathcal{L} / \partial X`.

    Book: :doc:`normalization`
    """
    mean_g = grad_out.mean(axis=axis, keepdims=True)
    mean_g_x_hat = (grad_out * X_hat).mean(axis=axis, keepdims=True)
    return inv_std * (grad_out - mean_g - X_hat * mean_g_x_hat)


def _check_vector(v, length, name):
    """Raise ValueError unless ``v`` has shape (length,)."""
    if v.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {v.shape}")


def _check_grad_shape(G, shape, name="G"):
    """Raise ValueError unless the upstream gradient has the output's
    shape."""
    if G.shape != shape:
        raise ValueError(
            f"{name} must have the shape of the output, {shape}, "
            f"got {G.shape}"
        )


class LayerNorm:
    r"""Layer normalization over the last axis (PyTorch's ``nn.LayerNorm(D)``).

    Each row x of D features (one example, or one position of a sequence) is
    standardized by its own mean and variance, then scaled and shifted:

    .. math:: \hat x = \frac{x - \mu}{\sqrt{v + \epsilon}}, \qquad
              V = \hat X \odot \mathbf{1}\gamma^T + \mathbf{1}\beta^T,

    with :math:`\mu` and :math:`v` the mean and the biased variance
    (divided by D) of the row.

    Parameters
    ----------
    D : int
        The size of the last axis.
    eps : float
        :math:`\epsilon`, which keeps a constant row finite (default 1e-5,
        PyTorch's).

    Attributes
    ----------
    gamma, beta : ndarray, shape (D,)
        Start at ones and zeros, as in PyTorch.
    dgamma, dbeta : ndarray or None
        Set by :meth:`backward`.
    X_hat, inv_std : ndarray or None
        :math:`\hat X` (the input's shape) and :math:`1/\sqrt{v +
        \epsilon}` (one per row), kept for :meth:`backward`.

    Book: :doc:`normalization`
    """

    def __init__(self, D, eps=1e-5):
        if D < 1:
            raise ValueError(f"D must be positive, got {D}")
        if not eps >= 0:
            raise ValueError(f"eps must be at least 0, got {eps}")
        self.gamma, self.beta, self.eps = np.ones(D), np.zeros(D), eps
        self.dgamma = self.dbeta = self.X_hat = self.inv_std = None

    @classmethod
    def from_params(cls, gamma, beta, eps=1e-5):
        """A layer with the given ``gamma`` and ``beta``, each of shape (D,);
        both are copied.

        Book: :doc:`normalization`
        """
        gamma = as_float_array(gamma, "gamma")
        beta = as_float_array(beta, "beta")
        check_shape(gamma, 1, "gamma", "(D,)")
        _check_vector(beta, len(gamma), "beta")
        layer = cls(len(gamma), eps)
        layer.gamma, layer.beta = gamma.copy(), beta.copy()
        return layer

    def forward(self, X):
        r"""Normalize each row:
        :math:`V = \hat X \odot \mathbf{1}\gamma^T + \mathbf{1}\beta^T`.

        Parameters
        ----------
        X : array_like, shape (..., D)
            (N, D), or (B, T, D) for sequences.

        Returns
        -------
        ndarray, shape of ``X``

        Book: :doc:`normalization`
        """
        X = as_float_array(X, "X")
        D = len(self.gamma)
        if X.ndim < 1 or X.shape[-1] != D:
            raise ValueError(f"X must have shape (..., {D}), got {X.shape}")
        centered = X - X.mean(axis=-1, keepdims=True)
        var = (centered * centered).mean(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.X_hat = centered * self.inv_std
        return self.gamma * self.X_hat + self.beta

    def backward(self, G):
        r"""Backpropagate :math:`G = \partial \mathcal{L} / \partial V`.

        .. math:: \frac{\partial \mathcal{L}}{\partial \gamma}
                  = \sum_{\text{rows}} G \odot \hat X, \qquad
                  \frac{\partial \mathcal{L}}{\partial \beta}
                  = \sum_{\text{rows}} G, \qquad
                  \frac{\partial \mathcal{L}}{\partial \hat X}
                  = G \odot \gamma

        and :func:`normalize_vjp` along the last axis turns
        :math:`\partial \mathcal{L} / \partial \hat X` into
        :math:`\partial \mathcal{L} / \partial X`.

        Parameters
        ----------
        G : array_like, shape of the input

        Returns
        -------
        ndarray, shape of the input
            :math:`\partial \mathcal{L} / \partial X`; ``dgamma`` and
            ``dbeta`` are stored on the layer.

        Book: :doc:`normalization`
        """
        if self.X_hat is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        _check_grad_shape(G, self.X_hat.shape)
        rows = tuple(range(G.ndim - 1))
        self.dgamma = (G * self.X_hat).sum(axis=rows)
        self.dbeta = G.sum(axis=rows)
        return normalize_vjp(self.X_hat, self.inv_std, G * self.gamma, -1)


class BatchNorm:
    r"""Batch normalization of each feature, or each channel, over the batch
    (PyTorch's ``nn.BatchNorm1d`` on (N, D), ``nn.BatchNorm2d`` on
    (N, C, H, W)).

    In training, each channel c is standardized by the mean and the biased
    variance of its m values in the batch (m = N, or N H W):

    .. math:: \hat x = \frac{x - \mu_c}{\sqrt{v_c + \epsilon}},
              \qquad V_{ic} = \gamma_c \hat x_{ic} + \beta_c,

    and the running estimates move towards the batch's, with the
    **unbiased** variance, as PyTorch's do:

    .. math:: \bar\mu_c := (1 - \rho) \, \bar\mu_c + \rho \, \mu_c, \qquad
              \bar v_c := (1 - \rho) \, \bar v_c
              + \rho \, \frac{m}{m - 1} v_c

    (:math:`\rho` is ``momentum``). In evaluation (``training = False``) the
    running estimates :math:`\bar\mu_c, \bar v_c` take the place of
    :math:`\mu_c, v_c`, so each
    example is normalized on its own.

    Parameters
    ----------
    C : int
        Features (on (N, C)) or channels (on (N, C, H, W)).
    eps : float
        :math:`\epsilon` (default 1e-5).
    momentum : float
        :math:`\rho`, in [0, 1] (default 0.1).

    Attributes
    ----------
    gamma, beta : ndarray, shape (C,)
        Start at ones and zeros.
    running_mean, running_var : ndarray, shape (C,)
        Start at zeros and ones, as in PyTorch.
    training : bool
        True (the default) normalizes with the batch's statistics and
        updates the running ones; False uses the running ones.
    dgamma, dbeta : ndarray or None
        Set by :meth:`backward`.

    Book: :doc:`normalization`
    """

    def __init__(self, C, eps=1e-5, momentum=0.1):
        if C < 1:
            raise ValueError(f"C must be positive, got {C}")
        if not eps >= 0:
            raise ValueError(f"eps must be at least 0, got {eps}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.gamma, self.beta = np.ones(C), np.zeros(C)
        self.running_mean, self.running_var = np.zeros(C), np.ones(C)
        self.eps, self.momentum, self.training = eps, momentum, True
        self.dgamma = self.dbeta = self.X_hat = self.inv_std = None

    @classmethod
    def from_params(cls, gamma, beta, eps=1e-5, momentum=0.1):
        """A layer with the given ``gamma`` and ``beta``, each of shape (C,);
        both are copied.

        Book: :doc:`normalization`
        """
        gamma = as_float_array(gamma, "gamma")
        beta = as_float_array(beta, "beta")
        check_shape(gamma, 1, "gamma", "(C,)")
        _check_vector(beta, len(gamma), "beta")
        layer = cls(len(gamma), eps, momentum)
        layer.gamma, layer.beta = gamma.copy(), beta.copy()
        return layer

    def _per_channel(self, v, ndim):
        """A (C,) vector shaped to broadcast along axis 1 of an input with
        ``ndim`` axes: (C,) or (C, 1, 1)."""
        return v.reshape(-1, *(1,) * (ndim - 2))

    def forward(self, X):
        r"""Normalize each channel, with the batch's statistics in training
        and the running ones in evaluation.

        Parameters
        ----------
        X : array_like, shape (N, C) or (N, C, H, W)

        Returns
        -------
        ndarray, shape of ``X``

        Book: :doc:`normalization`
        """
        X = as_float_array(X, "X")
        C = len(self.gamma)
        if X.ndim not in (2, 4) or X.shape[1] != C:
            raise ValueError(
                f"X must have shape (N, {C}) or (N, {C}, H, W), got {X.shape}"
            )
        self.axes = (0, *range(2, X.ndim))  # all but the channel axis
        if self.training:
            m = X.size // C
            if m < 2:
                raise ValueError(
                    "training needs more than one value per channel to "
                    f"estimate a variance, got X of shape {X.shape}"
                )
            mean = X.mean(axis=self.axes, keepdims=True)
            centered = X - mean
            var = (centered * centered).mean(axis=self.axes, keepdims=True)
            self.running_mean = ((1 - self.momentum) * self.running_mean
                                 + self.momentum * mean.ravel())
            self.running_var = ((1 - self.momentum) * self.running_var
                                + self.momentum * var.ravel() * m / (m - 1))
        else:
            centered = X - self._per_channel(self.running_mean, X.ndim)
            var = self._per_channel(self.running_var, X.ndim)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.X_hat = centered * self.inv_std
        self.normalized_by_batch = self.training
        gamma = self._per_channel(self.gamma, X.ndim)
        return gamma * self.X_hat + self._per_channel(self.beta, X.ndim)

    def backward(self, G):
        r"""Backpropagate :math:`G = \partial \mathcal{L} / \partial V`.

        .. math:: \frac{\partial \mathcal{L}}{\partial \gamma_c}
                  = \sum_{\text{channel } c} G \odot \hat X, \qquad
                  \frac{\partial \mathcal{L}}{\partial \beta_c}
                  = \sum_{\text{channel } c} G

        After a training forward pass, :func:`normalize_vjp` over each
        channel's m values turns :math:`\partial \mathcal{L} / \partial \hat
        X = G \gamma_c` into :math:`\partial \mathcal{L} / \partial X`; after
        an evaluation pass the statistics are constants and
        :math:`\partial \mathcal{L} / \partial X = G \gamma_c /
        \sqrt{\bar v_c + \epsilon}`.

        Parameters
        ----------
        G : array_like, shape of the input

        Returns
        -------
        ndarray, shape of the input

        Book: :doc:`normalization`
        """
        if self.X_hat is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        _check_grad_shape(G, self.X_hat.shape)
        self.dgamma = (G * self.X_hat).sum(axis=self.axes)
        self.dbeta = G.sum(axis=self.axes)
        grad_X_hat = G * self._per_channel(self.gamma, G.ndim)
        if self.normalized_by_batch:
            return normalize_vjp(
                self.X_hat, self.inv_std, grad_X_hat, self.axes
            )
        return grad_X_hat * self.inv_std


# Convolution and pooling: every window of the input becomes a row (im2col),
# so that a convolution is one matrix product; col2im adds rows back.


def _pair(value, name, minimum):
    """``(a, b)`` from an int or a pair of ints, each at least
    ``minimum``."""
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, int | np.integer) and v >= minimum for v in pair
    ):
        raise ValueError(
            f"{name} must be an int or a pair of ints, each at least "
            f"{minimum}, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def conv_output_size(size, kernel, stride, padding):
    r"""Positions of a kernel along one axis:
    :math:`\lfloor (H + 2p - k) / s \rfloor + 1`.

    Book: :doc:`convolution`
    """
    return (size + 2 * padding - kernel) // stride + 1


def _output_shape(X_shape, kernel, stride, padding):
    """(H_out, W_out) for an input of shape (N, C, H, W), checked to be at
    least (1, 1)."""
    H_out, W_out = (
        conv_output_size(size, k, s, p)
        for size, k, s, p in zip(X_shape[2:], kernel, stride, padding,
                                 strict=True)
    )
    if H_out < 1 or W_out < 1:
        raise ValueError(
            f"the kernel {kernel} does not fit in the input of shape "
            f"{X_shape} padded by {padding}"
        )
    return H_out, W_out


def im2col(X, kernel_size, stride=1, padding=0):
    r"""Every window of ``X`` that the kernel sees, one per output position.

    With the input padded by p zeros on each side, window (p_, q) of example
    n holds, for each channel c and kernel offset (i, j),

    .. math:: \mathrm{cols}_{n, p_, q, c, i, j}
              = X^{\mathrm{pad}}_{n, c, \, s_h p + i, \, s_w q + j}

    The loop runs over the :math:`k_h k_w` offsets only: each step copies
    one entry of every window at once, a strided slice of the input.

    Parameters
    ----------
    X : array_like, shape (N, C, H, W)
    kernel_size, stride, padding : int or pair of int
        :math:`(k_h, k_w)`, :math:`(s_h, s_w)`, :math:`(p_h, p_w)`.

    Returns
    -------
    ndarray, shape (N, H_out, W_out, C, k_h, k_w)
        With :math:`H_{out} = \lfloor (H + 2 p_h - k_h) / s_h \rfloor + 1`
        (:func:`conv_output_size`), and W_out likewise.

    Book: :doc:`convolution`
    """
    X = as_float_array(X, "X")
    check_shape(X, 4, "X", "(N, C, H, W)")
    (kh, kw), (sh, sw) = (_pair(kernel_size, "kernel_size", 1),
                          _pair(stride, "stride", 1))
    ph, pw = _pair(padding, "padding", 0)
    H_out, W_out = _output_shape(X.shape, (kh, kw), (sh, sw), (ph, pw))
    X_pad = np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = X.shape[:2]
    cols = np.empty((N, H_out, W_out, C, kh, kw))
    for i in range(kh):
        for j in range(kw):
            rows = X_pad[:, :, i:i + sh * H_out:sh, j:j + sw * W_out:sw]
            cols[..., i, j] = rows.transpose(0, 2, 3, 1)
    return cols


def col2im(cols, X_shape, stride=1, padding=0):
    r"""The adjoint of :func:`im2col`: add each window's entries back where
    they were taken from.

    .. math:: \mathrm{d}X^{\mathrm{pad}}_{n, c, h, w}
              = \sum_{s_h p + i = h, \; s_w q + j = w}
              \mathrm{cols}_{n, p_, q, c, i, j}

    so a pixel that several windows share gets the sum of their entries, and
    a pixel no window covers gets 0; the padding is cut off at the end. This
    scatter-add is the backward pass of im2col, and also a transposed
    convolution.

    Parameters
    ----------
    cols : array_like, shape (N, H_out, W_out, C, k_h, k_w)
    X_shape : tuple
        (N, C, H, W), the shape of the input of :func:`im2col`.
    stride, padding : int or pair of int

    Returns
    -------
    ndarray, shape ``X_shape``

    Book: :doc:`convolution`
    """
    cols = as_float_array(cols, "cols")
    check_shape(cols, 6, "cols", "(N, H_out, W_out, C, k_h, k_w)")
    N, H_out, W_out, C, kh, kw = cols.shape
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(padding,
                                                           "padding", 0)
    expected = (N, *_output_shape(X_shape, (kh, kw), (sh, sw), (ph, pw)), C)
    if len(X_shape) != 4 or cols.shape[:4] != expected:
        raise ValueError(
            f"cols of shape {cols.shape} do not come from an input of shape "
            f"{X_shape} with stride {(sh, sw)} and padding {(ph, pw)}"
        )
    H, W = X_shape[2:]
    # summed channels last, (N, H, W, C) as the windows are, so that each
    # add writes whole rows of channels (twice as fast as NCHW here)
    grad_X_pad = np.zeros((N, H + 2 * ph, W + 2 * pw, C))
    for i in range(kh):
        for j in range(kw):
            rows = grad_X_pad[:, i:i + sh * H_out:sh, j:j + sw * W_out:sw]
            rows += cols[..., i, j]
    return grad_X_pad[:, ph:ph + H, pw:pw + W].transpose(0, 3, 1, 2)


class Conv2d:
    r"""A 2-D convolution layer, as PyTorch's ``nn.Conv2d`` computes it (a
    cross-correlation: the kernel is not flipped).

    .. math:: Z_{n, o, p_, q} = b_o + \sum_{c, i, j} W_{o, c, i, j} \,
              X^{\mathrm{pad}}_{n, c, \, s_h p + i, \, s_w q + j}

    Written with the windows of :func:`im2col` as the rows of a matrix,
    :math:`\mathrm{cols}` of shape :math:`(N H_{out} W_{out}, C k_h k_w)`,
    and the kernels flattened into :math:`W_f` of shape
    :math:`(C_{out}, C k_h k_w)`, this is a :class:`Linear` layer applied to
    every window:

    .. math:: Z = \mathrm{cols} \, W_f^T + \mathbf{1} b^T

    Parameters
    ----------
    C_in, C_out : int
        Input and output channels.
    kernel_size, stride, padding : int or pair of int
    rng : numpy.random.Generator, optional
        W and b start uniform in :math:`\pm 1/\sqrt{C_{in} k_h k_w}`, as in
        PyTorch (default ``np.random.default_rng(0)``).

    Attributes
    ----------
    W : ndarray, shape (C_out, C_in, k_h, k_w)
    b : ndarray, shape (C_out,)
    stride, padding : tuple of int
    dW, db : ndarray or None
        Set by :meth:`backward`.
    cols : ndarray or None
        The windows of the last input, shape (N, H_out, W_out, C_in, k_h,
        k_w), kept for :meth:`backward`.

    Book: :doc:`convolution`
    """

    def __init__(self, C_in, C_out, kernel_size, stride=1, padding=0,
                 rng=None):
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        if C_in < 1 or C_out < 1:
            raise ValueError(
                f"C_in and C_out must be positive, got {C_in} and {C_out}"
            )
        rng = np.random.default_rng(0) if rng is None else rng
        bound = 1.0 / np.sqrt(C_in * kh * kw)
        self.W = rng.uniform(-bound, bound, size=(C_out, C_in, kh, kw))
        self.b = rng.uniform(-bound, bound, size=C_out)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dW = self.db = self.cols = None

    @classmethod
    def from_params(cls, W, b, stride=1, padding=0):
        """A layer with the given ``W`` of shape (C_out, C_in, k_h, k_w) and
        ``b`` of shape (C_out,); both are copied.

        Book: :doc:`convolution`
        """
        W = as_float_array(W, "W")
        b = as_float_array(b, "b")
        check_shape(W, 4, "W", "(C_out, C_in, k_h, k_w)")
        _check_vector(b, len(W), "b")
        C_out, C_in, kh, kw = W.shape
        layer = cls(C_in, C_out, (kh, kw), stride, padding)
        layer.W, layer.b = W.copy(), b.copy()
        return layer

    def forward(self, X):
        r"""Convolve: one matrix product of the windows with the kernels.

        Parameters
        ----------
        X : array_like, shape (N, C_in, H, W)

        Returns
        -------
        ndarray, shape (N, C_out, H_out, W_out)

        Book: :doc:`convolution`
        """
        X = as_float_array(X, "X")
        C_out, C_in, kh, kw = self.W.shape
        if X.ndim != 4 or X.shape[1] != C_in:
            raise ValueError(
                f"X must have shape (N, {C_in}, H, W), got {X.shape}"
            )
        self.X_shape = X.shape
        self.cols = im2col(X, (kh, kw), self.stride, self.padding)
        N, H_out, W_out = self.cols.shape[:3]
        cols = self.cols.reshape(N * H_out * W_out, -1)
        Z = cols @ self.W.reshape(C_out, -1).T + self.b
        return Z.reshape(N, H_out, W_out, C_out).transpose(0, 3, 1, 2)

    def backward(self, G):
        r"""Backpropagate :math:`G = \partial \mathcal{L} / \partial Z`, as
        through a :class:`Linear` layer whose rows are the windows:

        .. math:: \frac{\partial \mathcal{L}}{\partial W_f} = G_r^T
                  \mathrm{cols}, \qquad
                  \frac{\partial \mathcal{L}}{\partial b} = G_r^T \mathbf{1},
                  \qquad
                  \frac{\partial \mathcal{L}}{\partial \mathrm{cols}}
                  = G_r W_f

        with :math:`G_r` the gradient as one row per output position,
        :math:`(N H_{out} W_{out}, C_{out})`. :func:`col2im` then adds each
        window's gradient back onto the pixels it was taken from.

        Parameters
        ----------
        G : array_like, shape (N, C_out, H_out, W_out)

        Returns
        -------
        ndarray, shape (N, C_in, H, W)
            :math:`\partial \mathcal{L} / \partial X`; ``dW`` and ``db`` are
            stored on the layer.

        Book: :doc:`convolution`
        """
        if self.cols is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        N, H_out, W_out = self.cols.shape[:3]
        C_out = len(self.b)
        _check_grad_shape(G, (N, C_out, H_out, W_out))
        G_rows = G.transpose(0, 2, 3, 1).reshape(-1, C_out)
        cols = self.cols.reshape(len(G_rows), -1)
        W_flat = self.W.reshape(C_out, -1)
        self.dW = (G_rows.T @ cols).reshape(self.W.shape)
        self.db = G_rows.sum(axis=0)
        grad_cols = (G_rows @ W_flat).reshape(self.cols.shape)
        return col2im(grad_cols, self.X_shape, self.stride, self.padding)


class _Pool2d:
    """What max and average pooling share: the window and stride, and the
    windows of the input (:func:`im2col`), whose shapes backward needs."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = (self.kernel_size if stride is None
                       else _pair(stride, "stride", 1))
        self.windows_shape = None

    def _windows(self, X):
        """The input's windows, shape (N, H_out, W_out, C, kh, kw)."""
        windows = im2col(X, self.kernel_size, self.stride)
        self.X_shape, self.windows_shape = np.shape(X), windows.shape
        return windows


class MaxPool2d(_Pool2d):
    r"""Max pooling: the largest entry of each window, channel by channel
    (PyTorch's ``nn.MaxPool2d``, without padding).

    .. math:: Y_{n, c, p, q} = \max_{i, j} X_{n, c, \, s_h p + i, \,
              s_w q + j}

    The max passes the gradient to the entry that won, its arg max, and 0 to
    the others. On a tie the first entry of the window in row-major order
    wins, as in PyTorch's CPU kernel. (On a window holding nan both output
    nan; PyTorch then routes the gradient to the last nan, this layer to the
    first.)

    Parameters
    ----------
    kernel_size : int or pair of int
    stride : int or pair of int, optional
        Default ``kernel_size``: windows side by side, not overlapping.

    Book: :doc:`convolution`
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__(kernel_size, stride)
        self.argmax = None

    def forward(self, X):
        r"""The maximum of each window.

        Parameters
        ----------
        X : array_like, shape (N, C, H, W)

        Returns
        -------
        ndarray, shape (N, C, H_out, W_out)

        Book: :doc:`convolution`
        """
        windows = self._windows(X)
        windows = windows.reshape(*windows.shape[:4], -1)
        self.argmax = windows.argmax(axis=-1)  # the first maximum
        Y = np.take_along_axis(windows, self.argmax[..., None], axis=-1)
        return Y[..., 0].transpose(0, 3, 1, 2)

    def backward(self, G):
        r"""Route each output's gradient to its window's arg max; an entry
        that wins several overlapping windows gets the sum.

        Parameters
        ----------
        G : array_like, shape (N, C, H_out, W_out)

        Returns
        -------
        ndarray, shape (N, C, H, W)

        Book: :doc:`convolution`
        """
        if self.argmax is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        N, H_out, W_out, C = self.argmax.shape
        _check_grad_shape(G, (N, C, H_out, W_out))
        window_size = self.kernel_size[0] * self.kernel_size[1]
        won = np.arange(window_size) == self.argmax[..., None]
        grad_windows = won * G.transpose(0, 2, 3, 1)[..., None]
        return col2im(grad_windows.reshape(self.windows_shape), self.X_shape,
                      self.stride)


class AvgPool2d(_Pool2d):
    r"""Average pooling: the mean of each window, channel by channel
    (PyTorch's ``nn.AvgPool2d``, without padding).

    .. math:: Y_{n, c, p, q} = \frac{1}{k_h k_w} \sum_{i, j}
              X_{n, c, \, s_h p + i, \, s_w q + j}

    so each entry of a window gets :math:`1 / (k_h k_w)` of the window's
    gradient.

    Parameters
    ----------
    kernel_size : int or pair of int
    stride : int or pair of int, optional
        Default ``kernel_size``.

    Book: :doc:`convolution`
    """

    def forward(self, X):
        r"""The mean of each window.

        Parameters
        ----------
        X : array_like, shape (N, C, H, W)

        Returns
        -------
        ndarray, shape (N, C, H_out, W_out)

        Book: :doc:`convolution`
        """
        return self._windows(X).mean(axis=(-2, -1)).transpose(0, 3, 1, 2)

    def backward(self, G):
        r"""Spread each output's gradient evenly over its window.

        Parameters
        ----------
        G : array_like, shape (N, C, H_out, W_out)

        Returns
        -------
        ndarray, shape (N, C, H, W)

        Book: :doc:`convolution`
        """
        if self.windows_shape is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        N, H_out, W_out, C, kh, kw = self.windows_shape
        _check_grad_shape(G, (N, C, H_out, W_out))
        share = G.transpose(0, 2, 3, 1)[..., None, None] / (kh * kw)
        grad_windows = np.broadcast_to(share, self.windows_shape)
        return col2im(grad_windows, self.X_shape, self.stride)


class Embedding:
    r"""A lookup table of vectors, one row of W per id (PyTorch's
    ``nn.Embedding``).

    .. math:: E_{\dots, :} = W_{\mathrm{id}, :}, \qquad
              \text{that is} \qquad E = \operatorname{onehot}(\mathrm{ids})
              \, W

    Parameters
    ----------
    num_embeddings, D : int
        V, the number of ids, and the size of each vector.
    rng : numpy.random.Generator, optional
        W starts standard normal, as in PyTorch (default
        ``np.random.default_rng(0)``).

    Attributes
    ----------
    W : ndarray, shape (V, D)
    dW : ndarray or None
        Set by :meth:`backward`.

    Book: :doc:`building-blocks`
    """

    def __init__(self, num_embeddings, D, rng=None):
        if num_embeddings < 1 or D < 1:
            raise ValueError(
                "num_embeddings and D must be positive, "
                f"got {num_embeddings} and {D}"
            )
        rng = np.random.default_rng(0) if rng is None else rng
        self.W = rng.standard_normal((num_embeddings, D))
        self.dW = self.ids = None

    @classmethod
    def from_params(cls, W):
        """A table with the given ``W`` of shape (V, D), copied.

        Book: :doc:`building-blocks`
        """
        W = as_float_array(W, "W")
        check_shape(W, 2, "W", "(num_embeddings, D)")
        layer = cls(*W.shape)
        layer.W = W.copy()
        return layer

    def forward(self, ids):
        r"""Look up each id's row.

        Parameters
        ----------
        ids : array_like of int, any shape
            E.g. (B, T): B sequences of T tokens; each in [0, V).

        Returns
        -------
        ndarray, shape ``ids.shape + (D,)``

        Book: :doc:`building-blocks`
        """
        ids = np.asarray(ids)
        V = len(self.W)
        if ids.dtype.kind not in "iu":
            raise TypeError(
                f"ids must be integers in [0, {V}), got dtype {ids.dtype}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(
                f"ids must lie in [0, {V}), got values in "
                f"[{ids.min()}, {ids.max()}]"
            )
        self.ids = ids
        return self.W[ids]

    def backward(self, G):
        r"""Accumulate :math:`G = \partial \mathcal{L} / \partial E` into
        the rows that were looked up.

        .. math:: \frac{\partial \mathcal{L}}{\partial W_v}
                  = \sum_{\text{positions with id } v} G_{\dots, :}
                  \qquad \Big(= \operatorname{onehot}(\mathrm{ids})^T G\Big)

        An id used at several positions gets the sum of their gradients
        (``np.add.at`` adds repeated indices; ``dW[ids] += G`` would keep
        only one of them), and rows never looked up get 0.

        The ids are integers, so they have no gradient and nothing is
        returned: an embedding is the first layer of its network.

        Parameters
        ----------
        G : array_like, shape ``ids.shape + (D,)``

        Returns
        -------
        None
            ``dW`` is stored on the layer.

        Book: :doc:`building-blocks`
        """
        if self.ids is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        _check_grad_shape(G, (*self.ids.shape, self.W.shape[1]))
        self.dW = np.zeros_like(self.W)
        np.add.at(self.dW, self.ids, G)


class Dropout:
    r"""Inverted dropout: in training, zero each entry with probability p
    and scale the survivors by :math:`1 / (1 - p)`, so that every entry keeps
    its expected value; in evaluation, the identity (PyTorch's
    ``nn.Dropout``).

    .. math:: Y = X \odot M, \qquad M_{\dots} = \begin{cases}
              1 / (1 - p) & \text{with probability } 1 - p \\
              0 & \text{with probability } p \end{cases}

    The mask M is kept, so the backward pass is :math:`G \odot M`: an entry
    dropped in the forward pass gets no gradient.

    Parameters
    ----------
    p : float
        Drop probability, in [0, 1).
    rng : numpy.random.Generator, optional
        Draws the masks (default ``np.random.default_rng(0)``).

    Attributes
    ----------
    training : bool
        True (the default) drops; False is the identity.
    mask : ndarray, float or None
        M of the last forward pass (1.0 in evaluation).

    Book: :doc:`building-blocks`
    """

    def __init__(self, p, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"p must lie in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.training, self.mask = True, None

    def forward(self, X):
        r"""Drop and rescale in training; pass X through in evaluation.

        Parameters
        ----------
        X : array_like, any shape

        Returns
        -------
        ndarray, shape of ``X``

        Book: :doc:`building-blocks`
        """
        X = as_float_array(X, "X")
        self.shape = X.shape
        if not self.training:
            self.mask = 1.0
            return X
        keep = self.rng.random(X.shape) >= self.p
        self.mask = keep / (1.0 - self.p)
        return X * self.mask

    def backward(self, G):
        r""":math:`\partial \mathcal{L} / \partial X = G \odot M`.

        Parameters
        ----------
        G : array_like, shape of the input

        Returns
        -------
        ndarray, shape of the input

        Book: :doc:`building-blocks`
        """
        if self.mask is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        _check_grad_shape(G, self.shape)
        return G * self.mask
