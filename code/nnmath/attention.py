r"""Attention by hand: scaled dot-product attention and multi-head
self-attention, with their backward passes.

Shapes are batch first, as PyTorch's ``batch_first=True``: a batch of B
sequences of T positions with D features each is X of shape (B, T, D). With
h heads of :math:`d = D / h` features each, the queries, keys and values are
Q, K, V of shape (B, h, T, d), and the attention weights P of shape
(B, h, T, T): row t holds the weights that position t gives to every
position, and sums to 1.
"""

from typing import NamedTuple

import numpy as np

from nnmath._checks import as_float_array
from nnmath.activations import softmax, softmax_vjp
from nnmath.layers import Linear


def _check_qkv(Q, K, V):
    """Return Q, K, V as float arrays after checking that their shapes fit:
    (..., T, d), (..., S, d), (..., S, d_v), the same leading axes."""
    Q, K, V = (as_float_array(x, name) for x, name in zip((Q, K, V), "QKV",
                                                          strict=True))
    if Q.ndim < 2 or K.ndim != Q.ndim or V.ndim != Q.ndim:
        raise ValueError(
            "Q, K and V must have shapes (..., T, d), (..., S, d) and "
            f"(..., S, d_v) with the same leading axes, got {Q.shape}, "
            f"{K.shape} and {V.shape}"
        )
    if (K.shape[-1] != Q.shape[-1] or K.shape[-2] != V.shape[-2]
            or K.shape[:-2] != Q.shape[:-2] or V.shape[:-2] != Q.shape[:-2]):
        raise ValueError(
            "Q, K and V must have shapes (..., T, d), (..., S, d) and "
            f"(..., S, d_v), got {Q.shape}, {K.shape} and {V.shape}"
        )
    return Q, K, V


def attention_scores(Q, K, causal=False):
    r"""The scores of every query against every key, scaled, and masked if
    causal.

    .. math:: S = \frac{Q K^T}{\sqrt d} + M, \qquad
              M_{ts} = \begin{cases} -\infty & s > t
              \text{ (causal only)} \\ 0 & \text{otherwise} \end{cases}

    Dividing by :math:`\sqrt d` keeps the scores of order 1 when the entries
    of Q and K are: a sum of d products of unit variance has variance d. A
    score of :math:`-\infty` becomes a weight of exactly 0 in the softmax, so
    under the causal mask no position sees a later one.

    Parameters
    ----------
    Q : ndarray, shape (..., T, d)
    K : ndarray, shape (..., S, d)
    causal : bool
        Mask the keys after each query's position (PyTorch's
        ``is_causal=True``: the mask is aligned at the top left).

    Returns
    -------
    ndarray, shape (..., T, S)

    Book: :doc:`attention`
    """
    S = Q @ K.swapaxes(-1, -2) / np.sqrt(Q.shape[-1])
    if causal:
        T, S_len = S.shape[-2:]
        if T > S_len:
            raise ValueError(
                f"a causal mask needs at least as many keys as queries, "
                f"got {T} queries and {S_len} keys"
            )
        later = np.triu(np.ones((T, S_len), dtype=bool), k=1)
        S = np.where(later, -np.inf, S)
    return S


class Attention(NamedTuple):
    """The result of :func:`scaled_dot_product_attention`.

    Book: :doc:`attention`
    """

    output: np.ndarray
    weights: np.ndarray


def scaled_dot_product_attention(Q, K, V, causal=False):
    r"""Each query's weighted average of the values, weighted by the softmax
    of its scores.

    .. math:: P = \operatorname{softmax}_{\text{rows}}\Big(\frac{Q K^T}
              {\sqrt d} + M\Big), \qquad O = P V

    with the mask M of :func:`attention_scores`. PyTorch's
    ``F.scaled_dot_product_attention`` (without dropout) returns O.

    Parameters
    ----------
    Q : array_like, shape (..., T, d)
    K : array_like, shape (..., S, d)
    V : array_like, shape (..., S, d_v)
    causal : bool

    Returns
    -------
    Attention
        ``output`` O of shape (..., T, d_v) and ``weights`` P of shape
        (..., T, S).

    Book: :doc:`attention`
    """
    Q, K, V = _check_qkv(Q, K, V)
    P = softmax(attention_scores(Q, K, causal))
    return Attention(P @ V, P)


class AttentionGradients(NamedTuple):
    """The gradients of :func:`scaled_dot_product_attention_vjp`.

    Book: :doc:`attention`
    """

    dQ: np.ndarray
    dK: np.ndarray
    dV: np.ndarray


