"""nnmath.layers: Linear, the MLP's delta recursion and the two-layer equations against autograd."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from nnmath.data import one_vs_seven, ten_classes
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch
from nnmath.layers import (
    MLP,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    MaxPool2d,
    col2im,
    im2col,
    normalize_vjp,
    two_layer_gradients,
)
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
    with pytest.raises(ValueError, match=r"A must have shape \(N, 3\) or \(\.\.\., 3\), got \(4, 2\)"):
        layer.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"A must have shape \(N, 3\) or \(\.\.\., 3\), got \(3,\)"):
        layer.forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"A must have shape \(N, 3\) or \(\.\.\., 3\), got \(2, 5, 4\)"):
        layer.forward(np.zeros((2, 5, 4)))


def test_linear_backward_needs_forward_and_the_right_shape():
    layer = Linear(3, 2)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(np.zeros((1, 2)))
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"delta must have shape \(4, 2\) \(A's leading axes, n_out\), got \(2, 4\)"):
        layer.backward(np.zeros((2, 4)))
    layer.forward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"delta must have shape \(2, 5, 2\) .*, got \(10, 2\)"):
        layer.backward(np.zeros((10, 2)))


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



# Linear on sequences: every position of (B, T, n_in) is an example.


@given(data=st.data(), B=st.integers(1, 3), T=st.integers(1, 4), n_in=st.integers(1, 4), n_out=st.integers(1, 4))
def test_linear_on_sequences_matches_autograd(data, B, T, n_in, n_out):
    A, W, b = data.draw(matrices((B, T, n_in))), data.draw(matrices((n_out, n_in))), data.draw(matrices((n_out,)))

    def ours(A, W, b, G):
        layer = Linear.from_params(W, b)
        layer.forward(A)
        return [layer.backward(G), layer.dW, layer.db]

    assert_matches_torch(lambda A, W, b: Linear.from_params(W, b).forward(A), ours, F.linear, [A, W, b],
                         name="Linear on (B, T, n_in)")


# Normalization.


def rows_with_spread(shape, bound=10.0):
    """Arrays whose values differ by orders of magnitude, with rows of equal entries now and then."""
    return arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, -2.5]) | st.floats(-bound, bound))


@given(data=st.data(), leading=array_shapes(min_dims=1, max_dims=2, max_side=4), D=st.integers(1, 6),
       eps=st.sampled_from([1e-5, 1e-3, 0.5]))
def test_layer_norm_matches_autograd(data, leading, D, eps):
    X = data.draw(rows_with_spread((*leading, D)))
    gamma, beta = data.draw(matrices((D,))), data.draw(matrices((D,)))

    def ours(X, gamma, beta, G):
        layer = LayerNorm.from_params(gamma, beta, eps)
        layer.forward(X)
        return [layer.backward(G), layer.dgamma, layer.dbeta]

    assert_matches_torch(lambda X, gamma, beta: LayerNorm.from_params(gamma, beta, eps).forward(X), ours,
                         lambda X, gamma, beta: F.layer_norm(X, (D,), gamma, beta, eps), [X, gamma, beta],
                         name="LayerNorm")


def test_layer_norm_of_one_feature_outputs_beta_and_passes_no_gradient():
    layer = LayerNorm.from_params([2.0], [0.5])
    np.testing.assert_array_equal(layer.forward([[3.0], [-7.0]]), [[0.5], [0.5]])
    np.testing.assert_array_equal(layer.backward([[1.0], [-2.0]]), [[0.0], [0.0]])
    np.testing.assert_array_equal(layer.dbeta, [-1.0])


def test_layer_norm_default_parameters_are_pytorchs():
    layer, reference = LayerNorm(5), torch.nn.LayerNorm(5)
    np.testing.assert_array_equal(layer.gamma, reference.weight.detach().numpy())
    np.testing.assert_array_equal(layer.beta, reference.bias.detach().numpy())
    assert layer.eps == reference.eps


def assert_sums_to_zero(grad, scale, axes):
    """Each group's sum is 0 up to rounding: a few ulps of the sum of its absolute values."""
    assert np.all(np.abs(grad.sum(axis=axes)) <= 1e-13 * np.maximum(scale.sum(axis=axes), 1e-300))


