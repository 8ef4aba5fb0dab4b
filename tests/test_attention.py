"""nnmath.attention: scaled dot-product and multi-head self-attention against PyTorch, causal masks included."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from nnmath.activations import gelu, gelu_prime
from nnmath.attention import (
    MultiHeadAttention,
    attention_scores,
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
)
from nnmath.gradcheck import assert_close_to_autograd, assert_matches_torch
from nnmath.layers import Embedding, LayerNorm, Linear


def matrices(shape, bound=3.0):
    return arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_subnormal=False))


@st.composite
def attention_problems(draw):
    """Q (..., T, d), K (..., S, d), V (..., S, d_v) with T <= S under a causal mask."""
    causal = draw(st.booleans())
    leading = draw(array_shapes(min_dims=0, max_dims=2, max_side=3))
    T = draw(st.integers(1, 5))
    S = draw(st.integers(T, 6)) if causal else draw(st.integers(1, 5))
    d, d_v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    Q, K, V = (draw(matrices((*leading, n, width))) for n, width in [(T, d), (S, d), (S, d_v)])
    return Q, K, V, causal


@given(problem=attention_problems())
def test_scaled_dot_product_attention_and_its_vjp_match_autograd(problem):
    Q, K, V, causal = problem
    assert_matches_torch(lambda Q, K, V: scaled_dot_product_attention(Q, K, V, causal).output,
                         lambda Q, K, V, G: list(scaled_dot_product_attention_vjp(Q, K, V, G, causal)),
                         lambda Q, K, V: F.scaled_dot_product_attention(Q, K, V, is_causal=causal), [Q, K, V],
                         name=f"attention, causal={causal}")


@given(problem=attention_problems())
def test_attention_weights_are_rows_of_probabilities_and_0_above_the_diagonal_under_the_mask(problem):
    Q, K, V, causal = problem
    P = scaled_dot_product_attention(Q, K, V, causal).weights
    T, S = P.shape[-2:]
    np.testing.assert_allclose(P.sum(axis=-1), 1.0, rtol=1e-14)
    assert np.all(P >= 0)
    later = np.triu(np.ones((T, S), dtype=bool), k=1)
    if causal:
        assert np.all(P[..., later] == 0.0)
    # the scores are Q K^T / sqrt(d), entry by entry
    i, j = T - 1, 0
    score = Q[..., i, :] @ K[..., j, :] if Q.ndim == 2 else (Q[..., i, :] * K[..., j, :]).sum(axis=-1)
    np.testing.assert_allclose(attention_scores(Q, K, causal)[..., i, j], score / np.sqrt(Q.shape[-1]),
                               rtol=1e-12, atol=1e-12)


def torch_mha(layer, X, causal):
    """PyTorch's nn.MultiheadAttention with our weights: (output, weights, the module)."""
    D = X.shape[-1]
    mha = torch.nn.MultiheadAttention(D, layer.n_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([layer.Wq, layer.Wk, layer.Wv])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([layer.bq, layer.bk, layer.bv])))
        mha.out_proj.weight.copy_(torch.from_numpy(layer.Wo))
        mha.out_proj.bias.copy_(torch.from_numpy(layer.bo))
    mask = torch.triu(torch.ones(X.shape[1], X.shape[1], dtype=torch.bool), diagonal=1) if causal else None
    output, weights = mha(X, X, X, attn_mask=mask, need_weights=True, average_attn_weights=False)
    return output, weights, mha


