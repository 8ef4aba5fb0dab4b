r"""The exercises of the chapter :doc:`softmax-cross-entropy`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath import activations, losses
from nnmath.exercises import Case, Exercise, Slip, describe


def _rows(Z):
    return np.arange(len(Z))


def softmax(Z):
    r"""Softmax of each row, computed without overflow.

    .. math:: \operatorname{softmax}(z)_c
              = \frac{e^{z_c - m}}{\sum_{c'=0}^{K-1} e^{z_{c'} - m}},
              \qquad m = \max_{c'} z_{c'}

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.

    Returns
    -------
    ndarray, shape (N, K)
        Each row is positive and sums to 1.

    Book: :doc:`softmax-cross-entropy`
    """
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _large_logits():
    """Two rows near ±1000 and a tie."""
    return np.array([[1000.0, 1001.0, 999.0, 1000.5],
                     [-1000.0, -1001.0, -999.0, -1000.5],
                     [2.0, 2.0, 2.0, 2.0]])


@cache
def _softmax_cases():
    rng = np.random.default_rng(106)
    return [
        Case((rng.normal(size=(4, 3)),), "Z of shape (4, 3)"),
        Case((_large_logits(),),
             "Z of shape (3, 4), logits near 1000 and −1000, and a tie"),
        Case((rng.normal(scale=5.0, size=(2, 5)),), "Z of shape (2, 5)"),
        Case((rng.normal(size=(6, 2)),), "Z of shape (6, 2)"),
    ]


def _naive_softmax(Z):
    return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)


def _softmax_over_columns(Z):
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def _softmax_over_batch(Z):
    E = np.exp(Z)
    return E / np.sum(E)


def _softmax_global_max(Z):
    E = np.exp(Z - np.max(Z))
    return E / E.sum(axis=1, keepdims=True)


SOFTMAX = Exercise(
    name="softmax",
    chapter="softmax-cross-entropy",
    solution=softmax,
    reference=activations.softmax,
    cases=_softmax_cases,
    outputs=("softmax",),
    shapes=("(N, K)",),
    about="2 to 6 rows of 2 to 5 logits, logits near ±1000, a tie",
    slips=(
        Slip("overflow",
             "Your softmax is nan at large logits: e^1000 overflows to "
             "inf, and inf/inf is nan. Subtract each row's maximum m "
             "first: e^{z_c − m}/∑ e^{z_c' − m} is the same number, and "
             "no exponent exceeds 0.",
             lambda S, Z: _naive_softmax(Z), _naive_softmax),
        Slip("wrong-axis",
             "Your probabilities sum to 1 down each column, over the "
             "examples: each row (one example's K logits) must sum to 1, "
             "so the max and the sum run over axis 1 (keepdims=True).",
             lambda S, Z: activations.softmax(Z, axis=0),
             _softmax_over_columns),
        Slip("whole-batch",
             "You divided by one sum over the whole batch: each example "
             "has its own denominator, the sum of e^{z_c} over its own K "
             "classes (one sum per row, axis 1).",
             lambda S, Z: np.exp(Z) / np.exp(Z).sum(), _softmax_over_batch),
        Slip("global-max",
             "You subtracted the largest logit of the whole batch, not "
             "each row's: a row far below it underflows to 0/0 = nan. "
             "Subtract each row's own maximum (axis=1, keepdims=True).",
             lambda S, Z: _naive_softmax(Z - Z.max()), _softmax_global_max),
    ),
)
check_softmax = SOFTMAX.check


def softmax_jacobian(z):
    r"""The Jacobian of the softmax of one example.

    .. math:: J_{cc'} = \frac{\partial s_c}{\partial z_{c'}}
              = s_c (\delta_{cc'} - s_{c'}), \qquad
              J = \operatorname{diag}(s) - s s^T

    with :math:`s = \operatorname{softmax}(z)`.

    Parameters
    ----------
    z : ndarray, shape (K,)
        One example's logits.

    Returns
    -------
    ndarray, shape (K, K)

    Book: :doc:`softmax-cross-entropy`
    """
    e = np.exp(z - z.max())
    s = e / e.sum()
    return np.diag(s) - np.outer(s, s)


@cache
def _jacobian_cases():
    rng = np.random.default_rng(107)
    return [
        Case((rng.normal(size=3),), "z of shape (3,)"),
        Case((np.array([0.5, 0.5, -1.0, 2.0]),), "z of shape (4,), a tie"),
        Case((np.array([1000.0, 999.0, 998.0, 1000.5, 0.0]),),
             "z of shape (5,), logits near 1000"),
        Case((rng.normal(scale=3.0, size=2),), "z of shape (2,)"),
    ]


def _jacobian_diagonal_only(z):
    s = activations.softmax(z)
    return np.diag(s * (1 - s))


def _jacobian_without_diag(z):
    s = activations.softmax(z)
    return -np.outer(s, s)


def _jacobian_sign(z):
    s = activations.softmax(z)
    return np.outer(s, s) - np.diag(s)


def _jacobian_of_logits(z):
    return np.diag(z) - np.outer(z, z)


SOFTMAX_JACOBIAN = Exercise(
    name="softmax_jacobian",
    chapter="softmax-cross-entropy",
    solution=softmax_jacobian,
    reference=activations.softmax_jacobian,
    cases=_jacobian_cases,
    outputs=("J",),
    shapes=("(K, K)",),
    about="K = 2 to 5 classes, logits near 1000, a tie",
    slips=(
        Slip("diagonal-only",
             "Your Jacobian is diagonal: every s_c depends on every logit "
             "through the denominator, so the entries off the diagonal "
             "are −s_c s_c' (J = diag(s) − s sᵀ).",
             lambda J, z: np.diag(np.diag(J)), _jacobian_diagonal_only),
        Slip("missing-diag",
             "Your Jacobian is −s sᵀ alone: you left out diag(s), "
             "J = diag(s) − s sᵀ.",
             lambda J, z: J - np.diag(activations.softmax(z)),
             _jacobian_without_diag),
        Slip("sign",
             "Your Jacobian has the opposite sign: J = diag(s) − s sᵀ, "
             "whose diagonal s_c(1 − s_c) is positive.",
             lambda J, z: -J, _jacobian_sign),
        Slip("logits",
             "You built the Jacobian from the logits z: its entries are "
             "made of the probabilities s = softmax(z), "
             "J = diag(s) − s sᵀ.",
             lambda J, z: np.diag(z) - np.outer(z, z), _jacobian_of_logits),
    ),
)
check_softmax_jacobian = SOFTMAX_JACOBIAN.check


def softmax_vjp(Z, G):
    r"""The softmax's vector-Jacobian product, without the Jacobian.

    For one example (a row), with :math:`s = \operatorname{softmax}(z)` and
    the upstream gradient :math:`g = \partial \mathcal{L} / \partial s`:

    .. math:: \frac{\partial \mathcal{L}}{\partial z} = J^T g
              = s \odot \big(g - (s^T g) \mathbf{1}\big)

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.
    G : ndarray, shape (N, K)
        :math:`\partial \mathcal{L} / \partial S`, one row per example.

    Returns
    -------
    ndarray, shape (N, K)
        :math:`\partial \mathcal{L} / \partial Z`.

    Book: :doc:`softmax-cross-entropy`
    """
    S = softmax(Z)
    return S * (G - (S * G).sum(axis=1, keepdims=True))


@cache
def _vjp_cases():
    rng = np.random.default_rng(108)
    cases = []
    for Z in (rng.normal(size=(4, 3)), rng.normal(scale=3.0, size=(2, 5)),
              rng.normal(size=(6, 4)), _large_logits()):
        G = rng.normal(size=Z.shape)
        cases.append(Case((Z, G), describe(Z=Z, G=G)
                          + (", logits near ±1000" if abs(Z).max() > 100
                             else "")))
    return cases


def _vjp_diagonal_only(Z, G):
    return softmax(Z) * G


def _vjp_wrong_axis(Z, G):
    S = softmax(Z)
    return S * (G - (S * G).sum(axis=0))


def _vjp_plain_sum(Z, G):
    S = softmax(Z)
    return S * (G - G.sum(axis=1, keepdims=True))


def _vjp_log_softmax_rule(Z, G):
    S = softmax(Z)
    return G - S * G.sum(axis=1, keepdims=True)


def _vjp_sum_over(Z, G, axis):
    S = activations.softmax(Z)
    return S * (G - (S * G).sum(axis=axis, keepdims=True))


SOFTMAX_VJP = Exercise(
    name="softmax_vjp",
    chapter="softmax-cross-entropy",
    solution=softmax_vjp,
    reference=activations.softmax_vjp,
    cases=_vjp_cases,
    outputs=("∂ℒ/∂Z",),
    shapes=("(N, K)",),
    about="2 to 6 rows of 3 to 5 logits, logits near ±1000, random "
          "upstream gradients G",
    slips=(
        Slip("diagonal-only",
             "You kept only the diagonal of the Jacobian, s ⊙ g: every "
             "probability depends on every logit, so subtract each row's "
             "sᵀg, ∂ℒ/∂z = s ⊙ (g − (sᵀg) 1).",
             lambda dZ, Z, G: activations.softmax(Z) * G,
             _vjp_diagonal_only),
        Slip("wrong-axis",
             "Your sᵀg sums over the wrong axis, the examples: it is one "
             "number per example, the sum of s_c g_c over its K classes "
             "(axis 1, keepdims=True).",
             lambda dZ, Z, G: _vjp_sum_over(Z, G, axis=0), _vjp_wrong_axis),
        Slip("plain-sum",
             "You subtracted 1ᵀg, the plain sum of g, where the sum is "
             "weighted by the probabilities: ∂ℒ/∂z = s ⊙ (g − (sᵀg) 1).",
             lambda dZ, Z, G: activations.softmax(Z)
             * (G - G.sum(axis=1, keepdims=True)), _vjp_plain_sum),
        Slip("log-softmax-rule",
             "That is the log-softmax's rule, g − s (1ᵀg); the softmax's "
             "is s ⊙ (g − (sᵀg) 1).",
             lambda dZ, Z, G: activations.log_softmax_vjp(Z, G),
             _vjp_log_softmax_rule),
    ),
)
check_softmax_vjp = SOFTMAX_VJP.check


def log_softmax(Z):
    r"""The logarithm of the softmax of each row, without overflow or
    log 0.

    .. math:: \log \operatorname{softmax}(z)_c
              = (z_c - m) - \log \sum_{c'=0}^{K-1} e^{z_{c'} - m},
              \qquad m = \max_{c'} z_{c'}

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _far_apart_logits():
    """Rows whose logits lie a thousand apart: e^z overflows, and a
    probability underflows to 0."""
    return np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1002.0]])