@given(data=st.data(), N=st.integers(1, 4), D=st.integers(2, 6))
def test_normalize_vjp_sums_to_zero_and_its_dot_product_with_x_hat_is_eps_over_var_plus_eps(data, N, D):
    X = data.draw(matrices((N, D), bound=10.0))
    gamma, G = data.draw(matrices((D,))), data.draw(matrices((N, D)))
    eps = data.draw(st.sampled_from([1e-5, 0.1, 2.0]))
    layer = LayerNorm.from_params(gamma, np.zeros(D), eps)
    layer.forward(X)
    dX = layer.backward(G)
    assert_sums_to_zero(dX, np.abs(G * gamma).sum(axis=1, keepdims=True) * layer.inv_std, axes=1)
    # Not orthogonal to x_hat unless eps = 0: sum_i dx_i x_hat_i = eps / (var + eps) * r * sum_j g_j x_hat_j
    var = X.var(axis=1)
    g_dot_x_hat = (G * gamma * layer.X_hat).sum(axis=1)
    expected = eps / (var + eps) * layer.inv_std[:, 0] * g_dot_x_hat
    np.testing.assert_allclose((dX * layer.X_hat).sum(axis=1), expected, rtol=1e-7,
                               atol=1e-12 * (np.abs(G * gamma).sum(axis=1) * layer.inv_std[:, 0]).max())


@given(data=st.data(), N=st.integers(1, 4), D=st.integers(2, 6))
def test_without_eps_the_input_gradient_is_orthogonal_to_x_hat(data, N, D):
    X = data.draw(matrices((N, D), bound=10.0).filter(lambda X: np.all(X.std(axis=1) > 1e-3)))
    G = data.draw(matrices((N, D)))
    layer = LayerNorm(D, eps=0.0)
    layer.forward(X)
    dX = layer.backward(G)
    scale = (np.abs(G).sum(axis=1) * layer.inv_std[:, 0])[:, None]
    assert np.all(np.abs((dX * layer.X_hat).sum(axis=1, keepdims=True)) <= 1e-12 * scale)
    assert_sums_to_zero(dX, scale, axes=1)


def test_normalize_vjp_is_the_compact_form_of_autograds():
    rng = np.random.default_rng(0)
    X, G = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 4))
    axes = (0, 2)
    X_t = torch.tensor(X, requires_grad=True)
    mean, var = X_t.mean(dim=axes, keepdim=True), X_t.var(dim=axes, unbiased=False, keepdim=True)
    ((X_t - mean) / torch.sqrt(var + 0.1)).backward(torch.from_numpy(G))
    inv_std = 1 / np.sqrt(X.var(axis=axes, keepdims=True) + 0.1)
    X_hat = (X - X.mean(axis=axes, keepdims=True)) * inv_std
    assert_close_to_autograd(normalize_vjp(X_hat, inv_std, G, axes), X_t.grad)


@st.composite
def batch_norm_problems(draw):
    """Three batches of (N, C) or (N, C, H, W), each with at least two values per channel, and gamma, beta,
    momentum."""
    C = draw(st.integers(1, 3))
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 3)), C, draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    else:
        shape = (draw(st.integers(2, 5)), C)
    batches = [draw(rows_with_spread(shape)) for _ in range(3)]
    return batches, draw(matrices((C,))), draw(matrices((C,))), draw(st.sampled_from([0.1, 0.5, 1.0]))


@given(problem=batch_norm_problems(), eps=st.sampled_from([1e-5, 0.5]))
def test_batch_norm_in_training_matches_autograd_and_its_running_statistics(problem, eps):
    """Two batches in a row: output, gradients and the running estimates after each."""
    batches, gamma, beta, momentum = problem
    C = len(gamma)
    running_mean, running_var = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    layer = BatchNorm.from_params(gamma, beta, eps, momentum)
    for step, X in enumerate(batches[:2]):
        G = np.random.default_rng(step).normal(size=X.shape)
        Y, dX = layer.forward(X), layer.backward(G)
        X_t, gamma_t, beta_t = (torch.tensor(a, requires_grad=True) for a in (X, gamma, beta))
        Y_t = F.batch_norm(X_t, running_mean, running_var, gamma_t, beta_t, training=True, momentum=momentum,
                           eps=eps)  # updates the running estimates in place
        Y_t.backward(torch.from_numpy(G))
        for name, ours, theirs in [("Y", Y, Y_t), ("dX", dX, X_t.grad), ("dgamma", layer.dgamma, gamma_t.grad),
                                   ("dbeta", layer.dbeta, beta_t.grad), ("running_mean", layer.running_mean,
                                   running_mean), ("running_var", layer.running_var, running_var)]:
            assert_close_to_autograd(ours, theirs, name=f"BatchNorm {name} at step {step}")