def scaled_dot_product_attention_vjp(Q, K, V, grad_out, causal=False):
    r"""Vector-Jacobian product of :func:`scaled_dot_product_attention`.

    With :math:`G = \partial \mathcal{L} / \partial O`, back through
    :math:`O = P V`, the row-wise softmax (:func:`~nnmath.activations.\
softmax_vjp`) and :math:`S = Q K^T / \sqrt d`:

    .. math:: \frac{\partial \mathcal{L}}{\partial V} = P^T G, \qquad
              \frac{\partial \mathcal{L}}{\partial P} = G V^T, \qquad
              \frac{\partial \mathcal{L}}{\partial S}
              = P \odot \Big(\frac{\partial \mathcal{L}}{\partial P}
              - \operatorname{rowsum}\Big(\frac{\partial \mathcal{L}}
              {\partial P} \odot P\Big)\Big),

    .. math:: \frac{\partial \mathcal{L}}{\partial Q}
              = \frac{1}{\sqrt d} \frac{\partial \mathcal{L}}{\partial S} K,
              \qquad \frac{\partial \mathcal{L}}{\partial K}
              = \frac{1}{\sqrt d} \Big(\frac{\partial \mathcal{L}}
              {\partial S}\Big)^T Q

    Masked scores get weight 0, hence gradient 0: under the causal mask
    nothing flows from a position to an earlier one. The scores and weights
    are computed again from Q and K.

    Parameters
    ----------
    Q, K, V : array_like
        As for :func:`scaled_dot_product_attention`.
    grad_out : array_like, shape (..., T, d_v)
        G.
    causal : bool

    Returns
    -------
    AttentionGradients
        ``dQ``, ``dK``, ``dV``, with the shapes of Q, K, V.

    Book: :doc:`attention`
    """
    Q, K, V = _check_qkv(Q, K, V)
    G = as_float_array(grad_out, "grad_out")
    if G.shape != (*Q.shape[:-1], V.shape[-1]):
        raise ValueError(
            "grad_out must have the shape of the output, "
            f"{(*Q.shape[:-1], V.shape[-1])}, got {G.shape}"
        )
    S = attention_scores(Q, K, causal)
    P = softmax(S)
    dV = P.swapaxes(-1, -2) @ G
    dP = G @ V.swapaxes(-1, -2)
    dS = softmax_vjp(S, dP)
    scale = 1.0 / np.sqrt(Q.shape[-1])
    dQ = dS @ K * scale
    dK = dS.swapaxes(-1, -2) @ Q * scale
    return AttentionGradients(dQ, dK, dV)


def _projection_attribute(projection, name):
    """Another name for attribute ``name`` of the layer's Linear
    ``projection``: ``layer.Wq`` is ``layer.q_proj.W``, also to assign."""
    return property(
        lambda self: getattr(getattr(self, projection), name),
        lambda self, value: setattr(getattr(self, projection), name, value),
        doc=f"``{projection}.{name}``",
    )


