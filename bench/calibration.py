"""The chapter budget's calibration (bookbuild.budget): its noise, and the reference it divides by.

1. Noise. The calibration (best of 7 runs of the workload, in CPU time) is repeated ``--trials``
   times on a quiet machine, then beside one and two busy processes (a Python loop each); the
   script prints the smallest, median and largest value of each series, relative to the quiet
   median.
2. The reference. The chapters named in ``REFERENCE_CHAPTERS`` have not changed since the
   reference machine (the one that set the 20 s budget) timed them; they are executed here, one
   at a time, as the build executes them (a kernel forked from the zygote, CPU time measured the
   same way), and each one's CPU time here over its time there estimates how much slower this
   machine is. The calibration measured in the same run, divided by that ratio, estimates the
   reference machine's calibration: ``bookbuild.budget.REFERENCE_SECONDS``.

Run: python bench/calibration.py [--trials N] [--no-chapters]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from bookbuild.book import load_config
from bookbuild.budget import REFERENCE_SECONDS, Calibration, calibrate
from bookbuild.execute import execute_book

REPO = Path(__file__).resolve().parent.parent
# CPU seconds on the reference machine, as its build reported them (the closing note of issue
# 14, 2026-12-02); none of these chapters, nor the package, has changed since in a way that
# changes what they compute.
REFERENCE_CHAPTERS = {
    "book/traced-example": 4.9,
    "book/why-cross-entropy": 5.8,
    "book/gradient-checking": 2.6,
    "book/reference-sheet": 4.2,
}


def series(trials: int, hogs: int) -> list[float]:
    """``trials`` calibrations, with ``hogs`` busy processes running beside them."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        return [calibrate().seconds for _ in range(trials)]
    finally:
        for process in busy:
            process.kill()
            process.wait()


def chapters_here() -> dict[str, float]:
    """Each reference chapter's CPU seconds on this machine, executed as the build does."""
    root = Path(tempfile.mkdtemp(prefix="calibration-book-"))
    try:
        for name in ("_config.yml", "requirements.txt"):
            shutil.copy(REPO / name, root / name)
        shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("*.ipynb", ".*"))
        first, *rest = REFERENCE_CHAPTERS
        (root / "_toc.yml").write_text(yaml.safe_dump(
            {"format": "jb-book", "root": first, "chapters": [{"file": name} for name in rest]}))
        results = execute_book(load_config(root), 1, Calibration(REFERENCE_SECONDS))
        failed = [result.failure for result in results if result.failure]
        if failed:
            raise SystemExit("a reference chapter failed:\n" + "\n".join(failed))
        return {result.chapter.removesuffix(".md"): result.cpu_seconds for result in results}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--no-chapters", action="store_true", help="only the calibration's noise")
    args = parser.parse_args()
    print("load average before: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    quiet = series(args.trials, 0)
    middle = statistics.median(quiet)
    print(f"calibration, best of 7 runs, {args.trials} trials each (relative to the quiet median, {middle:.4f} s):")
    for hogs, values in [(0, quiet), (1, series(args.trials, 1)), (2, series(args.trials, 2))]:
        print(f"  beside {hogs} busy process(es): min {min(values) / middle:.3f}  median "
              f"{statistics.median(values) / middle:.3f}  max {max(values) / middle:.3f}")
    if args.no_chapters:
        return
    before = calibrate().seconds
    here = chapters_here()
    after = calibrate().seconds
    ratios = []
    for name, reference in REFERENCE_CHAPTERS.items():
        ratios.append(here[name] / reference)
        print(f"{name}: {here[name]:.1f} s of CPU here, {reference} s on the reference machine: {ratios[-1]:.2f}")
    ratio = statistics.median(ratios)
    calibration = statistics.median([before, after, *quiet])
    print(f"this machine takes {ratio:.2f} times the reference machine's CPU time (median of {len(ratios)}); "
          f"the calibration here is {calibration:.4f} s, so the reference machine's is {calibration / ratio:.4f} s "
          f"(REFERENCE_SECONDS is {REFERENCE_SECONDS:.4f})")


if __name__ == "__main__":
    main()
