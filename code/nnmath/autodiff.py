r"""A small reverse-mode automatic differentiation engine over NumPy
arrays.

Its surface copies PyTorch's: ``Tensor(data, requires_grad=True)``, operators,
``.backward()``, ``.grad``. Each operation computes its value and records,
next to it, a ``_backward`` closure with its local derivative: given the
upstream gradient :math:`G = \partial \mathcal{L} / \partial y` of its output
:math:`y = f(x_1, x_2)`, it adds the vector-Jacobian product
:math:`\partial \mathcal{L} / \partial x_i`, which is :math:`G` times
:math:`\partial y / \partial x_i` summed over the entries of y, to each
input's gradient. :meth:`Tensor.backward` sorts the recorded
graph topologically and calls these closures from the output back to the
inputs.

Two differences from PyTorch, both to make the book's pictures simpler: every
tensor that requires grad keeps its ``.grad`` after a backward pass (PyTorch
keeps only the leaves'), and the graph is not freed, so ``backward`` can be
called twice (the leaves' gradients add up, as in PyTorch).
"""

import numpy as np

from nnmath._checks import (
    as_class_indices,
    as_float_array,
    check_batch_size,
    check_shape,
)
from nnmath.activations import log_softmax, sigmoid, softmax
from nnmath.losses import one_hot


def _unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    An input that was broadcast was used once per copy, so its gradient is the
    sum over the copies: over the leading axes it lacked, and over its size-1
    axes.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return np.asarray(grad)  # a full sum is a NumPy scalar: keep an array


def _wrap(x):
    """A Tensor as is; anything else (a number, an array) as a constant
    Tensor."""
    return x if isinstance(x, Tensor) else Tensor(x)