@given(problem=batch_norm_problems())
def test_batch_norm_in_evaluation_uses_the_running_statistics(problem):
    batches, gamma, beta, momentum = problem
    layer = BatchNorm.from_params(gamma, beta, momentum=momentum)
    for X in batches[:2]:
        layer.forward(X)
    layer.training = False
    running_mean, running_var = torch.from_numpy(layer.running_mean), torch.from_numpy(layer.running_var)
    before = running_mean.clone(), running_var.clone()

    def ours(X, gamma, beta, G):
        layer.gamma, layer.beta = gamma, beta
        layer.forward(X)
        return [layer.backward(G), layer.dgamma, layer.dbeta]

    assert_matches_torch(lambda X, gamma, beta: layer.forward(X), ours,
                         lambda X, gamma, beta: F.batch_norm(X, running_mean.clone(), running_var.clone(), gamma,
                                                             beta, training=False),
                         [batches[2], gamma, beta], name="BatchNorm in evaluation")
    assert_close_to_autograd(layer.running_mean, before[0], rtol=0, atol=0, name="running_mean is unchanged")
    assert_close_to_autograd(layer.running_var, before[1], rtol=0, atol=0, name="running_var is unchanged")


@given(problem=batch_norm_problems())
def test_batch_norm_input_gradient_sums_to_zero_over_each_channel(problem):
    batches, gamma, beta, _ = problem
    X = batches[0]
    G = np.random.default_rng(X.size).normal(size=X.shape)
    layer = BatchNorm.from_params(gamma, beta)
    layer.forward(X)
    dX = layer.backward(G)
    axes = (0, *range(2, X.ndim))
    scale = np.abs(G * layer._per_channel(gamma, X.ndim)) * layer.inv_std
    assert_sums_to_zero(dX, scale, axes)


def test_batch_norm_of_a_constant_feature_is_held_finite_by_eps():
    X = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 4.0]])  # feature 0 is constant: variance 0
    G = np.array([[1.0, 0.5], [-2.0, 0.0], [0.5, 1.0]])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, 0.0])
    layer = BatchNorm.from_params(gamma, beta, eps=1e-5)
    Y = layer.forward(X)
    dX = layer.backward(G)
    np.testing.assert_array_equal(Y[:, 0], [0.5, 0.5, 0.5])  # x_hat = 0: the output is beta
    # with x_hat = 0 the compact form leaves gamma (g - mean g) / sqrt(eps): eps sets the size
    np.testing.assert_allclose(dX[:, 0], 2.0 * (G[:, 0] - G[:, 0].mean()) / np.sqrt(1e-5), rtol=1e-12)
    X_t = torch.tensor(X, requires_grad=True)
    F.batch_norm(X_t, None, None, torch.from_numpy(gamma), torch.from_numpy(beta), training=True,
                 eps=1e-5).backward(torch.from_numpy(G))
    assert_close_to_autograd(dX, X_t.grad)
    np.testing.assert_array_equal(layer.running_var[0], 0.9)  # (1 - 0.1) * 1 + 0.1 * 0


def test_batch_norm_defaults_are_pytorchs():
    layer, reference = BatchNorm(3), torch.nn.BatchNorm1d(3)
    assert layer.training and reference.training
    for ours, theirs in [(layer.gamma, reference.weight), (layer.beta, reference.bias),
                         (layer.running_mean, reference.running_mean), (layer.running_var, reference.running_var)]:
        np.testing.assert_array_equal(ours, theirs.detach().numpy())
    assert (layer.eps, layer.momentum) == (reference.eps, reference.momentum)


# Convolution and pooling.


def conv2d_by_loops(X, W, b, stride, padding):
    """The definition, one output entry at a time: slow, and obviously a cross-correlation."""
    (sh, sw), (ph, pw) = stride, padding
    X_pad = np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C_out, (kh, kw) = len(X), len(W), W.shape[2:]
    H_out, W_out = (X_pad.shape[2] - kh) // sh + 1, (X_pad.shape[3] - kw) // sw + 1
    Z = np.zeros((N, C_out, H_out, W_out))
    for n, o, p, q in itertools.product(range(N), range(C_out), range(H_out), range(W_out)):
        window = X_pad[n, :, p * sh:p * sh + kh, q * sw:q * sw + kw]
        Z[n, o, p, q] = (window * W[o]).sum() + b[o]
    return Z


