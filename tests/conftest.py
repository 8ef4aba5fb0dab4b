"""Hypothesis settings for the nnmath tests, which tests run without PyTorch, and the summary.

"nnmath" (the default) keeps the package's suite well under a minute.
"mutation" (``--hypothesis-profile=mutation``, used by bench/mutation.py) is
smaller, derandomized so that a mutant is killed or not on every run, and skips
shrinking: a failure only has to be found, not explained.

Hypothesis keeps its files (the examples database, the constants it collects from the
code) in the user's cache, ``$XDG_CACHE_HOME/nnmath-book/hypothesis``, not in the
checkout; the book's kernels use the same folder (bookbuild.execute).

Where PyTorch is not installed (the package on Python 3.12 and 3.13, for which no
CPU build is at hand), test modules that import it are not collected; the others,
the package's torch-free tests, must pass there too. This file imports nothing of the
build pipeline, which is not installed there.

The session's main process also starts the run's shared real book (real_book.py: its folder
and the server of its website), which every xdist worker uses, and removes it at the end.

A test may leave one line for the end of the run, after pytest's own summary, with
``record_property("summary", line)``: what a slow check compared with, or how much of
the package it covered (it reaches the summary from xdist's workers too).
"""

import importlib.util
import os
import re
from pathlib import Path

from hypothesis import Phase, settings

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnmath-book" / "hypothesis"))

if importlib.util.find_spec("torch") is None:
    IMPORTS_TORCH = re.compile(r"^(import torch|from torch)\b", re.M)
    collect_ignore = [path.name for path in Path(__file__).parent.glob("test_*.py")
                      if IMPORTS_TORCH.search(path.read_text())]

settings.register_profile("nnmath", max_examples=25, deadline=None)
settings.register_profile("mutation", max_examples=10, deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.generate])
settings.load_profile("nnmath")


def pytest_configure(config):
    if not hasattr(config, "workerinput") and importlib.util.find_spec("bookbuild") is not None:
        import real_book

        config.real_book_run = real_book.start_run()


def pytest_unconfigure(config):
    run = getattr(config, "real_book_run", None)
    if run is not None:
        run.close()


def pytest_terminal_summary(terminalreporter):
    lines = dict.fromkeys(value for reports in terminalreporter.stats.values() for report in reports
                          for name, value in getattr(report, "user_properties", ()) if name == "summary")
    if lines:
        terminalreporter.section("what the slow checks covered")
        for line in lines:
            terminalreporter.line(line)
