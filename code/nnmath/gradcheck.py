r"""Check our gradients against PyTorch autograd and against finite
differences.

Everything here works on vector-Jacobian products: for a function
:math:`y = f(x_1, \dots, x_m)` and an upstream gradient :math:`G` of the shape
of :math:`y`, the gradient of the scalar :math:`\sum G \odot f(x)` with respect
to each :math:`x_j`. A random :math:`G` tests the whole Jacobian; :math:`G` of
all ones (what ``y.sum().backward()`` uses) only tests its column sums, and
hides a transposed square matrix.

Conventions: inputs are NumPy arrays. ``wrt`` lists the positions of the
inputs to differentiate, by default every floating-point input; the others are
constants. Integer inputs (class labels) are constants always, passed to
PyTorch as int64.
Every list of gradients has one array per input in ``wrt``, in order.
Comparisons are in float64.
"""

from dataclasses import dataclass

import numpy as np
import torch


def _wrt(inputs, wrt):
    """Positions of the inputs to differentiate: ``wrt``, checked, or every
    float input."""
    floats = [
        j for j, x in enumerate(inputs) if np.asarray(x).dtype.kind == "f"
    ]
    if wrt is None:
        return floats
    if not set(wrt) <= set(floats):
        raise ValueError(
            "wrt must list positions of floating-point inputs, "
            f"{floats}; got {list(wrt)}"
        )
    return list(wrt)


def _to_torch(x):
    """A float64 tensor, or int64 for integers (class labels)."""
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        return torch.from_numpy(x.astype(np.int64))
    return torch.tensor(x, dtype=torch.float64)


def autograd_vjp(torch_fn, inputs, grad_output, wrt=None):
    r"""PyTorch autograd's vector-Jacobian product.

    Runs ``torch_fn(*tensors)`` on float64 copies of ``inputs`` and calls
    ``backward(grad_output)``.

    Parameters
    ----------
    torch_fn : callable
        Takes and returns torch tensors.
    inputs : sequence of array_like
    grad_output : array_like, shape of ``torch_fn``'s output
        G.
    wrt : sequence of int, optional
        Positions of the inputs to differentiate (default: the floating-point
        ones).

    Returns
    -------
    list of ndarray
        :math:`\partial \sum (G \odot f) / \partial x_j` for each ``j`` in
        ``wrt``.

    Book: :doc:`activations`
    """
    wrt = _wrt(inputs, wrt)
    tensors = [_to_torch(x) for x in inputs]
    for j in wrt:
        tensors[j].requires_grad_()
    output = torch_fn(*tensors)
    output.backward(
        torch.as_tensor(np.asarray(grad_output), dtype=output.dtype)
    )
    return [
        tensors[j].grad.numpy()
        if tensors[j].grad is not None
        else np.zeros(tensors[j].shape)
        for j in wrt
    ]


def numerical_vjp(fn, inputs, grad_output, h=1e-6, wrt=None):
    r"""Vector-Jacobian product by central finite differences.

    For each entry :math:`x_k` of each input in ``wrt``, with
    :math:`\phi(x) = \sum G \odot f(x)`:

    .. math:: \frac{\partial \phi}{\partial x_k} \approx
              \frac{\phi(x + h e_k) - \phi(x - h e_k)}{2 h}

    whose error is :math:`O(h^2)` (plus rounding of order
    :math:`\epsilon / h`, :math:`\epsilon \approx 2.2 \cdot 10^{-16}` the
    machine epsilon).

    Parameters
    ----------
    fn : callable
        Takes and returns NumPy arrays (or floats).
    inputs : sequence of array_like
    grad_output : array_like, shape of ``fn``'s output
    h : float
        The step.
    wrt : sequence of int, optional
        Positions of the inputs to differentiate (default: the floating-point
        ones).

    Returns
    -------
    list of ndarray, one per input in ``wrt``

    Book: :doc:`automatic-differentiation`
    """
    wrt = _wrt(inputs, wrt)
    inputs = [
        np.array(x, dtype=np.float64) if j in wrt else np.asarray(x)
        for j, x in enumerate(inputs)
    ]
    G = np.asarray(grad_output, dtype=np.float64)

    def phi():
        return float(np.sum(G * np.asarray(fn(*inputs), dtype=np.float64)))

    grads = []
    for x in (inputs[j] for j in wrt):
        grad = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            saved = x[k]
            x[k] = saved + h
            up = phi()
            x[k] = saved - h
            down = phi()
            x[k] = saved
            grad[k] = (up - down) / (2 * h)
        grads.append(grad)
    return grads


@dataclass(frozen=True)
class VJPCheck:
    """The largest absolute differences between our gradients and the two
    references.

    Book: :doc:`automatic-differentiation`
    """

    max_error_vs_autograd: float
    max_error_vs_finite_differences: float


