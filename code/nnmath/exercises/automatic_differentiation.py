r"""The exercises of the chapter :doc:`automatic-differentiation`: the book's
solutions, their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath.autodiff import Tensor
from nnmath.exercises import Case, Exercise, Slip, Unusable


def mul(u, v):
    r"""The elementwise product :math:`Y = U \odot V` as an operation of
    :mod:`nnmath.autodiff`.

    The backward closure adds each input's share of the gradient, with
    :math:`G = \partial \mathcal{L} / \partial Y` (``out.grad``):

    .. math:: \frac{\partial \mathcal{L}}{\partial U} \mathrel{+}=
              G \odot V, \qquad
              \frac{\partial \mathcal{L}}{\partial V} \mathrel{+}=
              G \odot U

    ``_accumulate`` adds (a tensor used twice gets both shares) and sums a
    broadcast input's share over its copies.

    Parameters
    ----------
    u, v : Tensor
        Of one shape, or of shapes that broadcast.

    Returns
    -------
    Tensor
        Made by ``Tensor._result(data, (u, v), "mul")``, with its
        ``_backward`` set.

    Book: :doc:`automatic-differentiation`
    """
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        u._accumulate(out.grad * v.data)
        v._accumulate(out.grad * u.data)

    out._backward = _backward
    return out


def _as_op_output(out):
    """The reader's operation's output, which must be a Tensor."""
    if out is not None and not isinstance(out, Tensor):
        raise Unusable(
            f"Your operation returned {type(out).__name__}, not a Tensor: "
            "make its output with Tensor._result(data, parents, name), so "
            "that backward() can reach its inputs.")
    return out


def _run_mul(fn, graph, U, V, G):
    """Build ``graph`` around the reader's product, run backward(G), and
    return the product's value and the leaves' gradients."""
    u = Tensor(U, requires_grad=True)
    v = u if graph == "x * x" else Tensor(V, requires_grad=True)
    out = _as_op_output(fn(u, v))
    if out is None:
        return None
    (out + u if graph == "x * w + x" else out).backward(G)
    return (out.data, u.grad) if graph == "x * x" else (out.data, u.grad,
                                                        v.grad)


@cache
def _mul_cases():
    rng = np.random.default_rng(207)
    cases = []
    for graph, u_shape, v_shape in [("u * v", (3, 4), (3, 4)),
                                    ("u * v", (4, 3), (3,)),
                                    ("x * x", (2, 5), None),
                                    ("x * w + x", (3, 2), (3, 2))]:
        U = rng.normal(size=u_shape)
        V = None if v_shape is None else rng.normal(size=v_shape)
        G = rng.normal(size=u_shape)
        shapes = (f"U {u_shape}" + (f", V {v_shape}" if v_shape else "")
                  + f", G {u_shape}")
        cases.append(Case((graph, U, V, G), f"{graph} ({shapes})"))
    return cases


def _mul_names(graph, U, V, G):
    if graph == "x * x":
        return "product's data", "x.grad"
    return (("product's data", "u.grad", "v.grad") if graph == "u * v"
            else ("product's data", "x.grad", "w.grad"))


def _mul_prediction(u_share, v_share, upstream=True):
    """What a product whose closure gives u ``u_share(G, U, V)`` and v
    ``v_share(G, U, V)``, adding them (``+=``) and summing broadcast copies,
    leaves in each graph."""

    def predict(right, graph, U, V, G):
        if graph == "x * x":
            return U * U, u_share(G, U, U) + v_share(G, U, U)
        if graph == "x * w + x":
            return U * V, u_share(G, U, V) + G, v_share(G, U, V)
        return U * V, u_share(G, U, V), _summed(v_share(G, U, V), V.shape)

    return predict


def _summed(share, shape):
    """A broadcast input's share, summed over the copies."""
    return share.sum(axis=0) if share.shape != shape else share


def _mul_assigned(right, graph, U, V, G):
    """``u.grad = share``: each share replaces what was there, and a
    broadcast input keeps the unsummed share."""
    if graph == "x * x":
        return U * U, G * U
    if graph == "x * w + x":
        return U * V, G * V, G * U
    return U * V, G * V, G * U