@st.composite
def conv_problems(draw):
    """A convolution whose kernel fits the padded input: sizes, strides and paddings of either parity."""
    N, C_in, C_out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    H, W = (draw(st.integers(max(1, k - 2 * p), 7)) for k, p in zip(kernel, padding, strict=True))
    X = draw(matrices((N, C_in, H, W)))
    return X, draw(matrices((C_out, C_in, *kernel))), draw(matrices((C_out,))), stride, padding


@given(problem=conv_problems())
def test_conv2d_matches_autograd_and_the_definition(problem):
    X, W, b, stride, padding = problem

    def ours(X, W, b, G):
        layer = Conv2d.from_params(W, b, stride, padding)
        layer.forward(X)
        return [layer.backward(G), layer.dW, layer.db]

    def forward(X, W, b):
        return Conv2d.from_params(W, b, stride, padding).forward(X)

    assert_matches_torch(forward, ours, lambda X, W, b: F.conv2d(X, W, b, stride, padding), [X, W, b],
                         name=f"Conv2d stride {stride} padding {padding}")
    np.testing.assert_allclose(forward(X, W, b), conv2d_by_loops(X, W, b, stride, padding), rtol=1e-12, atol=1e-12)


def test_conv2d_with_stride_2_and_padding_on_odd_sizes():
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(2, 3, 7, 9)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    layer = Conv2d.from_params(W, b, stride=2, padding=1)
    Z = layer.forward(X)
    assert Z.shape == (2, 4, 4, 5)  # (7 + 2 - 3) // 2 + 1, (9 + 2 - 3) // 2 + 1
    G = rng.normal(size=Z.shape)
    X_t, W_t, b_t = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    F.conv2d(X_t, W_t, b_t, stride=2, padding=1).backward(torch.from_numpy(G))
    for ours, theirs in zip([layer.backward(G), layer.dW, layer.db], [X_t.grad, W_t.grad, b_t.grad], strict=True):
        assert_close_to_autograd(ours, theirs)


def test_conv2d_passes_no_gradient_to_pixels_no_window_covers():
    """8 rows, kernel 3, stride 2, no padding: windows start at rows 0, 2, 4, so row 7 is never read."""
    rng = np.random.default_rng(1)
    layer = Conv2d.from_params(rng.normal(size=(2, 1, 3, 3)), np.zeros(2), stride=2)
    Z = layer.forward(rng.normal(size=(1, 1, 8, 8)))
    dX = layer.backward(rng.normal(size=Z.shape))
    assert Z.shape == (1, 2, 3, 3)
    assert np.all(dX[0, 0, 7, :] == 0) and np.all(dX[0, 0, :, 7] == 0)
    assert np.all(dX[0, 0, :7, :7] != 0)


@given(problem=conv_problems())
def test_col2im_is_the_adjoint_of_im2col(problem):
    """<im2col(X), C> = <X, col2im(C)> for all X and C: col2im is the transpose of the linear map im2col."""
    X, W, _, stride, padding = problem
    cols = im2col(X, W.shape[2:], stride, padding)
    C = np.random.default_rng(X.size).normal(size=cols.shape)
    lhs, rhs = (cols * C).sum(), (X * col2im(C, X.shape, stride, padding)).sum()
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12 * np.abs(cols * C).sum())


def test_conv2d_init_is_like_pytorchs():
    layer = Conv2d(3, 4, kernel_size=(2, 3), stride=(1, 2), padding=1)
    assert layer.W.shape == (4, 3, 2, 3) and layer.b.shape == (4,)
    bound = 1 / np.sqrt(3 * 2 * 3)
    assert np.abs(layer.W).max() <= bound and np.abs(layer.W).max() > 0.8 * bound
    assert (layer.stride, layer.padding) == ((1, 2), (1, 1))


@st.composite
def pool_problems(draw, values=None):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    H, W = (draw(st.integers(k, 7)) for k in kernel)
    elements = st.floats(-3, 3, allow_subnormal=False) if values is None else values
    X = draw(arrays(np.float64, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), elements=elements))
    return X, kernel, stride