@cache
def _log_softmax_cases():
    rng = np.random.default_rng(109)
    return [
        Case((rng.normal(size=(4, 3)),), "Z of shape (4, 3)"),
        Case((np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 3.0, -2.0, 3.0],
                        [5.0, -5.0, 0.0, 1.0]]),),
             "Z of shape (3, 4), with ties"),
        Case((_far_apart_logits(),),
             "Z of shape (2, 3), logits 1000 apart"),
        Case((rng.normal(scale=10.0, size=(5, 2)),), "Z of shape (5, 2)"),
    ]


def _log_of_naive_softmax(Z):
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return np.log(P)


def _log_of_softmax(Z):
    return np.log(softmax(Z))


def _max_not_added_back(Z):
    m = Z.max(axis=1, keepdims=True)
    log_sum = np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))
    return Z - log_sum


def _log_softmax_unshifted(Z):
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def _log_softmax_over_columns(Z):
    m = Z.max(axis=0)
    return Z - (m + np.log(np.exp(Z - m).sum(axis=0)))


LOG_SOFTMAX = Exercise(
    name="log_softmax",
    chapter="softmax-cross-entropy",
    solution=log_softmax,
    reference=activations.log_softmax,
    cases=_log_softmax_cases,
    outputs=("log softmax",),
    shapes=("(N, K)",),
    about="2 to 5 rows of 2 to 4 logits, logits 1000 apart, ties",
    slips=(
        Slip("overflow",
             "Your log-softmax is nan at large logits: e^1000 overflows "
             "to inf, and inf/inf is nan. Compute it in one step, "
             "(z_c − m) − log ∑ e^{z_c' − m} with m the row's maximum.",
             lambda ref, Z: np.log(_naive_softmax(Z)), _log_of_naive_softmax),
        Slip("log-of-softmax",
             "Your log-softmax is −inf where a probability underflows to "
             "0 (a logit far below its row's maximum): log(softmax(z)) "
             "loses it. Compute it in one step, (z_c − m) − "
             "log ∑ e^{z_c' − m}, which stays finite.",
             lambda ref, Z: np.log(activations.softmax(Z)), _log_of_softmax),
        Slip("max-not-added-back",
             "You shifted by the row's maximum m inside the log but did "
             "not take it off z_c: log softmax(z)_c = (z_c − m) − "
             "log ∑ e^{z_c' − m}; yours is m too large.",
             lambda ref, Z: ref + Z.max(axis=1, keepdims=True),
             _max_not_added_back),
        Slip("unshifted",
             "Your log ∑ e^z is not shifted: e^1000 overflows to inf, and "
             "when every logit is near −1000 every term underflows to 0, "
             "whose log is −inf. Shift by the row's maximum m: "
             "log ∑ e^{z_c} = m + log ∑ e^{z_c − m}.",
             lambda ref, Z: Z - np.log(np.exp(Z).sum(axis=1, keepdims=True)),
             _log_softmax_unshifted),
        Slip("wrong-axis",
             "Your log ∑ e^z sums over the wrong axis, the examples: each "
             "example's normalizer sums over its own K classes (axis 1, "
             "keepdims=True).",
             lambda ref, Z: activations.log_softmax(Z, axis=0),
             _log_softmax_over_columns),
    ),
)
check_log_softmax = LOG_SOFTMAX.check


