"""Command line: ``python -m bookbuild COMMAND [--root DIR] [--jobs N]``.

``html`` and ``pdf`` run the whole pipeline: check the book, apply the lint's rules
(:mod:`bookbuild.rules`), execute what changed, then let Sphinx render with warnings as
errors. The exit code is non-zero whenever any step failed, and the closing summary
repeats every problem: each failing chapter, each lint problem, each Sphinx warning or
error, as ``path:line: what is wrong``. ``execute`` stops after the execution (the live
preview runs it before each rebuild); ``execute --blas-threads N`` executes the book with
N BLAS threads per kernel, as a reader's machine would, under execution keys of its own
(the pages always show the build's 1-thread results). Its chapters must pass every check;
the CPU budget, the build's, does not apply (threads that wait for each other spin, and on
a busy machine that costs several times the 1-thread CPU time), and a cell may run
``THREADED_TIMEOUT_FACTOR`` times longer; ``check`` stops after the check,
``site`` builds the PDF, then the website linking to it; ``lint`` runs the chapter lint,
``chapter NAME [--title TITLE] [--part CAPTION | --after CHAPTER]`` adds a chapter,
``preview`` serves the book and rebuilds it on every save (:mod:`bookbuild.preview`).

One build at a time per checkout: a second one waits for the first, saying so, and then
finds its chapters executed. Ctrl-C stops the build and everything it started, with one
line and exit code 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bookbuild import rules, uptodate
from bookbuild.book import BookConfig, BookError, built_pdf, check_book, load_config
from bookbuild.execute import ANSI_ESCAPE, execute_book, format_report
from bookbuild.processes import build_lock, run_child

UNDEFINED = re.compile(r"LaTeX Warning: (?:Reference|Citation|Hyper reference) .* undefined")
THREADED_TIMEOUT_FACTOR = 10  # execute --blas-threads N > 1: a cell's timeout, times this


class BuildFailed(Exception):
    """A step of the build failed; the message says which and why."""


def execute(config: BookConfig, jobs: int) -> list[str]:
    """Execute what changed; return the failing chapters' descriptions."""
    results = execute_book(config, jobs)
    print(format_report(results), flush=True)
    return [result.failure for result in results if result.failure]


def sphinx(config: BookConfig, builder: str, rewrite_all: bool = False) -> list[str]:
    """``jupyter-book build`` with warnings as errors, nitpicky; returns every problem it reported.

    Each warning or error comes back as ``path:line: message`` (an empty list: success).
    Sphinx re-reads only changed pages, so a warning from an unchanged page would not
    be raised again on the next build: after a failed build the saved environment is
    deleted, and the next build reads every page again. When nothing Sphinx reads has
    changed since its last successful run, it is not started at all (see
    :mod:`bookbuild.uptodate`).
    """
    inputs = uptodate.inputs_digest(config, builder)
    if not rewrite_all and uptodate.is_up_to_date(config, builder, inputs):
        print(f"Sphinx ({builder}): nothing it reads has changed since its last build, not run")
        return []
    uptodate.forget(config, builder)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(config.root), "--builder", builder, "-W", "-n", "--keep-going"]
    if rewrite_all:
        command.append("--all")
    problems: list[str] = []
    errors: list[str] = []

    def echo_and_collect(line: str) -> None:
        sys.stdout.write(line)
        plain = ANSI_ESCAPE.sub("", line).rstrip()
        if problem := rules.sphinx_problem(plain, config.root):
            problems.append(problem)
        elif rules.EXCEPTION.match(plain):
            errors.append(plain.replace(f"{config.root}/", ""))

    status = run_child(command, on_line=echo_and_collect, cwd=config.root)
    sys.stdout.flush()
    if status != 0:
        (config.build_dir / ".doctrees" / "environment.pickle").unlink(missing_ok=True)
        return problems or [f"Sphinx ({builder}) stopped: {error}" for error in dict.fromkeys(errors)] or [
            f"Sphinx ({builder}) failed (exit status {status}) without naming a problem; its output is above"]
    uptodate.record(config, builder, inputs)
    return []


def tex_error(log: str) -> str:
    """TeX's first error in ``log`` with the lines that show where it is (``l.7811 ... \\vu``),
    e.g. a macro the maths uses that ``bookbuild_macros`` does not define."""
    lines = log.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith("! ")), None)
    if start is None:
        return "  (no TeX error in the log; its end is above)"
    end = next((index + 2 for index in range(start, min(start + 8, len(lines))) if lines[index].startswith("l.")),
               start + 1)
    return "\n".join(f"  {line}" for line in lines[start:end] if line.strip())


