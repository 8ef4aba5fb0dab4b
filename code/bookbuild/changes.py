"""What a change touches: the files that differ from the change's base, and the user's cache.

The slow checks of the package (mutation testing, every shown function off by 1 %) run, in
``make test``, on what a change touches, as code review in large codebases does; ``make
mutation`` and CI's scheduled job run them on everything. The *base* of a change is, in order:

1. the commit named by ``NNMATH_CHANGES_BASE`` (CI sets it to the pull request's base);
2. the merge base of ``HEAD`` with ``origin/main``: a clone's pull request, or commits on
   its ``main`` that are not yet upstream;
3. the merge base with the local ``main``, on any other branch (a worktree's branch);
4. none: on ``main`` itself with no remote (the checkout changes land in). Then everything
   is *touched*; each check's results are kept in the user's cache under a key of what
   they depend on, so only what changed since the last run on this machine runs again.

The changed files are those that differ between the base and the working tree, committed
or not, and the untracked files that git does not ignore.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

BASE_VARIABLE = "NNMATH_CHANGES_BASE"
UPSTREAM = "origin/main"
MAIN = "main"


@dataclasses.dataclass(frozen=True)
class Changes:
    """The files a change touches (paths relative to the repository, posix), and against what."""

    base: str | None  # a commit; None when there is no base, and everything counts as touched
    described: str  # what the base is, for a reader: "the merge base with origin/main (1a2b3c4)"
    files: frozenset[str]

    def touches(self, *paths: str) -> bool:
        """Whether any of ``paths`` changed (always, with no base)."""
        return self.base is None or any(path in self.files for path in paths)


def user_cache(*names: str) -> Path:
    """A folder of the user's cache for this book's tools: ``$XDG_CACHE_HOME/nnmath-book/<names>``.

    As pip's cache, it lives outside every checkout: a fresh clone reuses what an older one
    computed, and no tool writes into the sources.
    """
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home.joinpath("nnmath-book", *names)


def _git(repo: Path, *arguments: str) -> str | None:
    process = subprocess.run(["git", *arguments], cwd=repo, capture_output=True, text=True)
    return process.stdout.strip() if process.returncode == 0 else None


def find_base(repo: Path) -> tuple[str | None, str]:
    """The base commit of the working tree's change and a sentence naming it (see the module)."""
    named = os.environ.get(BASE_VARIABLE)
    if named:
        commit = _git(repo, "rev-parse", "--verify", f"{named}^{{commit}}")
        if commit is None:
            raise ValueError(f"{BASE_VARIABLE}={named}: no such commit in {repo} (fetch it first)")
        return commit, f"{named} ({commit[:7]}, from {BASE_VARIABLE})"
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    for reference in (UPSTREAM, MAIN):
        if reference == MAIN and branch == MAIN:
            continue  # main's merge base with itself is HEAD: it would hide its own commits
        if _git(repo, "rev-parse", "--verify", "--quiet", f"{reference}^{{commit}}") is None:
            continue
        commit = _git(repo, "merge-base", "HEAD", reference)
        if commit:
            return commit, f"the merge base with {reference} ({commit[:7]})"
    return None, f"no base (on {branch or 'a detached HEAD'} with no {UPSTREAM}): everything counts as changed"


def changes(repo: Path) -> Changes:
    """The files that differ from the base, committed, staged, unstaged or untracked."""
    if _git(repo, "rev-parse", "--is-inside-work-tree") != "true":
        return Changes(None, f"{repo} is not a git checkout: everything counts as changed", frozenset())
    base, described = find_base(repo)
    if base is None:
        return Changes(None, described, frozenset())
    differing = _git(repo, "diff", "--name-only", "--no-renames", base) or ""
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard") or ""
    files = frozenset(line for line in (differing + "\n" + untracked).splitlines() if line)
    return Changes(base, described, files)
