"""A chapter's budget of CPU time in *reference seconds*: the same amount of work on every machine.

A budget in seconds of CPU time means less work on a slow machine than on a fast one: the
20 s of ``bookbuild_chapter_budget`` were set on a machine that runs the chapters about
twice as fast as the 2-core machines the book is also written on, where a correct book
failed it. So the budget counts *reference seconds*: the CPU time a chapter would take on
that reference machine.

Each build that executes chapters first times a fixed calibration workload, a mix like the
chapters' (NumPy products of a few hundred rows, elementwise ``exp``, many operations on
small arrays, a Python loop), :data:`RUNS` times in each of :data:`PROCESSES` fresh
processes with the kernels' environment (one BLAS thread), and keeps the best run, in CPU
time: a burst of other work can only make a run slower, never faster. Several processes,
because the workload's speed is a property of the process as well: on this project's
machines one fresh process in two runs every repetition about 1.5 times slower than the
other (0.062 s against 0.041 s, measured over 8 processes), which from a single process
made the budget half as strict again one build in two. The machine's *scale* is that time over the
reference machine's, :data:`REFERENCE_SECONDS`; a chapter's reference seconds are its CPU
seconds over the scale.

Run ``python -m bookbuild.budget`` to print this machine's calibration. ``BOOKBUILD_CALIBRATION``
(seconds) replaces the measurement, to judge the chapters as another machine would (the tests
judge one chapter as the reference machine and as one twice as slow).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

from bookbuild.keys import KERNEL_ENVIRONMENT

RUNS = 7
PROCESSES = 5  # all five in the slow state: one build in 32
CALIBRATION_VARIABLE = "BOOKBUILD_CALIBRATION"
# The calibration's CPU time on the reference machine, estimated by bench/calibration.py: on
# this project's 2-core machines (AMD EPYC, KVM, load average 7 from other builds), four
# chapters unchanged since the reference machine timed them took 2.81 times its CPU time
# (median; traced-example 13.2 s against 4.9 s, why-cross-entropy 16.9 against 5.8,
# gradient-checking 6.8 against 2.6, reference-sheet 12.9 against 4.2) and the calibration
# 0.0401 s: 0.0401 / 2.81.
REFERENCE_SECONDS = 0.0143

WORKLOAD = r'''
import json, sys, time
import numpy as np

def workload():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 200)), rng.normal(size=(200, 150))
    for _ in range(6):
        c = a @ b
    big = rng.normal(size=200_000)
    for _ in range(6):
        e = np.exp(big)
    small = rng.normal(size=(8, 8))
    for _ in range(1500):
        small = np.tanh(small @ small.T * 0.1) + 0.5 * small
    total = 0
    for i in range(150_000):
        total += i * i % 7
    return c, e, small, total

times = []
for _ in range(int(sys.argv[1])):
    start = time.process_time()
    workload()
    times.append(time.process_time() - start)
print(json.dumps(times))
'''


@dataclasses.dataclass(frozen=True)
class Calibration:
    """This machine's speed against the reference machine's."""

    seconds: float  # the workload's CPU time here, best of the runs

    @property
    def scale(self) -> float:
        """CPU seconds here per reference second (2.0: this machine takes twice as long)."""
        return self.seconds / REFERENCE_SECONDS

    def reference_seconds(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.scale

    def cpu_seconds(self, reference_seconds: float) -> float:
        return reference_seconds * self.scale


def calibrate(runs: int = RUNS, processes: int = PROCESSES) -> Calibration:
    """Time the workload in fresh processes with the kernels' environment; keep the best run."""
    if os.environ.get(CALIBRATION_VARIABLE):
        return Calibration(float(os.environ[CALIBRATION_VARIABLE]))
    best = math.inf
    for _ in range(processes):
        process = subprocess.run([sys.executable, "-c", WORKLOAD, str(runs)], capture_output=True, text=True,
                                 env={**os.environ, **KERNEL_ENVIRONMENT}, check=True)
        best = min(best, *json.loads(process.stdout))
    return Calibration(best)


def main() -> None:
    calibration = calibrate()
    print(f"calibration: {calibration.seconds:.3f} s of CPU here, {REFERENCE_SECONDS:.3f} s on the reference "
          f"machine: 1 reference second is {calibration.scale:.2f} s of CPU here")


if __name__ == "__main__":
    main()