def pdf(config: BookConfig) -> Path:
    """Typeset the LaTeX that Sphinx wrote; refuse a PDF with undefined references."""
    latex_dir = config.build_dir / "latex"
    (tex,) = [path for path in latex_dir.glob("*.tex") if "\\documentclass" in path.read_text()]
    command = ["latexmk", "-pdf", "-dvi-", "-ps-", "-interaction=nonstopmode", "-halt-on-error", tex.name]
    if shutil.which("latexmk") is None:
        raise BuildFailed("latexmk not found: install TeX Live as the README says (make system-deps)")
    if run_child(command, cwd=latex_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        log = tex.with_suffix(".log")
        raise BuildFailed(f"LaTeX failed ({config.relative(log)}):\n" + tex_error(log.read_text(errors="replace")))
    undefined = sorted(set(UNDEFINED.findall(tex.with_suffix(".log").read_text(errors="replace"))))
    if undefined:
        raise BuildFailed("the PDF would show ?? for:\n  " + "\n  ".join(undefined))
    output = built_pdf(config.root)
    output.parent.mkdir(exist_ok=True)
    shutil.copyfile(tex.with_suffix(".pdf"), output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bookbuild", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "execute", "html", "pdf", "site", "lint", "chapter", "preview"])
    parser.add_argument("name", nargs="?", help="with `chapter`: the new chapter's file name, kebab-case")
    parser.add_argument("--title", help="with `chapter`: the new chapter's title (default: from its name)")
    place = parser.add_mutually_exclusive_group()
    place.add_argument("--part", help="with `chapter`: the caption of the part to append it to")
    place.add_argument("--after", help="with `chapter`: the chapter to place it after, e.g. book/notation")
    parser.add_argument("--root", type=Path, default=Path("."), help="the book's root (holds _config.yml)")
    parser.add_argument("--jobs", type=int, help="chapters executed at once (default: the cores, divided by "
                                                  "--blas-threads)")
    parser.add_argument("--port", type=int, default=8000, help="with `preview`: the port to serve on")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="with `execute`: BLAS threads per kernel (the build uses 1)")
    args = parser.parse_args(argv)
    if args.blas_threads != 1 and args.command != "execute":
        parser.error("--blas-threads goes with `execute` only: the pages show the build's 1-thread results")
    if args.blas_threads < 1:
        parser.error(f"--blas-threads must be at least 1, got {args.blas_threads}")
    args.jobs = args.jobs or max(1, (os.cpu_count() or 1) // args.blas_threads)
    if args.command == "chapter":
        if not args.name:
            parser.error("chapter needs a NAME, e.g. `make chapter NAME=my-topic`")
        from bookbuild.scaffold import create_chapter

        try:
            path = create_chapter(args.root, args.name, args.title, part=args.part, after=args.after)
        except ValueError as error:
            print(f"bookbuild chapter: {error}", file=sys.stderr)
            return 1
        print(f"created {path} and listed it in _toc.yml")
        return 0
    if args.command == "lint":
        from bookbuild.lint import lint_book

        problems = lint_book(args.root)
        print("\n".join(problems) or "lint: no problems")
        return 1 if problems else 0
    if args.command == "preview":
        from bookbuild import preview

        try:
            return preview.run(load_config(args.root), args.jobs, args.port)
        except BookError as error:
            print(f"bookbuild preview: {error}", file=sys.stderr)
            return 1
    try:
        config = load_config(args.root)
        if args.blas_threads != 1:
            config = dataclasses.replace(config, blas_threads=args.blas_threads, chapter_budget=math.inf,
                                         cell_timeout=config.cell_timeout * THREADED_TIMEOUT_FACTOR)
        with build_lock(config.build_dir, f"bookbuild {args.command}"):
            build(config, args.command, args.jobs)
    except (BookError, BuildFailed) as error:
        print(f"\nbookbuild {args.command}: FAILED\n{error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nbookbuild {args.command}: interrupted; nothing half-done was stored", file=sys.stderr)
        return 130
    return 0


def build(config: BookConfig, command: str, jobs: int) -> None:
    """Run ``command``'s steps; raise BuildFailed with the summary of every problem found.

    A lint problem fails the build but does not stop it: the chapters are executed and
    rendered, so that one build names every problem.
    """
    check_book(config)
    if command == "check":
        return
    summary = rules.Summary()
    if command != "execute":
        lint = rules.lint_problems(config)
        print(f"lint: {len(lint)} problem(s), listed at the end" if lint else "lint: no problems", flush=True)
        summary.add(f"{len(lint)} problem(s) found by the lint's rules (make lint)", lint)
    failures = execute(config, jobs)
    summary.add(f"{len(failures)} chapter(s) failed to execute (full tracebacks in "
                f"{config.relative(config.reports_dir)}/)", failures)
    if failures and command != "execute":
        summary.add("Sphinx was not run", [f"{len(failures)} chapter(s) have no outputs to show"])
    elif command == "html" and render(summary, config, "html"):
        print(f"HTML: {config.relative(config.build_dir / 'html' / 'index.html')}")
    elif command in ("pdf", "site") and render(summary, config, "latex"):
        try:
            print(f"PDF: {config.relative(pdf(config))}")
        except BuildFailed as error:
            summary.add("the PDF", str(error).splitlines())
        else:
            # Every page is written again, now with its link to the PDF.
            if command == "site" and render(summary, config, "html", rewrite_all=True):
                print(f"website with the PDF: {config.relative(config.build_dir / 'html' / 'index.html')}")
    if summary:
        raise BuildFailed(str(summary))


def render(summary: rules.Summary, config: BookConfig, builder: str, rewrite_all: bool = False) -> bool:
    """Run Sphinx's ``builder``; add what it reported to the summary; return whether it succeeded."""
    problems = sphinx(config, builder, rewrite_all)
    summary.add(f"Sphinx ({builder}) reported {len(problems)} problem(s)", problems)
    return not problems


if __name__ == "__main__":
    sys.exit(main())
