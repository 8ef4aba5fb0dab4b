"""nnmath.data: the digits splits are what the chapters say."""

import dataclasses

import numpy as np
import pytest
from nnmath.data import (
    SEPARATOR,
    DigitsSplit,
    _digits,
    digit_reversal,
    load_digits_split,
    one_vs_seven,
    ten_classes,
)
from sklearn.datasets import load_digits

DIGITS = load_digits()


def digits_of(X):
    """The digit shown by each row of scaled pixels, looked up in scikit-learn's raw data."""
    digit_of_image = {(row / 16).tobytes(): digit for row, digit in zip(DIGITS.data, DIGITS.target, strict=True)}
    return np.array([digit_of_image[row.tobytes()] for row in X])


def test_one_vs_seven_has_361_images_with_7_as_label_1():
    split = one_vs_seven()
    assert isinstance(split, DigitsSplit) and split.classes == (1, 7)
    assert len(split.y_train) + len(split.y_test) == 361
    assert len(split.y_test) == 91
    for X, y in [(split.X_train, split.y_train), (split.X_test, split.y_test)]:
        assert set(np.unique(y)) == {0, 1}
        np.testing.assert_array_equal(digits_of(X), np.where(y == 1, 7, 1))


def test_ten_classes_keeps_every_digit_with_its_own_label():
    split = ten_classes()
    assert split.X_train.shape == (1347, 64) and split.X_test.shape == (450, 64)
    assert split.classes == tuple(range(10))
    np.testing.assert_array_equal(digits_of(split.X_train), split.y_train)
    np.testing.assert_array_equal(digits_of(split.X_test), split.y_test)


def test_pixels_are_scaled_to_0_1_and_labels_are_integers():
    split = ten_classes()
    for X in (split.X_train, split.X_test):
        assert X.dtype == np.float64 and X.min() == 0.0 and X.max() == 1.0
    assert split.y_train.dtype.kind == "i"


def test_split_is_stratified_deterministic_and_seeded():
    a, b, c = ten_classes(), ten_classes(), ten_classes(seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)
    share = np.bincount(a.y_test) / np.bincount(DIGITS.target)
    assert np.all(np.abs(share - 0.25) < 0.01)
    assert len(load_digits_split(test_fraction=0.5).y_test) == 899


def test_labels_follow_the_order_of_classes():
    split = load_digits_split(classes=(7, 1))
    assert split.classes == (7, 1)
    np.testing.assert_array_equal(digits_of(split.X_train), np.where(split.y_train == 0, 7, 1))
    three = load_digits_split(classes=[3, 0, 9])
    assert three.classes == (3, 0, 9)
    np.testing.assert_array_equal(digits_of(three.X_test), np.array([3, 0, 9])[three.y_test])
    assert len(three.y_train) + len(three.y_test) == 183 + 178 + 180


def test_the_books_splits_stay_the_same():
    # Chapters quote numbers computed on these splits: the defaults must not drift.
    assert ten_classes().y_test[:12].tolist() == [2, 0, 4, 9, 4, 1, 2, 4, 6, 7, 9, 1]
    assert one_vs_seven().y_test[:12].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert load_digits_split().y_test[:12].tolist() == ten_classes().y_test[:12].tolist()
    assert len(load_digits_split().y_test) == 450


def test_returned_arrays_are_the_callers_own_and_the_cache_is_read_only():
    split = one_vs_seven()
    split.X_train[:] = -1.0
    assert one_vs_seven().X_train.min() == 0.0
    X, y = _digits()
    assert not X.flags.writeable and not y.flags.writeable


def test_a_split_is_frozen_and_equal_only_to_itself():
    split = one_vs_seven()
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.classes = (1, 2)
    assert split == split and split != one_vs_seven()


@pytest.mark.parametrize("classes", [(1,), (1, 1), (1, 10), (-1, 3), ()])
def test_bad_classes_are_rejected(classes):
    with pytest.raises(ValueError, match="at least two distinct digits in 0..9"):
        load_digits_split(classes=classes)


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5])
def test_bad_test_fractions_are_rejected(fraction):
    with pytest.raises(ValueError, match="test_fraction must lie strictly between 0 and 1"):
        load_digits_split(test_fraction=fraction)


# The reversal task