def logsumexp(Z):
    r"""The log-sum-exp of each row, without overflow.

    .. math:: \operatorname{LSE}(z) = \log \sum_{c=0}^{K-1} e^{z_c}
              = m + \log \sum_{c=0}^{K-1} e^{z_c - m},
              \qquad m = \max_c z_c

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.

    Returns
    -------
    ndarray, shape (N,)

    Book: :doc:`softmax-cross-entropy`
    """
    m = Z.max(axis=1)
    return m + np.log(np.exp(Z - m[:, None]).sum(axis=1))


def _logsumexp_reference(Z):
    """From the package's log-softmax: LSE(z) = z_c − log softmax(z)_c,
    at the largest logit c, where no digits cancel."""
    best = Z.argmax(axis=1)
    return Z[_rows(Z), best] - activations.log_softmax(Z)[_rows(Z), best]


@cache
def _logsumexp_cases():
    rng = np.random.default_rng(110)
    return [
        Case((rng.normal(size=(4, 3)),), "Z of shape (4, 3)"),
        Case((_far_apart_logits(),), "Z of shape (2, 3), logits near "
                                     "±1000"),
        Case((rng.normal(scale=10.0, size=(3, 5)),), "Z of shape (3, 5)"),
        Case((np.array([[2.0, 2.0], [0.0, -7.0], [1.5, 3.0], [4.0, 4.0],
                        [-1.0, 0.0], [3.0, 1.0]]),),
             "Z of shape (6, 2), with ties"),
    ]


