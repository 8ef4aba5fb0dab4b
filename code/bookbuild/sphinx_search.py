"""The website's search: British and American spellings find each other.

The book writes British English ("initialisation", "centred", "labelled"); a reader may
search in American ("initialization"). Sphinx's English search stems every word, of the
pages in Python when it builds the index, and of the query in JavaScript in the reader's
browser, with the Porter stemmer. Here both sides first rewrite a word to its American
spelling by the same rules (:data:`SPELLING_RULES`, regular expressions that Python and
JavaScript read alike), so that "initialisation" and "initialization" are one entry of the
index, whichever a reader types. A rule may also rewrite a word that has no American form
("arise"): both sides rewrite it alike, so it is still found.
"""

from __future__ import annotations

import json
import re

from sphinx.application import Sphinx
from sphinx.search.en import SearchEnglish, js_porter_stemmer

# (pattern, replacement) on a lower-case word; the first rule that matches applies.
# Replacements name groups as JavaScript does ($1).
SPELLING_RULES: tuple[tuple[str, str], ...] = (
    (r"^(.+)isation(s?)$", "$1ization$2"),
    (r"^(.*(?:al|ar|or|im|tr|it|as|on|en))is(e|ed|es|ing|er|ers)$", "$1iz$2"),
    (r"^(.*)lys(e|ed|es|ing)$", "$1lyz$2"),
    (r"^(colo|behavio|neighbo|favo|flavo|hono|labo|rumo|vapo|harbo|humo|vigo|armo|odo)ur(s|ed|ing)?$", "$1r$2"),
    (r"^(cent|fib|met|lit|theat|calib)r(e|es|ed)$", "$1er$2"),
    (r"^(label|model|travel|cancel|signal|fuel|level|channel|tunnel)l(ed|ing|er|ers)$", "$1$2"),
)


def american(word: str) -> str:
    """``word`` (lower case) in American spelling, by the first of :data:`SPELLING_RULES` that matches."""
    for pattern, replacement in SPELLING_RULES:
        if re.search(pattern, word):
            return re.sub(pattern, re.sub(r"\$(\d)", r"\\g<\1>", replacement), word)
    return word


def _javascript() -> str:
    """The same rewriting in the browser: a Stemmer that rewrites, then stems as Porter's does."""
    rules = ", ".join(f"[new RegExp({json.dumps(pattern)}), {json.dumps(replacement)}]"
                      for pattern, replacement in SPELLING_RULES)
    return f"""
// bookbuild.sphinx_search: American spelling first, so that British and American stem alike.
var nnmathSpellingRules = [{rules}];
var PorterStemmer = Stemmer;
Stemmer = function() {{
  var porter = new PorterStemmer();
  this.stemWord = function(word) {{
    var rule = nnmathSpellingRules.find(function(r) {{ return r[0].test(word); }});
    return porter.stemWord(rule ? word.replace(rule[0], rule[1]) : word);
  }};
}};
"""


class BritishAndAmericanEnglish(SearchEnglish):
    """English search whose index and queries stem American and British spellings alike."""

    js_stemmer_code = js_porter_stemmer + _javascript()

    def stem(self, word: str) -> str:
        return super().stem(american(word.lower()))


def setup(app: Sphinx) -> None:
    app.add_search_language(BritishAndAmericanEnglish)
