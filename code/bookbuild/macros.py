r"""The book's maths macros, defined once in a LaTeX file and given to MathJax and LaTeX.

The file holds one ``\newcommand`` per line, e.g. ``\newcommand{\vb}{\mathbf{b}}`` or
``\newcommand{\pd}[2]{\frac{\partial #1}{\partial #2}}``; a line starting with ``%`` is a comment.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

NEWCOMMAND = re.compile(r"^\\newcommand\{\\(?P<name>[A-Za-z]+)\}(?:\[(?P<arity>\d)\])?\{(?P<body>.*)\}\s*$")


@dataclasses.dataclass(frozen=True)
class Macro:
    name: str
    arity: int
    body: str


def read_macros(path: Path) -> list[Macro]:
    """Parse the macro file; a line that is neither blank, a comment nor a macro is an error."""
    macros = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        match = NEWCOMMAND.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: expected \\newcommand{{\\name}}[arity]{{body}}, got {line!r}")
        macros.append(Macro(match["name"], int(match["arity"] or 0), match["body"]))
    return macros


def mathjax_macros(macros: list[Macro]) -> dict[str, str | list]:
    """MathJax 3's ``tex.macros``: ``name: body`` or ``name: [body, arity]``."""
    return {m.name: [m.body, m.arity] if m.arity else m.body for m in macros}


def latex_preamble(macros: list[Macro]) -> str:
    lines = [f"\\newcommand{{\\{m.name}}}{f'[{m.arity}]' if m.arity else ''}{{{m.body}}}" for m in macros]
    return "\n% The book's maths macros (book/macros.tex)\n" + "\n".join(lines) + "\n"