def _logsumexp_unshifted(Z):
    return np.log(np.sum(np.exp(Z), axis=1))


def _logsumexp_max_forgotten(Z):
    m = Z.max(axis=1, keepdims=True)
    return np.log(np.exp(Z - m).sum(axis=1))


def _logsumexp_over_columns(Z):
    m = Z.max(axis=0)
    return m + np.log(np.exp(Z - m).sum(axis=0))


def _log_mean_exp(Z):
    m = Z.max(axis=1)
    return m + np.log(np.exp(Z - m[:, None]).mean(axis=1))


LOGSUMEXP = Exercise(
    name="logsumexp",
    chapter="softmax-cross-entropy",
    solution=logsumexp,
    reference=_logsumexp_reference,
    cases=_logsumexp_cases,
    outputs=("log-sum-exp",),
    shapes=("(N,), one number per example",),
    about="2 to 6 rows of 2 to 5 logits, logits near ±1000, ties",
    slips=(
        Slip("overflow",
             "Your log-sum-exp is inf at a logit of 1000 (e^1000 "
             "overflows) and −inf when every logit is near −1000 (every "
             "term underflows to 0). Shift by the row's maximum m: "
             "log ∑ e^{z_c} = m + log ∑ e^{z_c − m}.",
             lambda lse, Z: np.log(np.exp(Z).sum(axis=1)),
             _logsumexp_unshifted),
        Slip("max-forgotten",
             "You subtracted the row's maximum m but did not add it "
             "back: log ∑ e^{z_c} = m + log ∑ e^{z_c − m}.",
             lambda lse, Z: lse - Z.max(axis=1), _logsumexp_max_forgotten),
        Slip("wrong-axis",
             "Your log-sum-exp runs over the wrong axis, the examples: "
             "one number per example, summing over its K classes "
             "(axis 1).",
             lambda lse, Z: _logsumexp_reference(Z.T),
             _logsumexp_over_columns),
        Slip("mean",
             "You averaged the e^{z_c} instead of summing them: yours is "
             "log K short of log ∑ e^{z_c}.",
             lambda lse, Z: lse - np.log(Z.shape[1]), _log_mean_exp),
    ),
)
check_logsumexp = LOGSUMEXP.check


