"""nnmath.gradcheck: the references agree on right gradients and catch wrong ones."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnmath.gradcheck import (
    VJPCheck,
    assert_close_to_autograd,
    assert_matches_torch,
    autograd_vjp,
    check_vjp,
    numerical_vjp,
)

RNG = np.random.default_rng(0)
A, B = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2))
G = RNG.normal(size=(3, 2))


def matmul_grads(a, b, g):
    return [g @ b.T, a.T @ g]


def test_autograd_vjp_is_the_matmul_rule():
    grad_a, grad_b = autograd_vjp(lambda a, b: a @ b, [A, B], G)
    np.testing.assert_allclose(grad_a, G @ B.T, rtol=1e-14)
    np.testing.assert_allclose(grad_b, A.T @ G, rtol=1e-14)
    assert grad_a.dtype == np.float64


def test_numerical_vjp_is_close_to_the_matmul_rule():
    grad_a, grad_b = numerical_vjp(lambda a, b: a @ b, [A, B], G)
    np.testing.assert_allclose(grad_a, G @ B.T, atol=1e-8)
    np.testing.assert_allclose(grad_b, A.T @ G, atol=1e-8)


def test_numerical_vjp_leaves_the_inputs_unchanged_and_steps_by_eps():
    x = np.array([1.0, 2.0])
    (grad,) = numerical_vjp(lambda x: x**3, [x], np.ones(2), h=1e-3)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    # Central differences of x^3 are exact up to eps^2: 3 x^2 + eps^2.
    np.testing.assert_allclose(grad, 3 * x**2 + 1e-6, rtol=1e-9)


def test_check_vjp_reports_small_errors_for_the_right_gradient():
    result = check_vjp(matmul_grads, lambda a, b: a @ b, [A, B], G)
    assert isinstance(result, VJPCheck)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.max_error_vs_autograd = 0.0
    assert result.max_error_vs_autograd < 1e-14
    assert 0 < result.max_error_vs_finite_differences < 1e-8


def test_check_vjp_catches_a_transposed_gradient():
    def wrong(a, b, g):
        return [(g @ b.T).T, a.T @ g]

    result = check_vjp(wrong, lambda a, b: a @ b, [A, B])
    assert result.max_error_vs_autograd > 0.1
    assert result.max_error_vs_finite_differences > 0.1


def test_check_vjp_draws_its_upstream_gradient_from_the_seed():
    seen = []

    def spy(a, b, g):
        seen.append(g)
        return matmul_grads(a, b, g)

    check_vjp(spy, lambda a, b: a @ b, [A, B], seed=3)
    check_vjp(spy, lambda a, b: a @ b, [A, B], seed=3)
    check_vjp(spy, lambda a, b: a @ b, [A, B], seed=4)
    check_vjp(spy, lambda a, b: a @ b, [A, B])
    assert_matches_torch(lambda a, b: a @ b, spy, lambda a, b: a @ b, [A, B])
    np.testing.assert_array_equal(seen[0], seen[1])
    np.testing.assert_array_equal(seen[0], np.random.default_rng(3).standard_normal((3, 2)))
    assert not np.array_equal(seen[0], seen[2])
    for default in seen[3:]:
        np.testing.assert_array_equal(default, np.random.default_rng(0).standard_normal((3, 2)))


def test_check_vjp_wants_one_gradient_per_input():
    with pytest.raises(ValueError, match=r"expected 2 gradients \(one per input in wrt\), got 1"):
        check_vjp(lambda a, b, g: [g @ b.T], lambda a, b: a @ b, [A, B], G)


def test_integer_inputs_are_constants_and_wrt_selects_inputs():
    Z, y = RNG.normal(size=(4, 3)), np.array([0, 2, 1, 1])
    (grad,) = autograd_vjp(F.cross_entropy, [Z, y], 1.0)
    (numeric,) = numerical_vjp(lambda Z, y: F.cross_entropy(torch.from_numpy(Z), torch.from_numpy(y)).item(),
                               [Z, y], 1.0)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)
    (grad_b,) = autograd_vjp(lambda a, b: a @ b, [A, B], G, wrt=[1])
    np.testing.assert_allclose(grad_b, A.T @ G, rtol=1e-14)
    with pytest.raises(ValueError, match=r"wrt must list positions of floating-point inputs, \[0\]; got \[1\]"):
        autograd_vjp(F.cross_entropy, [Z, y], 1.0, wrt=[1])


def test_an_input_that_the_output_ignores_gets_a_zero_gradient():
    grads = autograd_vjp(lambda a, b: a * 2, [A, B], np.ones((3, 3)))
    np.testing.assert_array_equal(grads[1], np.zeros((3, 2)))


def test_assert_close_to_autograd_passes_and_fails_with_the_name():
    assert_close_to_autograd(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0], requires_grad=True) * 1)
    assert_close_to_autograd(2.0, 2.0 + 1e-9)
    with pytest.raises(AssertionError, match="dW: ours differs from autograd's"):
        assert_close_to_autograd(np.array([1.0, 2.0]), torch.tensor([1.0, 2.1]), name="dW")
    with pytest.raises(AssertionError, match="shape"):
        assert_close_to_autograd(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(AssertionError):
        assert_close_to_autograd(1.0, 1.0 + 1e-3, atol=1e-4, rtol=0)


def test_assert_matches_torch_checks_values_and_gradients():
    assert_matches_torch(lambda a, b: a @ b, matmul_grads, lambda a, b: a @ b, [A, B])
    with pytest.raises(AssertionError, match="product value"):
        assert_matches_torch(lambda a, b: a @ b + 1e-3, matmul_grads, lambda a, b: a @ b, [A, B], name="product")
    with pytest.raises(AssertionError, match="matmul gradient of input 1"):
        assert_matches_torch(lambda a, b: a @ b, lambda a, b, g: [g @ b.T, a.T @ g * 1.01], lambda a, b: a @ b,
                             [A, B], name="matmul")
    with pytest.raises(AssertionError, match=r"expected 2 gradients, one per input in wrt \[0, 1\], got 1"):
        assert_matches_torch(lambda a, b: a @ b, lambda a, b, g: [g @ b.T], lambda a, b: a @ b, [A, B])


def test_a_random_upstream_gradient_catches_what_sum_backward_misses():
    # A wrong softmax VJP that ignores the upstream gradient's direction: with G of ones
    # both are 0 (softmax sums to a constant), with a random G they differ.
    def wrong(z, g):
        return [np.zeros_like(z)]

    z = RNG.normal(size=(2, 3))
    softmax = lambda t: torch.softmax(t, -1)  # noqa: E731
    assert_matches_torch(lambda z: torch.softmax(torch.from_numpy(z), -1).numpy(), wrong, softmax, [z],
                         grad_output=np.ones((2, 3)))
    with pytest.raises(AssertionError, match="gradient of input 0"):
        assert_matches_torch(lambda z: torch.softmax(torch.from_numpy(z), -1).numpy(), wrong, softmax, [z])
