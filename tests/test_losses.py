"""nnmath.losses against PyTorch autograd, at the edges, and on the sources' numbers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from nnmath.activations import softmax
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch, check_vjp
from nnmath.losses import (
    as_targets,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    cross_entropy,
    cross_entropy_from_probs,
    cross_entropy_from_probs_grad,
    cross_entropy_grad,
    mse,
    mse_grad,
    one_hot,
)

REDUCTIONS = ["mean", "batch_mean", "sum"]


def torch_reduce(elementwise, reduction):
    """PyTorch's reduction for "mean" and "sum"; ours, "batch_mean", is the sum over N."""
    if reduction == "mean":
        return elementwise.mean()
    return elementwise.sum() / (len(elementwise) if reduction == "batch_mean" else 1)


shapes = st.tuples(st.integers(1, 5), st.integers(2, 5))


def matrices(shape, low=-30.0, high=30.0):
    return arrays(np.float64, shape, elements=st.floats(low, high, allow_subnormal=False))


@st.composite
def logits_and_labels(draw, kind="indices"):
    """Logits (N, K) with class indices (N,), one-hot targets or soft targets (N, K)."""
    N, K = draw(shapes)
    Z = draw(matrices((N, K)))
    labels = draw(arrays(np.int64, N, elements=st.integers(0, K - 1)))
    if kind == "one-hot":
        return Z, one_hot(labels, K)
    if kind == "soft":
        return Z, softmax(draw(matrices((N, K), -5.0, 5.0)))
    return Z, labels


@st.composite
def probs_and_targets(draw, low=0.0, high=1.0, binary=True):
    """Same-shape probabilities in [low, high] and targets (0/1, or anywhere in [0, 1])."""
    shape = draw(shapes)
    p = draw(matrices(shape, low, high))
    if binary:
        return p, draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    return p, draw(matrices(shape, 0.0, 1.0))


@pytest.mark.parametrize("kind", ["indices", "one-hot", "soft"])
@given(data=st.data())
def test_cross_entropy_and_its_gradient_match_autograd(kind, data):
    Z, labels = data.draw(logits_and_labels(kind))
    assert_matches_torch(cross_entropy, lambda Z, y, G: [G * cross_entropy_grad(Z, y)], F.cross_entropy,
                         [Z, labels], wrt=[0])


@given(data=st.data())
def test_cross_entropy_from_probs_and_its_gradient_match_autograd(data):
    _, labels = data.draw(logits_and_labels())
    P = data.draw(matrices((len(labels), data.draw(st.integers(int(labels.max()) + 1, 6))), 1e-3, 1.0))

    def torch_fn(P, y):
        return -torch.log(P[torch.arange(len(y)), y]).mean()

    assert_matches_torch(cross_entropy_from_probs, lambda P, y, G: [G * cross_entropy_from_probs_grad(P, y)],
                         torch_fn, [P, labels])


