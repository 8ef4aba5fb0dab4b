r"""Loss functions and their gradients, written out in NumPy.

The book's convention: a loss is a **mean over the N examples** of a batch,
and class labels are 0-based indices. Each ``*_grad`` function returns the
gradient of the scalar loss with respect to its first argument, with that
argument's shape; the :math:`1/N` of the mean is in these gradients, so layers
never divide by N.

For the elementwise losses (binary cross-entropy, squared error) the sources
disagree on what to average over, so the reduction is an explicit argument:

- ``"mean"``: mean over all entries (PyTorch's default), divide by :math:`N K`;
- ``"batch_mean"``: sum over the K outputs, mean over the N examples, divide
  by :math:`N`;
- ``"sum"``: no division.
"""

import numpy as np

from nnmath._checks import (
    as_class_indices,
    as_float_array,
    check_batch_size,
    check_probabilities,
    check_same_shape,
    check_shape,
)
from nnmath.activations import log_softmax, sigmoid, softmax


def one_hot(labels, num_classes):
    r"""One-hot encode class labels.

    .. math:: Y_{ic} =
              \begin{cases} 1 & c = y_i \\ 0 & \text{otherwise} \end{cases}

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Class indices in ``[0, num_classes)``.
    num_classes : int
        K.

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    labels = as_class_indices(labels, num_classes)
    Y = np.zeros((len(labels), num_classes))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


def as_targets(labels, num_classes):
    r"""Target distributions ``Y`` of shape (N, K) from either kind of label.

    Parameters
    ----------
    labels : array_like
        Integer class indices of shape (N,), or one-hot or soft targets of
        shape (N, K) whose rows are non-negative and sum to 1.
    num_classes : int
        K.

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    if np.ndim(labels) == 1:
        return one_hot(labels, num_classes)
    Y = as_float_array(labels, "labels")
    check_shape(
        Y, 2, "labels",
        f"(N,) of class indices or (N, {num_classes}) of targets",
    )
    if Y.shape[1] != num_classes:
        raise ValueError(
            f"targets must have K={num_classes} columns, got shape {Y.shape}"
        )
    if np.any(Y < 0) or not np.allclose(
        Y.sum(axis=1), 1.0, rtol=0, atol=1e-6
    ):
        raise ValueError(
            "target rows must be non-negative and sum to 1 "
            "(one-hot or soft targets)"
        )
    return Y


def _logits_and_targets(logits, labels):
    """Check the pair and return float logits (N, K) and targets Y (N, K)."""
    Z = as_float_array(logits, "logits")
    check_shape(Z, 2, "logits", "(N, K)")
    Y = as_targets(labels, Z.shape[1])
    check_batch_size(len(Z), Y)
    return Z, Y


def cross_entropy(logits, labels):
    r"""Cross-entropy of softmax(logits), averaged over the batch.

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N} \sum_{c=0}^{K-1}
              Y_{ic} \log \operatorname{softmax}(z_i)_c

    With integer labels this is :math:`-\frac{1}{N} \sum_i \log p_{i, y_i}`.
    It is computed with :func:`~nnmath.activations.log_softmax`, and a target
    of 0 adds nothing (:math:`0 \log 0 = 0`, even where a probability rounds
    to 0), so it is finite whenever each row's spread of logits, max minus
    min, is below the largest float, 1.8e308 (PyTorch's ``F.cross_entropy``).

    Parameters
    ----------
    logits : array_like, shape (N, K)
        Z, one row of scores per example.
    labels : array_like
        Class indices of shape (N,) in ``[0, K)``, or targets Y of shape
        (N, K).

    Returns
    -------
    float

    Book: :doc:`softmax-cross-entropy`
    """
    Z, Y = _logits_and_targets(logits, labels)
    picked = np.multiply(Y, log_softmax(Z), out=np.zeros_like(Z), where=Y != 0)
    return float(0.0 - picked.sum() / len(Z))


