"""Small books built with the project's real configuration, for the pipeline's tests.

A fixture book lives in a temporary folder: the repository's ``_config.yml`` (with the
tracked package pointed at a small package of the fixture's own, ``fixturepkg``) and
``pyproject.toml`` (ruff's settings, which the build's lint applies), its macros, a
``requirements.txt``, and the chapters a test writes. It is built with the
real command line, ``python -m bookbuild``, in a subprocess, as a contributor would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def chapter(title: str, *cells: str, header: bool = True) -> str:
    """A MyST Markdown chapter: a title, then one code cell per source in ``cells``.

    A chapter with code also gets the three exercises with solutions that the lint's rules
    (which the build applies) ask of it.
    """
    parts = [HEADER if header else "", f"# {title}\n\nSome prose about {title.lower()}.\n"]
    for source in cells:
        parts.append(f"\n```{{code-cell}} ipython3\n{textwrap.dedent(source).strip()}\n```\n")
    if cells:
        parts.append(exercises(re.sub(r"\W+", "-", title.lower())))
    return "".join(parts)


def exercises(slug: str, count: int = 3) -> str:
    """``count`` exercises labelled ``ex-<slug>-<k>``, each with its solution."""
    return "".join(f"\n```{{exercise}} Exercise {k}\n:label: ex-{slug}-{k}\nWhy?\n```\n\n"
                   f"```{{solution}} ex-{slug}-{k}\n:class: dropdown\nBecause.\n```\n" for k in range(1, count + 1))


@dataclass
class BuildResult:
    returncode: int
    output: str


class FixtureBook:
    def __init__(self, root: Path, cell_timeout: int = 30, chapter_budget: float | None = None):
        self.root = root
        config = yaml.safe_load((REPO / "_config.yml").read_text())
        config["execute"]["timeout"] = cell_timeout
        if chapter_budget is not None:
            config["sphinx"]["config"]["bookbuild_chapter_budget"] = chapter_budget
        config["sphinx"]["config"]["bookbuild_tracked_packages"] = ["fixturepkg"]
        config.pop("logo", None)
        config["html"].pop("favicon", None)
        (root / "book" / "_static").mkdir(parents=True)
        for folder in ("_templates", "_extra"):
            shutil.copytree(REPO / "book" / folder, root / "book" / folder)
        shutil.copy(REPO / "book" / "macros.tex", root / "book" / "macros.tex")
        shutil.copy(REPO / "book" / "references.bib", root / "book" / "references.bib")
        (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        # The repository's tool settings: the build's lint runs ruff with them, as in the real book.
        shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
        # The repository's pins (the reader notebooks' install cells name them), with a numpy
        # pin of the fixture's own, which tests change to see every chapter run again.
        pins = re.sub(r"(?m)^numpy==.*$", "numpy==1.0", (REPO / "requirements.txt").read_text())
        (root / "requirements.txt").write_text(pins)
        (root / "fixturepkg").mkdir()
        self.write("fixturepkg/__init__.py", '"""A package the fixture chapters import."""\n')
        self.chapters: list[str] = []

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def add_chapter(self, name: str, text: str, in_toc: bool = True) -> Path:
        path = self.write(f"book/{name}.md", text)
        if in_toc:
            self.chapters.append(f"book/{name}")
            self.write_toc(self.chapters)
        return path

    def write_toc(self, entries: list[str]) -> None:
        toc = {"format": "jb-book", "root": entries[0]}
        if entries[1:]:
            toc["chapters"] = [{"file": entry} for entry in entries[1:]]
        self.write("_toc.yml", yaml.safe_dump(toc, sort_keys=False))

    def build(self, command: str = "html", jobs: int = 2, *options: str, **variables: str) -> BuildResult:
        """``python -m bookbuild <command> [options]`` on the book, with ``variables`` added to the environment."""
        search_path = [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(search_path), **variables)
        process = subprocess.run(
            [sys.executable, "-m", "bookbuild", command, "--root", str(self.root), "--jobs", str(jobs), *options],
            cwd=self.root, env=environment, capture_output=True, text=True, timeout=600,
        )
        return BuildResult(process.returncode, process.stdout + process.stderr)

    def executed(self) -> list[str]:
        """The chapters the last build executed (from its execution report)."""
        report = json.loads((self.root / "_build" / "reports" / "execution.json").read_text())
        return sorted(entry["chapter"] for entry in report if entry["executed"])

    def html(self, name: str) -> str:
        return (self.root / "_build" / "html" / "book" / f"{name}.html").read_text()
