"""nnmath.activations against PyTorch autograd, at the edges, and on the sources' numbers."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from nnmath.activations import (
    erfc,
    gelu,
    gelu_prime,
    leaky_relu,
    leaky_relu_prime,
    log_softmax,
    log_softmax_vjp,
    relu,
    relu_prime,
    sigmoid,
    sigmoid_prime,
    softmax,
    softmax_jacobian,
    softmax_jacobian_by_cases,
    softmax_vjp,
    tanh,
    tanh_prime,
)
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch, check_vjp


def float_arrays(min_dims=1, max_dims=3, bound=30.0):
    """Arrays of 1 to 3 axes of up to 5 entries each, values in [-bound, bound] (0 included)."""
    return arrays(
        np.float64,
        array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=5),
        elements=st.floats(-bound, bound, allow_subnormal=False),
    )


ELEMENTWISE = {
    "relu": (relu, relu_prime, torch.relu),
    "sigmoid": (sigmoid, sigmoid_prime, torch.sigmoid),
    "tanh": (tanh, tanh_prime, torch.tanh),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
@given(z=float_arrays())
def test_elementwise_derivative_matches_autograd(name, z):
    f, f_prime, torch_f = ELEMENTWISE[name]
    assert_matches_torch(f, lambda z, G: [G * f_prime(z)], torch_f, [z], name=name)


@given(z=float_arrays(), slope=st.floats(0.0, 1.0))
def test_leaky_relu_matches_autograd(z, slope):
    assert_matches_torch(
        lambda z: leaky_relu(z, slope),
        lambda z, G: [G * leaky_relu_prime(z, slope)],
        lambda z: F.leaky_relu(z, slope),
        [z],
        name="leaky_relu",
    )


def test_leaky_relu_default_slope_is_pytorchs():
    z = np.array([-2.0, 0.0, 3.0])
    assert_close_to_autograd(leaky_relu(z), F.leaky_relu(torch.from_numpy(z)))
    np.testing.assert_array_equal(leaky_relu_prime(z), [0.01, 0.01, 1.0])


@given(z=float_arrays())
def test_softmax_and_its_vjp_match_autograd(z):
    assert_matches_torch(softmax, lambda z, G: [softmax_vjp(z, G)], lambda z: torch.softmax(z, -1), [z])


@given(z=float_arrays())
def test_log_softmax_and_its_vjp_match_autograd(z):
    assert_matches_torch(log_softmax, lambda z, G: [log_softmax_vjp(z, G)],
                         lambda z: torch.log_softmax(z, -1), [z])


@given(z=float_arrays(min_dims=2), data=st.data())
def test_softmax_along_any_axis_matches_pytorch(z, data):
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1))
    assert_close_to_autograd(softmax(z, axis=axis), torch.softmax(torch.from_numpy(z), axis))
    assert_close_to_autograd(log_softmax(z, axis=axis), torch.log_softmax(torch.from_numpy(z), axis))


@given(z=float_arrays(min_dims=1, max_dims=2))
def test_softmax_jacobian_gives_autograds_vjp(z):
    def vjp(z, G):
        # Row vector times Jacobian, for each example.
        return [np.einsum("...k,...kj->...j", G, softmax_jacobian(z))]

    assert_matches_torch(softmax, vjp, lambda z: torch.softmax(z, -1), [z], name="softmax_jacobian")


@given(z=float_arrays(min_dims=1, max_dims=1))
def test_softmax_jacobian_is_autograds_full_jacobian(z):
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, -1), torch.from_numpy(z))
    assert_close_to_autograd(softmax_jacobian(z), expected, name="softmax_jacobian")
    assert_close_to_autograd(softmax_jacobian_by_cases(z), expected, name="softmax_jacobian_by_cases")


def test_softmax_jacobian_of_a_batch_stacks_one_jacobian_per_row():
    z = np.array([[4.0, 2.0, 0.0], [0.1, 0.2, 0.3]])
    J = softmax_jacobian(z)
    assert J.shape == (2, 3, 3)
    for i in range(2):
        np.testing.assert_allclose(J[i], softmax_jacobian_by_cases(z[i]), rtol=0, atol=1e-15)


@given(z=float_arrays(min_dims=2, max_dims=2))
def test_finite_differences_agree_with_autograd_and_ours(z):
    result = check_vjp(lambda z, G: [softmax_vjp(z, G)], lambda z: torch.softmax(z, -1), [z], fn=softmax)
    assert result.max_error_vs_autograd < 1e-12
    assert result.max_error_vs_finite_differences < 1e-6


@given(z=float_arrays(bound=1000.0))
def test_large_inputs_overflow_nowhere_and_match_pytorch(z):
    t = torch.from_numpy(z)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        pairs = [(sigmoid(z), torch.sigmoid(t)), (sigmoid_prime(z), torch.sigmoid(t) * (1 - torch.sigmoid(t))),
                 (tanh(z), torch.tanh(t)), (softmax(z), torch.softmax(t, -1)),
                 (log_softmax(z), torch.log_softmax(t, -1))]
    for ours, expected in pairs:
        assert np.all(np.isfinite(ours))
        assert_close_to_autograd(ours, expected)


# The edges the book discusses.


def test_relu_derivative_at_exactly_zero_is_zero_like_pytorch():
    z = torch.tensor([-1.0, 0.0, -0.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(z).backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_array_equal(relu_prime(z.detach().numpy()), [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0, 0.0, 1.0])


def test_sigmoid_at_plus_minus_1000_is_exact_without_warnings():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(sigmoid([1000.0, -1000.0]), [1.0, 0.0])
        np.testing.assert_array_equal(sigmoid_prime([1000.0, -1000.0]), [0.0, 0.0])


def test_sigmoid_keeps_relative_precision_for_very_negative_inputs():
    # sigmoid(-40) is about 4e-18: 1 / (1 + e^40) keeps all its digits (1 - sigmoid(40) would round to 0).
    np.testing.assert_allclose(sigmoid(-40.0), np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(sigmoid(40.0), 1 / (1 + np.exp(-40.0)), rtol=1e-15)


def test_softmax_of_huge_logits_has_no_nan():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(softmax([1000.0, 0.0, -1000.0]), [1.0, 0.0, 0.0], atol=0)
        np.testing.assert_allclose(softmax([[1e300, 1e300]]), [[0.5, 0.5]], atol=0)
        np.testing.assert_allclose(log_softmax([1000.0, 0.0]), [0.0, -1000.0], atol=0)


def test_softmax_is_shift_invariant_and_rows_sum_to_one():
    z = np.array([[1.0, 2.0, 3.0], [-5.0, 0.0, 5.0]])
    np.testing.assert_allclose(softmax(z + 100.0), softmax(z), rtol=1e-14)
    np.testing.assert_allclose(softmax(z).sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1.0, rtol=1e-15)


def test_outputs_are_float64_for_integer_and_boolean_input():
    assert relu([1, -2]).dtype == np.float64
    np.testing.assert_array_equal(relu(np.array([True, False])), [1.0, 0.0])
    assert softmax(np.array([1, 2], dtype=np.int32)).dtype == np.float64


# The worked numbers of the sources.


def test_sources_softmax_of_2_3_1():
    np.testing.assert_allclose(softmax([[2.0, 3.0, 1.0]]), [[0.2447, 0.6652, 0.0900]], atol=5e-5)


def test_sources_sigmoid_and_its_derivative_at_2_and_minus_3():
    np.testing.assert_allclose(sigmoid([[2.0], [-3.0]]), [[0.8808], [0.0474]], atol=5e-5)
    np.testing.assert_allclose(sigmoid_prime([[2.0], [-3.0]]), [[0.1050], [0.0452]], atol=5e-5)


def test_sources_relu_of_three_neurons():
    np.testing.assert_array_equal(relu([[-0.2], [0.0], [0.6]]), [[0.0], [0.0], [0.6]])
    np.testing.assert_array_equal(relu_prime([[-0.2], [0.6]]), [[0.0], [1.0]])


def test_sources_softmax_jacobian_of_4_2():
    expected = [[0.1050, -0.1050], [-0.1050, 0.1050]]
    np.testing.assert_allclose(softmax_jacobian([4.0, 2.0]), expected, atol=5e-5)
    np.testing.assert_allclose(softmax_jacobian_by_cases([4.0, 2.0]), expected, atol=5e-5)


def test_sources_softmax_jacobian_of_the_one_layer_example():
    expected = [[0.1919, -0.1140, -0.0779], [-0.1140, 0.2464, -0.1324], [-0.0779, -0.1324, 0.2104]]
    np.testing.assert_allclose(softmax_jacobian([0.45, 0.98, 0.60]), expected, atol=5e-5)


# Bad input.


@pytest.mark.parametrize("f", [relu, relu_prime, leaky_relu, sigmoid, sigmoid_prime, tanh, softmax, log_softmax,
                               erfc, gelu, gelu_prime])
@pytest.mark.parametrize("bad", [["a", "b"], None, np.array([1 + 2j])])
def test_non_numeric_input_raises_type_error(f, bad):
    with pytest.raises(TypeError, match="array of real numbers"):
        f(bad)


def test_softmax_jacobian_rejects_three_axes():
    with pytest.raises(ValueError, match=r"\(K,\) or \(N, K\)"):
        softmax_jacobian(np.zeros((2, 3, 4)))


def test_softmax_jacobian_by_cases_takes_one_example():
    with pytest.raises(ValueError, match=r"shape \(K,\)"):
        softmax_jacobian_by_cases(np.zeros((2, 3)))


@pytest.mark.parametrize("vjp", [softmax_vjp, log_softmax_vjp])
def test_vjp_rejects_an_upstream_gradient_of_another_shape(vjp):
    with pytest.raises(ValueError, match="same shape"):
        vjp(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="grad_out"):
        vjp(np.zeros((2, 3)), "g")


# GELU, and the erfc it is built on.


def test_erfc_is_accurate_to_a_few_units_in_the_last_place():
    """Against Python's math.erfc (the C library's), from -6 to 27, where erfc runs from 2 down to 5e-319."""
    x = np.concatenate([np.linspace(-6.0, 27.0, 20_001), np.geomspace(1e-300, 27.0, 2_000),
                        -np.geomspace(1e-300, 6.0, 2_000), [0.0, 0.46875, -0.46875, 4.0, -4.0]])
    x = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])  # both sides of each break
    reference = np.array([math.erfc(v) for v in x])
    ours = erfc(x)
    normal = reference >= 1e-300
    relative = np.abs(ours - reference)[normal] / reference[normal]
    assert relative.max() < 2e-15
    assert np.abs(ours - reference)[~normal].max() < 1e-310  # subnormal results
    torch_erfc = torch.special.erfc(torch.from_numpy(x)).numpy()
    assert (np.abs(ours - torch_erfc)[normal] / reference[normal]).max() < 3e-15


def test_erfc_at_infinities_nan_and_huge_arguments():
    np.testing.assert_array_equal(erfc([np.inf, -np.inf, 1e300, -1e300, 0.0, 40.0]), [0, 2, 0, 2, 1, 0])
    assert np.isnan(erfc(np.nan))
    assert erfc(np.array([[0.5, -1.0]])).shape == (1, 2)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(z=float_arrays())
def test_gelu_and_its_derivative_match_autograd(approximate, z):
    assert_matches_torch(lambda z: gelu(z, approximate), lambda z, G: [G * gelu_prime(z, approximate)],
                         lambda z: F.gelu(z, approximate=approximate), [z], name=f"gelu {approximate}")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_over_a_wide_range_has_no_warnings_and_matches_pytorch(approximate):
    z = np.concatenate([np.linspace(-1000, 1000, 2001), np.linspace(-10, 10, 2001)])
    ours, ours_prime = gelu(z, approximate), gelu_prime(z, approximate)
    t = torch.tensor(z, requires_grad=True)
    reference = F.gelu(t, approximate=approximate)
    reference.backward(torch.ones_like(t))  # an elementwise function: its VJP with ones is its derivative
    assert_close_to_autograd(ours, reference, rtol=1e-12, atol=1e-14)
    assert_close_to_autograd(ours_prime, t.grad, rtol=1e-12, atol=1e-14)


def test_gelu_keeps_its_relative_precision_for_very_negative_inputs():
    """z Phi(z) with Phi = erfc(-z / sqrt 2) / 2; 1 + erf(z / sqrt 2) would cancel to 0 (PyTorch gives 0)."""
    z = np.array([-5.0, -10.0, -20.0, -37.0])
    exact = np.array([v * math.erfc(-v / math.sqrt(2)) / 2 for v in z])
    np.testing.assert_allclose(gelu(z), exact, rtol=1e-14)
    assert F.gelu(torch.tensor(-10.0, dtype=torch.float64)).item() == 0.0 != gelu(-10.0)
    # tanh's form: z (1 + tanh u) / 2 = z sigmoid(2u), and 1 + tanh u cancels to 0 from z = -10 on
    z = np.array([-3.0, -5.0, -10.0, -20.0])
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)
    tanh_form = np.array([v * (1 + math.tanh(w)) / 2 for v, w in zip(z, u, strict=True)])
    sigmoid_form = np.array([v / (1 + math.exp(-2 * w)) for v, w in zip(z, u, strict=True)])
    np.testing.assert_allclose(gelu(z, "tanh"), sigmoid_form, rtol=1e-14)
    assert tanh_form[-2] == 0.0 != gelu(z[-2], "tanh")


def test_gelu_rejects_an_unknown_approximation():
    for f in (gelu, gelu_prime):
        with pytest.raises(ValueError, match=r"approximate must be one of \('none', 'tanh'\), got 'erf'"):
            f(np.zeros(2), approximate="erf")
