"""nnmath.layers: Linear, the MLP's delta recursion and the two-layer equations against autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from nnmath.data import one_vs_seven, ten_classes
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch
from nnmath.layers import MLP, Linear, two_layer_gradients
from nnmath.losses import one_hot

TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                     "leaky_relu": F.leaky_relu}


def matrices(shape, bound=3.0):
    return arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_subnormal=False))


@given(data=st.data(), N=st.integers(1, 4), n_in=st.integers(1, 4), n_out=st.integers(1, 4))
def test_linear_forward_and_backward_match_autograd(data, N, n_in, n_out):
    A, W, b = data.draw(matrices((N, n_in))), data.draw(matrices((n_out, n_in))), data.draw(matrices((n_out,)))

    def ours(A, W, b, G):
        layer = Linear.from_params(W, b)
        layer.forward(A)
        grad_A = layer.backward(G)
        return [grad_A, layer.dW, layer.db]

    assert_matches_torch(lambda A, W, b: Linear.from_params(W, b).forward(A), ours, F.linear, [A, W, b],
                         name="Linear")


def test_linear_backward_without_input_grad_still_sets_dW_and_db():
    rng = np.random.default_rng(0)
    A, W, b, G = rng.normal(size=(5, 3)), rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(5, 2))
    full, skipped = Linear.from_params(W, b), Linear.from_params(W, b)
    full.forward(A), skipped.forward(A)
    assert full.backward(G) is not None and skipped.backward(G, input_grad=False) is None
    np.testing.assert_array_equal(skipped.dW, full.dW)
    np.testing.assert_array_equal(skipped.db, full.db)


def torch_mlp_loss(net, X, y):
    """The same network in PyTorch: returns the loss, the leaf parameters and every Z (retained)."""
    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in net.parameters()]
    hidden = TORCH_ACTIVATIONS[net.f.__name__]
    A, Zs = torch.from_numpy(X), []
    for l, (W, b) in enumerate(params, start=1):  # noqa: E741 (l is the book's layer index)
        Zs.append(A @ W.T + b)
        Zs[-1].retain_grad()
        A = hidden(Zs[-1]) if l < len(params) else None
    Y = torch.from_numpy(np.asarray(y))
    if net.head == "softmax":
        loss = F.cross_entropy(Zs[-1], Y)
    else:
        loss = F.binary_cross_entropy_with_logits(Zs[-1], Y.reshape(Zs[-1].shape), reduction="sum") / len(X)
    return loss, params, Zs


@st.composite
def networks(draw):
    """A random MLP (1 to 4 layers, widths 1 to 5, any activation and head) and a batch for it."""
    head = draw(st.sampled_from(["softmax", "sigmoid"]))
    widths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    n_out = draw(st.integers(2 if head == "softmax" else 1, 4))
    net = MLP([draw(st.integers(1, 5)), *widths[:-1], n_out],
              hidden_activation=draw(st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu"])),
              head=head, seed=draw(st.integers(0, 2**16)))
    N = draw(st.integers(1, 5))
    X = draw(matrices((N, len(net.layers[0].W[0]))))
    if head == "softmax":
        y = draw(arrays(np.int64, N, elements=st.integers(0, n_out - 1)))
    else:
        y = draw(arrays(np.float64, (N, n_out), elements=st.sampled_from([0.0, 1.0])))
    return net, X, y


@given(case=networks())
def test_mlp_gradients_and_deltas_match_autograd(case):
    net, X, y = case
    loss = net.loss(X, y)
    net.backward(y)
    torch_loss, params, Zs = torch_mlp_loss(net, X, y)
    torch_loss.backward(torch.tensor(1.0, dtype=torch.float64))
    assert loss == pytest.approx(torch_loss.item(), rel=1e-10, abs=1e-12)
    for l, (layer, (W, b), Z) in enumerate(zip(net.layers, params, Zs, strict=True), start=1):  # noqa: E741
        assert_close_to_autograd(layer.dW, W.grad, name=f"dW of layer {l}")
        assert_close_to_autograd(layer.db, b.grad, name=f"db of layer {l}")
        assert_close_to_autograd(net.deltas[l], Z.grad, name=f"delta of layer {l}")
        assert_close_to_autograd(net.Z[l], Z, name=f"Z of layer {l}")


def test_mlp_caches_follow_the_books_indexing():
    net = MLP([3, 4, 2])
    X = np.ones((5, 3))
    P = net.forward(X)
    assert [a.shape for a in net.A] == [(5, 3), (5, 4), (5, 2)]
    assert net.Z[0] is None and net.A[0] is not None
    np.testing.assert_allclose(net.A[1], 1 / (1 + np.exp(-net.Z[1])))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    net.backward([0, 1, 1, 0, 1])
    assert net.deltas[0] is None and [d.shape for d in net.deltas[1:]] == [(5, 4), (5, 2)]


def test_mlp_default_seed_is_0():
    for a, b in zip(MLP([3, 4, 2]).parameters(), MLP([3, 4, 2], seed=0).parameters(), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(MLP([3, 2], seed=1).layers[0].W, MLP([3, 2]).layers[0].W)


def test_step_is_gradient_descent():
    net = MLP([4, 3, 2], hidden_activation="tanh", seed=1)
    X, y = np.random.default_rng(0).normal(size=(6, 4)), np.array([0, 1, 1, 0, 1, 0])
    before = [(W.copy(), b.copy()) for W, b in net.parameters()]
    loss = net.train_step(X, y, learning_rate=0.3)
    assert loss == pytest.approx(MLP([4, 3, 2], hidden_activation="tanh", seed=1).loss(X, y))
    for (W0, b0), layer in zip(before, net.layers, strict=True):
        np.testing.assert_allclose(layer.W, W0 - 0.3 * layer.dW, rtol=1e-15)
        np.testing.assert_allclose(layer.b, b0 - 0.3 * layer.db, rtol=1e-15)
    assert net.loss(X, y) < loss


def test_one_hot_labels_give_the_same_gradients_as_indices():
    X, y = np.random.default_rng(1).normal(size=(4, 3)), np.array([2, 0, 1, 2])
    a, b = MLP([3, 5, 3], seed=2), MLP([3, 5, 3], seed=2)
    assert a.loss(X, y) == b.loss(X, one_hot(y, 3))
    a.backward(y)
    b.backward(one_hot(y, 3))
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.dW, lb.dW)


def test_training_on_the_ten_digits_learns():
    digits = ten_classes()
    net = MLP([64, 32, 10], hidden_activation="relu", seed=0)
    first = net.train_step(digits.X_train, digits.y_train, 0.5)
    for _ in range(60):
        last = net.train_step(digits.X_train, digits.y_train, 0.5)
    assert last < 0.5 * first
    assert net.accuracy(digits.X_test, digits.y_test) > 0.8
    np.testing.assert_array_equal(net.predict(digits.X_test), net.forward(digits.X_test).argmax(axis=1))


def test_the_binary_network_separates_ones_from_sevens():
    digits = one_vs_seven()
    net = MLP([64, 8, 1], hidden_activation="sigmoid", head="sigmoid", seed=0)
    for _ in range(60):
        net.train_step(digits.X_train, digits.y_train, 2.0)
    predicted = net.predict(digits.X_test)
    assert predicted.shape == digits.y_test.shape
    np.testing.assert_array_equal(predicted, net.forward(digits.X_test)[:, 0] >= 0.5)
    assert net.accuracy(digits.X_test, digits.y_test) > 0.95
    assert net.accuracy(digits.X_test, digits.y_test[:, None]) == net.accuracy(digits.X_test, digits.y_test)


def test_accuracy_counts_correct_predictions():
    net = MLP([2, 3])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    predicted = net.predict(X)
    y = predicted.copy()
    y[0] = (y[0] + 1) % 3
    assert net.accuracy(X, y) == 0.75
    assert net.accuracy(X, one_hot(y, 3)) == 0.75


def test_multi_label_sigmoid_head_predicts_each_output():
    net = MLP([2, 3], head="sigmoid")
    X = np.array([[1.0, -2.0], [3.0, 0.5]])
    np.testing.assert_array_equal(net.predict(X), (net.forward(X) >= 0.5).astype(int))
    assert net.predict(X).shape == (2, 3)


# The two-layer network of the sources, equation by equation.


@st.composite
def two_layer_problems(draw):
    N, n0, n1, n2 = (draw(st.integers(1, 4)) for _ in range(4))
    Y = draw(arrays(np.float64, (N, n2), elements=st.sampled_from([0.0, 1.0])))
    return [draw(matrices(shape)) for shape in [(N, n0)]] + [Y] + [
        draw(matrices(shape)) for shape in [(n1, n0), (n1,), (n2, n1), (n2,)]]


def torch_two_layer_loss(X, Y, W1, b1, W2, b2, reduction="sum"):
    A2 = torch.sigmoid(torch.sigmoid(X @ W1.T + b1) @ W2.T + b2)
    loss = F.binary_cross_entropy(A2, Y, reduction=reduction)
    return loss / len(X) if reduction == "sum" else loss


@given(arrays_=two_layer_problems())
def test_two_layer_gradients_match_autograd(arrays_):
    def ours(*arrays_and_G):
        *arrays_, G = arrays_and_G
        grads = two_layer_gradients(*arrays_)
        return [G * grads.dW1, G * grads.db1, G * grads.dW2, G * grads.db2]

    assert_matches_torch(lambda *a: two_layer_gradients(*a).loss, ours, torch_two_layer_loss, arrays_,
                         wrt=[2, 3, 4, 5], name="two_layer_gradients")


@given(arrays_=two_layer_problems())
def test_pytorchs_default_mean_divides_every_gradient_by_the_outputs(arrays_):
    # F.binary_cross_entropy averages over all N * n_2 entries, the equations over the N examples.
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays_]
    torch_two_layer_loss(*tensors, reduction="mean").backward()
    n2 = arrays_[1].shape[1]
    grads = two_layer_gradients(*arrays_)
    for ours, t in zip([grads.dW1, grads.db1, grads.dW2, grads.db2], tensors[2:], strict=True):
        assert_close_to_autograd(ours / n2, t.grad)


def test_two_layer_gradients_agree_with_the_mlp():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=(5, 2)).astype(float)
    net = MLP([3, 4, 2], hidden_activation="sigmoid", head="sigmoid", seed=4)
    loss = net.loss(X, Y)
    net.backward(Y)
    (W1, b1), (W2, b2) = net.parameters()
    grads = two_layer_gradients(X, Y, W1, b1, W2, b2)
    assert grads.loss == pytest.approx(loss, rel=1e-12)
    for ours, theirs in zip(grads[1:], [net.layers[0].dW, net.layers[0].db, net.layers[1].dW, net.layers[1].db],
                            strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


# The worked example of the sources: one layer, softmax, cross-entropy.


def test_sources_one_layer_backprop_example():
    x = np.array([[0.9, 0.5, 0.3]])
    W = np.array([[0.2, 0.1, 0.4], [0.5, 0.6, 0.1], [0.1, 0.7, 0.2]])
    b = np.array([0.1, 0.2, 0.1])
    net = MLP([3, 3])
    net.layers[0] = Linear.from_params(W, b)
    assert net.loss(x, [2]) == pytest.approx(1.2009, abs=5e-5)
    np.testing.assert_allclose(net.Z[1], [[0.45, 0.98, 0.60]], atol=1e-12)
    np.testing.assert_allclose(net.A[1], [[0.2590, 0.4401, 0.3009]], atol=5e-5)
    net.backward([2])
    dW = [[0.2331, 0.1295, 0.0777], [0.3960, 0.2200, 0.1320], [-0.6292, -0.3495, -0.2097]]
    np.testing.assert_allclose(net.layers[0].dW, dW, atol=5e-5)
    np.testing.assert_allclose(net.layers[0].db, [0.2590, 0.4401, -0.6991], atol=5e-5)


def test_linear_init_is_like_pytorchs_and_from_params_copies():
    layer = Linear(4, 3)
    assert layer.W.shape == (3, 4) and layer.b.shape == (3,)
    assert np.abs(layer.W).max() <= 0.5 and np.abs(layer.b).max() <= 0.5
    wide = Linear(4, 50)
    for values in (wide.W, wide.b):  # uniform on [-1/2, 1/2]: both signs, spread out
        assert values.min() < -0.3 and values.max() > 0.3
    assert layer.dW is None and layer.db is None
    np.testing.assert_array_equal(Linear(4, 3).W, layer.W)
    np.testing.assert_array_equal(Linear(4, 3, np.random.default_rng(0)).W, layer.W)
    W, b = np.ones((2, 3)), np.zeros(2)
    copy = Linear.from_params(W, b)
    copy.W += 1
    copy.b += 1
    assert W[0, 0] == 1.0 and b[0] == 0.0


# Bad input.


def test_linear_rejects_inputs_of_the_wrong_width():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=r"A must have shape \(N, 3\), got \(4, 2\)"):
        layer.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"A must have shape \(N, 3\), got \(3,\)"):
        layer.forward(np.zeros(3))


def test_linear_backward_needs_forward_and_the_right_shape():
    layer = Linear(3, 2)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(np.zeros((1, 2)))
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"delta must have shape \(4, 2\) \(N, n_out\), got \(2, 4\)"):
        layer.backward(np.zeros((2, 4)))


def test_linear_rejects_bad_sizes_and_params():
    with pytest.raises(ValueError, match="positive"):
        Linear(0, 2)
    with pytest.raises(ValueError, match="positive"):
        Linear(2, 0)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\) to match W"):
        Linear.from_params(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"W must have shape \(n_out, n_in\)"):
        Linear.from_params(np.zeros(3), np.zeros(3))


def test_mlp_rejects_bad_configurations():
    with pytest.raises(ValueError, match="at least"):
        MLP([3])
    with pytest.raises(ValueError, match="hidden_activation must be one of"):
        MLP([3, 2], hidden_activation="swish")
    with pytest.raises(ValueError, match="head must be one of"):
        MLP([3, 2], head="linear")


def test_mlp_rejects_bad_labels_and_order_of_calls():
    net = MLP([3, 2, 2])
    with pytest.raises(RuntimeError, match="call forward"):
        net.backward([0])
    with pytest.raises(RuntimeError, match="call backward before step"):
        net.step(0.1)
    net.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch sizes differ: expected y for N=2 examples, got 3"):
        net.backward([0, 1, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        net.loss(np.zeros((2, 3)), [0, 2])


def test_sigmoid_head_rejects_bad_targets():
    net = MLP([3, 2], head="sigmoid")
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"y must have shape \(N, 2\), got \(2,\)"):
        net.loss(X, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"y must be probabilities in \[0, 1\]"):
        net.loss(X, [[0.0, 2.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="batch sizes differ"):
        net.loss(X, np.zeros((3, 2)))


def test_two_layer_gradients_rejects_mismatched_shapes():
    X, Y = np.zeros((4, 3)), np.zeros((4, 2))
    W1, b1, W2, b2 = np.zeros((5, 3)), np.zeros(5), np.zeros((2, 5)), np.zeros(2)
    two_layer_gradients(X, Y, W1, b1, W2, b2)
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\), got \(3, 2\)"):
        two_layer_gradients(X, Y[:3], W1, b1, W2, b2)
    with pytest.raises(ValueError, match=r"W2 must have shape \(2, 5\), got \(2, 4\)"):
        two_layer_gradients(X, Y, W1, b1, W2[:, :4], b2)
    with pytest.raises(ValueError, match=r"b1 must have shape \(5,\)"):
        two_layer_gradients(X, Y, W1, b1[:2], W2, b2)
    with pytest.raises(ValueError, match=r"X must have shape \(rows, columns\)"):
        two_layer_gradients(X[0], Y, W1, b1, W2, b2)
