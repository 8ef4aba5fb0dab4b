"""nnmath.autodiff against PyTorch autograd: each op, random expressions, random MLPs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes
from nnmath.autodiff import Tensor, cross_entropy, topological_order
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch, check_vjp
from nnmath.layers import MLP


def engine(build):
    """``fn`` and ``our_grads`` for assert_matches_torch from an expression of Tensors.

    ``build`` is written once and run on Tensors here and on torch tensors by autograd.
    """

    def fn(*arrays_):
        return build(*(Tensor(a) for a in arrays_)).data

    def our_grads(*arrays_and_G):
        *arrays_, G = arrays_and_G
        tensors = [Tensor(a, requires_grad=True) for a in arrays_]
        build(*tensors).backward(G)
        return [np.zeros(t.shape) if t.grad is None else t.grad for t in tensors]

    return fn, our_grads


def check_engine(build, inputs, name):
    fn, our_grads = engine(build)
    assert_matches_torch(fn, our_grads, build, inputs, name=name)


def values(shape, low=-3.0, high=3.0):
    return arrays(np.float64, shape, elements=st.floats(low, high, allow_subnormal=False))


small_shapes = st.tuples(st.integers(1, 4), st.integers(1, 4))

UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "log": lambda a: (a * a + 0.5).log(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "tanh": lambda a: a.tanh(),
    "softmax": lambda a: a.softmax(-1),
    "softmax axis 0": lambda a: a.softmax(0),
    "log_softmax": lambda a: a.log_softmax(-1),
    "log_softmax axis 0": lambda a: a.log_softmax(0),
    "transpose": lambda a: a.T,
    "square": lambda a: a**2,
    "power 3": lambda a: a**3,
    "sum": lambda a: a.sum(),
    "sum axis 0": lambda a: a.sum(0),
    "sum axis -1 keepdims": lambda a: a.sum(-1, True),
    "mean": lambda a: a.mean(),
    "mean axis 1": lambda a: a.mean(1),
    "mean axis 0 keepdims": lambda a: a.mean(0, True),
    "scalar left": lambda a: 1.0 - 2.0 * a,
    "scalar right": lambda a: a / 4.0 + 3.0 - a * 0.5,
    "scalar over": lambda a: 2.0 / (a * a + 1.0),
}


@pytest.mark.parametrize("name", UNARY)
@given(a=small_shapes.flatmap(values))
def test_unary_ops_match_autograd(name, a):
    check_engine(UNARY[name], [a], name)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data(), shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_broadcasting_binary_ops_match_autograd(name, data, shapes):
    a = data.draw(values(shapes.input_shapes[0]))
    b = data.draw(values(shapes.input_shapes[1], 0.5, 3.0)) * data.draw(st.sampled_from([-1.0, 1.0]))
    check_engine(BINARY[name], [a, b], name)


@given(data=st.data(), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       kind=st.sampled_from(["matrix @ matrix", "vector @ matrix", "matrix @ vector", "vector @ vector"]))
def test_matmul_matches_autograd(data, n, k, m, kind):
    left = (k,) if kind.startswith("vector") else (n, k)
    right = (k,) if kind.endswith("vector") else (k, m)
    check_engine(lambda a, b: a @ b, [data.draw(values(left)), data.draw(values(right))], kind)


@pytest.mark.parametrize("left, right", [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,))])
def test_matmul_of_non_square_shapes_matches_autograd(left, right):
    rng = np.random.default_rng(0)
    check_engine(lambda a, b: a @ b, [rng.normal(size=left), rng.normal(size=right)], f"{left} @ {right}")


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_ops_default_to_the_last_axis(shape, op):
    a = np.random.default_rng(1).normal(size=shape)
    fn, our_grads = engine(lambda t: getattr(t, op)())
    assert_matches_torch(fn, our_grads, lambda t: getattr(t, op)(-1), [a], name=f"{op} of shape {shape}")


@given(a=small_shapes.flatmap(values), data=st.data())
def test_sums_and_means_over_several_axes_match_autograd(a, data):
    a = a[:, :, None]
    axis = data.draw(st.sampled_from([(0, 2), (-1, 0), (1,), -2]))
    keepdims = data.draw(st.booleans())
    check_engine(lambda t: t.sum(axis, keepdims) * 2.0 + t.mean(axis, keepdims), [a], f"sum/mean {axis}")


@given(data=st.data(), N=st.integers(1, 4), K=st.integers(2, 5))
def test_cross_entropy_op_matches_autograd(data, N, K):
    Z = data.draw(values((N, K), -20.0, 20.0))
    y = data.draw(arrays(np.int64, N, elements=st.integers(0, K - 1)))
    fn, _ = engine(lambda z: cross_entropy(z, y))

    def our_grads(Z, y, G):
        z = Tensor(Z, requires_grad=True)
        cross_entropy(z, y).backward(G)
        return [z.grad]

    assert_matches_torch(lambda Z, y: fn(Z), our_grads, F.cross_entropy, [Z, y], name="cross_entropy")


# Random expressions: a program of ops over a pool of tensors, run by both engines.

PROGRAM_OPS = {
    "neg": lambda a, b: -a,
    "exp tanh": lambda a, b: a.tanh().exp(),
    "log": lambda a, b: (a * a + 1.0).log(),
    "relu": lambda a, b: a.relu(),
    "sigmoid": lambda a, b: a.sigmoid() * 3.0,
    "softmax": lambda a, b: a.softmax(-1),
    "log_softmax": lambda a, b: a.log_softmax(-1),
    "matmul": lambda a, b: (a.tanh() @ b.tanh().T) @ a.tanh(),
    "square": lambda a, b: a.tanh() ** 2,
    "sum rows": lambda a, b: a.sum(-1, True) * b.sigmoid(),
    "mean columns": lambda a, b: a.mean(0, True) + b,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: 1.0 - a - b,
    "mul": lambda a, b: a * b.tanh(),
    "div": lambda a, b: a / (b * b + 1.0),
    "rdiv": lambda a, b: 2.0 / (b.sigmoid() + 1.0) + a,
}


PROGRAM_OP_NAMES = tuple(sorted(PROGRAM_OPS))


@st.composite
def programs(draw, ops=PROGRAM_OP_NAMES):
    """Leaves of one shape (N, K), and steps (op, i, j) that each append op(pool[i], pool[j])."""
    N, K = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    leaves = [draw(values((N, K), -2.0, 2.0)) for _ in range(draw(st.integers(1, 3)))]
    steps, size = [], len(leaves)
    for _ in range(draw(st.integers(1, 8))):
        steps.append((draw(st.sampled_from(ops)), draw(st.integers(0, size - 1)),
                      draw(st.integers(0, size - 1))))
        size += 1
    return leaves, steps


def run(steps, *leaves):
    pool = list(leaves)
    for op, i, j in steps:
        pool.append(PROGRAM_OPS[op](pool[i], pool[j]))
    return pool[-1]


@given(program=programs())
def test_random_expressions_match_autograd(program):
    leaves, steps = program
    check_engine(lambda *ts: run(steps, *ts), leaves, f"program {steps}")


@given(program=programs(ops=tuple(sorted(set(PROGRAM_OPS) - {"relu"}))))  # no kink for the differences
def test_random_expressions_match_finite_differences(program):
    leaves, steps = program
    fn, our_grads = engine(lambda *ts: run(steps, *ts))
    result = check_vjp(our_grads, lambda *ts: run(steps, *ts), leaves, fn=fn)
    assert result.max_error_vs_autograd < 1e-9
    assert result.max_error_vs_finite_differences < 1e-4


# Random MLPs: the same network built from Tensors, from torch tensors and by nnmath.layers.


def mlp_loss(params, X, y, activation, cross_entropy_fn):
    """Works on Tensors and on torch tensors alike."""
    A = X
    for W, b in params[:-1]:
        A = getattr(A @ W.T + b, activation)()
    W, b = params[-1]
    return cross_entropy_fn(A @ W.T + b, y)


@st.composite
def mlp_problems(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=5))
    sizes[-1] = max(sizes[-1], 2)
    net = MLP(sizes, hidden_activation=draw(st.sampled_from(["sigmoid", "tanh", "relu"])),
              seed=draw(st.integers(0, 1000)))
    N = draw(st.integers(1, 6))
    X = draw(values((N, sizes[0])))
    y = draw(arrays(np.int64, N, elements=st.integers(0, sizes[-1] - 1)))
    return net, X, y


@given(problem=mlp_problems())
def test_random_mlps_match_autograd_and_manual_backprop(problem):
    net, X, y = problem
    activation = net.f.__name__
    ours = [(Tensor(W, requires_grad=True), Tensor(b, requires_grad=True)) for W, b in net.parameters()]
    theirs = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in net.parameters()]
    loss = mlp_loss(ours, Tensor(X), y, activation, cross_entropy)
    loss.backward()
    torch_loss = mlp_loss(theirs, torch.from_numpy(X), torch.from_numpy(y), activation, F.cross_entropy)
    torch_loss.backward()
    assert_close_to_autograd(loss.data, torch_loss, name="loss")
    net.loss(X, y)
    net.backward(y)
    for l, ((W, b), (tW, tb), layer) in enumerate(zip(ours, theirs, net.layers, strict=True), start=1):  # noqa: E741
        assert_close_to_autograd(W.grad, tW.grad, name=f"engine dW of layer {l}")
        assert_close_to_autograd(b.grad, tb.grad, name=f"engine db of layer {l}")
        np.testing.assert_allclose(W.grad, layer.dW, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b.grad, layer.db, rtol=1e-10, atol=1e-14)


# Semantics shared with PyTorch.


def test_leaf_gradients_accumulate_and_intermediates_do_not_double_count():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y = (h * 3.0).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, [12.0, 24.0])
    np.testing.assert_array_equal(h.grad, [3.0, 3.0])
    x.zero_grad()
    assert x.grad is None
    y.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 12.0])


def test_a_tensor_used_twice_gets_both_contributions():
    x = Tensor(3.0, requires_grad=True)
    y = x * x + x
    y.backward()
    assert x.grad == 7.0
    assert y.item() == 12.0


def test_backward_of_a_non_scalar_needs_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for a scalar \(a loss\), this tensor has shape \(2,\)"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"grad must have the tensor's shape \(2,\), got \(3,\)"):
        (x * 2.0).backward(np.ones(3))
    (x * 2.0).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])


def test_one_element_tensors_and_leaves_can_backward_without_grad():
    x = Tensor([[2.0]], requires_grad=True)
    (x * 5.0).backward()
    assert x.grad.shape == (1, 1) and x.grad[0, 0] == 5.0
    x.backward()
    assert x.grad[0, 0] == 6.0


def test_backward_needs_an_input_that_requires_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        (Tensor(1.0) * 2.0).backward()


def test_constants_get_no_gradient_and_unused_leaves_stay_none():
    x, c, unused = Tensor(2.0, requires_grad=True), Tensor(3.0), Tensor(1.0, requires_grad=True)
    y = x * c
    assert y.requires_grad and not (c * 2.0).requires_grad
    y.backward()
    assert x.grad == 3.0 and c.grad is None and unused.grad is None


def test_numbers_and_arrays_mix_in_on_either_side():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (np.array([1.0, 1.0]) + x) * np.array([2.0, 3.0]) - 1.0
    z = (1.0 / x + 2.0 * x - np.array([[1.0, 0.0], [0.0, 1.0]]) @ x).sum() + (y * 1).sum()
    assert isinstance(y, Tensor) and isinstance(z, Tensor)
    z.backward()
    np.testing.assert_allclose(x.grad, [-1.0 + 2.0 - 1.0 + 2.0, -0.25 + 2.0 - 1.0 + 3.0])


def test_gradients_are_float64_arrays_that_do_not_alias():
    x = Tensor([1, 2], requires_grad=True)
    assert x.data.dtype == np.float64
    y = x + 0.0
    y.backward(np.ones(2))
    x.grad[0] = 99.0
    assert y.grad[0] == 1.0


def test_the_gradient_of_a_zero_dimensional_leaf_is_an_array():
    b = Tensor(0.5, requires_grad=True)
    (Tensor([1.0, 2.0, 3.0]) * b).sum().backward()
    assert isinstance(b.grad, np.ndarray) and b.grad.shape == ()
    torch.testing.assert_close(torch.from_numpy(b.grad), torch.tensor(6.0, dtype=torch.float64))


def test_a_long_chain_does_not_hit_the_recursion_limit():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000)


def test_topological_order_puts_inputs_first_and_each_tensor_once():
    a, b = Tensor(1.0, requires_grad=True, name="a"), Tensor(2.0, name="b")
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    assert order[-1] is e
    assert len(order) == len({id(t) for t in order}) == 5
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        assert all(position[id(p)] < position[id(t)] for p in t._parents)


def test_repr_shows_values_and_flag():
    assert repr(Tensor([1.0, 2.5], requires_grad=True)) == "Tensor([1.  2.5], requires_grad=True)"
    assert repr(Tensor(2.0)) == "Tensor(2.)"


# Bad input.


def test_bad_inputs_raise_with_what_was_expected():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="array of real numbers"):
        Tensor("abc")
    with pytest.raises(TypeError, match="exponent must be a Python number"):
        x ** Tensor(2.0)
    with pytest.raises(ValueError, match=r"1-D or 2-D tensors, got shapes \(2, 3\) and \(1, 3, 2\)"):
        x @ np.ones((1, 3, 2))
    with pytest.raises(ValueError, match=r"1-D or 2-D tensors, got shapes \(1, 2, 3\) and \(3, 2\)"):
        Tensor(np.ones((1, 2, 3))) @ np.ones((3, 2))
    with pytest.raises(ValueError, match=r"1-D or 2-D tensors, got shapes \(\) and \(3,\)"):
        Tensor(2.0) @ np.ones(3)
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\)"):
        cross_entropy(Tensor(np.ones(3)), [0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cross_entropy(x, [0, 3])
    with pytest.raises(ValueError, match="batch sizes differ"):
        cross_entropy(x, [0, 1, 2])
