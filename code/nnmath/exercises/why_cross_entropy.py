r"""The exercises of the chapter :doc:`why-cross-entropy`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath import activations, losses
from nnmath.exercises import Case, Exercise, Slip, describe


def bce_with_logits_grad(Z, Y):
    r"""The gradient, with respect to the logits, of the binary
    cross-entropy of sigmoid outputs, summed over the K outputs and
    averaged over the N examples.

    .. math:: \mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N} \sum_{j=1}^{K}
              \Big(y_{ij} \log \sigma(z_{ij})
              + (1 - y_{ij}) \log\big(1 - \sigma(z_{ij})\big)\Big),
              \qquad
              \frac{\partial \mathcal{L}}{\partial Z}
              = \frac{1}{N} \big(\sigma(Z) - Y\big)

    Parameters
    ----------
    Z : ndarray, shape (N, K)
        Logits.
    Y : ndarray, shape (N, K)
        Targets, 0 or 1.

    Returns
    -------
    ndarray, shape (N, K)

    Book: :doc:`why-cross-entropy`
    """
    return (activations.sigmoid(Z) - Y) / len(Z)


@cache
def _bce_cases():
    rng = np.random.default_rng(112)
    large = np.array([[1000.0, -1000.0], [30.0, -30.0], [0.5, -1000.0]])
    cases = []
    for Z in (rng.normal(size=(4, 3)), rng.normal(scale=3.0, size=(5, 1)),
              large, rng.normal(size=(6, 4))):
        Y = rng.integers(0, 2, size=Z.shape).astype(np.float64)
        about = describe(Z=Z, Y=Y)
        cases.append(Case((Z, Y), about + (", logits of ±1000"
                                           if abs(Z).max() > 100 else "")))
    return cases


def _bce_grad_sum(Z, Y):
    return activations.sigmoid(Z) - Y


def _bce_grad_all_entries(Z, Y):
    return (activations.sigmoid(Z) - Y) / Z.size


def _bce_grad_extra_derivative(Z, Y):
    s = activations.sigmoid(Z)
    return (s - Y) * s * (1 - s) / len(Z)


def _bce_grad_of_probabilities(Z, Y):
    s = activations.sigmoid(Z)
    return (s - Y) / (s * (1 - s)) / len(Z)


def _bce_grad_sign(Z, Y):
    return (Y - activations.sigmoid(Z)) / len(Z)


def _bce_grad_naive(Z, Y):
    s = np.exp(Z) / (1 + np.exp(Z))
    return (s - Y) / len(Z)


def _sigmoid_prime_at(Z):
    return activations.sigmoid_prime(Z)


BCE_WITH_LOGITS_GRAD = Exercise(
    name="bce_with_logits_grad",
    chapter="why-cross-entropy",
    solution=bce_with_logits_grad,
    reference=lambda Z, Y: losses.binary_cross_entropy_with_logits_grad(
        Z, Y, reduction="batch_mean"),
    cases=_bce_cases,
    outputs=("∂ℒ/∂Z",),
    shapes=("(N, K), the shape of Z",),
    about="3 to 6 examples of 1 to 4 outputs, logits of ±1000",
    slips=(
        Slip("missing-1/N",
             "Your gradient is N times too large: the loss is a mean over "
             "the N examples, so ∂ℒ/∂Z = (σ(Z) − Y)/N.",
             lambda grad, Z, Y: len(Z) * grad, _bce_grad_sum),
        Slip("mean-over-all",
             "You divided by N·K, PyTorch's default mean over all "
             "entries: this loss sums over the K outputs and averages "
             "over the N examples, so ∂ℒ/∂Z = (σ(Z) − Y)/N.",
             lambda grad, Z, Y: grad / Z.shape[1], _bce_grad_all_entries),
        Slip("extra-derivative",
             "You multiplied by σ'(z) once more: the loss's "
             "1/(σ(1 − σ)) cancels the sigmoid's derivative, which "
             "leaves ∂ℒ/∂Z = (σ(Z) − Y)/N.",
             lambda grad, Z, Y: grad * _sigmoid_prime_at(Z),
             _bce_grad_extra_derivative),
        Slip("probabilities",
             "That is the gradient with respect to the probabilities "
             "σ(Z): the chain rule through the sigmoid multiplies it by "
             "σ'(z) = σ(1 − σ), which leaves (σ(Z) − Y)/N.",
             lambda grad, Z, Y: grad / _sigmoid_prime_at(Z),
             _bce_grad_of_probabilities),
        Slip("sign",
             "Your gradient has the wrong sign: ∂ℒ/∂Z = (σ(Z) − Y)/N, "
             "prediction minus target.",
             lambda grad, Z, Y: -grad, _bce_grad_sign),
        Slip("overflow",
             "Your sigmoid is nan at a logit of 1000: e^1000/(1 + e^1000) "
             "is inf/inf. Use σ(z) = 1/(1 + e^{−z}), which is safe in "
             "float64 for every z.",
             lambda grad, Z, Y: (np.exp(Z) / (1.0 + np.exp(Z)) - Y) / len(Z),
             _bce_grad_naive),
    ),
)
check_bce_with_logits_grad = BCE_WITH_LOGITS_GRAD.check


EXERCISES = (BCE_WITH_LOGITS_GRAD,)