def cross_entropy(Z, y):
    r"""The cross-entropy of softmax(Z), averaged over the batch.

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N}
              \log \operatorname{softmax}(z^{(i)})_{y_i}

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.
    y : ndarray of int, shape (N,)
        Class labels in 0 .. K-1.

    Returns
    -------
    float

    Book: :doc:`softmax-cross-entropy`
    """
    rows = np.arange(len(y))
    return -log_softmax(Z)[rows, y].mean()


def _labelled(rng, Z):
    return rng.integers(0, Z.shape[1], size=len(Z))


@cache
def _cross_entropy_cases():
    rng = np.random.default_rng(111)
    cases = []
    for Z in (rng.normal(size=(4, 3)), rng.normal(scale=3.0, size=(6, 5)),
              rng.normal(size=(5, 2))):
        y = _labelled(rng, Z)
        cases.append(Case((Z, y), describe(Z=Z, y=y)))
    large = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0],
                      [-1000.0, 1000.0, 0.0]])
    cases.insert(1, Case((large, np.array([1, 1, 2])),
                         "Z of shape (3, 3), logits of ±1000, y (3,)"))
    unlikely = np.array([[0.0, -1000.0, 1.0], [2.0, 0.0, -800.0]])
    cases.append(Case((unlikely, np.array([2, 0])),
                      "Z of shape (2, 3), classes of probability e^{−1000}, "
                      "y (2,)"))
    return cases


def _cross_entropy_sum(Z, y):
    return -np.sum(log_softmax(Z)[np.arange(len(y)), y])


def _cross_entropy_sign(Z, y):
    return np.mean(log_softmax(Z)[np.arange(len(y)), y])


def _cross_entropy_one_based(Z, y):
    rows = np.arange(len(y))
    return -log_softmax(Z)[rows, y - 1].mean()


def _cross_entropy_per_example(Z, y):
    return -log_softmax(Z)[np.arange(len(y)), y]


def _cross_entropy_naive(Z, y):
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return -np.mean(np.log(P[np.arange(len(y)), y]))


def _cross_entropy_log_of_softmax(Z, y):
    P = softmax(Z)
    return -np.mean(np.log(P[np.arange(len(y)), y]))


def _cross_entropy_all_entries(Z, y):
    Y = np.eye(Z.shape[1])[y]
    return -np.mean(Y * log_softmax(Z))


def _cross_entropy_one_hot_times_log(Z, y):
    Y = np.eye(Z.shape[1])[y]
    return -np.sum(Y * np.log(softmax(Z))) / len(y)


def _cross_entropy_rows_by_label(Z, y):
    return -np.mean(log_softmax(Z)[y])


def _picked(P, y, shift=0):
    """Each row's entry at column y_i + shift (NumPy wraps column −1)."""
    return P[_rows(P), y + shift]