class MultiHeadAttention:
    r"""Multi-head self-attention (PyTorch's ``nn.MultiheadAttention`` with
    ``batch_first=True``, query = key = value = X).

    Four :class:`~nnmath.layers.Linear` projections of shape (D, D) surround
    h attentions side by side:

    .. math:: Q = X W_q^T + \mathbf{1} b_q^T, \quad
              K = X W_k^T + \mathbf{1} b_k^T, \quad
              V = X W_v^T + \mathbf{1} b_v^T

    each split into h heads of d = D / h features (columns :math:`d (i - 1)`
    to :math:`d i - 1` are head i),

    .. math:: O_i = \operatorname{softmax}\Big(\frac{Q_i K_i^T}{\sqrt d}
              + M\Big) V_i, \qquad
              Y = [O_1, \dots, O_h] \, W_o^T + \mathbf{1} b_o^T

    Parameters
    ----------
    D : int
        Features per position, a multiple of ``n_heads``.
    n_heads : int
        h.
    causal : bool
        Each position attends only to itself and earlier ones (a decoder,
        as in GPT).
    rng : numpy.random.Generator, optional
        Initial weights, as :class:`~nnmath.layers.Linear`'s (default
        ``np.random.default_rng(0)``).

    Attributes
    ----------
    q_proj, k_proj, v_proj, out_proj : Linear
        The four projections.
    Wq, bq, Wk, bk, Wv, bv, Wo, bo : ndarray
        Their weights (D, D) and biases (D,): other names for ``q_proj.W``,
        ``q_proj.b`` and so on.
    dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo : ndarray or None
        Their gradients, set by :meth:`backward`.
    weights : ndarray or None
        The attention weights P of the last forward pass, shape
        (B, h, T, T).

    Book: :doc:`attention`
    """

    Wq, bq, dWq, dbq = (_projection_attribute("q_proj", name)
                        for name in ("W", "b", "dW", "db"))
    Wk, bk, dWk, dbk = (_projection_attribute("k_proj", name)
                        for name in ("W", "b", "dW", "db"))
    Wv, bv, dWv, dbv = (_projection_attribute("v_proj", name)
                        for name in ("W", "b", "dW", "db"))
    Wo, bo, dWo, dbo = (_projection_attribute("out_proj", name)
                        for name in ("W", "b", "dW", "db"))

    def __init__(self, D, n_heads, causal=False, rng=None):
        if n_heads < 1 or D < 1 or D % n_heads:
            raise ValueError(
                "D must be a positive multiple of n_heads, "
                f"got D={D} and n_heads={n_heads}"
            )
        rng = np.random.default_rng(0) if rng is None else rng
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            Linear(D, D, rng) for _ in range(4)
        )
        self.n_heads, self.causal = n_heads, causal
        self.weights = self.heads = None

    @classmethod
    def from_params(cls, Wq, bq, Wk, bk, Wv, bv, Wo, bo, n_heads,
                    causal=False):
        r"""A layer with the given weights, each of shape (D, D) as
        ``nn.Linear``'s, and biases (D,); all are copied.

        PyTorch's ``nn.MultiheadAttention`` keeps :math:`W_q, W_k, W_v`
        stacked in ``in_proj_weight`` (3D, D) and their biases in
        ``in_proj_bias``; :math:`W_o, b_o` are ``out_proj``'s.

        Book: :doc:`attention`
        """
        params = {"Wq": Wq, "bq": bq, "Wk": Wk, "bk": bk, "Wv": Wv, "bv": bv,
                  "Wo": Wo, "bo": bo}
        params = {name: as_float_array(value, name)
                  for name, value in params.items()}
        D = len(params["Wq"])
        for name, value in params.items():
            expected = (D, D) if name.startswith("W") else (D,)
            if value.shape != expected:
                raise ValueError(
                    f"{name} must have shape {expected}, got {value.shape}"
                )
        layer = cls(D, n_heads, causal)
        layer.q_proj = Linear.from_params(params["Wq"], params["bq"])
        layer.k_proj = Linear.from_params(params["Wk"], params["bk"])
        layer.v_proj = Linear.from_params(params["Wv"], params["bv"])
        layer.out_proj = Linear.from_params(params["Wo"], params["bo"])
        return layer

    def _split_heads(self, Z):
        """(B, T, D) -> (B, h, T, d): head i is columns d i ... d (i + 1) - 1
        of the features."""
        B, T, D = Z.shape
        return Z.reshape(B, T, self.n_heads, -1).transpose(0, 2, 1, 3)

    def _merge_heads(self, heads):
        """(B, h, T, d) -> (B, T, D), the heads side by side: the inverse of
        :meth:`_split_heads`."""
        B, h, T, d = heads.shape
        return heads.transpose(0, 2, 1, 3).reshape(B, T, h * d)

    def forward(self, X):
        r"""Project, attend in each head, concatenate the heads, project.

        Parameters
        ----------
        X : array_like, shape (B, T, D)

        Returns
        -------
        ndarray, shape (B, T, D)

        Book: :doc:`attention`
        """
        X = as_float_array(X, "X")
        D = len(self.bq)
        if X.ndim != 3 or X.shape[-1] != D:
            raise ValueError(f"X must have shape (B, T, {D}), got {X.shape}")
        self.Q, self.K, self.V = (
            self._split_heads(projection.forward(X))
            for projection in (self.q_proj, self.k_proj, self.v_proj)
        )
        O_heads, self.weights = scaled_dot_product_attention(
            self.Q, self.K, self.V, self.causal
        )
        return self.out_proj.forward(self._merge_heads(O_heads))

    def backward(self, G):
        r"""Backpropagate :math:`G = \partial \mathcal{L} / \partial Y`:
        through the output projection, each head's attention
        (:func:`scaled_dot_product_attention_vjp`), and the three input
        projections, whose gradients with respect to X add up (X feeds all
        three).

        Parameters
        ----------
        G : array_like, shape (B, T, D)

        Returns
        -------
        ndarray, shape (B, T, D)
            :math:`\partial \mathcal{L} / \partial X`; the eight parameter
            gradients are stored on the layer.

        Book: :doc:`attention`
        """
        if self.weights is None:
            raise RuntimeError("call forward before backward")
        G = as_float_array(G, "G")
        if G.shape != self.out_proj.A.shape:
            raise ValueError(
                "G must have the shape of the output, "
                f"{self.out_proj.A.shape}, got {G.shape}"
            )
        dO = self._split_heads(self.out_proj.backward(G))
        dQ, dK, dV = scaled_dot_product_attention_vjp(
            self.Q, self.K, self.V, dO, self.causal
        )
        return (self.q_proj.backward(self._merge_heads(dQ))
                + self.k_proj.backward(self._merge_heads(dK))
                + self.v_proj.backward(self._merge_heads(dV)))
