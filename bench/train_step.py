"""Time one training step of the training chapter's network three ways, in one run.

The network: 64 -> 32 -> 10, sigmoid hidden layer, softmax/cross-entropy head,
one gradient-descent step on the full training split of the digits (N = 1347),
float64 throughout. Each step is forward, backward and update:

(a) nnmath.layers.MLP.train_step (hand-written NumPy backprop),
(b) nnmath.autodiff (the book's reverse-mode engine over NumPy),
(c) PyTorch autograd on the CPU, with plain tensors and a manual update.

All three start from the same weights; the script first checks that their first
losses and gradients agree. Each is warmed up, then timed as the best of several
repeats. Page faults are counted too: a large temporary array can be fresh memory
from the kernel, and on a small VM that costs as much as the arithmetic. To see
how much, run with glibc's allocator told to keep its memory:
MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456.

Run: python bench/train_step.py [--repeats R] [--number N]
"""

import argparse
import os
import resource
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


def manual_step(X, y):
    net = MLP(SIZES, hidden_activation="sigmoid", head="softmax", seed=0)
    return net, lambda: net.train_step(X, y, LEARNING_RATE)


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
    engine_params, engine = engine_step(X, y, params)
    torch_params, torch64 = torch_step(X, y, params, torch.float64)
    losses = manual(), engine(), torch64()
    ours = [a for pair in net.parameters() for a in pair]
    error = max(max(np.abs(a - e.data).max(), np.abs(a - t.detach().numpy()).max())
                for a, e, t in zip(ours, engine_params, torch_params, strict=True))
    if np.ptp(losses) > 1e-12 or error > 1e-12:
        raise SystemExit(f"the three implementations disagree: losses {losses}, max weight difference {error:.2e}")
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=50, help="steps per repeat")
    args = parser.parse_args()

    digits = ten_classes()
    X, y = digits.X_train, digits.y_train
    loss, error = check_first_steps_agree(X, y)
    print(f"First step from the same weights: loss {loss:.6f} in all three, weights agree to {error:.1e}.")

    net, manual = manual_step(X, y)
    params = [a.copy() for pair in net.parameters() for a in pair]
    rows = [
        ("(a) nnmath.layers.MLP (NumPy backprop)", manual),
        ("(b) nnmath.autodiff engine", engine_step(X, y, params)[1]),
        ("(c) PyTorch autograd, CPU, float64", torch_step(X, y, params, torch.float64)[1]),
        ("    PyTorch autograd, CPU, float32 (for reference)", torch_step(X, y, params, torch.float32)[1]),
    ]
    times, faults = zip(*(best_time(step, args.number, args.repeats) for _, step in rows), strict=True)
    print(f"\nOne training step, {' -> '.join(map(str, SIZES))}, sigmoid + softmax/cross-entropy, "
          f"full batch N = {len(X)}; best of {args.repeats} x {args.number} steps after warm-up.")
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"CPUs {os.cpu_count()}\n")
    print(f"{'implementation':<52}{'time/step':>12}{'vs (c)':>9}{'page faults/step':>18}")
    for (name, _), seconds, per_step in zip(rows, times, faults, strict=True):
        print(f"{name:<52}{seconds * 1e6:>9.0f} us{seconds / times[2]:>8.2f}x{per_step:>18.0f}")
    a_c, b_c = times[0] / times[2], times[1] / times[2]
    print(f"\na/c = {a_c:.2f} (target <= 1.0: {'met' if a_c <= 1.0 else 'MISSED'}), "
          f"b/c = {b_c:.2f} (target <= 2.0: {'met' if b_c <= 2.0 else 'MISSED'})")


if __name__ == "__main__":
    main()
