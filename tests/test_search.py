"""The website's search index and its queries stem British and American spellings alike."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from bookbuild.sphinx_search import BritishAndAmericanEnglish, american

PAIRS = [("initialisation", "initialization"), ("initialised", "initialized"), ("normalise", "normalize"),
         ("generalises", "generalizes"), ("memorising", "memorizing"), ("regularisation", "regularization"),
         ("centred", "centered"), ("colours", "colors"), ("labelled", "labeled"), ("analyse", "analyze")]
UNCHANGED = ["noise", "precise", "exercise", "promise", "raise", "otherwise", "elementwise", "contour", "four",
             "hour", "concise", "compromise", "rise", "initial", "isolated"]


def stems(words: list[str]) -> list[str]:
    language = BritishAndAmericanEnglish({})
    return [language.stem(word) for word in words]


def test_british_and_american_spellings_stem_alike_and_other_words_keep_theirs():
    british, us = zip(*PAIRS, strict=True)
    assert stems(list(british)) == stems(list(us))
    assert [american(word) for word in UNCHANGED] == UNCHANGED


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_browser_stems_every_word_as_the_index_does():
    words = [word for pair in PAIRS for word in pair] + UNCHANGED + ["Gradients", "vanishing", "arises"]
    script = BritishAndAmericanEnglish.js_stemmer_code + (
        "\nconst stemmer = new Stemmer();"
        f"\nprocess.stdout.write(JSON.stringify({json.dumps(words)}.map(w => stemmer.stemWord(w.toLowerCase()))));")
    browser = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    assert browser == stems(words)