@pytest.mark.parametrize("values", ["any", "ties"])
@given(data=st.data())
def test_max_pool_matches_autograd_also_on_ties(values, data):
    """With entries drawn from {0, 1}, most windows tie: the gradient must go where PyTorch sends it."""
    X, kernel, stride = data.draw(pool_problems(st.sampled_from([0.0, 1.0]) if values == "ties" else None))

    def ours(X, G):
        pool = MaxPool2d(kernel, stride)
        pool.forward(X)
        return [pool.backward(G)]

    assert_matches_torch(lambda X: MaxPool2d(kernel, stride).forward(X), ours,
                         lambda X: F.max_pool2d(X, kernel, stride), [X], name=f"MaxPool2d {kernel} {stride}")


def test_max_pool_ties_go_to_the_first_entry_in_row_major_order():
    X = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0]]]])
    pool = MaxPool2d(kernel_size=(2, 3))
    np.testing.assert_array_equal(pool.forward(X), [[[[2.0]]]])
    np.testing.assert_array_equal(pool.backward(np.array([[[[5.0]]]])), [[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]]]])


def test_overlapping_max_pool_windows_add_their_gradients():
    X = np.array([[[[0.0, 9.0, 0.0, 1.0]]]])  # windows of 3 with stride 1: 9 wins both
    pool = MaxPool2d(kernel_size=(1, 3), stride=1)
    np.testing.assert_array_equal(pool.forward(X), [[[[9.0, 9.0]]]])
    np.testing.assert_array_equal(pool.backward(np.array([[[[1.5, 2.0]]]])), [[[[0.0, 3.5, 0.0, 0.0]]]])


@given(data=st.data())
def test_avg_pool_matches_autograd(data):
    X, kernel, stride = data.draw(pool_problems())

    def ours(X, G):
        pool = AvgPool2d(kernel, stride)
        pool.forward(X)
        return [pool.backward(G)]

    assert_matches_torch(lambda X: AvgPool2d(kernel, stride).forward(X), ours,
                         lambda X: F.avg_pool2d(X, kernel, stride), [X], name=f"AvgPool2d {kernel} {stride}")


# Embeddings and dropout.


@given(data=st.data(), V=st.integers(1, 5), D=st.integers(1, 4),
       ids_shape=array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_embedding_matches_autograd_with_repeated_ids(data, V, D, ids_shape):
    W = data.draw(matrices((V, D)))
    ids = data.draw(arrays(np.int64, ids_shape, elements=st.integers(0, V - 1)))

    def ours(W, ids, G):
        layer = Embedding.from_params(W)
        layer.forward(ids)
        assert layer.backward(G) is None
        return [layer.dW]

    assert_matches_torch(lambda W, ids: Embedding.from_params(W).forward(ids), ours,
                         lambda W, ids: F.embedding(ids, W), [W, ids], name="Embedding")


def test_embedding_adds_the_gradients_of_a_repeated_id():
    layer = Embedding.from_params(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(layer.forward([[2, 0, 2]]), [[[4, 5], [0, 1], [4, 5]]])
    layer.backward(np.array([[[1.0, 1.0], [10.0, 10.0], [100.0, 100.0]]]))
    np.testing.assert_array_equal(layer.dW, [[10, 10], [0, 0], [101, 101]])


def test_embedding_rejects_ids_out_of_range_or_not_integers():
    layer = Embedding(4, 2)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\), got values in \[-1, 2\]"):
        layer.forward([[0, -1, 2]])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\), got values in \[0, 4\]"):
        layer.forward([4, 0])
    with pytest.raises(TypeError, match=r"ids must be integers in \[0, 4\), got dtype float64"):
        layer.forward([1.0, 2.0])


def test_embedding_init_is_standard_normal_like_pytorchs():
    W = Embedding(1000, 8).W
    assert W.shape == (1000, 8) and abs(W.mean()) < 0.05 and abs(W.std() - 1) < 0.05


@given(p=st.sampled_from([0.1, 0.5, 0.9]), seed=st.integers(0, 2**16))
def test_dropout_keeps_each_entry_with_probability_1_minus_p_and_rescales_like_pytorch(p, seed):
    X = np.random.default_rng(seed).uniform(0.5, 2.0, size=(200, 50))
    layer = Dropout(p, np.random.default_rng(seed))
    Y = layer.forward(X)
    kept = Y != 0
    torch.manual_seed(seed)
    torch_kept_value = F.dropout(torch.ones(100, dtype=torch.float64), p).max().item()
    np.testing.assert_allclose(Y[kept], X[kept] * torch_kept_value, rtol=1e-15)
    n = X.size  # the kept count is binomial(n, 1 - p): within 5 standard deviations
    assert abs(kept.sum() - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))
    G = np.random.default_rng(seed + 1).normal(size=X.shape)
    np.testing.assert_allclose(layer.backward(G), G * Y / X, rtol=1e-15)  # the same mask, read off the output


