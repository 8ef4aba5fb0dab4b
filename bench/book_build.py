"""Benchmark the book's build on the real book, every scenario measured in one run.

Scenarios, each in a scratch copy of the book (with its own copy of the package, so
that editing a module touches nothing in the repository):

* clean build (execution, then Sphinx, timed apart);
* no-op rebuild;
* one chapter's code edited;
* one package module edited (``--module``, default ``nnmath.losses``);
* the PDF from a warm store;
* plain sequential ``jupyter-book build`` of the same book (MyST-NB executing every
  chapter itself), for comparison.

Prints each time, how many chapters each scenario executed, and the ratios the build
promises: clean <= 0.6x plain, clean <= 1.3x the parallel limit
max(sum of chapter times / cores, longest chapter) + Sphinx time, no-op <= 5 % of clean.
Run: ``make bench`` or ``python bench/book_build.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def scratch_book() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-book-"))
    for name in ("_config.yml", "_toc.yml", "requirements.txt"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.copytree(REPO / "code", root / "code", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return root


def run(command: list[str], root: Path) -> float:
    environment = dict(os.environ, PYTHONPATH=str(root / "code"))
    start = time.perf_counter()
    process = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}")
    return seconds


def bookbuild(command: str, root: Path) -> float:
    return run([sys.executable, "-m", "bookbuild", command, "--root", str(root)], root)


def report(root: Path) -> list[dict]:
    return json.loads((root / "_build" / "reports" / "execution.json").read_text())


def executed(root: Path) -> list[str]:
    return sorted(entry["chapter"] for entry in report(root) if entry["executed"])


def importers(root: Path, module: str) -> list[str]:
    """The chapters whose dependencies include ``module`` (as the pipeline computes them)."""
    sys.path.insert(0, str(root / "code"))
    from bookbuild.book import load_config, read_notebook
    from bookbuild.keys import chapter_dependencies

    config = load_config(root)
    target = (root / "code" / Path(*module.split("."))).with_suffix(".py")
    return sorted(config.relative(chapter) for chapter in config.chapters
                  if target in chapter_dependencies(read_notebook(chapter.read_text()), config.tracked_packages))


def plain_config(root: Path) -> Path:
    """The same book for plain ``jupyter-book build``: MyST-NB executes, nothing of ours."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"
    config["sphinx"]["extra_extensions"].remove("bookbuild.sphinx_ext")
    for key in [key for key in config["sphinx"]["config"] if key.startswith("bookbuild_")]:
        del config["sphinx"]["config"][key]
    path = root / "_config_plain.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def edit_first_code_line(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    fence = next(i for i, line in enumerate(lines) if line.startswith("```{code-cell}"))
    lines.insert(fence + 1, "# edited by the benchmark\n")
    path.write_text("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="book/activations.md", help="the chapter whose code is edited")
    parser.add_argument("--module", default="nnmath.losses", help="the package module that is edited")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    root = scratch_book()
    rows = []

    execution = bookbuild("execute", root)
    chapter_times = [entry["seconds"] for entry in report(root) if entry["executed"]]
    count = len(chapter_times)
    sphinx_time = bookbuild("html", root)
    clean = execution + sphinx_time
    rows.append(("clean build (execute + Sphinx)", clean, count))

    noop = bookbuild("html", root)
    rows.append(("no-op rebuild", noop, len(executed(root))))

    edit_first_code_line(root / args.chapter)
    rows.append((f"edit one chapter ({args.chapter})", bookbuild("html", root), len(executed(root))))
    one_chapter = executed(root)

    module_file = (root / "code" / Path(*args.module.split("."))).with_suffix(".py")
    module_file.write_text(module_file.read_text() + "\n# edited by the benchmark\n")
    rows.append((f"edit one module ({args.module})", bookbuild("html", root), len(executed(root))))
    module_executed, module_importers = executed(root), importers(root, args.module)

    rows.append(("PDF from a warm store", bookbuild("pdf", root), len(executed(root))))

    plain_root = scratch_book()
    plain = run([str(BIN / "jupyter-book"), "build", str(plain_root), "--config", str(plain_config(plain_root))],
                plain_root)
    rows.append(("plain sequential jupyter-book build", plain, count))

    limit = max(sum(chapter_times) / cores, max(chapter_times)) + sphinx_time
    print(f"\nBook build benchmark on {cores} cores, {count} executed chapters "
          f"(sum of chapter times {sum(chapter_times):.1f} s, longest {max(chapter_times):.1f} s)\n")
    print(f"{'scenario':48} {'seconds':>8} {'chapters executed':>18}")
    for name, seconds, chapters in rows:
        print(f"{name:48} {seconds:8.1f} {chapters:>18}")
    print(f"\n{'ratio':48} {'value':>8} {'target':>18}")
    for name, value, target in [
        ("clean / plain sequential jupyter-book", clean / plain, "<= 0.60"),
        ("clean / parallel limit", clean / limit, "<= 1.30"),
        ("no-op / clean", noop / clean, "<= 0.05"),
    ]:
        print(f"{name:48} {value:8.2f} {target:>18}")
    print(f"\nparallel limit = max({sum(chapter_times):.1f}/{cores}, {max(chapter_times):.1f}) "
          f"+ Sphinx {sphinx_time:.1f} = {limit:.1f} s")
    print(f"one-chapter edit executed {one_chapter} (expected [{args.chapter!r}])")
    print(f"one-module edit executed {module_executed}\n  importers of {args.module}: {module_importers}")
    print(f"  exactly the importers: {module_executed == module_importers}")
    shutil.rmtree(root)
    shutil.rmtree(plain_root)


if __name__ == "__main__":
    main()