@st.composite
def mha_problems(draw):
    B, T, n_heads, d = (draw(st.integers(1, 3)) for _ in range(4))
    D = n_heads * d
    params = [draw(matrices((D, D) if name.startswith("W") else (D,), bound=1.0))
              for name in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")]
    return draw(matrices((B, T, D))), params, n_heads, draw(st.booleans())


@given(problem=mha_problems())
def test_multi_head_attention_matches_pytorchs_module(problem):
    X, params, n_heads, causal = problem
    layer = MultiHeadAttention.from_params(*params, n_heads=n_heads, causal=causal)
    Y = layer.forward(X)
    G = np.random.default_rng(X.size).normal(size=Y.shape)
    dX = layer.backward(G)
    X_t = torch.tensor(X, requires_grad=True)
    Y_t, weights_t, mha = torch_mha(layer, X_t, causal)
    Y_t.backward(torch.from_numpy(G))
    assert_close_to_autograd(Y, Y_t, name="output")
    assert_close_to_autograd(layer.weights, weights_t, name="attention weights")
    assert_close_to_autograd(dX, X_t.grad, name="dX")
    D = X.shape[-1]
    in_proj_weight, in_proj_bias = mha.in_proj_weight.grad.split(D), mha.in_proj_bias.grad.split(D)
    for name, ours, theirs in [
        ("dWq", layer.dWq, in_proj_weight[0]), ("dWk", layer.dWk, in_proj_weight[1]),
        ("dWv", layer.dWv, in_proj_weight[2]), ("dbq", layer.dbq, in_proj_bias[0]),
        ("dbk", layer.dbk, in_proj_bias[1]), ("dbv", layer.dbv, in_proj_bias[2]),
        ("dWo", layer.dWo, mha.out_proj.weight.grad), ("dbo", layer.dbo, mha.out_proj.bias.grad),
    ]:
        assert_close_to_autograd(ours, theirs, name=name)


@given(problem=mha_problems(), data=st.data())
def test_under_the_causal_mask_no_gradient_reaches_an_earlier_position_from_a_later_output(problem, data):
    """Only the outputs up to position t get a gradient: X after t gets exactly 0, and so do its projections."""
    X, params, n_heads, _ = problem
    T = X.shape[1]
    t = data.draw(st.integers(0, T - 1))
    layer = MultiHeadAttention.from_params(*params, n_heads=n_heads, causal=True)
    Y = layer.forward(X)
    G = np.random.default_rng(T).normal(size=Y.shape)
    G[:, t + 1:] = 0.0
    dX = layer.backward(G)
    assert np.all(dX[:, t + 1:] == 0.0)
    # and the outputs up to t do not change when the later inputs do
    X_changed = X.copy()
    X_changed[:, t + 1:] += 1.0
    np.testing.assert_array_equal(layer.forward(X_changed)[:, :t + 1], Y[:, :t + 1])


@given(problem=mha_problems())
def test_the_key_bias_gets_no_gradient(problem):
    """b_k adds q . b_k to every score of query q's row, and the softmax ignores a shift of its row."""
    X, params, n_heads, causal = problem
    layer = MultiHeadAttention.from_params(*params, n_heads=n_heads, causal=causal)
    layer.forward(X)
    G = np.random.default_rng(X.size).normal(size=X.shape)
    layer.backward(G)
    assert np.abs(layer.dbk).max() <= 1e-12 * max(np.abs(layer.dbq).max(), np.abs(layer.dbv).max(), 1.0)


def test_without_the_mask_later_outputs_do_send_gradient_back():
    rng = np.random.default_rng(0)
    layer = MultiHeadAttention(6, 2, causal=False, rng=rng)
    X = rng.normal(size=(2, 5, 6))
    G = rng.normal(size=X.shape)
    G[:, 2:] = 0.0
    layer.forward(X)
    dX = layer.backward(G)
    assert np.all(np.abs(dX[:, 2:]).sum(axis=-1) > 0)


def test_parameters_are_the_projections_arrays():
    rng = np.random.default_rng(1)
    layer = MultiHeadAttention(4, 2, rng=rng)
    X = rng.normal(size=(2, 3, 4))
    before = layer.forward(X)
    assert layer.Wq is layer.q_proj.W and layer.bo is layer.out_proj.b
    layer.Wv *= 2.0  # V doubles, so the attention output and its projection (before the bias) double
    layer.bv *= 2.0
    np.testing.assert_allclose(layer.forward(X) - layer.bo, 2 * (before - layer.bo), rtol=1e-12)
    layer.Wq, layer.bq = np.zeros((4, 4)), np.zeros(4)  # all queries 0: every position weighs all equally
    assert layer.q_proj.W is layer.Wq and layer.q_proj.b is layer.bq
    layer.forward(X)
    np.testing.assert_allclose(layer.weights, 1 / 3, rtol=1e-14)
    assert layer.dWq is None
    layer.backward(np.ones_like(X))
    assert layer.dWq is layer.q_proj.dW and layer.dWq.shape == (4, 4)


def test_multi_head_attention_keeps_its_weights_for_plots():
    layer = MultiHeadAttention(6, 3, causal=True)
    layer.forward(np.random.default_rng(2).normal(size=(2, 4, 6)))
    assert layer.weights.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(layer.weights.sum(axis=-1), 1.0)
    assert np.all(np.triu(layer.weights[0, 0], k=1) == 0)


def test_a_transformer_block_built_from_the_layers_matches_autograd():
    """Embedding, then x + attention(LayerNorm(x)), then x + W_2 GELU(W_1 LayerNorm(x)): every layer on (B, T, D)
    sequences, composed by hand as a GPT is, against the same block in PyTorch."""
    rng = np.random.default_rng(0)
    V, B, T, D, heads = 7, 2, 5, 8, 2
    ids = rng.integers(0, V, size=(B, T))
    embed = Embedding(V, D, rng)
    ln1, ln2 = (LayerNorm.from_params(rng.normal(size=D), rng.normal(size=D)) for _ in range(2))
    attention = MultiHeadAttention(D, heads, causal=True, rng=rng)
    up, down = Linear(D, 4 * D, rng), Linear(4 * D, D, rng)

    E = embed.forward(ids)
    H = E + attention.forward(ln1.forward(E))
    Z = up.forward(ln2.forward(H))
    Y = H + down.forward(gelu(Z))
    G = rng.normal(size=Y.shape)
    dH = G + ln2.backward(up.backward(gelu_prime(Z) * down.backward(G)))
    embed.backward(dH + ln1.backward(attention.backward(dH)))

    def leaf(array):
        return torch.tensor(array, requires_grad=True)

    W_embed, gamma1, beta1, gamma2, beta2, W_up, b_up, W_down, b_down = map(leaf, [
        embed.W, ln1.gamma, ln1.beta, ln2.gamma, ln2.beta, up.W, up.b, down.W, down.b])
    E_t = F.embedding(torch.from_numpy(ids), W_embed)
    attention_t = torch_mha(attention, F.layer_norm(E_t, (D,), gamma1, beta1), causal=True)
    H_t = E_t + attention_t[0]
    Y_t = H_t + F.linear(F.gelu(F.linear(F.layer_norm(H_t, (D,), gamma2, beta2), W_up, b_up)), W_down, b_down)
    Y_t.backward(torch.from_numpy(G))
    mha = attention_t[2]
    assert_close_to_autograd(Y, Y_t, name="block output")
    for name, ours, theirs in [
        ("embedding dW", embed.dW, W_embed.grad), ("LayerNorm 1 dgamma", ln1.dgamma, gamma1.grad),
        ("LayerNorm 1 dbeta", ln1.dbeta, beta1.grad), ("LayerNorm 2 dgamma", ln2.dgamma, gamma2.grad),
        ("LayerNorm 2 dbeta", ln2.dbeta, beta2.grad), ("up dW", up.dW, W_up.grad), ("up db", up.db, b_up.grad),
        ("down dW", down.dW, W_down.grad), ("down db", down.db, b_down.grad),
        ("attention dWq", attention.dWq, mha.in_proj_weight.grad[:D]),
        ("attention dbv", attention.dbv, mha.in_proj_bias.grad[2 * D:]),
        ("attention dWo", attention.dWo, mha.out_proj.weight.grad),
    ]:
        assert_close_to_autograd(ours, theirs, name=name)


# Bad input: each error names the expected shape.


def test_attention_names_the_shapes_it_expects():
    Q, K, V = np.zeros((2, 3, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5, 6))
    with pytest.raises(ValueError, match=r"\(\.\.\., T, d\), \(\.\.\., S, d\) and \(\.\.\., S, d_v\), "
                                         r"got \(2, 3, 4\), \(2, 5, 3\) and \(2, 5, 6\)"):
        scaled_dot_product_attention(Q, np.zeros((2, 5, 3)), V)
    with pytest.raises(ValueError, match=r"got \(2, 3, 4\), \(2, 5, 4\) and \(2, 4, 6\)"):
        scaled_dot_product_attention(Q, K, np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match=r"with the same leading axes, got \(2, 3, 4\), \(5, 4\)"):
        scaled_dot_product_attention(Q, np.zeros((5, 4)), V)
    with pytest.raises(ValueError, match=r"got \(2, 3, 4\), \(3, 5, 4\) and \(2, 5, 6\)"):
        scaled_dot_product_attention(Q, np.zeros((3, 5, 4)), V)
    with pytest.raises(ValueError, match=r"grad_out must have the shape of the output, \(2, 3, 6\), got \(2, 3, 4\)"):
        scaled_dot_product_attention_vjp(Q, K, V, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="a causal mask needs at least as many keys as queries, got 3 queries and 2"):
        scaled_dot_product_attention(Q, K[:, :2], V[:, :2], causal=True)


def test_multi_head_attention_names_the_shapes_it_expects():
    with pytest.raises(ValueError, match="D must be a positive multiple of n_heads, got D=6 and n_heads=4"):
        MultiHeadAttention(6, 4)
    D = 4
    params = [np.zeros((D, D)), np.zeros(D)] * 4
    with pytest.raises(ValueError, match=r"bk must have shape \(4,\), got \(3,\)"):
        MultiHeadAttention.from_params(*params[:3], np.zeros(3), *params[4:], n_heads=2)
    with pytest.raises(ValueError, match=r"Wo must have shape \(4, 4\), got \(4, 3\)"):
        MultiHeadAttention.from_params(*params[:6], np.zeros((4, 3)), params[7], n_heads=2)
    layer = MultiHeadAttention.from_params(*params, n_heads=2)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"X must have shape \(B, T, 4\), got \(2, 4\)"):
        layer.forward(np.zeros((2, 4)))
    layer.forward(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"G must have the shape of the output, \(1, 2, 4\), got \(2, 4\)"):
        layer.backward(np.zeros((2, 4)))
