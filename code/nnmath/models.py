r"""A small GPT assembled from the book's layers, with a hand-written backward
pass.

Shapes are batch first: B sequences of T token ids, ``ids`` of shape (B, T),
each id in [0, V); every position carries D features, so the residual stream
is H of shape (B, T, D). The model:

.. math:: H^{[0]} = E_{\mathrm{tok}}[\mathrm{ids}] + E_{\mathrm{pos}}[0..T-1]

.. math:: U = H^{[l-1]} + \operatorname{MHA}\big(\operatorname{LN}_1(H^{[l-1]})
          \big), \qquad
          H^{[l]} = U + \operatorname{GELU}\big(\operatorname{LN}_2(U)
          W_1^T + \mathbf{1} b_1^T\big) W_2^T + \mathbf{1} b_2^T

for the blocks l = 1..L (pre-norm, as GPT-2), then

.. math:: \mathrm{logits} = \operatorname{LN}_f(H^{[L]}) \, E_{\mathrm{tok}}^T

and the loss is the cross-entropy of each position's logits against the next
token, averaged over the positions that have a target.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from nnmath.activations import gelu, gelu_prime
from nnmath.attention import MultiHeadAttention
from nnmath.layers import Embedding, LayerNorm, Linear
from nnmath.losses import cross_entropy, cross_entropy_grad
from nnmath.optim import AdamW, warmup_cosine_lr

# GPT-2's activation: the tanh approximation of GELU
GELU_APPROXIMATE = "tanh"
# GPT-2's initial weights: normal with this standard deviation
INIT_STD = 0.02
NO_TARGET = -1
# the projections that write into the residual stream
RESIDUAL_PROJECTIONS = ("attention.Wo", "mlp_down.W")


@dataclass(frozen=True)
class GPTConfig:
    """The shapes of a :class:`GPT`.

    Attributes
    ----------
    vocab_size : int
        V, the number of token ids.
    context_length : int
        The most positions a sequence may have (the rows of the positional
        embedding).
    D : int
        Features per position, a multiple of ``n_heads``.
    n_heads : int
        h, the heads of each attention layer (d = D / h features each).
    n_layers : int
        L, the blocks.

    Book: :doc:`gpt`
    """

    vocab_size: int
    context_length: int
    D: int
    n_heads: int
    n_layers: int

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "D", "n_heads",
                     "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(
                    f"{name} must be a positive integer, got {value!r}"
                )
        if self.D % self.n_heads:
            raise ValueError(
                "D must be a multiple of n_heads, "
                f"got D={self.D} and n_heads={self.n_heads}"
            )


class Block:
    r"""One pre-norm transformer block: attention, then a two-layer MLP,
    each added to the residual stream.

    .. math:: U = X + \operatorname{MHA}(\operatorname{LN}_1(X)), \qquad
              Y = U + \operatorname{GELU}(\operatorname{LN}_2(U) W_1^T
              + \mathbf{1} b_1^T) W_2^T + \mathbf{1} b_2^T

    with :math:`W_1` of shape (4D, D) and :math:`W_2` of shape (D, 4D).

    Attributes
    ----------
    ln1, ln2 : LayerNorm
    attention : MultiHeadAttention
        Causal.
    mlp_up, mlp_down : Linear
        :math:`W_1, b_1` and :math:`W_2, b_2`.
    Z : ndarray or None
        :math:`\operatorname{LN}_2(U) W_1^T + \mathbf{1} b_1^T` of the last
        forward pass, shape (B, T, 4D): GELU's input, for its derivative.

    Book: :doc:`gpt`
    """

    def __init__(self, D, n_heads, rng):
        self.ln1, self.ln2 = LayerNorm(D), LayerNorm(D)
        self.attention = MultiHeadAttention(D, n_heads, causal=True, rng=rng)
        self.mlp_up = Linear(D, 4 * D, rng)
        self.mlp_down = Linear(4 * D, D, rng)
        self.Z = None

    def forward(self, X):
        r"""Compute the block on X of shape (B, T, D); returns (B, T, D).

        Book: :doc:`gpt`
        """
        U = X + self.attention.forward(self.ln1.forward(X))
        self.Z = self.mlp_up.forward(self.ln2.forward(U))
        return U + self.mlp_down.forward(gelu(self.Z, GELU_APPROXIMATE))

    def backward(self, G):
        r"""Backpropagate :math:`G = \partial \mathcal{L} / \partial Y`.

        Each residual connection passes the gradient through unchanged and
        adds the branch's:

        .. math:: \frac{\partial \mathcal{L}}{\partial Z}
                  = \operatorname{GELU}'(Z) \odot G W_2, \qquad
                  \frac{\partial \mathcal{L}}{\partial U} = G
                  + \operatorname{LN}_2'\Big(\frac{\partial \mathcal{L}}
                  {\partial Z} W_1\Big),

        .. math:: \frac{\partial \mathcal{L}}{\partial X}
                  = \frac{\partial \mathcal{L}}{\partial U}
                  + \operatorname{LN}_1'\Big(\operatorname{MHA}'
                  \Big(\frac{\partial \mathcal{L}}{\partial U}\Big)\Big)

        where each primed layer is that layer's ``backward`` (its
        vector-Jacobian product), which also stores its parameters'
        gradients.

        Parameters
        ----------
        G : ndarray, shape (B, T, D)

        Returns
        -------
        ndarray, shape (B, T, D)

        Book: :doc:`gpt`
        """
        dZ = gelu_prime(self.Z, GELU_APPROXIMATE) * self.mlp_down.backward(G)
        dU = G + self.ln2.backward(self.mlp_up.backward(dZ))
        return dU + self.ln1.backward(self.attention.backward(dU))


class GPT:
    r"""A GPT-2-shaped language model on token ids, trained by hand-written
    backpropagation.

    Token and positional embeddings, L pre-norm :class:`Block`\ s, a final
    layer norm, and a head that reuses the token embedding: the logit of
    token v is the dot product of the last features with row v of
    :math:`E_{\mathrm{tok}}`, as in GPT-2. Tying the two matrices makes
    "which token is this" and "which token comes next" share one set of
    vectors, saves V D parameters, and means that
    :math:`E_{\mathrm{tok}}`'s gradient is the sum of its two uses. There is
    no dropout.

    Initial weights follow GPT-2: every Linear weight and both embeddings
    normal with standard deviation 0.02, biases 0, layer norms
    :math:`\gamma = 1, \beta = 0`, and the two projections that write into
    the residual stream (the attention's :math:`W_o` and the MLP's
    :math:`W_2`) scaled down by :math:`1 / \sqrt{2L}`, so that the
    stream's variance does not grow with the 2L branches added to it.

    Parameters
    ----------
    config : GPTConfig
    seed : int
        Seeds the initial weights.

    Attributes
    ----------
    config : GPTConfig
    token_embedding, position_embedding : Embedding
        :math:`E_{\mathrm{tok}}` (V, D) and :math:`E_{\mathrm{pos}}`
        (context_length, D).
    blocks : list of Block
    ln_f : LayerNorm
    final : ndarray or None
        F, the final layer norm's output of the last forward pass, shape
        (B, T, D): the head's input.
    logits, targets : ndarray or None
        Those of the last :meth:`loss`, shapes (B, T, V) and (B, T).

    Book: :doc:`gpt`
    """

    def __init__(self, config, seed=0):
        if not isinstance(config, GPTConfig):
            raise TypeError(
                f"config must be a GPTConfig, got {type(config).__name__}"
            )
        self.config = config
        rng = np.random.default_rng(seed)
        D = config.D
        self.token_embedding = Embedding(config.vocab_size, D, rng)
        self.position_embedding = Embedding(config.context_length, D, rng)
        self.blocks = [Block(D, config.n_heads, rng)
                       for _ in range(config.n_layers)]
        self.ln_f = LayerNorm(D)
        residual_std = INIT_STD / np.sqrt(2 * config.n_layers)
        for name, layer, attribute in self._parameter_slots():
            value = getattr(layer, attribute)
            if name.endswith(RESIDUAL_PROJECTIONS):
                value[...] = rng.normal(0.0, residual_std, value.shape)
            elif attribute.startswith("W"):
                value[...] = rng.normal(0.0, INIT_STD, value.shape)
            elif attribute.startswith("b") and attribute != "beta":
                value[...] = 0.0
        self.final = self.logits = self.targets = self.scored = None

    def _parameter_slots(self):
        """(name, layer, attribute) of every parameter, in a fixed order:
        the gradient is attribute ``"d" + attribute`` of the same layer."""
        slots = [("token_embedding.W", self.token_embedding, "W"),
                 ("position_embedding.W", self.position_embedding, "W")]
        for l, block in enumerate(self.blocks):  # noqa: E741
            for part, attributes in [
                ("ln1", ("gamma", "beta")),
                ("attention", ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo",
                               "bo")),
                ("ln2", ("gamma", "beta")),
                ("mlp_up", ("W", "b")),
                ("mlp_down", ("W", "b")),
            ]:
                layer = getattr(block, part)
                slots += [(f"blocks.{l}.{part}.{attribute}", layer, attribute)
                          for attribute in attributes]
        slots += [("ln_f.gamma", self.ln_f, "gamma"),
                  ("ln_f.beta", self.ln_f, "beta")]
        return slots

    def parameters(self):
        """Every parameter by name, e.g. ``"blocks.0.attention.Wq"``: a dict
        of the arrays themselves (an optimizer updates them in place).

        Book: :doc:`gpt`
        """
        return {name: getattr(layer, attribute)
                for name, layer, attribute in self._parameter_slots()}

    def gradients(self):
        """Every parameter's gradient after :meth:`backward`, by the names
        of :meth:`parameters` and in the same order.

        Book: :doc:`gpt`
        """
        grads = {name: getattr(layer, "d" + attribute)
                 for name, layer, attribute in self._parameter_slots()}
        missing = [name for name, g in grads.items() if g is None]
        if missing:
            raise RuntimeError(
                f"no gradient yet for {missing[0]} (and {len(missing) - 1} "
                "more): call backward first"
            )
        return grads

    @classmethod
    def from_params(cls, config, params):
        """A model of shape ``config`` with the given parameters (a dict
        named as :meth:`parameters`, every name present); all are copied.

        Book: :doc:`gpt`
        """
        model = cls(config)
        expected = model.parameters()
        if set(params) != set(expected):
            missing = sorted(set(expected) - set(params))
            unknown = sorted(set(params) - set(expected))
            raise ValueError(
                f"params must have exactly the model's names: missing "
                f"{missing}, unknown {unknown}"
            )
        for name, value in expected.items():
            given = np.asarray(params[name], dtype=np.float64)
            if given.shape != value.shape:
                raise ValueError(
                    f"{name} must have shape {value.shape}, got {given.shape}"
                )
            value[...] = given
        return model

    def forward(self, ids):
        r"""The logits of the next token at every position.

        Parameters
        ----------
        ids : array_like of int, shape (B, T)
            T at most ``context_length``.

        Returns
        -------
        ndarray, shape (B, T, V)

        Book: :doc:`gpt`
        """
        ids = np.asarray(ids)
        T_max = self.config.context_length
        if ids.ndim != 2 or not 1 <= ids.shape[1] <= T_max:
            raise ValueError(
                f"ids must have shape (B, T) with 1 <= T <= {T_max}, "
                f"got {ids.shape}"
            )
        H = (self.token_embedding.forward(ids)
             + self.position_embedding.forward(np.arange(ids.shape[1])))
        for block in self.blocks:
            H = block.forward(H)
        self.final = self.ln_f.forward(H)
        return self.final @ self.token_embedding.W.T

    def loss(self, ids, targets):
        r"""Forward pass, then the mean cross-entropy of the next token.

        .. math:: \mathcal{L} = -\frac{1}{|S|} \sum_{(b, t) \in S}
                  \log \operatorname{softmax}(\mathrm{logits}_{b, t})
                  _{\mathrm{targets}_{b, t}}

        over the set S of positions whose target is not ``NO_TARGET``
        (-1; PyTorch's ``ignore_index=-1``): a task can score only the
        positions whose next token is predictable.

        Parameters
        ----------
        ids : array_like of int, shape (B, T)
        targets : array_like of int, shape (B, T)
            The next token at each position, or -1.

        Returns
        -------
        float

        Book: :doc:`gpt`
        """
        logits = self.forward(ids)
        targets = np.asarray(targets)
        if targets.shape != logits.shape[:2]:
            raise ValueError(
                f"targets must have the shape of ids, {logits.shape[:2]}, "
                f"got {targets.shape}"
            )
        if targets.dtype.kind not in "iu":
            raise TypeError(
                f"targets must be integers, got dtype {targets.dtype}"
            )
        scored = targets != NO_TARGET
        if not scored.any():
            raise ValueError("targets has no position to score: all are -1")
        self.logits, self.targets, self.scored = logits, targets, scored
        return cross_entropy(logits[scored], targets[scored])

    def backward(self):
        r"""Backpropagate the last :meth:`loss` through the whole model and
        store every parameter's gradient (see :meth:`gradients`).

        From the loss back to the embeddings. The head's error, with Y the
        one-hot targets,

        .. math:: \delta = \frac{\partial \mathcal{L}}{\partial
                  \mathrm{logits}} = \frac{1}{|S|} \big(\operatorname{softmax}
                  (\mathrm{logits}) - Y\big) \text{ on the rows in } S,
                  \ 0 \text{ on the others;}

        then, with :math:`\delta` and F flattened to one row per position,
        (B T, V) and (B T, D), the head :math:`\mathrm{logits} = F
        E_{\mathrm{tok}}^T` sends back

        .. math:: \frac{\partial \mathcal{L}}{\partial F}
                  = \delta E_{\mathrm{tok}}, \qquad
                  \frac{\partial \mathcal{L}}{\partial E_{\mathrm{tok}}}
                  \Big|_{\text{head}} = \delta^T F;

        each layer's ``backward`` follows in reverse order. The positional
        embedding, added to every sequence of the batch, gets the sum of
        their gradients; the token embedding gets its lookup's gradient plus
        its head's.

        Book: :doc:`gpt`
        """
        if self.targets is None:
            raise RuntimeError("call loss before backward")
        scored = self.scored
        delta = np.zeros_like(self.logits)
        delta[scored] = cross_entropy_grad(self.logits[scored],
                                           self.targets[scored])
        V, D = self.token_embedding.W.shape
        dE_head = delta.reshape(-1, V).T @ self.final.reshape(-1, D)
        G = self.ln_f.backward(delta @ self.token_embedding.W)
        for block in reversed(self.blocks):
            G = block.backward(G)
        self.position_embedding.backward(G.sum(axis=0))
        self.token_embedding.backward(G)
        self.token_embedding.dW += dE_head

    def generate(self, ids, n_new):
        """Extend each sequence by ``n_new`` tokens, each the most probable
        next one (greedy decoding).

        Parameters
        ----------
        ids : array_like of int, shape (B, T)
        n_new : int
            T + n_new must fit in ``context_length``.

        Returns
        -------
        ndarray of int, shape (B, n_new)
            The new tokens only.

        Book: :doc:`gpt`
        """
        ids = np.asarray(ids)
        for _ in range(n_new):
            next_ids = self.forward(ids)[:, -1].argmax(axis=-1)
            ids = np.concatenate([ids, next_ids[:, None]], axis=1)
        return ids[:, ids.shape[1] - n_new:]


# Training


@dataclass(frozen=True)
class TrainingRecipe:
    r"""How :func:`train` trains: AdamW with a warm-up and cosine schedule.

    Attributes
    ----------
    steps : int
        Updates, one batch each.
    batch_size : int
        B, sequences per batch.
    peak_lr : float
        :math:`\eta_{\max}`, reached after the warm-up; the rate then decays
        to 0 by the last step (:func:`~nnmath.optim.warmup_cosine_lr`).
    warmup_steps : int
    weight_decay : float
        AdamW's :math:`\lambda`, on every parameter (default 0.01).

    Book: :doc:`gpt`
    """

    steps: int
    batch_size: int
    peak_lr: float
    warmup_steps: int
    weight_decay: float = 0.01


def train(model, task, recipe, seed=0):
    """Train ``model`` on batches of ``task`` with AdamW and the warm-up +
    cosine schedule.

    Parameters
    ----------
    model : GPT
    task : object with ``training_batch(rng, batch_size)``
        Returning ids and targets of shape (B, T), as
        :class:`~nnmath.data.DigitReversal`.
    recipe : TrainingRecipe
    seed : int
        Seeds the batches.

    Returns
    -------
    ndarray, shape (steps,)
        The loss of each batch, before its update.

    Book: :doc:`gpt`
    """
    rng = np.random.default_rng(seed)
    optimizer = AdamW(recipe.peak_lr, weight_decay=recipe.weight_decay)
    params = list(model.parameters().values())
    losses = np.empty(recipe.steps)
    for step in range(recipe.steps):
        ids, targets = task.training_batch(rng, recipe.batch_size)
        losses[step] = model.loss(ids, targets)
        model.backward()
        optimizer.lr = warmup_cosine_lr(step, recipe.peak_lr,
                                        recipe.warmup_steps, recipe.steps)
        optimizer.step(params, list(model.gradients().values()))
    return losses


def sequence_accuracy(model, ids, targets):
    """The fraction of sequences whose every target is the model's most
    probable next token.

    One forward pass scores all positions at once (teacher forcing). A
    sequence counts as right exactly when greedy decoding
    (:meth:`GPT.generate`) would reproduce all its targets: if every
    prediction from the true prefix is right, each generated token is the
    true one and the next prefix is the true prefix again; and if decoding
    reproduces the targets, it ran on the true prefixes throughout.

    Parameters
    ----------
    model : GPT
    ids, targets : array_like of int, shape (B, T)
        Targets -1 where there is none.

    Returns
    -------
    float

    Book: :doc:`gpt`
    """
    targets = np.asarray(targets)
    predicted = model.forward(ids).argmax(axis=-1)
    right = (predicted == targets) | (targets == NO_TARGET)
    return float(right.all(axis=1).mean())


def mean_attention(model, ids, query_positions, key_positions):
    """How much weight each head puts, from each query position, on its
    key position, averaged over the sequences and the pairs.

    Parameters
    ----------
    model : GPT
    ids : array_like of int, shape (B, T)
    query_positions, key_positions : array_like of int, shape (m,)
        Pairs (t, s) with s <= t: query position t, key position s.

    Returns
    -------
    ndarray, shape (L, h)
        Entry (l, i): the mean over the batch and the m pairs of head i's
        weight :math:`P_{ts}` in block l + 1 (0 to 1).

    Book: :doc:`gpt`
    """
    query_positions = np.asarray(query_positions)
    key_positions = np.asarray(key_positions)
    if np.any(key_positions > query_positions):
        raise ValueError(
            "each key position must be at most its query position (the "
            "causal mask gives later ones weight 0)"
        )
    model.forward(ids)
    return np.array([
        block.attention.weights[:, :, query_positions, key_positions]
        .mean(axis=(0, 2))
        for block in model.blocks
    ])


# Checking the gradients


class GradientComparison(NamedTuple):
    """One row of :func:`gradient_table`.

    Book: :doc:`gpt`
    """

    name: str
    shape: tuple
    scale: float
    error: float
    relative_error: float


def gradient_table(ours, reference):
    r"""Compare two sets of gradients parameter by parameter.

    For each parameter, with o our gradient and r the reference's:

    .. math:: \text{scale} = \max_k |r_k|, \qquad
              \text{error} = \max_k |o_k - r_k|, \qquad
              \text{relative error} = \text{error} / \text{scale}

    The relative error is that of the largest entries, which dominate an
    update. A parameter whose exact gradient is 0 (the key bias of
    attention: the softmax ignores a shift of its row) has a scale of
    rounding noise, and a relative error of order 1 that says nothing:
    judge it by its scale instead.

    Parameters
    ----------
    ours, reference : dict of str to array_like
        The same names, e.g. :meth:`GPT.gradients` and autograd's.

    Returns
    -------
    list of GradientComparison
        In the order of ``ours``; relative error inf where the scale is 0
        and the error is not.

    Book: :doc:`gpt`
    """
    if set(ours) != set(reference):
        raise ValueError(
            "ours and reference must name the same parameters, got "
            f"{sorted(set(ours) ^ set(reference))} in only one of them"
        )
    rows = []
    for name, o in ours.items():
        o = np.asarray(o, dtype=np.float64)
        r = np.asarray(reference[name], dtype=np.float64)
        if o.shape != r.shape:
            raise ValueError(
                f"{name}: ours has shape {o.shape}, the reference {r.shape}"
            )
        scale = float(np.abs(r).max(initial=0.0))
        error = float(np.abs(o - r).max(initial=0.0))
        relative = error / scale if scale else (np.inf if error else 0.0)
        rows.append(GradientComparison(name, o.shape, scale, error,
                                       relative))
    return rows


# Cost


class Flops(NamedTuple):
    """Floating-point operations of one part of a training step.

    Book: :doc:`gpt`
    """

    forward: int
    backward: int


def step_flops(config, B, T):
    r"""The FLOPs of the matrix products of one training step on B
    sequences of T tokens, by part, counting a product of (m, k) by (k, n)
    as 2 m n k.

    With N = B T positions, per block:

    - ``"attention projections"``: four (N, D) by (D, D), 8 N D^2;
    - ``"attention scores and mix"``: :math:`Q K^T` and :math:`P V` in each
      head, 2 B h T^2 d = 2 N T D each, 4 N T D (the full T x T product:
      the causal mask only zeroes half of it afterwards);
    - ``"MLP"``: (N, D) by (D, 4D) and back, 16 N D^2;

    and once, ``"head"``: (N, D) by (D, V), 2 N D V. The embeddings'
    lookups multiply nothing. Backward, every product A W becomes two, the
    gradients of A and of W, each as costly: twice the forward FLOPs. (The
    attention's backward here recomputes :math:`Q K^T`, 2 N T D more per
    block, which is not counted: PyTorch keeps P instead.)

    So the step costs :math:`6 N (12 L D^2 + V D) + 12 L N T D`: six times
    the positions times the parameters that multiply, plus attention's
    term, which grows with T.

    Parameters
    ----------
    config : GPTConfig
    B, T : int

    Returns
    -------
    dict of str to Flops

    Book: :doc:`gpt`
    """
    if not 1 <= T <= config.context_length or B < 1:
        raise ValueError(
            f"need B >= 1 and 1 <= T <= {config.context_length}, "
            f"got B={B} and T={T}"
        )
    N, D, L = B * T, config.D, config.n_layers
    forward = {
        "attention projections": L * 8 * N * D * D,
        "attention scores and mix": L * 4 * N * T * D,
        "MLP": L * 16 * N * D * D,
        "head": 2 * N * D * config.vocab_size,
    }
    return {part: Flops(f, 2 * f) for part, f in forward.items()}


def cached_arrays(model):
    """Every float array the model's layers hold for the backward pass, by
    path (e.g. ``"blocks.0.ln1.X_hat"``): everything but parameters and
    gradients.

    Views of one buffer (Q, K, V split into heads; one input kept by
    three projections) are listed under each path, once per path.

    Book: :doc:`gpt`
    """
    skip = {id(getattr(layer, name)) for _, layer, attribute
            in model._parameter_slots()
            for name in (attribute, "d" + attribute)}
    found = {}

    def visit(obj, path):
        for name, value in vars(obj).items():
            if id(value) in skip:
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                found[path + name] = value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    visit(item, f"{path}{name}.{i}.")
            elif type(value).__module__.startswith("nnmath."):
                if not isinstance(value, GPTConfig):
                    visit(value, f"{path}{name}.")

    visit(model, "")
    return found


def cached_floats(model):
    """The float entries the model holds for backward, each buffer counted
    once (:func:`cached_arrays`, less the repeats of shared buffers).

    Book: :doc:`gpt`
    """
    by_buffer = {}
    for array in cached_arrays(model).values():
        root = array
        while isinstance(root.base, np.ndarray):
            root = root.base
        by_buffer[id(root)] = max(by_buffer.get(id(root), 0), array.size)
    return sum(by_buffer.values())


def activation_floats(config, B, T):
    r"""The float entries a forward pass and :meth:`GPT.loss` keep for the
    backward pass, from the shapes.

    With N = B T positions, each block keeps 16 N D + 2 N + B h T^2:
    its two layer norms' :math:`\hat X` (N D each) and :math:`1/\sigma`
    (N each) and outputs (N D each, the inputs of the attention's and the
    MLP's first products), Q, K, V (3 N D), the attention weights P
    (B h T^2), the heads' output (N D), GELU's input Z and output (4 N D
    each). Then the final layer norm's :math:`\hat X`, :math:`1/\sigma` and
    output, N (2D + 1), and the logits, N V. Everything grows like T except
    P, like :math:`T^2`.

    Book: :doc:`gpt`
    """
    N, D = B * T, config.D
    block = 16 * N * D + 2 * N + B * config.n_heads * T * T
    return config.n_layers * block + N * (2 * D + 1) + N * config.vocab_size
