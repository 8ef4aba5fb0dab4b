"""Time one training step of the training chapter's network three ways, in one run.

The network: 64 -> 32 -> 10, sigmoid hidden layer, softmax/cross-entropy head,
one gradient-descent step on the full training split of the digits (N = 1347),
float64 throughout. Each step is forward, backward and update:

(a) nnmath.layers.MLP.train_step (hand-written NumPy backprop),
(b) nnmath.autodiff (the book's reverse-mode engine over NumPy),
(c) PyTorch autograd on the CPU, with plain tensors and a manual update.

All rows start from the same weights; the script first checks that their first
losses and gradients agree. Each is warmed up, then timed as the best of several
repeats.

A fourth row, (a'), is a reference, not the book's code: the same step as (a)
written for speed, in place, with sums as matrix-vector products and no input
checks. It shows what NumPy itself can reach on this machine, so the gap
between (a) and (a') is the price of code that reads like the equations.

The allocator is fixed for all rows. By default glibc returns a freed array
larger than 128 KB to the kernel, and the next step pays a page fault per 4 KB
to get it back; whether it does depends on the process's history (one large
PyTorch tensor freed earlier raises the threshold). The script re-runs itself
with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set, so that every
implementation keeps its memory; page faults per step are printed to show it.

Run: python bench/train_step.py [--repeats R] [--number N]
"""

import argparse
import os
import resource
import sys
import timeit

import numpy as np
import torch
import torch.nn.functional as F
from nnmath import autodiff
from nnmath.autodiff import Tensor
from nnmath.data import ten_classes
from nnmath.layers import MLP

SIZES = [64, 32, 10]
LEARNING_RATE = 0.5
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}


def manual_step(X, y):
    net = MLP(SIZES, hidden_activation="sigmoid", head="softmax", seed=0)
    return net, lambda: net.train_step(X, y, LEARNING_RATE)


def fused_numpy_step(X, y, params):
    """(a'): the step of (a), hand-fused for speed; the same arithmetic."""
    W1, b1, W2, b2 = (p.copy() for p in params)
    N, rows = len(X), np.arange(len(X))
    ones_N, ones_K = np.ones(N), np.ones(SIZES[-1])

    def step():
        A1 = X @ W1.T
        A1 += b1
        np.negative(A1, out=A1)
        np.exp(A1, out=A1)
        A1 += 1.0
        np.reciprocal(A1, out=A1)  # sigmoid, in place
        Z2 = A1 @ W2.T
        Z2 += b2
        Z2 -= Z2.max(axis=1, keepdims=True)
        E = np.exp(Z2)
        row_sums = E @ ones_K
        loss = (np.log(row_sums).sum() - Z2[rows, y].sum()) / N
        E /= row_sums[:, None]
        E[rows, y] -= 1.0
        E /= N  # delta2 = (P - Y) / N
        dW2, db2 = E.T @ A1, ones_N @ E
        delta1 = E @ W2
        delta1 *= A1
        A1 -= 1.0
        delta1 *= A1
        np.negative(delta1, out=delta1)  # * A1 (1 - A1)
        dW1, db1 = delta1.T @ X, ones_N @ delta1
        for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            g *= LEARNING_RATE
            p -= g
        return loss

    return (W1, b1, W2, b2), step


def engine_step(X, y, params):
    W1, b1, W2, b2 = (Tensor(p.copy(), requires_grad=True) for p in params)
    X_t = Tensor(X)

    def step():
        loss = autodiff.cross_entropy((X_t @ W1.T + b1).sigmoid() @ W2.T + b2, y)
        loss.backward()
        for p in (W1, b1, W2, b2):
            p.data -= LEARNING_RATE * p.grad
            p.zero_grad()
        return loss.item()

    return (W1, b1, W2, b2), step