@given(data=st.data())
def test_cross_entropy_from_probs_equals_cross_entropy_of_the_logits(data):
    Z, labels = data.draw(logits_and_labels())
    Z = Z / 10  # keep every probability well above 0
    assert cross_entropy_from_probs(softmax(Z), labels) == pytest.approx(cross_entropy(Z, labels), rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_binary_cross_entropy_and_its_gradient_match_autograd(reduction, data):
    p, y = data.draw(probs_and_targets(0.01, 0.99, binary=data.draw(st.booleans())))

    def torch_fn(p, y):
        return torch_reduce(F.binary_cross_entropy(p, y, reduction="none"), reduction)

    assert_matches_torch(lambda p, y: binary_cross_entropy(p, y, reduction),
                         lambda p, y, G: [G * binary_cross_entropy_grad(p, y, reduction)],
                         torch_fn, [p, y], name="binary_cross_entropy", wrt=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_binary_cross_entropy_with_logits_matches_autograd(reduction, data):
    z = data.draw(matrices(data.draw(shapes), -1000.0, 1000.0))
    _, y = data.draw(probs_and_targets(binary=data.draw(st.booleans())))
    y = np.resize(y, z.shape)

    def torch_fn(z, y):
        return torch_reduce(F.binary_cross_entropy_with_logits(z, y, reduction="none"), reduction)

    assert_matches_torch(lambda z, y: binary_cross_entropy_with_logits(z, y, reduction),
                         lambda z, y, G: [G * binary_cross_entropy_with_logits_grad(z, y, reduction)],
                         torch_fn, [z, y], name="binary_cross_entropy_with_logits", wrt=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_mse_and_its_gradient_match_autograd(reduction, data):
    shape = data.draw(shapes)
    pred, target = data.draw(matrices(shape)), data.draw(matrices(shape))
    assert_matches_torch(lambda a, b: mse(a, b, reduction),
                         lambda a, b, G: [G * mse_grad(a, b, reduction), -G * mse_grad(a, b, reduction)],
                         lambda a, b: torch_reduce(F.mse_loss(a, b, reduction="none"), reduction),
                         [pred, target], name="mse")


@given(data=st.data())
def test_finite_differences_confirm_the_cross_entropy_gradient(data):
    Z, labels = data.draw(logits_and_labels())
    result = check_vjp(lambda Z, y, G: [G * cross_entropy_grad(Z, y)], F.cross_entropy, [Z, labels],
                       fn=cross_entropy, wrt=[0])
    assert result.max_error_vs_autograd < 1e-12
    assert result.max_error_vs_finite_differences < 1e-6


def test_the_reductions_differ_by_the_stated_factors():
    p, y = np.full((4, 3), 0.25), np.ones((4, 3))
    total = binary_cross_entropy(p, y, "sum")
    assert binary_cross_entropy(p, y, "batch_mean") == pytest.approx(total / 4)
    assert binary_cross_entropy(p, y, "mean") == pytest.approx(total / 12)
    assert binary_cross_entropy(p, y) == binary_cross_entropy(p, y, "mean")
    np.testing.assert_allclose(mse_grad(p, y, "batch_mean"), 3 * mse_grad(p, y))


def test_one_hot_and_as_targets():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(as_targets(np.array([1]), 2), [[0, 1]])
    soft = np.array([[0.25, 0.75]])
    np.testing.assert_array_equal(as_targets(soft, 2), soft)


# Edges: probabilities of exactly 0 and 1, huge logits.


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_at_probabilities_0_and_1_is_pytorchs(reduction):
    p = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]])
    y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    pt = torch.tensor(p, requires_grad=True)
    loss = torch_reduce(F.binary_cross_entropy(pt, torch.from_numpy(y), reduction="none"), reduction)
    loss.backward()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ours = binary_cross_entropy(p, y, reduction)
        grad = binary_cross_entropy_grad(p, y, reduction)
    assert ours == pytest.approx(loss.item(), rel=1e-12)
    assert_close_to_autograd(grad, pt.grad, name="binary_cross_entropy_grad")


def test_binary_cross_entropy_clamps_each_log_at_minus_100():
    assert binary_cross_entropy([0.0], [1.0]) == 100.0
    assert binary_cross_entropy([1.0], [0.0]) == 100.0
    assert binary_cross_entropy([1.0, 0.0], [1.0, 0.0], "sum") == 0.0


