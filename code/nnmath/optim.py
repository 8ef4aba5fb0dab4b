r"""Optimizers and a learning-rate schedule, computed as ``torch.optim`` does.

An optimizer's ``step(params, grads)`` updates a list of float arrays in place
(the layers' ``W``, ``b``, ...), given their gradients in the same order
(``dW``, ``db``, ...). Its state (momentum, moment estimates) is kept per
position in that list, so every step must pass the same parameters in the
same order. The learning rate :math:`\eta` is the attribute ``lr``: a
schedule sets it before each step.
"""

import math

import numpy as np


def _check_hyperparameter(value, name, low, high=math.inf, high_open=False):
    """Raise ValueError unless ``low <= value <= high`` (``< high`` if
    ``high_open``)."""
    inside = low <= value < high if high_open else low <= value <= high
    if not inside:
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"{name} must lie in {interval}, got {value}")


class _Optimizer:
    """What every optimizer shares: checking the parameters and their
    gradients, and state arrays shaped like the parameters."""

    def __init__(self, lr, weight_decay):
        _check_hyperparameter(lr, "lr", 0.0)
        _check_hyperparameter(weight_decay, "weight_decay", 0.0)
        self.lr, self.weight_decay = lr, weight_decay
        self.shapes = None

    def _check(self, params, grads):
        """Return the gradients as float arrays, after checking them against
        the parameters, and the parameters against the first step's."""
        if len(params) != len(grads):
            raise ValueError(
                f"expected one gradient per parameter, got {len(params)} "
                f"parameters and {len(grads)} gradients"
            )
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(
                    f"params[{i}] must be a float ndarray (it is updated in "
                    f"place), got {type(p).__name__}"
                    f"{f' of dtype {p.dtype}' if hasattr(p, 'dtype') else ''}"
                )
        grads = [np.asarray(g, dtype=np.float64) for g in grads]
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{i}] must have the shape of params[{i}], "
                    f"{p.shape}, got {g.shape}"
                )
        shapes = [p.shape for p in params]
        if self.shapes is None:
            self.shapes = shapes
        elif shapes != self.shapes:
            raise ValueError(
                "step must get the same parameters in the same order as at "
                f"the first step, of shapes {self.shapes}, got {shapes}"
            )
        return grads

    def _zeros(self):
        """One array of zeros per parameter, shaped like it."""
        return [np.zeros(shape) for shape in self.shapes]


class SGD(_Optimizer):
    r"""Stochastic gradient descent, with momentum and L2 weight decay, as
    ``torch.optim.SGD`` (dampening 0, not Nesterov).

    .. math:: g := g + \lambda \theta, \qquad
              v := \mu v + g, \qquad \theta := \theta - \eta v

    with :math:`v = 0` before the first step (so :math:`v = g` after it) and
    :math:`\theta := \theta - \eta g` when :math:`\mu = 0`. PyTorch's
    momentum adds the whole gradient, not :math:`(1 - \mu) g`: the step size
    in a steady slope tends to :math:`\eta g / (1 - \mu)`.

    Parameters
    ----------
    lr : float
        :math:`\eta`.
    momentum : float
        :math:`\mu` (default 0).
    weight_decay : float
        :math:`\lambda` (default 0).

    Book: :doc:`optimizers`
    """

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        _check_hyperparameter(momentum, "momentum", 0.0)
        self.momentum = momentum
        self.velocity = None

    def step(self, params, grads):
        """Update each parameter in place.

        Parameters
        ----------
        params : list of ndarray
        grads : list of array_like, shapes of ``params``

        Book: :doc:`optimizers`
        """
        grads = self._check(params, grads)
        if self.velocity is None:
            self.velocity = self._zeros()
        for theta, g, v in zip(params, grads, self.velocity, strict=True):
            g = g + self.weight_decay * theta
            if self.momentum:
                v *= self.momentum
                v += g
                g = v
            theta -= self.lr * g