def _mul_without_closure(right, graph, U, V, G):
    if graph == "x * x":
        return U * U, None
    if graph == "x * w + x":
        return U * V, G, None
    return U * V, None, None


def _mul_assigning(u, v):
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        u.grad = out.grad * v.data
        v.grad = out.grad * u.data

    out._backward = _backward
    return out


def _mul_swapped(u, v):
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        u._accumulate(out.grad * u.data)
        v._accumulate(out.grad * v.data)

    out._backward = _backward
    return out


def _mul_without_upstream(u, v):
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        u._accumulate(v.data * np.ones_like(out.data))
        v._accumulate(u.data * np.ones_like(out.data))

    out._backward = _backward
    return out


def _mul_forgetting_closure(u, v):
    out = Tensor._result(u.data * v.data, (u, v), "mul")

    def _backward():
        u._accumulate(out.grad * v.data)
        v._accumulate(out.grad * u.data)

    return out


ASSIGN_MESSAGE = (
    "Your closure assigns the gradient (x.grad = ...) instead of adding to "
    "it: a tensor used twice (x * x, or x in two places of the graph) gets "
    "one share from each use, and backward() adds them up. Add with "
    "x._accumulate(share), which is +=, and sums a broadcast input's share "
    "over its copies.")
CLOSURE_MESSAGE = (
    "Your operation never attaches its closure (out._backward = "
    "_backward), so backward() cannot reach its inputs and their .grad "
    "stays None.")

MUL = Exercise(
    name="mul",
    chapter="automatic-differentiation",
    solution=mul,
    reference=lambda *args: _run_mul(lambda u, v: u * v, *args),
    cases=_mul_cases,
    outputs=_mul_names,
    shapes=lambda graph, U, V, G: ("the shape of U",) + (
        () if graph == "x * x" else ("the shape of U", "the shape of V")),
    about="u * v with two shapes, one broadcast, x * x and x * w + x, "
          "random upstream gradients G",
    run=_run_mul,
    slips=(
        Slip("assigned", ASSIGN_MESSAGE, _mul_assigned, _mul_assigning),
        Slip("swapped",
             "Each input got the upstream gradient times itself: the "
             "product rule gives each factor the other, u gets G ⊙ V and "
             "v gets G ⊙ U.",
             _mul_prediction(lambda G, U, V: G * U,
                             lambda G, U, V: np.broadcast_to(G * V,
                                                             G.shape)),
             _mul_swapped),
        Slip("missing-upstream",
             "Your shares leave out the upstream gradient G = out.grad: "
             "the chain rule multiplies the local derivative by it, so u "
             "gets G ⊙ V and v gets G ⊙ U.",
             _mul_prediction(lambda G, U, V: np.broadcast_to(V, G.shape),
                             lambda G, U, V: np.broadcast_to(U, G.shape)),
             _mul_without_upstream),
        Slip("no-closure", CLOSURE_MESSAGE, _mul_without_closure,
             _mul_forgetting_closure),
    ),
)
check_mul = MUL.check


def tanh(x):
    r""":math:`Y = \tanh(X)`, elementwise, as an operation of
    :mod:`nnmath.autodiff`.

    The backward closure adds the input's share, with
    :math:`G = \partial \mathcal{L} / \partial Y` (``out.grad``) and the
    derivative taken from the output :math:`Y` (``out.data``):

    .. math:: \frac{\partial \mathcal{L}}{\partial X} \mathrel{+}=
              G \odot (1 - Y \odot Y)

    Parameters
    ----------
    x : Tensor

    Returns
    -------
    Tensor
        Made by ``Tensor._result(data, (x,), "tanh")``, with its
        ``_backward`` set.

    Book: :doc:`automatic-differentiation`
    """
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x._accumulate(out.grad * (1 - out.data**2))

    out._backward = _backward
    return out


def _run_tanh(fn, graph, X, G):
    x = Tensor(X, requires_grad=True)
    out = _as_op_output(fn(x))
    if out is None:
        return None
    if graph == "tanh(tanh(x))":
        out = _as_op_output(fn(out))
    (out + x if graph == "tanh(x) + x" else out).backward(G)
    return out.data, x.grad


