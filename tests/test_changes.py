"""What a change touches (bookbuild.changes), in small git repositories made for each test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bookbuild.changes import BASE_VARIABLE, changes, user_cache


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "--all")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path, monkeypatch):
    """A repository on main with one commit, as the project's main branch."""
    monkeypatch.delenv(BASE_VARIABLE, raising=False)
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, {"code/nnmath/layers.py": "A = 1\n", "tests/test_layers.py": "", ".gitignore": "*.log\n"}, "first")
    return repo


def test_a_fresh_clone_with_no_change_touches_nothing_and_says_what_it_compared_with(upstream, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(upstream), str(clone))
    change = changes(clone)
    head = git(clone, "rev-parse", "HEAD")
    assert change.base == head and change.files == frozenset()
    assert change.described == f"the merge base with origin/main ({head[:7]})"
    assert not change.touches("code/nnmath/layers.py")


def test_commits_edits_and_new_files_on_a_branch_of_a_clone_are_changes(upstream, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(upstream), str(clone))
    base = git(clone, "rev-parse", "HEAD")
    git(clone, "switch", "--quiet", "-c", "topic")
    commit(clone, {"code/nnmath/optim.py": "B = 2\n"}, "a new module")
    (clone / "tests" / "test_layers.py").write_text("# edited, not committed\n")
    (clone / "tests" / "test_optim.py").write_text("")  # untracked
    (clone / "build.log").write_text("ignored by .gitignore\n")
    change = changes(clone)
    assert change.base == base
    assert change.files == {"code/nnmath/optim.py", "tests/test_layers.py", "tests/test_optim.py"}
    assert change.touches("tests/test_layers.py") and not change.touches("code/nnmath/layers.py")


def test_a_branch_of_a_fetched_origin_main_is_compared_with_it_not_with_a_stale_local_main(upstream, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(upstream), str(clone))
    commit(upstream, {"code/nnmath/layers.py": "A = 5\n"}, "landed upstream after the clone")
    git(clone, "fetch", "--quiet")
    git(clone, "switch", "--quiet", "-c", "topic", "origin/main")  # the local main stays behind
    commit(clone, {"code/nnmath/optim.py": "B = 2\n"}, "the pull request")
    assert changes(clone).files == {"code/nnmath/optim.py"}


def test_local_commits_on_a_clones_main_count_until_they_are_upstream(upstream, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(upstream), str(clone))
    commit(clone, {"code/nnmath/layers.py": "A = 2\n"}, "on main, not pushed")
    assert changes(clone).files == {"code/nnmath/layers.py"}


def test_a_branch_without_a_remote_is_compared_with_main(upstream):
    base = git(upstream, "rev-parse", "HEAD")
    git(upstream, "switch", "--quiet", "-c", "helper")
    commit(upstream, {"code/nnmath/layers.py": "A = 3\n"}, "on a worktree's branch")
    change = changes(upstream)
    assert change.base == base and change.files == {"code/nnmath/layers.py"}
    assert change.described == f"the merge base with main ({base[:7]})"


def test_main_itself_without_a_remote_has_no_base_and_everything_counts(upstream):
    change = changes(upstream)
    assert change.base is None and "no base" in change.described
    assert change.touches("anything.py")


def test_the_base_can_be_named_as_ci_does_for_a_pull_request(upstream, monkeypatch):
    first = git(upstream, "rev-parse", "HEAD")
    commit(upstream, {"code/nnmath/layers.py": "A = 4\n"}, "second")
    monkeypatch.setenv(BASE_VARIABLE, first)
    change = changes(upstream)
    assert change.base == first and change.files == {"code/nnmath/layers.py"}
    monkeypatch.setenv(BASE_VARIABLE, "no-such-ref")
    with pytest.raises(ValueError, match=f"{BASE_VARIABLE}=no-such-ref: no such commit"):
        changes(upstream)


def test_outside_a_git_checkout_everything_counts(tmp_path):
    change = changes(tmp_path)
    assert change.base is None and change.touches("code/nnmath/layers.py")


def test_the_users_cache_is_outside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert user_cache("mutation") == tmp_path / "cache" / "nnmath-book" / "mutation"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache() == Path.home() / ".cache" / "nnmath-book"