class Adam(_Optimizer):
    r"""Adam, as ``torch.optim.Adam``: step t (from 1) of each parameter,

    .. math:: g := g + \lambda \theta, \qquad
              m := \beta_1 m + (1 - \beta_1) g, \qquad
              v := \beta_2 v + (1 - \beta_2) g \odot g,

    .. math:: \hat m = \frac{m}{1 - \beta_1^t}, \qquad
              \hat v = \frac{v}{1 - \beta_2^t}, \qquad
              \theta := \theta - \eta \frac{\hat m}{\sqrt{\hat v} + \epsilon}

    with m = v = 0 before the first step. The bias corrections undo the
    pull of that start towards 0: at t = 1, :math:`\hat m = g` and
    :math:`\hat v = g \odot g`, so every coordinate moves by
    :math:`\eta |g| / (|g| + \epsilon)`, almost exactly :math:`\eta`.
    The weight decay :math:`\lambda` is an L2 penalty added to the gradient,
    so it too is divided by :math:`\sqrt{\hat v}`; :class:`AdamW` decouples
    it.

    Parameters
    ----------
    lr : float
        :math:`\eta` (default 1e-3).
    betas : pair of float
        :math:`(\beta_1, \beta_2)`, each in [0, 1) (default (0.9, 0.999)).
    eps : float
        :math:`\epsilon` (default 1e-8).
    weight_decay : float
        :math:`\lambda` (default 0).

    Attributes
    ----------
    t : int
        Steps taken.
    m, v : list of ndarray or None
        The moment estimates, one per parameter.

    Book: :doc:`optimizers`
    """

    decoupled_weight_decay = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2 = betas
        _check_hyperparameter(self.beta1, "betas[0]", 0.0, 1.0, True)
        _check_hyperparameter(self.beta2, "betas[1]", 0.0, 1.0, True)
        _check_hyperparameter(eps, "eps", 0.0)
        self.eps, self.t = eps, 0
        self.m = self.v = None

    def step(self, params, grads):
        """Update each parameter in place.

        Parameters
        ----------
        params : list of ndarray
        grads : list of array_like, shapes of ``params``

        Book: :doc:`optimizers`
        """
        grads = self._check(params, grads)
        if self.m is None:
            self.m, self.v = self._zeros(), self._zeros()
        self.t += 1
        beta1, beta2 = self.beta1, self.beta2
        for theta, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            if self.decoupled_weight_decay:
                theta *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * theta
            m[...] = beta1 * m + (1.0 - beta1) * g
            v[...] = beta2 * v + (1.0 - beta2) * g * g
            m_hat = m / (1.0 - beta1**self.t)
            v_hat = v / (1.0 - beta2**self.t)
            theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW``
    (Loshchilov and Hutter, 2019).

    The weights shrink by a factor :math:`1 - \eta \lambda` at each step,
    before Adam's update with the bare gradient:

    .. math:: \theta := (1 - \eta \lambda) \, \theta, \qquad
              \theta := \theta - \eta \frac{\hat m}{\sqrt{\hat v} + \epsilon}

    so the decay is the same for every coordinate, whatever the size of its
    gradients, where :class:`Adam`'s L2 term is divided by
    :math:`\sqrt{\hat v}` like the rest of the gradient.

    Parameters
    ----------
    lr, betas, eps : as :class:`Adam`
    weight_decay : float
        :math:`\lambda` (default 1e-2, PyTorch's).

    Book: :doc:`optimizers`
    """

    decoupled_weight_decay = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)


class RMSprop(_Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop`` (no momentum, not centered):
    each coordinate's step is divided by a running root mean square of its
    gradients.

    .. math:: v := \alpha v + (1 - \alpha) g \odot g, \qquad
              \theta := \theta - \eta \frac{g}{\sqrt v + \epsilon}

    with v = 0 before the first step, and no bias correction: the first
    step is :math:`\eta / \sqrt{1 - \alpha}` (10 :math:`\eta` for
    :math:`\alpha = 0.99`) per coordinate.

    Parameters
    ----------
    lr : float
        :math:`\eta` (default 1e-2).
    alpha : float
        :math:`\alpha`, in [0, 1) (default 0.99).
    eps : float
        :math:`\epsilon` (default 1e-8).

    Book: :doc:`optimizers`
    """

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(lr, 0.0)
        _check_hyperparameter(alpha, "alpha", 0.0, 1.0, True)
        _check_hyperparameter(eps, "eps", 0.0)
        self.alpha, self.eps = alpha, eps
        self.v = None

    def step(self, params, grads):
        """Update each parameter in place.

        Parameters
        ----------
        params : list of ndarray
        grads : list of array_like, shapes of ``params``

        Book: :doc:`optimizers`
        """
        grads = self._check(params, grads)
        if self.v is None:
            self.v = self._zeros()
        for theta, g, v in zip(params, grads, self.v, strict=True):
            v[...] = self.alpha * v + (1.0 - self.alpha) * g * g
            theta -= self.lr * g / (np.sqrt(v) + self.eps)


def warmup_cosine_lr(step, peak_lr, warmup_steps, total_steps, min_lr=0.0):
    r"""The learning rate at ``step``: a linear warm-up, then a cosine decay
    to ``min_lr``.

    With t = ``step`` (from 0), W = ``warmup_steps``, T = ``total_steps``:

    .. math:: \eta_t = \begin{cases}
              \eta_{\max} \, \frac{t + 1}{W + 1} & t < W \\
              \eta_{\min} + (\eta_{\max} - \eta_{\min}) \,
              \frac{1 + \cos(\pi (t - W) / (T - W))}{2} & W \le t \le T \\
              \eta_{\min} & t > T
              \end{cases}

    so the warm-up never uses a rate of 0, reaches :math:`\eta_{\max}` at
    t = W, and the decay ends at :math:`\eta_{\min}` at t = T. Up to T it is
    PyTorch's ``SequentialLR(opt, [LinearLR(opt, start_factor=1 / (W + 1),
    total_iters=W), CosineAnnealingLR(opt, T_max=T - W,
    eta_min=min_lr)], milestones=[W])``, with ``lr=peak_lr``; after T,
    ``CosineAnnealingLR`` rises again, and this stays at :math:`\eta_{\min}`.

    Use it by setting the optimizer's rate before each step:
    ``optimizer.lr = warmup_cosine_lr(t, ...)``.

    Parameters
    ----------
    step : int
        t, at least 0.
    peak_lr, min_lr : float
        :math:`\eta_{\max} \ge \eta_{\min} \ge 0`.
    warmup_steps : int
        W, at least 0 (0: no warm-up).
    total_steps : int
        T, more than W.

    Returns
    -------
    float

    Book: :doc:`optimizers`
    """
    if step < 0:
        raise ValueError(f"step must be at least 0, got {step}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            "warmup_steps and total_steps must satisfy 0 <= warmup_steps < "
            f"total_steps, got {warmup_steps} and {total_steps}"
        )
    if not 0 <= min_lr <= peak_lr:
        raise ValueError(
            "the rates must satisfy 0 <= min_lr <= peak_lr, "
            f"got min_lr={min_lr} and peak_lr={peak_lr}"
        )
    if step < warmup_steps:
        return peak_lr * (step + 1) / (warmup_steps + 1)
    if step > total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (peak_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
