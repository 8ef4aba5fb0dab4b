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


# W. J. Cody's rational Chebyshev approximations of erf and erfc (Math. Comp.
# 23, 1969, 631-638), the coefficients of his Fortran CALERF (Netlib's
# specfun), highest power first. Each pair approximates one
# interval of |x|, the numerator first.
_ERF_NEAR_0 = (
    [1.85777706184603153e-1, 3.16112374387056560e0, 1.13864154151050156e2,
     3.77485237685302021e2, 3.20937758913846947e3],
    [1.0, 2.36012909523441209e1, 2.44024637934444173e2,
     1.28261652607737228e3, 2.84423683343917062e3],
)
_ERFC_MIDDLE = (
    [2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e0,
     6.61191906371416295e1, 2.98635138197400131e2, 8.81952221241769090e2,
     1.71204761263407058e3, 2.05107837782607147e3, 1.23033935479799725e3],
    [1.0, 1.57449261107098347e1, 1.17693950891312499e2,
     5.37181101862009858e2, 1.62138957456669019e3, 3.29079923573345963e3,
     4.36261909014324716e3, 3.43936767414372164e3, 1.23033935480374942e3],
)
_ERFC_TAIL = (
    [1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
     1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4],
    [1.0, 2.56852019228982242e0, 1.87295284992346047e0,
     5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3],
)


def _polynomial(coefficients, t):
    """The polynomial at ``t`` by Horner's rule, highest power first, in
    place (``np.polyval`` allocates an array per coefficient)."""
    value = np.full_like(t, coefficients[0])
    for coefficient in coefficients[1:]:
        value *= t
        value += coefficient
    return value


def _rational(coefficients, t):
    """The ratio of the two polynomials ``coefficients`` at ``t``."""
    numerator, denominator = coefficients
    return _polynomial(numerator, t) / _polynomial(denominator, t)


def _exp_minus_square(y):
    r""":math:`e^{-y^2}` to full relative precision: ``y * y`` rounds, and
    :math:`e^{-y^2}` amplifies that rounding y^2 times. Cody splits
    :math:`y = u + v` with u a multiple of 1/16, so that :math:`u^2` is exact
    and :math:`e^{-y^2} = e^{-u^2} e^{-(y - u)(y + u)}`."""
    u = np.trunc(16.0 * y) / 16.0
    return np.exp(-u * u) * np.exp(-(y - u) * (y + u))


def erfc(x):
    r"""Complementary error function, elementwise, in NumPy alone.

    .. math:: \operatorname{erfc}(x) = 1 - \operatorname{erf}(x)
              = \frac{2}{\sqrt\pi} \int_x^\infty e^{-t^2} \, dt

    W. J. Cody's rational approximations (1969), on three intervals of
    :math:`y = |x|`:

    .. math:: \operatorname{erf}(x) \approx x \, R_1(x^2)
              \quad (y \le 0.46875), \qquad
              \operatorname{erfc}(y) \approx e^{-y^2} R_2(y)
              \quad (0.46875 < y \le 4),

    .. math:: \operatorname{erfc}(y) \approx \frac{e^{-y^2}}{y}
              \Big(\frac{1}{\sqrt\pi} - y^{-2} R_3(y^{-2})\Big)
              \quad (y > 4),

    and :math:`\operatorname{erfc}(-y) = 2 - \operatorname{erfc}(y)`. Each
    :math:`R_i` is a ratio of two polynomials of degree at most 8. Against
    Python's ``math.erfc`` its relative error is below :math:`10^{-15}`
    wherever the result is at least :math:`10^{-300}` (the tests measure it
    from -6 to 27); beyond :math:`x \approx 26.6` it underflows to 0, as the
    true value does. Python's ``math.erfc`` takes one number at a time; this
    runs on whole arrays, at the cost of about a dozen NumPy exponentials.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``x``, entries in [0, 2]

    Book: :doc:`building-blocks`
    """
    x = as_float_array(x, "x")
    y = np.abs(x)
    near_0 = y <= 0.46875
    middle = (y > 0.46875) & (y <= 4.0)
    tail = ~(near_0 | middle)  # y > 4, and nan
    result = np.empty_like(y)
    result[near_0] = 1.0 - x[near_0] * _rational(_ERF_NEAR_0, y[near_0] ** 2)
    y_mid = y[middle]
    result[middle] = _exp_minus_square(y_mid) * _rational(_ERFC_MIDDLE, y_mid)
    # erfc(30) < 1e-390 rounds to 0: clipping there keeps 1 / y^2 finite
    y_tail = np.minimum(y[tail], 30.0)
    inverse_square = 1.0 / (y_tail * y_tail)
    result[tail] = (
        _exp_minus_square(y_tail) / y_tail
        * (1.0 / np.sqrt(np.pi)
           - inverse_square * _rational(_ERFC_TAIL, inverse_square))
    )
    negative = ~near_0 & (x < 0)
    result[negative] = 2.0 - result[negative]
    return result


