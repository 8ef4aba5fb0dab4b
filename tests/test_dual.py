"""nnmath.dual: forward-mode derivatives against PyTorch autograd."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from nnmath import dual
from nnmath.dual import Dual, derivative

# Each function is written once and run on a Dual here and on a torch scalar by autograd.
FUNCTIONS = {
    "polynomial": (lambda x, m: 3 * x**3 - 2 * x + 1, None),
    "quotient": (lambda x, m: (x + 2) / (x * x + 1) - 1 / (2 + x * x), None),
    "difference": (lambda x, m: 5 - x - (x - 3), None),
    "exp sin": (lambda x, m: m.exp(m.sin(x)) * m.cos(x), None),
    "chain rule": (lambda x, m: m.sin(x * x) + m.cos(3 * x) * m.exp(x / 2) + m.log(2 + m.sin(x)), None),
    "log": (lambda x, m: m.log(x * x + 1) ** 2, None),
    "sigmoid": (lambda x, m: m.sigmoid(2 * x - 1) * x, None),
    "dual power": (lambda x, m: (x * x + 1) ** m.sigmoid(x), None),
    "number to a dual power": (lambda x, m: 2.0 ** (x / 3), None),
    "negation": (lambda x, m: -(x * 2), None),
}


@pytest.mark.parametrize("name", FUNCTIONS)
@given(x=st.floats(-3.0, 3.0))
def test_derivative_matches_autograd(name, x):
    f, _ = FUNCTIONS[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = f(t, torch)
    y.backward()
    result = f(Dual(x, 1.0), dual)
    assert result.value == pytest.approx(y.item(), rel=1e-12, abs=1e-12)
    assert result.derivative == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)
    assert derivative(lambda x: f(x, dual), x) == result.derivative


def test_dual_arithmetic_follows_the_rules():
    a, b = Dual(2.0, 3.0), Dual(5.0, 7.0)
    assert (a + b).value == 7.0 and (a + b).derivative == 10.0
    assert (a - b).derivative == -4.0
    assert (a * b).derivative == 3.0 * 5.0 + 2.0 * 7.0
    assert (a / b).derivative == pytest.approx((3.0 * 5.0 - 2.0 * 7.0) / 25.0)
    assert (a**3).derivative == 3 * 4.0 * 3.0
    assert (-a).value == -2.0 and (-a).derivative == -3.0
    assert repr(a) == "Dual(2.0, 3.0)"


def test_constants_have_derivative_zero():
    assert Dual(4.0).derivative == 0.0
    assert derivative(lambda x: 7.0, 1.0) == 0.0
    assert derivative(lambda x: x * 0 + 2, 3.0) == 0.0


def test_sigmoid_is_stable_at_plus_minus_1000():
    assert dual.sigmoid(Dual(1000.0, 1.0)).value == 1.0
    assert dual.sigmoid(Dual(-1000.0, 1.0)).value == 0.0
    assert dual.sigmoid(Dual(-1000.0, 1.0)).derivative == 0.0
    assert dual.sigmoid(0.0).value == 0.5 and dual.sigmoid(Dual(0.0, 1.0)).derivative == 0.25


def test_functions_accept_plain_numbers():
    assert dual.exp(0.0).value == 1.0 and dual.log(math.e).value == 1.0
    assert dual.sin(0.0).value == 0.0 and dual.cos(0.0).value == 1.0


def test_non_numbers_are_rejected():
    with pytest.raises(TypeError, match="expected a Dual or a real number, got str"):
        Dual(1.0, 1.0) + "1"
    with pytest.raises(TypeError, match="expected a Dual or a real number"):
        dual.exp([1.0])
