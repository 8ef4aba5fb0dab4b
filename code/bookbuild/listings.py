r"""Package code as the chapters show it: named by its file, its docstrings trimmed.

A chapter shows package code with ``{literalinclude} /code/nnmath/<module>.py`` and
``:pyobject: name``. The package's docstrings carry the maths in reST (``:math:`...```,
``Book: :doc:`...```), which the chapter's own prose already says in typeset maths; in a
listing they would read as raw markup. So a listing keeps each docstring's first paragraph,
its summary, and drops the rest (the package keeps it all), and its caption names the file
and the object. The website, the PDF and the reader notebooks show the same listing.
"""

from __future__ import annotations

import ast
import re
import textwrap

from docutils import nodes
from sphinx.directives.code import LiteralInclude

PACKAGE_PREFIX = "/code/"
WIDTH = 79  # the package's line length, which the book's code boxes fit
ROLE = re.compile(r":(?P<role>[\w:]+):`(?P<text>[^`]*)`")
# The TeX of the package's docstrings, as plain text: enough for a summary line.
TEX = [(r"\mathcal{L}", "ℒ"), (r"\partial", "∂"), (r"\delta", "δ"), (r"\sigma", "σ"), (r"\eta", "η"),
       (r"\odot", "⊙"), (r"\sum", "Σ"), (r"\cdot", "·"), (r"^T", "ᵀ"), (r"\,", " "), (r"\ ", " ")]


def caption(path: str, pyobject: str | None) -> str:
    """``code/nnmath/activations.py: sigmoid_prime``."""
    shown = path.lstrip("/")
    return f"{shown}: {pyobject}" if pyobject else shown


def trim_docstrings(code: str) -> str:
    """``code`` with every docstring cut to its first paragraph (the summary).

    ``code`` may be indented (a method); the result keeps its indentation and its lines
    outside docstrings exactly.
    """
    lines = code.splitlines()
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return code
    docstrings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.append(first)
    for docstring in sorted(docstrings, key=lambda n: n.lineno, reverse=True):
        start, end = docstring.lineno - 1, docstring.end_lineno - 1
        opening = lines[start]
        indent = opening[: len(opening) - len(opening.lstrip())]
        quote = '"""' if '"""' in opening else "'''"
        prefix = opening.lstrip()[: opening.lstrip().index(quote)]
        summary = plain(" ".join(docstring.value.value.strip().split("\n\n")[0].split()))
        prefix = prefix if "\\" in summary else ""  # a raw string only where a backslash is left
        wrapped = textwrap.wrap(f"{prefix}{quote}{summary}{quote}", WIDTH - len(indent), break_on_hyphens=False)
        lines[start:end + 1] = [f"{indent}{line}" for line in wrapped]
    return "\n".join(lines) + ("\n" if code.endswith("\n") else "")


def plain(text: str) -> str:
    """reST roles and TeX of a docstring's summary as plain text: ``:math:`\\partial L``` is ∂L."""
    def role(match: re.Match) -> str:
        return tex(match["text"]) if match["role"] == "math" else match["text"]

    return ROLE.sub(role, text).replace("``", "")


def tex(text: str) -> str:
    for command, symbol in TEX:
        text = text.replace(command, symbol)
    text = re.sub(r"\\(?:mathbf|operatorname|mathrm|text)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", text)
    return re.sub(r"∂\s+", "∂", text.replace("{", "").replace("}", ""))


class PackageLiteralInclude(LiteralInclude):
    """``literalinclude``; for the package's code, with a caption and trimmed docstrings."""

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        if not path.startswith(PACKAGE_PREFIX) or self.options.get("language", "python") != "python":
            return super().run()
        self.options.setdefault("caption", caption(path, self.options.get("pyobject")))
        result = super().run()
        for block in result[0].findall(nodes.literal_block):
            trimmed = trim_docstrings(block.astext())
            block.children = [nodes.Text(trimmed)]
            block.rawsource = trimmed
        return result