# sqrt(2 / pi) and the cubic coefficient of GELU's tanh approximation
# (Hendrycks and Gimpel, 2016), as PyTorch writes them.
_GELU_TANH_SCALE = np.sqrt(2.0 / np.pi)
_GELU_TANH_CUBIC = 0.044715
GELU_APPROXIMATIONS = ("none", "tanh")


def _check_approximate(approximate):
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(
            f"approximate must be one of {GELU_APPROXIMATIONS}, "
            f"got {approximate!r}"
        )


def _gelu_tanh_argument(z):
    r""":math:`u = \sqrt{2/\pi} \, (z + 0.044715 z^3)` and
    :math:`du/dz`.

    ``z * z`` rather than ``z**3``: NumPy computes a cube with the general
    ``pow``, about 70 times slower than the products here."""
    z_squared = z * z
    u = _GELU_TANH_SCALE * z * (1.0 + _GELU_TANH_CUBIC * z_squared)
    du_dz = _GELU_TANH_SCALE * (1.0 + 3.0 * _GELU_TANH_CUBIC * z_squared)
    return u, du_dz


def gelu(z, approximate="none"):
    r"""Gaussian error linear unit, elementwise: z weighted by the
    probability that a standard normal variable is below it.

    .. math:: \operatorname{GELU}(z) = z \, \Phi(z), \qquad
              \Phi(z) = \tfrac12 \big(1 + \operatorname{erf}(z/\sqrt2)\big)
              = \tfrac12 \operatorname{erfc}(-z/\sqrt2)

    With ``approximate="tanh"``, Hendrycks and Gimpel's approximation
    (PyTorch's ``approximate="tanh"``, GPT-2's choice):

    .. math:: \operatorname{GELU}(z) \approx
              \tfrac12 z \big(1 + \tanh u\big) = z \, \sigma(2u), \qquad
              u = \sqrt{2/\pi} \, (z + 0.044715 z^3)

    Both are computed in the right-hand form: for very negative z,
    :math:`1 + \operatorname{erf}` and :math:`1 + \tanh` cancel to 0, while
    erfc (:func:`erfc`) and :math:`\sigma` keep their relative precision.

    Parameters
    ----------
    z : array_like, any shape
    approximate : {"none", "tanh"}

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`building-blocks`
    """
    _check_approximate(approximate)
    z = as_float_array(z, "z")
    if approximate == "tanh":
        u, _ = _gelu_tanh_argument(z)
        return z * sigmoid(2.0 * u)
    return z * 0.5 * erfc(-z / np.sqrt(2.0))


def gelu_prime(z, approximate="none"):
    r"""Derivative of GELU, elementwise.

    .. math:: \operatorname{GELU}'(z) = \Phi(z) + z \, \varphi(z), \qquad
              \varphi(z) = \frac{e^{-z^2/2}}{\sqrt{2\pi}}

    (the product rule, with :math:`\Phi' = \varphi`, the standard normal
    density). For ``approximate="tanh"``, with :math:`s = \sigma(2u)`:

    .. math:: \frac{d}{dz} \, z \, \sigma(2u) = s + 2 z \, s (1 - s)
              \, \frac{du}{dz}, \qquad
              \frac{du}{dz} = \sqrt{2/\pi} \, (1 + 3 \cdot 0.044715 z^2)

    Parameters
    ----------
    z : array_like, any shape
    approximate : {"none", "tanh"}

    Returns
    -------
    ndarray, same shape as ``z``

    Book: :doc:`building-blocks`
    """
    _check_approximate(approximate)
    z = as_float_array(z, "z")
    if approximate == "tanh":
        u, du_dz = _gelu_tanh_argument(z)
        s = sigmoid(2.0 * u)
        return s + 2.0 * z * s * (1.0 - s) * du_dz
    Phi = 0.5 * erfc(-z / np.sqrt(2.0))
    phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return Phi + z * phi
