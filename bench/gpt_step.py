"""Time one training step of the book's GPT, NumPy by hand against its PyTorch twin, in one run.

A step is the forward pass and the loss, the backward pass, and an AdamW update:

(a) nnmath.models.GPT: loss, backward (written by hand from the layers' backward methods), nnmath.optim.AdamW;
(b) the PyTorch twin of tests/test_models.py (torch.nn modules, nn.MultiheadAttention), autograd,
    torch.optim.AdamW, in float64 like (a);
(c) the same twin in float32, for reference: nnmath computes in float64 only (every layer casts its input), so
    there is no float32 row of ours.

Both start from the same weights on the same batch; the script first checks that their losses and updated weights
agree. Each row is warmed up, then timed as the best of several repeats in CPU time (the process's, which other
programs on a shared machine disturb less than the wall clock), with one BLAS and one PyTorch thread. Two
shapes: the book's model on its reversal task (B = 32 sequences of T = 16 tokens, D = 32, 2 heads, 2 blocks), where
every array is small and the cost of each operation's call shows, and a larger one (B = 16, T = 64, D = 128, 4
heads, 4 blocks), where the arithmetic does.

As in bench/train_step.py, the allocator is fixed for all rows (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_):
glibc otherwise returns a freed array over 128 KB to the kernel, and on these machines each page fault that gets
it back costs about 15 us. Page faults per step are printed; --default-allocator leaves glibc's settings alone
(as a chapter's kernel does).

Run: python bench/gpt_step.py [--repeats R] [--number N] [--default-allocator]
"""

import argparse
import importlib.util
import os
import resource
import sys
import time
import timeit
from pathlib import Path

import numpy as np
import torch
from nnmath.models import GPT, GPTConfig
from nnmath.optim import AdamW

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}
LR, WEIGHT_DECAY = 1e-3, 0.01
SHAPES = [  # (name, config, B)
    ("the book's (reversal)", GPTConfig(vocab_size=11, context_length=16, D=32, n_heads=2, n_layers=2), 32),
    ("larger", GPTConfig(vocab_size=64, context_length=64, D=128, n_heads=4, n_layers=4), 16),
]


def load_twin():
    """The PyTorch twin and its weight loader, from the tests (one definition of the reference model)."""
    path = Path(__file__).resolve().parent.parent / "tests" / "test_models.py"
    spec = importlib.util.spec_from_file_location("test_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.twin_of, module.torch_name


def numpy_step(model, ids, targets):
    optimizer = AdamW(LR, weight_decay=WEIGHT_DECAY)
    params = list(model.parameters().values())

    def step():
        loss = model.loss(ids, targets)
        model.backward()
        optimizer.step(params, list(model.gradients().values()))
        return loss

    return step


def torch_step(twin, ids, targets):
    optimizer = torch.optim.AdamW(twin.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    ids, targets = torch.from_numpy(ids), torch.from_numpy(targets)

    def step():
        loss = twin(ids, targets)[1]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return step


def check_first_steps_agree(config, ids, targets, twin_of, torch_name):
    """One step each from the same weights: the losses and the updated weights must agree."""
    model = GPT(config, seed=0)
    twin = twin_of(model)
    losses = numpy_step(model, ids, targets)(), torch_step(twin, ids, targets)()
    after = dict(twin.named_parameters())
    error = 0.0
    for name, value in model.parameters().items():
        where, rows = torch_name(name, config.D)
        error = max(error, float(np.abs(value - after[where][rows].detach().numpy()).max()))
    if abs(losses[0] - losses[1]) > 1e-12 or error > 1e-12:
        raise SystemExit(f"the implementations disagree: losses {losses}, max weight difference {error:.2e}")
    return losses[0], error


def best_time(step, number, repeats, warmup=5):
    """Seconds per step (best repeat) and minor page faults per step (over all repeats)."""
    for _ in range(warmup):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = timeit.repeat(step, timer=time.process_time, number=number, repeat=repeats)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return min(times) / number, faults / (number * repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=10, help="steps per repeat")
    parser.add_argument("--default-allocator", action="store_true", help="leave glibc's thresholds alone")
    args = parser.parse_args()
    environment = THREADS if args.default_allocator else {**THREADS, **ALLOCATOR}
    if any(os.environ.get(k) != v for k, v in environment.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **environment})
    torch.set_num_threads(1)
    twin_of, torch_name = load_twin()
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"CPUs {os.cpu_count()}, " + " ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in THREADS | ALLOCATOR))
    print(f"One training step (forward, loss, backward, AdamW); best of {args.repeats} x {args.number} steps.")
    ratios = []
    for shape_name, config, B in SHAPES:
        rng = np.random.default_rng(0)
        T = config.context_length
        ids = rng.integers(0, config.vocab_size, size=(B, T))
        targets = rng.integers(0, config.vocab_size, size=(B, T))
        loss, error = check_first_steps_agree(config, ids, targets, twin_of, torch_name)
        model = GPT(config, seed=0)
        rows = [
            ("(a) nnmath.models.GPT, NumPy by hand, float64", numpy_step(model, ids, targets)),
            ("(b) PyTorch twin, autograd, float64", torch_step(twin_of(model), ids, targets)),
            ("(c) PyTorch twin, autograd, float32", torch_step(twin_of(model, torch.float32), ids, targets)),
        ]
        times, faults = zip(*(best_time(step, args.number, args.repeats) for _, step in rows), strict=True)
        parameters = sum(p.size for p in model.parameters().values())
        print(f"\n{shape_name}: V={config.vocab_size}, T={T}, D={config.D}, h={config.n_heads}, "
              f"L={config.n_layers}, B={B}, {parameters} parameters; first step from the same weights: "
              f"loss {loss:.6f} in both, weights agree to {error:.1e}")
        print(f"{'implementation':<50}{'time/step':>12}{'vs (b)':>9}{'page faults/step':>18}")
        for (name, _), seconds, per_step in zip(rows, times, faults, strict=True):
            print(f"{name:<50}{seconds * 1e3:>9.2f} ms{seconds / times[1]:>8.2f}x{per_step:>18.0f}")
        ratios.append((shape_name, times[0] / times[1], times[0] / times[2]))
    print()
    for shape_name, a_b, a_c in ratios:
        print(f"{shape_name}: a/b = {a_b:.2f} (target <= 1.4: {'met' if a_b <= 1.4 else 'MISSED'}), a/c = {a_c:.2f}")


if __name__ == "__main__":
    main()
