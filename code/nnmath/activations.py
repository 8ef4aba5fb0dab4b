r"""Activation functions and their derivatives, written out in NumPy.

Every function takes an array ``z`` of any shape (batch first, ``(N, n)`` in
a network) and returns a float64 array. ``f_prime(z)`` is the elementwise
derivative :math:`f'(z)`, with the same shape as ``z``; softmax, which mixes
the entries of a row, has a full Jacobian instead.
"""

import numpy as np

from nnmath._checks import as_float_array, check_same_shape


def relu(z):
    r"""Rectified linear unit, elementwise.

    .. math:: \operatorname{ReLU}(z) = \max(0, z)

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    return np.maximum(as_float_array(z, "z"), 0.0)


def relu_prime(z):
    r"""Derivative of ReLU, elementwise.

    .. math:: \operatorname{ReLU}'(z) =
              \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}

    ReLU has no derivative at exactly 0; we use 0 there, as PyTorch does.

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``, entries 0.0 or 1.0

    Book: :doc:`activations`
    """
    return (as_float_array(z, "z") > 0).astype(np.float64)


def leaky_relu(z, slope=0.01):
    r"""Leaky ReLU, elementwise: a small slope instead of 0 for negative
    inputs.

    .. math:: f(z) = \begin{cases} z & z > 0 \\ \alpha z & z \le 0 \end{cases}

    Parameters
    ----------
    z : array_like, any shape
    slope : float
        :math:`\alpha`, PyTorch's ``negative_slope`` (default 0.01).

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    z = as_float_array(z, "z")
    return np.where(z > 0, z, slope * z)


