"""Hypothesis settings for the nnmath tests, and which tests run without PyTorch.

"nnmath" (the default) keeps the package's suite well under a minute.
"mutation" (``--hypothesis-profile=mutation``, used by bench/mutation.py) is
smaller, derandomized so that a mutant is killed or not on every run, and skips
shrinking: a failure only has to be found, not explained.

Where PyTorch is not installed (the package on Python 3.12 and 3.13, for which no
CPU build is at hand), test modules that import it are not collected; the others,
the package's torch-free tests, must pass there too.
"""

import importlib.util
import re
from pathlib import Path

from hypothesis import Phase, settings

if importlib.util.find_spec("torch") is None:
    IMPORTS_TORCH = re.compile(r"^(import torch|from torch)\b", re.M)
    collect_ignore = [path.name for path in Path(__file__).parent.glob("test_*.py")
                      if IMPORTS_TORCH.search(path.read_text())]

settings.register_profile("nnmath", max_examples=25, deadline=None)
settings.register_profile("mutation", max_examples=10, deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.generate])
settings.load_profile("nnmath")
