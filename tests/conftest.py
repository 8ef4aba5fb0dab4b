"""Hypothesis settings for the nnmath tests.

"nnmath" (the default) keeps the package's suite well under a minute;
"mutation" (``--hypothesis-profile=mutation``, used by bench/mutation.py) is
smaller still and derandomized, so a mutant is killed or not on every run.
"""

from hypothesis import settings

settings.register_profile("nnmath", max_examples=25, deadline=None)
settings.register_profile("mutation", max_examples=10, deadline=None, derandomize=True, database=None)
settings.load_profile("nnmath")