def leaky_relu_prime(z, slope=0.01):
    r"""Derivative of leaky ReLU, elementwise.

    .. math:: f'(z) = \begin{cases} 1 & z > 0 \\ \alpha & z \le 0 \end{cases}

    At exactly 0 we use :math:`\alpha`, as PyTorch does.

    Parameters
    ----------
    z : array_like, any shape
    slope : float
        :math:`\alpha` (default 0.01).

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    return np.where(as_float_array(z, "z") > 0, 1.0, slope)


def sigmoid(z):
    r"""Logistic sigmoid, elementwise.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}}

    The formula is safe as written, in float64, for every ``z``. For
    :math:`z \ge -709`, :math:`e^{-z}` is finite and the result has full
    relative precision, even where it is tiny (:math:`\sigma(-40) \approx
    4 \times 10^{-18}`). Below that, :math:`e^{-z}` overflows to ``inf``
    and :math:`1 / (1 + \infty) = 0` is :math:`\sigma(z)` to within
    :math:`10^{-308}`: the overflow is harmless, so we silence its warning.
    No nan can appear.

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``, entries in [0, 1]

    Book: :doc:`activations`
    """
    z = as_float_array(z, "z")
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    r"""Derivative of the sigmoid, elementwise.

    .. math:: \sigma'(z) = \sigma(z) \, (1 - \sigma(z))

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``, entries in [0, 1/4]

    Book: :doc:`activations`
    """
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    r"""Hyperbolic tangent, elementwise.

    .. math:: \tanh(z) = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}
              = 2 \sigma(2z) - 1

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``, entries in [-1, 1]

    Book: :doc:`activations`
    """
    return np.tanh(as_float_array(z, "z"))


def tanh_prime(z):
    r"""Derivative of tanh, elementwise.

    .. math:: \tanh'(z) = 1 - \tanh^2(z)

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`activations`
    """
    t = tanh(z)
    return 1.0 - t * t


def softmax(z, axis=-1):
    r"""Softmax along ``axis``: positive entries that sum to 1.

    .. math:: \operatorname{softmax}(z)_c
              = \frac{e^{z_c}}{\sum_{c'=0}^{K-1} e^{z_{c'}}}
              = \frac{e^{z_c - m}}{\sum_{c'=0}^{K-1} e^{z_{c'} - m}},
              \quad m = \max_{c'} z_{c'}

    Subtracting the maximum changes nothing mathematically but keeps every
    exponent at most 0, so :math:`e^{1000}` is never formed.

    Parameters
    ----------
    z : array_like, shape (N, K), (K,) or any, with ``axis`` the class axis
        Logits, one row per example.
    axis : int
        The class axis (default the last).

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`softmax-cross-entropy`
    """
    z = as_float_array(z, "z")
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    r"""Logarithm of the softmax along ``axis``, computed without overflow.

    .. math:: \log \operatorname{softmax}(z)_c
              = (z_c - m) - \log \sum_{c'=0}^{K-1} e^{z_{c'} - m},
              \quad m = \max_{c'} z_{c'}

    Taking ``np.log(softmax(z))`` instead gives :math:`\log 0 = -\infty` as
    soon as one probability underflows.

    Parameters
    ----------
    z : array_like, shape (N, K), (K,) or any, with ``axis`` the class axis
    axis : int
        The class axis (default the last).

    Returns
    -------
    ndarray, same shape as ``z``, entries at most 0

    Book: :doc:`softmax-cross-entropy`
    """
    z = as_float_array(z, "z")
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_jacobian(z):
    r"""Jacobian of the softmax, for one example or a batch.

    .. math:: J_{cc'} = \frac{\partial s_c}{\partial z_{c'}}
              = s_c (\delta_{cc'} - s_{c'}),
              \qquad J = \operatorname{diag}(s) - s s^T

    with :math:`s = \operatorname{softmax}(z)` a column vector, as every
    vector of one example is in the book (a row of ``z`` holds one example's
    logits; its Jacobian is the same matrix).

    Parameters
    ----------
    z : array_like, shape (K,) or (N, K)

    Returns
    -------
    ndarray, shape (K, K) or (N, K, K)
        One symmetric Jacobian per row of ``z``.

    Book: :doc:`softmax-cross-entropy`
    """
    z = as_float_array(z, "z")
    if z.ndim not in (1, 2):
        raise ValueError(
            f"z must have shape (K,) or (N, K), got shape {z.shape}"
        )
    s = softmax(z)
    diag = s[..., :, None] * np.eye(s.shape[-1])
    return diag - s[..., :, None] * s[..., None, :]


def softmax_jacobian_by_cases(z):
    r"""Jacobian of the softmax of one example, built entry by entry.

    .. math:: \frac{\partial s_c}{\partial z_{c'}} =
              \begin{cases} s_c (1 - s_c) & c = c' \\
              -s_c s_{c'} & c \ne c' \end{cases}

    The explicit double loop shows the two cases; :func:`softmax_jacobian`
    computes the same matrix in one line.

    Parameters
    ----------
    z : array_like, shape (K,)

    Returns
    -------
    ndarray, shape (K, K)

    Book: :doc:`softmax-cross-entropy`
    """
    z = as_float_array(z, "z")
    if z.ndim != 1:
        raise ValueError(f"z must have shape (K,), got shape {z.shape}")
    s = softmax(z)
    K = len(s)
    J = np.empty((K, K))
    for i in range(K):
        for j in range(K):
            if i == j:
                J[i, j] = s[i] * (1 - s[i])
            else:
                J[i, j] = -s[i] * s[j]
    return J


def softmax_vjp(z, grad_out):
    r"""Vector-Jacobian product of the softmax, without forming the Jacobian.

    For one example, with :math:`s = \operatorname{softmax}(z)` and the
    upstream gradient :math:`g = \partial \mathcal{L} / \partial s` (columns),

    .. math:: \frac{\partial \mathcal{L}}{\partial z} = J^T g
              = s \odot \big(g - (s^T g) \mathbf{1}\big)

    (:math:`J` is symmetric), which costs :math:`O(K)` instead of the
    :math:`O(K^2)` of forming :math:`J`. Each row of ``z`` and of
    ``grad_out`` (G in the book) is one example.

    Parameters
    ----------
    z : array_like, shape (N, K) or (..., K)
        Logits.
    grad_out : array_like, shape (N, K) or (..., K)
        :math:`G = \partial \mathcal{L} / \partial S`, one row per example.

    Returns
    -------
    ndarray, shape (N, K) or (..., K)
        :math:`\partial \mathcal{L} / \partial Z`.

    Book: :doc:`softmax-cross-entropy`
    """
    g = as_float_array(grad_out, "grad_out")
    s = softmax(z)
    check_same_shape(s, g, "z", "grad_out")
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def log_softmax_vjp(z, grad_out):
    r"""Vector-Jacobian product of the log-softmax.

    Since :math:`\partial \log s_i / \partial z_j = \delta_{ij} - s_j`, one
    example's upstream gradient :math:`g = \partial \mathcal{L} / \partial
    \log s` (a column) gives

    .. math:: \frac{\partial \mathcal{L}}{\partial z}
              = g - s \, (\mathbf{1}^T g)

    Parameters
    ----------
    z : array_like, shape (N, K) or (..., K)
        Logits.
    grad_out : array_like, shape (N, K) or (..., K)
        :math:`\partial \mathcal{L} / \partial \log S`, one row per example.

    Returns
    -------
    ndarray, shape (N, K) or (..., K)

    Book: :doc:`softmax-cross-entropy`
    """
    g = as_float_array(grad_out, "grad_out")
    s = softmax(z)
    check_same_shape(s, g, "z", "grad_out")
    return g - s * g.sum(axis=-1, keepdims=True)