def _max_error(ours, reference):
    if len(ours) != len(reference):
        raise ValueError(
            f"expected {len(reference)} gradients (one per input in wrt), "
            f"got {len(ours)}"
        )
    return max(
        float(np.max(np.abs(np.asarray(a) - b), initial=0.0))
        for a, b in zip(ours, reference, strict=True)
    )


def check_vjp(
    our_grads, torch_fn, inputs, grad_output=None, seed=0, fn=None, h=1e-6,
    wrt=None,
):
    """Compare our vector-Jacobian product with autograd's and with finite
    differences.

    Parameters
    ----------
    our_grads : callable
        ``our_grads(*inputs, grad_output)`` returns a list with one gradient
        per input in ``wrt``.
    torch_fn : callable
        The same function in PyTorch: the autograd reference.
    inputs : sequence of array_like
    grad_output : array_like, optional
        G; by default standard normal of the output's shape, from ``seed``.
    fn : callable, optional
        The function whose finite differences are taken (NumPy in, NumPy
        out); by default ``torch_fn`` run in float64.
    h : float
        Finite-difference step.
    wrt : sequence of int, optional
        Positions of the inputs to differentiate (default: the floating-point
        ones).

    Returns
    -------
    VJPCheck

    Book: :doc:`automatic-differentiation`
    """
    if fn is None:
        def fn(*xs):
            with torch.no_grad():
                return torch_fn(*(_to_torch(x) for x in xs)).numpy()

    if grad_output is None:
        shape = np.shape(fn(*inputs))
        grad_output = np.random.default_rng(seed).standard_normal(shape)
    ours = our_grads(*inputs, grad_output)
    return VJPCheck(
        max_error_vs_autograd=_max_error(
            ours, autograd_vjp(torch_fn, inputs, grad_output, wrt)
        ),
        max_error_vs_finite_differences=_max_error(
            ours, numerical_vjp(fn, inputs, grad_output, h, wrt)
        ),
    )


def assert_close_to_autograd(
    ours, reference, name="value", rtol=None, atol=None
):
    """Assert that our array equals PyTorch's, in float64, with
    ``torch.testing.assert_close``.

    Parameters
    ----------
    ours : array_like or float
    reference : torch.Tensor, array_like or float
        Detached and converted to float64 first.
    name : str
        Names the compared quantity in the error message.
    rtol, atol : float, optional
        Default to ``assert_close``'s float64 tolerances (1e-7 and 1e-7).

    Book: :doc:`backprop-any-depth`
    """
    if isinstance(reference, torch.Tensor):
        reference = reference.detach().numpy()
    expected = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    actual = torch.as_tensor(np.asarray(ours, dtype=np.float64))
    torch.testing.assert_close(
        actual, expected, rtol=rtol, atol=atol,
        msg=lambda detail: f"{name}: ours differs from autograd's. {detail}",
    )


def assert_matches_torch(
    fn, our_grads, torch_fn, inputs, grad_output=None, seed=0, name=None,
    wrt=None,
):
    """Assert that our function and its gradients equal PyTorch's on
    ``inputs``.

    Checks the value ``fn(*inputs)`` against ``torch_fn``, then the
    vector-Jacobian product ``our_grads(*inputs, G)`` against autograd's, for
    a random upstream gradient G (standard normal from ``seed``) unless one is
    given.

    Parameters
    ----------
    fn : callable
        Ours: NumPy arrays in, a NumPy array or float out.
    our_grads : callable
        ``our_grads(*inputs, G)`` returns one gradient per input in ``wrt``.
    torch_fn : callable
        The PyTorch reference.
    inputs : sequence of array_like
    grad_output : array_like, optional
    seed : int
    name : str, optional
        Used in failure messages (default ``fn``'s name).
    wrt : sequence of int, optional
        Positions of the inputs to differentiate (default: the floating-point
        ones).

    Book: :doc:`activations`
    """
    name = name or getattr(fn, "__name__", "fn")
    value = fn(*inputs)
    with torch.no_grad():
        expected = torch_fn(*(_to_torch(x) for x in inputs))
    assert_close_to_autograd(value, expected, name=f"{name} value")
    G = grad_output
    if G is None:
        G = np.random.default_rng(seed).standard_normal(np.shape(value))
    ours = our_grads(*inputs, G)
    wrt = _wrt(inputs, wrt)
    reference = autograd_vjp(torch_fn, inputs, G, wrt)
    if len(ours) != len(reference):
        raise AssertionError(
            f"{name}: expected {len(reference)} gradients, "
            f"one per input in wrt {wrt}, got {len(ours)}"
        )
    for j, a, b in zip(wrt, ours, reference, strict=True):
        assert_close_to_autograd(a, b, name=f"{name} gradient of input {j}")