@cache
def _tanh_cases():
    rng = np.random.default_rng(208)
    cases = []
    for graph, X in [("tanh(x)", rng.normal(scale=2.0, size=(3, 4))),
                     ("tanh(x) + x", rng.normal(size=(4, 2))),
                     ("tanh(tanh(x))", rng.normal(scale=2.0, size=(2, 3))),
                     ("tanh(x)", np.array([[-30.0, 0.0], [0.5, 30.0]]))]:
        G = rng.normal(size=X.shape)
        cases.append(Case((graph, X, G),
                          f"{graph} (X {X.shape}, G {G.shape}"
                          + (", x = ±30" if abs(X).max() > 10 else "")
                          + ")"))
    return cases


def _tanh_prediction(local):
    """What a tanh whose closure adds ``local(G, X, Y)`` (for the upstream
    gradient G, input X and output Y) leaves in each graph."""

    def predict(right, graph, X, G):
        T = np.tanh(X)
        if graph == "tanh(x) + x":
            return T, local(G, X, T) + G
        if graph == "tanh(tanh(x))":
            T2 = np.tanh(T)
            return T2, local(local(G, T, T2), X, T)
        return T, local(G, X, T)

    return predict


def _tanh_assigned(right, graph, X, G):
    """``x.grad = share``: in tanh(x) + x the share replaces the G that the
    sum gave x first."""
    T = np.tanh(X)
    if graph == "tanh(x) + x":
        return T, G * (1 - T**2)
    return right


def _tanh_without_closure(right, graph, X, G):
    value = right[0]
    return value, (G if graph == "tanh(x) + x" else None)


def _tanh_assigning(x):
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x.grad = out.grad * (1 - out.data**2)

    out._backward = _backward
    return out


def _tanh_of_input(x):
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x._accumulate(out.grad * (1 - x.data**2))

    out._backward = _backward
    return out


def _tanh_without_upstream(x):
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x._accumulate(1 - out.data**2)

    out._backward = _backward
    return out


def _tanh_without_square(x):
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x._accumulate(out.grad * (1 - out.data))

    out._backward = _backward
    return out


def _tanh_forgetting_closure(x):
    out = Tensor._result(np.tanh(x.data), (x,), "tanh")

    def _backward():
        x._accumulate(out.grad * (1 - out.data**2))

    return out


TANH = Exercise(
    name="tanh",
    chapter="automatic-differentiation",
    solution=tanh,
    reference=lambda *args: _run_tanh(lambda x: x.tanh(), *args),
    cases=_tanh_cases,
    outputs=("output's data", "x.grad"),
    shapes=("the shape of X", "the shape of X"),
    about="tanh(x), tanh(x) + x and tanh(tanh(x)), x up to ±30, random "
          "upstream gradients G",
    run=_run_tanh,
    slips=(
        Slip("assigned", ASSIGN_MESSAGE, _tanh_assigned, _tanh_assigning),
        Slip("input",
             "Your local derivative is 1 − x², from the input: tanh'(x) = "
             "1 − tanh(x)², which from the node's own output Y "
             "(out.data) is 1 − Y².",
             _tanh_prediction(lambda G, X, Y: G * (1 - X**2)),
             _tanh_of_input),
        Slip("missing-upstream",
             "Your share leaves out the upstream gradient G = out.grad: "
             "the chain rule multiplies the local derivative by it, "
             "∂ℒ/∂X = G ⊙ (1 − Y²).",
             _tanh_prediction(lambda G, X, Y: 1 - Y**2),
             _tanh_without_upstream),
        Slip("missing-square",
             "You forgot the square: tanh'(x) = 1 − tanh(x)², so the share "
             "is G ⊙ (1 − Y²) with Y = out.data.",
             _tanh_prediction(lambda G, X, Y: G * (1 - Y)),
             _tanh_without_square),
        Slip("no-closure", CLOSURE_MESSAGE, _tanh_without_closure,
             _tanh_forgetting_closure),
    ),
)
check_tanh = TANH.check


EXERCISES = (MUL, TANH)
