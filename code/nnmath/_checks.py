"""Input checks shared by the modules: each error says what was expected."""

import numpy as np


def as_float_array(x, name):
    """Return ``x`` as a float64 array, or raise TypeError if it is not real
    numbers."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be an array of real numbers, "
            f"got dtype {array.dtype}"
        )
    return np.asarray(array, dtype=np.float64)


def check_shape(array, ndim, name, expected):
    """Raise ValueError unless ``array`` has ``ndim`` dimensions;
    ``expected`` reads e.g. '(N, K)'."""
    if array.ndim != ndim:
        raise ValueError(
            f"{name} must have shape {expected}, got shape {array.shape}"
        )


def check_same_shape(a, b, name_a, name_b):
    """Raise ValueError unless the two arrays have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {a.shape} and {b.shape}"
        )


def check_batch_size(n, labels, name="labels"):
    """Raise ValueError unless ``labels`` has one row per example (``n``
    rows)."""
    if labels.shape[0] != n:
        raise ValueError(
            f"batch sizes differ: expected {name} for N={n} examples, "
            f"got {labels.shape[0]}"
        )


def check_probabilities(p, name):
    """Raise ValueError unless every entry of ``p`` lies in [0, 1]."""
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"{name} must be probabilities in [0, 1], "
                         f"got values in [{np.min(p)}, {np.max(p)}]")


def as_class_indices(labels, num_classes):
    """Return integer class labels of shape (N,) with values in
    [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"class labels must be integers in [0, {num_classes}), "
            f"got dtype {labels.dtype}"
        )
    check_shape(labels, 1, "class labels", "(N,)")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"class labels must lie in [0, {num_classes}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return np.asarray(labels, dtype=np.intp)
