"""The book's training data: scikit-learn's handwritten digits, which ship
with it.

MNIST would need a download; ``sklearn.datasets.load_digits`` reads 1,797
digits of 8 x 8 pixels (values 0..16) from a file inside the scikit-learn
package, so the book builds without a network. Splits are stratified and
seeded, hence the same on every build.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


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