def test_losses_of_huge_logits_are_finite():
    Z = np.array([[1000.0, -1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert cross_entropy(Z, [1]) == pytest.approx(2000.0)
        np.testing.assert_allclose(cross_entropy_grad(Z, [1]), [[1.0, -1.0, 0.0]], atol=1e-300)
        assert binary_cross_entropy_with_logits([[1000.0, -1000.0]], [[0.0, 1.0]]) == pytest.approx(1000.0)


# The worked numbers of the sources.

SOURCE_Z = np.array([[0.1, 0.4, 0.2], [0.3, 0.9, 0.6]])


def test_sources_cross_entropy_of_two_examples():
    assert cross_entropy(SOURCE_Z, [2, 0]) == pytest.approx(1.28411, abs=5e-6)
    assert cross_entropy(SOURCE_Z, one_hot([2, 0], 3)) == pytest.approx(1.28411, abs=5e-6)
    assert cross_entropy_from_probs(softmax(SOURCE_Z), [2, 0]) == pytest.approx(1.28411, abs=5e-6)


def test_sources_cross_entropy_derivative_lacks_the_one_over_n():
    # The source prints -1/p without the 1/N of the mean: [[0, 0, -3.1262], [-4.1720, 0, 0]].
    # The gradient of the mean is half of that here (N = 2), and autograd agrees.
    P = softmax(SOURCE_Z)
    ours = cross_entropy_from_probs_grad(P, [2, 0])
    np.testing.assert_allclose(ours, np.array([[0, 0, -3.1262], [-4.1720, 0, 0]]) / 2, atol=5e-5)
    Pt = torch.tensor(P, requires_grad=True)
    (-torch.log(Pt[[0, 1], [2, 0]]).mean()).backward()
    assert_close_to_autograd(ours, Pt.grad)


def test_sources_one_example_cross_entropy():
    z = np.array([[0.45, 0.98, 0.60]])
    assert cross_entropy(z, [2]) == pytest.approx(1.2009, abs=5e-5)
    np.testing.assert_allclose(cross_entropy_from_probs_grad(softmax(z), [2]), [[0, 0, -3.3230]], atol=5e-5)
    np.testing.assert_allclose(cross_entropy_grad(z, [2]), [[0.2590, 0.4401, -0.6991]], atol=5e-5)


# Bad input gets a message that says what was expected.


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\), got values in \[0, 3\]"):
        cross_entropy(SOURCE_Z, [3, 0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cross_entropy_grad(SOURCE_Z, [-1, 0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot([3], 3)


def test_labels_must_be_integers():
    with pytest.raises(TypeError, match="integers"):
        cross_entropy(SOURCE_Z, np.array([2.0, 0.0]))
    with pytest.raises(TypeError, match="integers"):
        cross_entropy_from_probs(softmax(SOURCE_Z), np.array([2.0, 0.0]))


def test_batch_sizes_must_match():
    with pytest.raises(ValueError, match="batch sizes differ: expected labels for N=2 examples, got 3"):
        cross_entropy(SOURCE_Z, [0, 1, 2])
    with pytest.raises(ValueError, match="N=2"):
        cross_entropy_grad(SOURCE_Z, one_hot([0], 3))
    with pytest.raises(ValueError, match="N=2"):
        cross_entropy_from_probs(softmax(SOURCE_Z), [0])


@pytest.mark.parametrize("labels", [2, np.zeros((2, 3, 1))])
def test_labels_of_a_wrong_shape(labels):
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) of class indices or \(N, 3\) of targets"):
        cross_entropy(SOURCE_Z, labels)


def test_logits_must_be_a_matrix():
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\), got shape \(3,\)"):
        cross_entropy([0.1, 0.4, 0.2], [2])
    with pytest.raises(ValueError, match=r"probs must have shape \(N, K\)"):
        cross_entropy_from_probs([0.2, 0.8], [1])


def test_targets_must_be_distributions():
    with pytest.raises(ValueError, match="sum to 1"):
        cross_entropy(SOURCE_Z, np.ones((2, 3)))
    with pytest.raises(ValueError, match="sum to 1"):
        cross_entropy(SOURCE_Z, np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        cross_entropy(SOURCE_Z, np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="K=3 columns"):
        cross_entropy(SOURCE_Z, np.array([[1.0, 0.0], [0.0, 1.0]]))


@pytest.mark.parametrize("f", [binary_cross_entropy, binary_cross_entropy_grad])
def test_probabilities_outside_0_1(f):
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\], got values in \[-0.1, 0.5\]"):
        f([-0.1, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\]"):
        f([1.1, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"probs must be probabilities"):
        f([np.nan], [0.0])
    with pytest.raises(ValueError, match=r"targets must be probabilities in \[0, 1\]"):
        f([0.5], [2.0])


def test_probabilities_outside_0_1_for_cross_entropy_from_probs():
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\]"):
        cross_entropy_from_probs([[1.5, -0.5]], [0])
    with pytest.raises(ValueError, match="true class must be positive"):
        cross_entropy_from_probs_grad([[0.0, 1.0]], [0])


@pytest.mark.parametrize("f", [binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad])
def test_logit_targets_must_be_probabilities(f):
    with pytest.raises(ValueError, match=r"targets must be probabilities in \[0, 1\]"):
        f([0.0], [-1.0])


@pytest.mark.parametrize("f", [binary_cross_entropy, binary_cross_entropy_grad, binary_cross_entropy_with_logits,
                               binary_cross_entropy_with_logits_grad, mse, mse_grad])
def test_elementwise_losses_need_same_shapes_and_a_known_reduction(f):
    with pytest.raises(ValueError, match=r"must have the same shape, got \(2,\) and \(3,\)"):
        f([0.5, 0.5], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match='reduction must be "mean", "batch_mean" or "sum", got \'avg\''):
        f([0.5], [1.0], reduction="avg")
    with pytest.raises(ValueError, match="needs a batch axis"):
        f(0.5, 1.0, reduction="batch_mean")
    with pytest.raises(TypeError, match="array of real numbers"):
        f(["a"], [1.0])


def test_cross_entropy_is_finite_for_logits_whose_probabilities_round_to_zero():
    """A target of 0 adds nothing, even where log p is -inf (0 log 0 = 0): the loss is the exact
    one, 0, not nan; the picked class's probability rounding to 0 gives inf, as the true loss
    of about 2e308 is beyond the largest float."""
    with np.errstate(over="ignore"):
        assert cross_entropy([[1e308, -1e308]], [0]) == 0.0
        assert cross_entropy([[1e308, -1e308]], [[1.0, 0.0]]) == 0.0
        assert cross_entropy([[1e308, -1e308]], [1]) == np.inf
    assert cross_entropy([[800.0, -800.0, 0.0]], [0]) == 0.0