def test_dropout_with_p_0_and_in_evaluation_is_the_identity():
    X, G = np.random.default_rng(0).normal(size=(3, 4)), np.random.default_rng(1).normal(size=(3, 4))
    for layer in (Dropout(0.0), Dropout(0.7)):
        if layer.p:
            layer.training = False
        np.testing.assert_array_equal(layer.forward(X), X)
        np.testing.assert_array_equal(layer.backward(G), G)


def test_dropout_draws_a_new_mask_each_call_from_its_generator():
    layer = Dropout(0.5, np.random.default_rng(3))
    first, second = layer.forward(np.ones(64)), layer.forward(np.ones(64))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(Dropout(0.5, np.random.default_rng(3)).forward(np.ones(64)), first)


# Bad input to the new layers: each error names the expected shape.


@pytest.mark.parametrize("p", [-0.1, 1.0, float("nan")])
def test_dropout_rejects_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        Dropout(p)


def test_layers_need_forward_before_backward():
    layers = [LayerNorm(2), BatchNorm(2), Conv2d(1, 1, 2), MaxPool2d(2), AvgPool2d(2), Embedding(3, 2), Dropout(0.5)]
    for layer in layers:
        with pytest.raises(RuntimeError, match="call forward before backward"):
            layer.backward(np.zeros((1, 2)))


def test_normalization_layers_name_the_shapes_they_expect():
    with pytest.raises(ValueError, match=r"X must have shape \(\.\.\., 3\), got \(2, 4\)"):
        LayerNorm(3).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\), got \(2,\)"):
        LayerNorm.from_params(np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"gamma must have shape \(D,\), got shape \(3, 1\)"):
        LayerNorm.from_params(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 3\) or \(N, 3, H, W\), got \(2, 3, 4\)"):
        BatchNorm(3).forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 3\) or \(N, 3, H, W\), got \(2, 4\)"):
        BatchNorm(3).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm(3).forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\], got 1.5"):
        BatchNorm(3, momentum=1.5)
    layer = LayerNorm(3)
    layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(2, 3\), got \(3, 2\)"):
        layer.backward(np.zeros((3, 2)))


def test_convolution_and_pooling_name_the_shapes_they_expect():
    conv = Conv2d(3, 2, kernel_size=3)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 3, H, W\), got \(1, 2, 5, 5\)"):
        conv.forward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"the kernel \(3, 3\) does not fit in the input of shape \(1, 3, 2, 5\)"):
        conv.forward(np.zeros((1, 3, 2, 5)))
    conv.forward(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(1, 2, 3, 3\), got \(1, 2, 5, 5\)"):
        conv.backward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"W must have shape \(C_out, C_in, k_h, k_w\), got shape \(2, 3, 3\)"):
        Conv2d.from_params(np.zeros((2, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got \(3,\)"):
        Conv2d.from_params(np.zeros((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"stride must be an int or a pair of ints, each at least 1, got 0"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"padding must be an int or a pair of ints, each at least 0, got \(1, 2, 3\)"):
        Conv2d(1, 1, 3, padding=(1, 2, 3))
    with pytest.raises(ValueError, match=r"X must have shape \(N, C, H, W\), got shape \(4, 4\)"):
        MaxPool2d(2).forward(np.zeros((4, 4)))
    pool = AvgPool2d(2)
    pool.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(1, 1, 2, 2\), got \(1, 1, 4, 4\)"):
        pool.backward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"cols of shape \(1, 2, 2, 1, 2, 2\) do not come from an input of shape"):
        col2im(np.zeros((1, 2, 2, 1, 2, 2)), (1, 1, 5, 5))


def test_embedding_and_dropout_name_the_shapes_they_expect():
    layer = Embedding(4, 2)
    layer.forward([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(1, 3, 2\), got \(3, 2\)"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"W must have shape \(num_embeddings, D\), got shape \(4,\)"):
        Embedding.from_params(np.zeros(4))
    dropout = Dropout(0.5)
    dropout.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(2, 3\), got \(3, 2\)"):
        dropout.backward(np.zeros((3, 2)))