CROSS_ENTROPY = Exercise(
    name="cross_entropy",
    chapter="softmax-cross-entropy",
    solution=cross_entropy,
    reference=losses.cross_entropy,
    cases=_cross_entropy_cases,
    outputs=("ℒ",),
    shapes=("(), one number",),
    about="2 to 6 examples of 2 to 5 classes, logits of ±1000, classes of "
          "probability e^{−1000}",
    slips=(
        Slip("sum",
             "Your loss is N times too large: the book's loss is the mean "
             "over the N examples, ℒ = −(1/N) ∑_i log p_{i, y_i}, not "
             "their sum.",
             lambda loss, Z, y: len(y) * loss, _cross_entropy_sum),
        Slip("sign",
             "Your loss has the wrong sign: it is minus the mean "
             "log-probability of the true classes, so it is ≥ 0.",
             lambda loss, Z, y: -loss, _cross_entropy_sign),
        Slip("one-based",
             "You picked column y_i − 1: classes count from 0 in this "
             "book, so example i's true class is column y_i (and column "
             "−1 is silently the last one).",
             lambda loss, Z, y: -_picked(activations.log_softmax(Z), y,
                                         -1).mean(),
             _cross_entropy_one_based),
        Slip("per-example",
             "You returned one loss per example: ℒ is their mean over the "
             "batch, one number.",
             lambda loss, Z, y: -_picked(activations.log_softmax(Z), y),
             _cross_entropy_per_example),
        Slip("overflow",
             "Your loss is nan at large logits: e^1000 overflows to inf "
             "in the softmax, and inf/inf is nan. Take log softmax in one "
             "step, (z_c − m) − log ∑ e^{z_c' − m} with m the row's "
             "maximum.",
             lambda loss, Z, y: -np.log(_picked(_naive_softmax(Z),
                                                y)).mean(),
             _cross_entropy_naive),
        Slip("log-of-softmax",
             "Your loss is inf at large logits: a probability underflows "
             "to 0 in the softmax, and log 0 is −inf. Take log softmax in "
             "one step, (z_c − m) − log ∑ e^{z_c' − m}, which stays "
             "finite.",
             lambda loss, Z, y: -np.log(_picked(activations.softmax(Z),
                                                y)).mean(),
             _cross_entropy_log_of_softmax),
        Slip("all-entries",
             "You averaged over all N·K entries of Y ⊙ log P: the sum "
             "runs over the K classes, and only the N examples are "
             "averaged, ℒ = −(1/N) ∑_i ∑_c y_ic log p_ic.",
             lambda loss, Z, y: loss / Z.shape[1],
             _cross_entropy_all_entries),
        Slip("zero-times-log-zero",
             "Your loss is nan where a class has a probability that "
             "underflows to 0: Y ⊙ log P multiplies the 0 of Y by "
             "log 0 = −inf, and 0·(−inf) is nan. Pick each example's "
             "true class, row i and column y_i, or take log softmax in one "
             "step.",
             lambda loss, Z, y: -np.sum(np.eye(Z.shape[1])[y]
                                        * np.log(activations.softmax(Z)))
             / len(y),
             _cross_entropy_one_hot_times_log),
        Slip("rows-by-label",
             "You indexed with the labels alone, P[y], which picks whole "
             "rows of P (row y_i for each i): example i's probability of "
             "its class is the entry in row i and column y_i, "
             "P[np.arange(N), y].",
             lambda loss, Z, y: -activations.log_softmax(Z)[y].mean(),
             _cross_entropy_rows_by_label),
    ),
)
check_cross_entropy = CROSS_ENTROPY.check


def cross_entropy_grad(Z, y):
    r"""The gradient of the mean cross-entropy with respect to the logits.

    .. math:: \delta = \frac{\partial \mathcal{L}}{\partial Z}
              = \frac{1}{N} \big(\operatorname{softmax}(Z) - Y\big)

    with :math:`Y` the one-hot rows of the labels.

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits, one row per example.
    y : ndarray of int, shape (N,)
        Class labels in 0 .. K-1.

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`softmax-cross-entropy`
    """
    P = softmax(Z)
    P[np.arange(len(y)), y] -= 1.0
    return P / len(y)