def torch_step(X, y, params, dtype):
    W1, b1, W2, b2 = (torch.tensor(p, dtype=dtype, requires_grad=True) for p in params)
    X_t, y_t = torch.tensor(X, dtype=dtype), torch.from_numpy(y)

    def step():
        loss = F.cross_entropy(torch.sigmoid(X_t @ W1.T + b1) @ W2.T + b2, y_t)
        loss.backward()
        with torch.no_grad():
            for p in (W1, b1, W2, b2):
                p -= LEARNING_RATE * p.grad
                p.grad = None
        return loss.item()

    return (W1, b1, W2, b2), step


def check_first_steps_agree(X, y):
    """One step each from the same weights: the losses and updated weights must agree."""
    net, manual = manual_step(X, y)
    params = [a.copy() for pair in net.parameters() for a in pair]
    fused_params, fused = fused_numpy_step(X, y, params)
    engine_params, engine = engine_step(X, y, params)
    torch_params, torch64 = torch_step(X, y, params, torch.float64)
    losses = manual(), fused(), engine(), torch64()
    ours = [a for pair in net.parameters() for a in pair]
    error = max(max(np.abs(a - f).max(), np.abs(a - e.data).max(), np.abs(a - t.detach().numpy()).max())
                for a, f, e, t in zip(ours, fused_params, engine_params, torch_params, strict=True))
    if np.ptp(losses) > 1e-12 or error > 1e-12:
        raise SystemExit(f"the implementations disagree: losses {losses}, max weight difference {error:.2e}")
    return losses[0], error


def best_time(step, number, repeats, warmup=20):
    """Seconds per step (best repeat) and minor page faults per step (over all repeats)."""
    for _ in range(warmup):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = timeit.repeat(step, number=number, repeat=repeats)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return min(times) / number, faults / (number * repeats)


def main():
    if any(os.environ.get(k) != v for k, v in ALLOCATOR.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOCATOR})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=50, help="steps per repeat")
    args = parser.parse_args()

    digits = ten_classes()
    X, y = digits.X_train, digits.y_train
    loss, error = check_first_steps_agree(X, y)
    print(f"First step from the same weights: loss {loss:.6f} in all four, weights agree to {error:.1e}.")

    net, manual = manual_step(X, y)
    params = [a.copy() for pair in net.parameters() for a in pair]
    rows = [
        ("(a) nnmath.layers.MLP (NumPy backprop)", manual),
        ("(b) nnmath.autodiff engine", engine_step(X, y, params)[1]),
        ("(c) PyTorch autograd, CPU, float64", torch_step(X, y, params, torch.float64)[1]),
        ("(a') reference: (a) hand-fused in NumPy, not the book's", fused_numpy_step(X, y, params)[1]),
        ("     PyTorch autograd, CPU, float32 (for reference)", torch_step(X, y, params, torch.float32)[1]),
    ]
    times, faults = zip(*(best_time(step, args.number, args.repeats) for _, step in rows), strict=True)
    print(f"\nOne training step, {' -> '.join(map(str, SIZES))}, sigmoid + softmax/cross-entropy, "
          f"full batch N = {len(X)}; best of {args.repeats} x {args.number} steps after warm-up.")
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"CPUs {os.cpu_count()}, allocator " + " ".join(f"{k}={os.environ[k]}" for k in ALLOCATOR) + "\n")
    print(f"{'implementation':<58}{'time/step':>12}{'vs (c)':>9}{'page faults/step':>18}")
    for (name, _), seconds, per_step in zip(rows, times, faults, strict=True):
        print(f"{name:<58}{seconds * 1e6:>9.0f} us{seconds / times[2]:>8.2f}x{per_step:>18.0f}")
    a_c, b_c = times[0] / times[2], times[1] / times[2]
    print(f"\na/c = {a_c:.2f} (target <= 1.0: {'met' if a_c <= 1.0 else 'MISSED'}), "
          f"b/c = {b_c:.2f} (target <= 2.0: {'met' if b_c <= 2.0 else 'MISSED'})")


if __name__ == "__main__":
    main()