def cross_entropy_grad(logits, labels):
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    .. math:: \frac{\partial \mathcal{L}}{\partial Z}
              = \frac{1}{N} \big(\operatorname{softmax}(Z) - Y\big)

    Parameters
    ----------
    logits : array_like, shape (N, K)
    labels : array_like
        Class indices of shape (N,), or targets Y of shape (N, K).

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    Z, Y = _logits_and_targets(logits, labels)
    return (softmax(Z) - Y) / len(Z)


def _probs_and_labels(probs, labels):
    """Check probabilities (N, K) and integer labels (N,); return both, plus
    the rows."""
    P = as_float_array(probs, "probs")
    check_shape(P, 2, "probs", "(N, K)")
    check_probabilities(P, "probs")
    labels = as_class_indices(labels, P.shape[1])
    check_batch_size(len(P), labels)
    rows = np.arange(len(P))
    if np.any(P[rows, labels] == 0):
        raise ValueError(
            "the probability of each true class must be positive "
            "(log 0 = -inf); use cross_entropy on the logits instead"
        )
    return P, labels, rows


def cross_entropy_from_probs(probs, labels):
    r"""Cross-entropy from probabilities, step by step: pick, log, negate,
    average.

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N} \log p_{i, y_i}

    ``P[rows, labels]`` (integer-array indexing) picks each example's
    probability of its true class, so the zeros of a one-hot Y are never
    multiplied. Prefer :func:`cross_entropy` on logits: it cannot take log 0.

    Parameters
    ----------
    probs : array_like, shape (N, K)
        P = softmax(Z), entries in [0, 1]; each true class's entry must be
        positive.
    labels : array_like of int, shape (N,)
        Class indices in ``[0, K)``.

    Returns
    -------
    float

    Book: :doc:`softmax-cross-entropy`
    """
    P, labels, rows = _probs_and_labels(probs, labels)
    return float(-np.log(P[rows, labels]).mean())


def cross_entropy_from_probs_grad(probs, labels):
    r"""Gradient of :func:`cross_entropy_from_probs` with respect to the
    probabilities.

    .. math:: \frac{\partial \mathcal{L}}{\partial P}
              = -\frac{1}{N} \frac{Y}{P}

    elementwise, so it is 0 wherever :math:`Y_{ic} = 0`. The :math:`1/N` comes
    from the mean; dropping it gives the gradient of the sum over the batch.

    Parameters
    ----------
    probs : array_like, shape (N, K)
    labels : array_like of int, shape (N,)

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    P, labels, rows = _probs_and_labels(probs, labels)
    grad = np.zeros_like(P)
    grad[rows, labels] = -1.0 / (len(P) * P[rows, labels])
    return grad


def _divisor(x, reduction):
    """The number the summed elementwise loss of ``x`` is divided by."""
    if reduction == "mean":
        return x.size
    if reduction == "batch_mean":
        if x.ndim == 0:
            raise ValueError(
                'reduction="batch_mean" needs a batch axis, got a scalar'
            )
        return len(x)
    if reduction == "sum":
        return 1
    raise ValueError(
        f'reduction must be "mean", "batch_mean" or "sum", got {reduction!r}'
    )


def _probs_and_targets(probs, targets):
    """Check that probs and targets are same-shape arrays of values in
    [0, 1]."""
    p = as_float_array(probs, "probs")
    y = as_float_array(targets, "targets")
    check_same_shape(p, y, "probs", "targets")
    check_probabilities(p, "probs")
    check_probabilities(y, "targets")
    return p, y


def binary_cross_entropy(probs, targets, reduction="mean"):
    r"""Binary cross-entropy of probabilities, elementwise, then reduced.

    .. math:: \ell = -\big(y \log p + (1 - y) \log(1 - p)\big), \qquad
              \mathcal{L} = \frac{1}{D} \sum \ell

    with D given by ``reduction`` (see the module docstring). A probability of
    exactly 0 or 1 gives :math:`\log 0`; as in PyTorch each log is clamped at
    -100, so the loss stays finite.

    Parameters
    ----------
    probs : array_like, shape (N, K) (any shape)
        :math:`\hat Y`, entries in [0, 1].
    targets : array_like, same shape
        Y, entries in [0, 1] (usually 0 or 1).
    reduction : {"mean", "batch_mean", "sum"}

    Returns
    -------
    float

    Book: :doc:`backprop-two-layer`
    """
    p, y = _probs_and_targets(probs, targets)
    # log 0 = -inf, clamped to -100 just below
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_1mp = np.maximum(np.log1p(-p), -100.0)
    return float(
        -(y * log_p + (1 - y) * log_1mp).sum() / _divisor(p, reduction)
    )


def binary_cross_entropy_grad(probs, targets, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy` with respect to the
    probabilities.

    .. math:: \frac{\partial \mathcal{L}}{\partial p} = \frac{1}{D}
              \left(\frac{1 - y}{1 - p} - \frac{y}{p}\right)
              = \frac{1}{D} \frac{p - y}{p (1 - p)}

    At p = 0 or 1 the denominator is clamped at :math:`10^{-12}`, as in
    PyTorch.

    Parameters
    ----------
    probs, targets : array_like, same shape
    reduction : {"mean", "batch_mean", "sum"}

    Returns
    -------
    ndarray, shape of ``probs``

    Book: :doc:`backprop-two-layer`
    """
    p, y = _probs_and_targets(probs, targets)
    return (p - y) / np.maximum(p * (1 - p), 1e-12) / _divisor(p, reduction)