def _grad_without_mean(Z, y):
    P = softmax(Z)
    P[np.arange(len(y)), y] -= 1
    return P


def _grad_sign(Z, y):
    Y = np.eye(Z.shape[1])[y]
    return (Y - softmax(Z)) / len(y)


def _grad_of_logits(Z, y):
    Y = np.eye(Z.shape[1])[y]
    return (Z - Y) / len(y)


def _grad_without_targets(Z, y):
    return softmax(Z) / len(y)


def _grad_one_based(Z, y):
    Y = np.eye(Z.shape[1])[y - 1]
    return (softmax(Z) - Y) / len(y)


def _grad_naive(Z, y):
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    return P / len(y)


def _grad_rows_by_label(Z, y):
    P = softmax(Z)
    P[y] -= 1
    return P / len(y)


def _rows_hit(y, N):
    """1 in each row whose index is one of the labels (as P[y] -= 1 does,
    once per row however often the label repeats; a label of N or more is
    an IndexError)."""
    hit = np.zeros((N, 1))
    hit[y] = 1.0
    return hit


def _one_hot(y, K, shift=0):
    """One-hot rows of y + shift (NumPy wraps class −1 to K − 1)."""
    return np.eye(K)[y + shift]


CROSS_ENTROPY_GRAD = Exercise(
    name="cross_entropy_grad",
    chapter="softmax-cross-entropy",
    solution=cross_entropy_grad,
    reference=losses.cross_entropy_grad,
    cases=_cross_entropy_cases,
    outputs=("δ",),
    shapes=("(N, K), the shape of Z",),
    about="2 to 6 examples of 2 to 5 classes, logits of ±1000, classes of "
          "probability e^{−1000}",
    slips=(
        Slip("missing-1/N",
             "Your gradient is N times too large: the loss is a mean over "
             "the N examples, so δ = ∂ℒ/∂Z = (softmax(Z) − Y)/N carries "
             "its 1/N.",
             lambda delta, Z, y: len(y) * delta, _grad_without_mean),
        Slip("sign",
             "Your gradient has the wrong sign: δ = (P − Y)/N, "
             "prediction minus target.",
             lambda delta, Z, y: -delta, _grad_sign),
        Slip("logits",
             "You subtracted Y from the logits Z: the gradient is "
             "(P − Y)/N with P = softmax(Z), the probabilities.",
             lambda delta, Z, y: (Z - _one_hot(y, Z.shape[1])) / len(y),
             _grad_of_logits),
        Slip("no-targets",
             "You left out Y: the true class of each row gets P − 1, the "
             "others P, δ = (P − Y)/N.",
             lambda delta, Z, y: activations.softmax(Z) / len(y),
             _grad_without_targets),
        Slip("one-based",
             "The −1 went to column y_i − 1: classes count from 0 in this "
             "book, so Y has its 1 in column y_i.",
             lambda delta, Z, y: (activations.softmax(Z)
                                  - _one_hot(y, Z.shape[1], -1)) / len(y),
             _grad_one_based),
        Slip("overflow",
             "Your gradient is nan at large logits: e^1000 overflows to "
             "inf in the softmax, and inf/inf is nan. Subtract each row's "
             "maximum before exponentiating.",
             lambda delta, Z, y: (_naive_softmax(Z)
                                  - _one_hot(y, Z.shape[1])) / len(y),
             _grad_naive),
        Slip("rows-by-label",
             "You subtracted 1 with P[y], which picks whole rows of P (row "
             "y_i for each i): the 1 of example i goes to row i and column "
             "y_i, P[np.arange(N), y].",
             lambda delta, Z, y: (activations.softmax(Z)
                                  - _rows_hit(y, len(y))) / len(y),
             _grad_rows_by_label),
    ),
)
check_cross_entropy_grad = CROSS_ENTROPY_GRAD.check


EXERCISES = (SOFTMAX, SOFTMAX_JACOBIAN, SOFTMAX_VJP, LOG_SOFTMAX, LOGSUMEXP,
             CROSS_ENTROPY, CROSS_ENTROPY_GRAD)
