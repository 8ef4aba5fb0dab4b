"""The book's training data: scikit-learn's handwritten digits, which ship
with it, and a sequence task generated on the spot.

MNIST would need a download; ``sklearn.datasets.load_digits`` reads 1,797
digits of 8 x 8 pixels (values 0..16) from a file inside the scikit-learn
package, so the book builds without a network. Splits are stratified and
seeded, hence the same on every build. scikit-learn is imported only when the
digits are loaded: the import alone takes about two seconds of CPU, which a
chapter that only reverses digit sequences should not pay.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """A train/test split of the digits.

    Attributes
    ----------
    X_train, X_test : ndarray, shape (N, 64)
        Pixels scaled to [0, 1], one flattened 8 x 8 image per row.
    y_train, y_test : ndarray of int, shape (N,)
        Labels re-indexed ``0 .. len(classes) - 1``: label ``k`` is digit
        ``classes[k]``.
    classes : tuple of int
        The digits, in label order.

    Book: :doc:`training`
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple


@cache
def _digits():
    """All 1,797 digits: pixels scaled to [0, 1] (N, 64) and digit values
    (N,), read-only."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target.astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def load_digits_split(classes=None, test_fraction=0.25, seed=0):
    """Load the digits of ``classes`` and split them into training and test
    sets.

    Parameters
    ----------
    classes : sequence of int, optional
        Distinct digits 0..9 to keep, at least two (default all ten, in order).
    test_fraction : float
        Share of each class held out for testing, in (0, 1).
    seed : int
        ``random_state`` of scikit-learn's stratified ``train_test_split``.

    Returns
    -------
    DigitsSplit

    Book: :doc:`training`
    """
    classes = (
        tuple(range(10)) if classes is None else tuple(int(c) for c in classes)
    )
    if (
        len(set(classes)) != len(classes)
        or len(classes) < 2
        or not set(classes) <= set(range(10))
    ):
        raise ValueError(
            "classes must be at least two distinct digits in 0..9, "
            f"got {classes}"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(
            "test_fraction must lie strictly between 0 and 1, "
            f"got {test_fraction}"
        )
    from sklearn.model_selection import train_test_split

    X, digit = _digits()
    keep = np.isin(digit, classes)
    # each digit's position in classes
    y = (digit[keep, None] == np.array(classes)).argmax(axis=1)
    X_train, X_test, y_train, y_test = train_test_split(
        X[keep], y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return DigitsSplit(X_train, y_train, X_test, y_test, classes)


def one_vs_seven(test_fraction=0.25, seed=0):
    """Ones against sevens (361 images): label 1 for a 7, 0 for a 1.

    For the two-layer sigmoid network with binary cross-entropy.

    Book: :doc:`backprop-two-layer`
    """
    return load_digits_split(
        classes=(1, 7), test_fraction=test_fraction, seed=seed
    )


def ten_classes(test_fraction=0.25, seed=0):
    """All ten digits (1,797 images), label k for digit k, for the softmax
    network.

    Book: :doc:`training`
    """
    return load_digits_split(
        classes=None, test_fraction=test_fraction, seed=seed
    )


SEPARATOR = 10  # the token between the digits and their reversal


@dataclass(frozen=True, eq=False)
class DigitReversal:
    r"""Reversing n digits: a task for a small GPT that no model can solve
    without looking back at the right position.

    A sequence is n digits, a separator, then the same digits reversed,

    .. math:: x_1 \, x_2 \dots x_n \; | \; x_n \dots x_2 \, x_1,

    as tokens: the digits 0..9 and the separator 10 (V = 11). The model
    reads every token but the last, ``ids`` of length T = 2n, and at each
    position t (from 0) predicts token t + 1. Only the n positions from the
    separator on, t = n .. 2n - 1, have a predictable next token: position
    t must output :math:`x_{2n - t}`, the digit at position T - 1 - t of
    ``ids``, its mirror image. The other positions' targets are -1, no
    target.

    Attributes
    ----------
    n_digits : int
        n.
    test_digits : ndarray of int, shape (n_test, n)
        Distinct held-out sequences: no training batch contains one.

    Book: :doc:`gpt`
    """

    n_digits: int
    test_digits: np.ndarray

    @property
    def vocab_size(self):
        """V = 11: the ten digits and the separator."""
        return SEPARATOR + 1

    @property
    def context_length(self):
        """T = 2n: the tokens a model reads."""
        return 2 * self.n_digits

    @property
    def output_positions(self):
        """The positions t = n .. 2n - 1 that have a target, shape (n,)."""
        return np.arange(self.n_digits, 2 * self.n_digits)

    @property
    def mirror_positions(self):
        """T - 1 - t for each output position t: where its answer is,
        shape (n,)."""
        return self.context_length - 1 - self.output_positions

    def examples(self, digits):
        """The ids and targets of the sequences of ``digits``.

        Parameters
        ----------
        digits : array_like of int, shape (B, n)

        Returns
        -------
        ids, targets : ndarray of int, shape (B, 2n)
            ``targets[:, t]`` is ``ids[:, t + 1]`` (the last one the final
            digit), and -1 before position n.

        Book: :doc:`gpt`
        """
        digits = np.asarray(digits)
        n = self.n_digits
        if (digits.ndim != 2 or digits.shape[1] != n
                or digits.dtype.kind not in "iu"):
            raise ValueError(
                f"digits must be integers of shape (B, {n}), got "
                f"{digits.dtype} of shape {digits.shape}"
            )
        if digits.size and (digits.min() < 0 or digits.max() > 9):
            raise ValueError(
                f"digits must lie in 0..9, got values in "
                f"[{digits.min()}, {digits.max()}]"
            )
        separator = np.full((len(digits), 1), SEPARATOR)
        sequence = np.concatenate([digits, separator, digits[:, ::-1]], axis=1)
        ids, targets = sequence[:, :-1], sequence[:, 1:].copy()
        targets[:, :n] = -1
        return ids, targets

    def test_examples(self):
        """The ids and targets of the held-out sequences.

        Book: :doc:`gpt`
        """
        return self.examples(self.test_digits)

    def training_batch(self, rng, batch_size):
        """A batch of uniformly random sequences, none of them held out.

        Parameters
        ----------
        rng : numpy.random.Generator
        batch_size : int

        Returns
        -------
        ids, targets : ndarray of int, shape (batch_size, 2n)

        Book: :doc:`gpt`
        """
        held_out = _as_numbers(self.test_digits)
        numbers = rng.integers(0, 10**self.n_digits, size=batch_size)
        redraw = np.isin(numbers, held_out)
        while redraw.any():
            numbers[redraw] = rng.integers(0, 10**self.n_digits,
                                           size=redraw.sum())
            redraw = np.isin(numbers, held_out)
        return self.examples(_as_digits(numbers, self.n_digits))


def _as_numbers(digits):
    """Each row of n digits as one integer, most significant first."""
    powers = 10 ** np.arange(digits.shape[1] - 1, -1, -1)
    return digits @ powers


def _as_digits(numbers, n_digits):
    """The n digits of each integer, most significant first, shape
    (len(numbers), n)."""
    powers = 10 ** np.arange(n_digits - 1, -1, -1)
    return numbers[:, None] // powers % 10


def digit_reversal(n_digits=8, n_test=1000, seed=0):
    """The reversal task on n digits, with ``n_test`` distinct held-out
    sequences drawn uniformly from ``seed``.

    Parameters
    ----------
    n_digits : int
        n, from 1 to 18 (a sequence is then one int64).
    n_test : int
        At least 1 and at most half of the :math:`10^n` sequences.
    seed : int

    Returns
    -------
    DigitReversal

    Book: :doc:`gpt`
    """
    if not 1 <= n_digits <= 18:
        raise ValueError(f"n_digits must lie in 1..18, got {n_digits}")
    if not 1 <= n_test <= 10**n_digits // 2:
        raise ValueError(
            f"n_test must lie in 1..{10**n_digits // 2} (half of the "
            f"{10**n_digits} sequences of {n_digits} digits), got {n_test}"
        )
    rng = np.random.default_rng(seed)
    numbers = rng.choice(10**n_digits, size=n_test, replace=False)
    return DigitReversal(n_digits, _as_digits(numbers, n_digits))