class Tensor:
    r"""An array that records the operations applied to it, for reverse-mode
    AD.

    Parameters
    ----------
    data : array_like
        Stored as a float64 array.
    requires_grad : bool
        Whether gradients with respect to this tensor are wanted.
    name : str, optional
        A label, for drawings of the graph.

    Attributes
    ----------
    data : ndarray
    grad : ndarray or None
        :math:`\partial \mathcal{L} / \partial \text{self}`, where
        :math:`\mathcal{L}` is the tensor whose ``backward`` ran; same shape
        as ``data``; None until a backward pass reaches it.
    requires_grad : bool

    Book: :doc:`automatic-differentiation`
    """

    # Makes NumPy hand `ndarray + Tensor` to Tensor.__radd__ instead of
    # looping over the array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, name=None):
        self.data = as_float_array(data, "data")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.name = name
        self._parents = ()
        self._op = ""
        self._backward = None

    @staticmethod
    def _result(data, parents, op):
        """The output tensor of operation ``op``: it requires grad if any
        input does."""
        out = Tensor(
            data, requires_grad=any(p.requires_grad for p in parents)
        )
        out._parents, out._op = parents, op
        return out

    def _accumulate(self, grad):
        """Add one contribution to ``self.grad``, summed down to this
        tensor's shape."""
        if not self.requires_grad:
            return
        grad = _unbroadcast(grad, self.shape)
        if self.grad is None:
            # A leaf gets its own copy: one array can reach several tensors
            # (both inputs of an add).
            self.grad = grad if self._parents else grad.copy()
        else:
            self.grad = self.grad + grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    def item(self):
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4)}{flag})"

    def __add__(self, other):
        other = _wrap(other)
        out = Tensor._result(self.data + other.data, (self, other), "add")

        def _backward():
            self._accumulate(out.grad)
            other._accumulate(out.grad)

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = _wrap(other)
        out = Tensor._result(self.data * other.data, (self, other), "mul")

        def _backward():
            self._accumulate(out.grad * other.data)
            other._accumulate(out.grad * self.data)

        out._backward = _backward
        return out

    def __neg__(self):
        out = Tensor._result(-self.data, (self,), "neg")

        def _backward():
            self._accumulate(-out.grad)

        out._backward = _backward
        return out

    def __sub__(self, other):
        other = _wrap(other)
        out = Tensor._result(self.data - other.data, (self, other), "sub")

        def _backward():
            self._accumulate(out.grad)
            other._accumulate(-out.grad)

        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = _wrap(other)
        out = Tensor._result(self.data / other.data, (self, other), "div")

        def _backward():
            self._accumulate(out.grad / other.data)
            other._accumulate(-out.grad * self.data / other.data**2)

        out._backward = _backward
        return out

    def __pow__(self, exponent):
        if not isinstance(exponent, int | float):
            raise TypeError(
                "the exponent must be a Python number, "
                f"got {type(exponent).__name__}"
            )
        out = Tensor._result(
            self.data**exponent, (self,), f"pow {exponent}"
        )

        def _backward():
            self._accumulate(
                out.grad * exponent * self.data ** (exponent - 1)
            )

        out._backward = _backward
        return out

    def __radd__(self, other):
        return _wrap(other) + self

    def __rsub__(self, other):
        return _wrap(other) - self

    def __rmul__(self, other):
        return _wrap(other) * self

    def __rtruediv__(self, other):
        return _wrap(other) / self

    def __matmul__(self, other):
        r"""Matrix product :math:`Y = AB` of 1-D or 2-D tensors; backward
        :math:`\partial \mathcal{L} / \partial A = G B^T` and
        :math:`\partial \mathcal{L} / \partial B = A^T G`, with
        :math:`G = \partial \mathcal{L} / \partial Y`."""
        other = _wrap(other)
        if not (1 <= self.ndim <= 2 and 1 <= other.ndim <= 2):
            raise ValueError(
                "@ takes 1-D or 2-D tensors, "
                f"got shapes {self.shape} and {other.shape}"
            )
        out = Tensor._result(
            self.data @ other.data, (self, other), "matmul"
        )

        def _backward():
            # Treat a vector as a one-row (left) or one-column (right) matrix.
            A = self.data.reshape(-1, self.shape[-1])
            B = other.data.reshape(other.shape[0], -1)
            grad = out.grad.reshape(len(A), B.shape[1])
            # Skip the product for an operand that needs no gradient (like
            # the data X).
            if self.requires_grad:
                self._accumulate((grad @ B.T).reshape(self.shape))
            if other.requires_grad:
                other._accumulate((A.T @ grad).reshape(other.shape))

        out._backward = _backward
        return out

    def __rmatmul__(self, other):
        return _wrap(other) @ self

    @property
    def T(self):
        """The transpose (axes reversed); its gradient is transposed back."""
        out = Tensor._result(self.data.T, (self,), "transpose")

        def _backward():
            self._accumulate(out.grad.T)

        out._backward = _backward
        return out

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (all axes by default); each input entry gets the
        output's gradient."""
        out = Tensor._result(
            self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum"
        )

        def _backward():
            grad = (
                out.grad
                if keepdims or axis is None
                else np.expand_dims(out.grad, axis)
            )
            self._accumulate(np.broadcast_to(grad, self.shape))

        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis``: like :meth:`sum`, with the gradient divided by
        the count."""
        out = Tensor._result(
            self.data.mean(axis=axis, keepdims=keepdims), (self,), "mean"
        )

        def _backward():
            grad = (
                out.grad
                if keepdims or axis is None
                else np.expand_dims(out.grad, axis)
            )
            count = self.data.size / out.data.size
            self._accumulate(np.broadcast_to(grad / count, self.shape))

        out._backward = _backward
        return out

    def exp(self):
        r""":math:`e^x`, whose derivative is itself."""
        out = Tensor._result(np.exp(self.data), (self,), "exp")

        def _backward():
            self._accumulate(out.grad * out.data)

        out._backward = _backward
        return out

    def log(self):
        r""":math:`\log x`, derivative :math:`1/x`."""
        out = Tensor._result(np.log(self.data), (self,), "log")

        def _backward():
            self._accumulate(out.grad / self.data)

        out._backward = _backward
        return out

    def relu(self):
        """ReLU; its derivative at exactly 0 is taken as 0, as in PyTorch."""
        out = Tensor._result(np.maximum(self.data, 0.0), (self,), "relu")

        def _backward():
            self._accumulate(out.grad * (self.data > 0))

        out._backward = _backward
        return out

    def sigmoid(self):
        r""":math:`\sigma(x)`, derivative :math:`\sigma(x)(1 - \sigma(x))` from
        the output."""
        out = Tensor._result(sigmoid(self.data), (self,), "sigmoid")

        def _backward():
            self._accumulate(out.grad * out.data * (1 - out.data))

        out._backward = _backward
        return out

    def tanh(self):
        r""":math:`\tanh x`, derivative :math:`1 - \tanh^2 x` from the
        output."""
        out = Tensor._result(np.tanh(self.data), (self,), "tanh")

        def _backward():
            self._accumulate(out.grad * (1 - out.data**2))

        out._backward = _backward
        return out

    def softmax(self, axis=-1):
        r"""Softmax along ``axis``; backward, for one example's
        :math:`g = \partial \mathcal{L} / \partial s`,
        :math:`s \odot (g - (s^T g) \mathbf{1})`."""
        out = Tensor._result(
            softmax(self.data, axis=axis), (self,), "softmax"
        )

        def _backward():
            s = out.data
            self._accumulate(
                s * (out.grad - (out.grad * s).sum(axis=axis, keepdims=True))
            )

        out._backward = _backward
        return out

    def log_softmax(self, axis=-1):
        r"""Log-softmax along ``axis``; backward, for one example's
        :math:`g = \partial \mathcal{L} / \partial \log s`,
        :math:`g - s \, (\mathbf{1}^T g)`."""
        out = Tensor._result(
            log_softmax(self.data, axis=axis), (self,), "log_softmax"
        )

        def _backward():
            s = np.exp(out.data)
            self._accumulate(
                out.grad - s * out.grad.sum(axis=axis, keepdims=True)
            )

        out._backward = _backward
        return out

    def backward(self, grad=None):
        r"""Compute the gradient of this tensor with respect to every tensor
        it depends on.

        Parameters
        ----------
        grad : array_like, optional
            The upstream gradient
            :math:`G = \partial \mathcal{L} / \partial \text{self}`,
            same shape as this tensor. It may be left out only for a
            one-element tensor (a loss), where it is 1, as in PyTorch.

        Book: :doc:`automatic-differentiation`
        """
        if not self.requires_grad:
            raise RuntimeError(
                "this tensor does not require grad: none of its inputs "
                "was created with requires_grad=True"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    "backward() without grad works only for a scalar "
                    f"(a loss), this tensor has shape {self.shape}: "
                    "pass grad of that shape"
                )
            grad = np.ones_like(self.data)
        grad = as_float_array(grad, "grad")
        if grad.shape != self.shape:
            raise ValueError(
                f"grad must have the tensor's shape {self.shape}, "
                f"got {grad.shape}"
            )
        order = topological_order(self)
        for node in order:
            # intermediate results hold this pass's gradient only
            if node._parents:
                node.grad = None
        self._accumulate(grad)
        for node in reversed(order):
            if node._backward is not None and node.grad is not None:
                node._backward()

    def zero_grad(self):
        """Forget the accumulated gradient (``grad`` becomes None, like
        ``optimizer.zero_grad()``)."""
        self.grad = None


def cross_entropy(logits, labels):
    r"""Cross-entropy of softmax(logits) with integer labels, averaged over
    the batch, as one op.

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N}
              \log \operatorname{softmax}(z_i)_{y_i},
              \qquad \delta = \frac{\partial \mathcal{L}}{\partial Z}
              = \frac{1}{N} (\operatorname{softmax}(Z) - Y)

    Parameters
    ----------
    logits : Tensor, shape (N, K)
    labels : array_like of int, shape (N,)
        Class indices in ``[0, K)``.

    Returns
    -------
    Tensor, shape ()

    Book: :doc:`automatic-differentiation`
    """
    logits = _wrap(logits)
    check_shape(logits.data, 2, "logits", "(N, K)")
    labels = as_class_indices(labels, logits.shape[1])
    check_batch_size(len(logits.data), labels)
    log_p = log_softmax(logits.data)
    out = Tensor._result(
        -log_p[np.arange(len(labels)), labels].mean(),
        (logits,),
        "cross_entropy",
    )

    def _backward():
        Y = one_hot(labels, logits.shape[1])
        logits._accumulate(out.grad * (np.exp(log_p) - Y) / len(labels))

    out._backward = _backward
    return out


def topological_order(root):
    """Every tensor ``root`` depends on, each after all of its inputs;
    ``root`` comes last.

    A depth-first search that appends a tensor once all its parents are in the
    list. It keeps its own stack, so long chains cannot hit Python's recursion
    limit.

    Book: :doc:`automatic-differentiation`
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend(
                (parent, False) for parent in reversed(node._parents)
            )
    return order