def _logits_and_binary_targets(logits, targets):
    """Check float logits and same-shape targets in [0, 1]."""
    z = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    check_same_shape(z, y, "logits", "targets")
    check_probabilities(y, "targets")
    return z, y


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    r"""Binary cross-entropy of sigmoid(logits), computed without overflow.

    Substituting :math:`p = \sigma(z)` into the binary cross-entropy gives

    .. math:: \ell = \log(1 + e^{z}) - y z
              = \max(z, 0) - y z + \log(1 + e^{-|z|})

    where the last form never exponentiates a positive number.

    Parameters
    ----------
    logits : array_like, shape (N, K) (any shape)
    targets : array_like, same shape, entries in [0, 1]
    reduction : {"mean", "batch_mean", "sum"}

    Returns
    -------
    float

    Book: :doc:`backprop-two-layer`
    """
    z, y = _logits_and_binary_targets(logits, targets)
    loss = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return float(loss.sum() / _divisor(z, reduction))


def binary_cross_entropy_with_logits_grad(logits, targets, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to
    the logits.

    .. math:: \frac{\partial \mathcal{L}}{\partial z}
              = \frac{1}{D} \big(\sigma(z) - y\big)

    Parameters
    ----------
    logits, targets : array_like, same shape
    reduction : {"mean", "batch_mean", "sum"}

    Returns
    -------
    ndarray, shape of ``logits``

    Book: :doc:`backprop-two-layer`
    """
    z, y = _logits_and_binary_targets(logits, targets)
    return (sigmoid(z) - y) / _divisor(z, reduction)


def mse(pred, target, reduction="mean"):
    r"""Squared error, reduced.

    .. math:: \mathcal{L} = \frac{1}{D} \sum (\hat y - y)^2

    Parameters
    ----------
    pred : array_like, shape (N, K) (any shape)
    target : array_like, same shape
    reduction : {"mean", "batch_mean", "sum"}
        ``"mean"`` is PyTorch's ``F.mse_loss``.

    Returns
    -------
    float

    Book: :doc:`vectorized-equations`
    """
    pred = as_float_array(pred, "pred")
    target = as_float_array(target, "target")
    check_same_shape(pred, target, "pred", "target")
    return float(((pred - target) ** 2).sum() / _divisor(pred, reduction))


def mse_grad(pred, target, reduction="mean"):
    r"""Gradient of :func:`mse` with respect to the prediction.

    .. math:: \frac{\partial \mathcal{L}}{\partial \hat y}
              = \frac{2}{D} (\hat y - y)

    Parameters
    ----------
    pred, target : array_like, same shape
    reduction : {"mean", "batch_mean", "sum"}

    Returns
    -------
    ndarray, shape of ``pred``

    Book: :doc:`vectorized-equations`
    """
    pred = as_float_array(pred, "pred")
    target = as_float_array(target, "target")
    check_same_shape(pred, target, "pred", "target")
    return 2.0 * (pred - target) / _divisor(pred, reduction)