def test_a_reversal_sequence_is_the_digits_the_separator_and_the_digits_reversed():
    task = digit_reversal(n_digits=5, n_test=30, seed=3)
    assert (task.vocab_size, task.context_length) == (11, 10)
    ids, targets = task.test_examples()
    digits = task.test_digits
    assert ids.shape == targets.shape == (30, 10)
    np.testing.assert_array_equal(ids[:, :5], digits)
    assert np.all(ids[:, 5] == SEPARATOR)
    np.testing.assert_array_equal(ids[:, 6:], digits[:, ::-1][:, :4])
    # each target is the next token, scored from the separator on; the last one is the first digit
    assert np.all(targets[:, :5] == -1)
    np.testing.assert_array_equal(targets[:, 5:-1], ids[:, 6:])
    np.testing.assert_array_equal(targets[:, -1], digits[:, 0])
    # and the answer at each output position sits at its mirror position
    np.testing.assert_array_equal(task.output_positions, [5, 6, 7, 8, 9])
    np.testing.assert_array_equal(targets[:, task.output_positions], ids[:, task.mirror_positions])


def test_training_batches_never_hold_a_test_sequence_and_reach_every_other():
    task = digit_reversal(n_digits=2, n_test=50, seed=0)  # half of the 100 sequences held out
    held_out = {tuple(row) for row in task.test_digits}
    assert len(held_out) == 50
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        ids, targets = task.training_batch(rng, 16)
        assert ids.shape == (16, 4) and targets.shape == (16, 4)
        seen |= {tuple(row) for row in ids[:, :2]}
    assert not seen & held_out
    assert len(seen) == 50


def test_training_sequences_are_uniform_over_those_not_held_out():
    task = digit_reversal(n_digits=2, n_test=50, seed=1)  # 00 is not held out: a draw from 1 up would miss it
    rng = np.random.default_rng(2)
    ids = np.concatenate([task.training_batch(rng, 50)[0] for _ in range(200)])
    counts = np.bincount(ids[:, 0] * 10 + ids[:, 1], minlength=100)
    held_out = task.test_digits[:, 0] * 10 + task.test_digits[:, 1]
    assert 0 not in held_out and np.all(counts[held_out] == 0)
    others = np.delete(counts, held_out)
    assert len(others) == 50 and others.min() >= 140 and others.max() <= 260  # 200 expected, sd 14


FIRST_TEST_SEQUENCE = [1, 8, 3, 2, 7, 1, 3, 9]


def test_the_books_reversal_task_stays_the_same():
    # The chapter quotes numbers computed on this held-out set: the defaults must not drift.
    task = digit_reversal()
    assert task.test_digits.shape == (1000, 8) and task.n_digits == 8
    assert len({tuple(row) for row in task.test_digits}) == 1000
    assert task.test_digits[0].tolist() == FIRST_TEST_SEQUENCE
    np.testing.assert_array_equal(digit_reversal().test_digits, task.test_digits)
    assert not np.array_equal(digit_reversal(seed=1).test_digits, task.test_digits)
    first = task.training_batch(np.random.default_rng(0), 3)[0]
    np.testing.assert_array_equal(first, task.training_batch(np.random.default_rng(0), 3)[0])



@pytest.mark.parametrize("n_digits, n_test, message", [
    (0, 1, "n_digits must lie in 1..18, got 0"),
    (19, 1, "n_digits must lie in 1..18, got 19"),
    (2, 51, r"n_test must lie in 1..50 \(half of the 100 sequences of 2 digits\), got 51"),
    (3, 0, "n_test must lie in 1..500"),
])
def test_bad_reversal_tasks_are_rejected(n_digits, n_test, message):
    with pytest.raises(ValueError, match=message):
        digit_reversal(n_digits, n_test)


def test_the_smallest_reversal_tasks_are_allowed_and_a_task_is_frozen_and_equal_only_to_itself():
    assert digit_reversal(n_digits=1, n_test=5).test_digits.shape == (5, 1)
    assert digit_reversal(n_digits=3, n_test=1).test_digits.shape == (1, 3)
    task = digit_reversal(n_digits=3, n_test=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.n_digits = 4
    assert task == task and task != digit_reversal(n_digits=3, n_test=2)


def test_bad_digits_are_named():
    task = digit_reversal(n_digits=3, n_test=5)
    with pytest.raises(ValueError, match=r"digits must be integers of shape \(B, 3\), got int64 of shape \(2, 4\)"):
        task.examples(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"got float64 of shape \(2, 3\)"):
        task.examples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"digits must lie in 0..9, got values in \[0, 10\]"):
        task.examples(np.array([[0, 10, 2]]))
    with pytest.raises(ValueError, match=r"digits must lie in 0..9, got values in \[-1, 2\]"):
        task.examples(np.array([[0, -1, 2]]))
