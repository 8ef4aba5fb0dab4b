"""Hypothesis settings for the nnmath tests.

"nnmath" (the default) keeps the package's suite well under a minute.
"mutation" (``--hypothesis-profile=mutation``, used by bench/mutation.py) is
smaller, derandomized so that a mutant is killed or not on every run, and skips
shrinking: a failure only has to be found, not explained.
"""

from hypothesis import Phase, settings

settings.register_profile("nnmath", max_examples=25, deadline=None)
settings.register_profile("mutation", max_examples=10, deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.generate])
settings.load_profile("nnmath")
