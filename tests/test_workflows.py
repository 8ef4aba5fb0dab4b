"""The GitHub Actions workflows: valid, and held to the repository's CI policy.

Each workflow is validated against the GitHub workflow schema vendored in check-jsonschema
(offline), then parsed and checked: no ``pull_request_target``; pull requests get a read-only
token and no secrets; deployment only from main; every action pinned to a commit; every piped
``run`` fails on a failure anywhere in the pipe; caches keyed on the requirements and the package.
Every check is also shown to fail on a workflow that breaks it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fixture_book import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
PIPE = re.compile(r"(?<!\|)\|(?!\|)")  # a shell pipe, not `||`
PIPEFAIL = re.compile(r"\bset\s+-\w*o\s+pipefail\b")
MAIN_ONLY = re.compile(r"github\.ref\s*==\s*'refs/heads/main'")
PULL_REQUEST_EVENTS = {"pull_request", "pull_request_target"}


def parse(text: str) -> dict:
    workflow = yaml.safe_load(text)
    if True in workflow:  # YAML 1.1 reads the key `on` as true
        workflow["on"] = workflow.pop(True)
    return workflow


def triggers(workflow: dict) -> set[str]:
    on = workflow.get("on") or {}
    return {on} if isinstance(on, str) else set(on)


def steps(workflow: dict) -> Iterator[tuple[str, dict, dict]]:
    for name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            yield name, job, step


def writes(permissions) -> bool:
    if isinstance(permissions, str):
        return permissions != "read-all"
    return any(value == "write" for value in (permissions or {}).values())


def values(workflow: dict) -> str:
    """Every key and value of the workflow as one string, without its comments."""
    return json.dumps(workflow)


def no_pull_request_target(workflow: dict) -> list[str]:
    if "pull_request_target" in triggers(workflow) or "pull_request_target" in values(workflow):
        return ["uses pull_request_target, which runs a pull request's code with the base repository's secrets"]
    return []


def pull_requests_read_only(workflow: dict) -> list[str]:
    if not triggers(workflow) & PULL_REQUEST_EVENTS:
        return []
    problems = []
    if "permissions" not in workflow:
        problems.append("pull-request workflow without top-level permissions (the default token may write)")
    elif writes(workflow["permissions"]):
        problems.append("pull-request workflow whose token may write")
    problems += [f"job {name}: pull-request job whose token may write"
                 for name, job in workflow["jobs"].items() if writes(job.get("permissions"))]
    if "secrets." in values(workflow):
        problems.append("pull-request workflow that uses secrets")
    return problems


def is_deploy_job(job: dict) -> bool:
    environment = job.get("environment")
    environment = environment.get("name") if isinstance(environment, dict) else environment
    return (writes(job.get("permissions")) or environment == "github-pages"
            or any("deploy-pages" in step.get("uses", "") for step in job.get("steps") or []))


def deploys_only_from_main(workflow: dict) -> list[str]:
    problems = []
    for name, job in workflow["jobs"].items():
        if not is_deploy_job(job):
            continue
        if not MAIN_ONLY.search(str(job.get("if", ""))):
            problems.append(f"job {name}: deploys (or may write) without `if: github.ref == 'refs/heads/main'`")
        if triggers(workflow) & PULL_REQUEST_EVENTS:
            problems.append(f"job {name}: deploys in a workflow that pull requests trigger")
    return problems


def actions_pinned(workflow: dict) -> list[str]:
    uses = [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
    uses += [step["uses"] for _, _, step in steps(workflow) if "uses" in step]
    return [f"action {action} is not pinned to a full commit SHA" for action in uses
            if not action.startswith("./") and not PINNED.match(action)]


def pipes_fail(workflow: dict) -> list[str]:
    problems = []
    default = ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
    for name, job, step in steps(workflow):
        script = step.get("run", "")
        if not PIPE.search(script):
            continue
        shell = step.get("shell") or ((job.get("defaults") or {}).get("run") or {}).get("shell") or default
        # GitHub runs exactly `shell: bash` as `bash -eo pipefail`; the implicit default has no pipefail.
        if shell != "bash" and not PIPEFAIL.search(script):
            problems.append(f"job {name}: piped run step without pipefail: {script.strip()!r}")
    return problems


def caches_keyed_on_inputs(workflow: dict) -> list[str]:
    problems = []
    for name, _, step in steps(workflow):
        if not step.get("uses", "").startswith("actions/cache@"):
            continue
        hashed = " ".join(re.findall(r"hashFiles\(([^)]*)\)", str((step.get("with") or {}).get("key", ""))))
        if "'requirements.txt'" not in hashed or "'code/**'" not in hashed:
            problems.append(f"job {name}: cache key does not hash requirements.txt and code/**")
    return problems


CHECKS = [no_pull_request_target, pull_requests_read_only, deploys_only_from_main, actions_pinned, pipes_fail,
          caches_keyed_on_inputs]


def policy_problems(text: str) -> list[str]:
    workflow = parse(text)
    return [problem for check in CHECKS for problem in check(workflow)]


def validate(*paths: Path) -> subprocess.CompletedProcess:
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True)


def test_there_is_a_pull_request_and_a_deploy_workflow():
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "deploy.yml"]


def test_the_workflows_are_valid_github_workflows(tmp_path):
    result = validate(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = validate(bad)
    assert result.returncode != 0 and "'stepz' was unexpected" in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_the_workflows_follow_the_policy(path):
    assert policy_problems(path.read_text()) == []


def test_pull_requests_get_a_first_verdict_from_parallel_jobs_then_the_slow_groups():
    workflow = parse((REPO / ".github" / "workflows" / "ci.yml").read_text())
    assert triggers(workflow) == {"pull_request", "schedule", "workflow_dispatch"}
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert set(jobs) == {"lint", "unit", "book", "slow", "mutation"}
    assert all(jobs[name]["if"] == "github.event_name == 'pull_request'" for name in ("lint", "unit", "book", "slow"))
    runs = {name: [step["run"] for step in job["steps"] if "run" in step] for name, job in jobs.items()}
    assert "make lint" in runs["lint"] and "make check" in runs["unit"] and "make site" in runs["book"]
    assert all("needs" not in jobs[name] for name in ("lint", "unit", "book"))  # side by side
    uploads = {step["with"]["path"]: step.get("if") for step in jobs["book"]["steps"]
               if step.get("uses", "").startswith("actions/upload-artifact@")}
    assert uploads == {"_build/html": None, "_build/pdf/book.pdf": None, "_build/reports/": "failure()"}
    slow = jobs["slow"]
    assert set(slow["needs"]) == {"lint", "unit", "book"}
    assert "make test-group GROUP=${{ matrix.group }}" in runs["slow"]
    assert workflow["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    # The groups together are every slow test: nothing that `make test` runs is left out of CI.
    groups = slow["strategy"]["matrix"]["group"]
    left_out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m",
                               f"slow and not ({' or '.join(groups)})"], cwd=REPO, capture_output=True, text=True)
    assert "no tests collected" in left_out.stdout or re.search(r"\b0 selected", left_out.stdout), left_out.stdout
    every = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow"], cwd=REPO,
                           capture_output=True, text=True)
    assert re.search(r"\d+/\d+ tests collected", every.stdout), every.stdout
    # Pull requests mutate what they touch, against their base; the schedule, the whole package.
    assert slow["steps"][-1]["env"] == {"NNMATH_CHANGES_BASE": "${{ github.event.pull_request.base.sha }}"}
    assert jobs["mutation"]["if"] == "github.event_name != 'pull_request'"
    assert "make mutation" in runs["mutation"]


def test_the_launch_buttons_open_what_the_deploy_workflow_publishes():
    """Colab and Binder open <chapter>.ipynb on the branch `notebooks`; deploy pushes the site's
    notebooks folder there, from main only, in a job that alone may write to the repository."""
    from types import SimpleNamespace

    from bookbuild.sphinx_reader import launch_urls

    workflow = parse((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    build, notebooks = workflow["jobs"]["build"], workflow["jobs"]["notebooks"]
    (upload,) = [step for step in build["steps"] if step.get("with", {}).get("name") == "notebooks"]
    assert upload["with"]["path"] == "_build/html/notebooks"
    assert notebooks["permissions"] == {"contents": "write"} and notebooks["needs"] == "build"
    assert MAIN_ONLY.search(notebooks["if"])
    script = "\n".join(step.get("run", "") for step in notebooks["steps"])
    assert "--initial-branch notebooks" in script and "HEAD" not in script
    assert re.search(r"git push .* notebooks$", script, re.M)
    assert not any("actions/checkout" in step.get("uses", "") for step in notebooks["steps"])  # no repository code
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    app = SimpleNamespace(config=SimpleNamespace(
        bookbuild_launch={"colab": "https://colab.research.google.com", "binder": "https://mybinder.org",
                          "branch": "notebooks"},
        html_theme_options={"repository_url": config["repository"]["url"]}))
    urls = launch_urls(app, "book/activations")
    assert urls["Colab"] == ("https://colab.research.google.com/github/nnmath/nnmath-book/blob/notebooks/"
                             "activations.ipynb")
    assert urls["Binder"].startswith("https://mybinder.org/v2/gh/nnmath/nnmath-book/notebooks?")
    assert (REPO / "binder" / "requirements.txt").is_file()


GOOD = """\
on: pull_request
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.3.0
        with:
          path: _build/executed
          key: book-${{ hashFiles('requirements.txt', 'code/**') }}
      - run: make test || true
      - run: make html | tee log
        shell: bash
      - run: |
          set -euo pipefail
          make pdf | tee log
"""
DEPLOY = """\
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  deploy:
    if: github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment: github-pages
    steps:
      - uses: actions/deploy-pages@d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e # v4.0.5
"""


@pytest.mark.parametrize("good", [GOOD, DEPLOY], ids=["pull-request", "deploy"])
def test_the_checks_pass_good_workflows(good):
    assert policy_problems(good) == []


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("on: pull_request", "on: pull_request_target"), "uses pull_request_target"),
    (GOOD.replace("on: pull_request", "on: [push, pull_request_target]"), "uses pull_request_target"),
    (GOOD.replace("permissions:\n  contents: read\n", ""), "without top-level permissions"),
    (GOOD.replace("contents: read", "contents: write"), "pull-request workflow whose token may write"),
    (GOOD.replace("permissions:\n  contents: read", "permissions: write-all"), "whose token may write"),
    (GOOD.replace("    runs-on:", "    permissions:\n      pull-requests: write\n    runs-on:"),
     "job test: pull-request job whose token may write"),
    (GOOD.replace("make test || true", "make test ${{ secrets.TOKEN }}"), "uses secrets"),
    (DEPLOY.replace("    if: github.ref == 'refs/heads/main'\n", ""), "job deploy: deploys (or may write) without"),
    (DEPLOY.replace("refs/heads/main", "refs/heads/dev"), "job deploy: deploys (or may write) without"),
    (DEPLOY.replace("  push:\n    branches: [main]", "  pull_request:"), "deploys in a workflow that pull requests"),
    (GOOD.replace("checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "checkout@v4"),
     "action actions/checkout@v4 is not pinned"),
    (GOOD.replace("checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "checkout@11bd719"), "is not pinned"),
    (DEPLOY.replace("deploy-pages@d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e", "deploy-pages@main"), "is not pinned"),
    (GOOD.replace("        shell: bash\n", ""), "piped run step without pipefail: 'make html | tee log'"),
    (GOOD.replace("        shell: bash\n", "        shell: sh\n"), "piped run step without pipefail"),
    (GOOD.replace("        shell: bash\n", "        shell: bash {0}\n"), "piped run step without pipefail"),
    (GOOD.replace("          set -euo pipefail\n", ""), "piped run step without pipefail: 'make pdf | tee log'"),
    (GOOD.replace("'requirements.txt', ", ""), "cache key does not hash requirements.txt and code/**"),
    (GOOD.replace(", 'code/**'", ""), "cache key does not hash requirements.txt and code/**"),
    (GOOD.replace("${{ hashFiles('requirements.txt', 'code/**') }}", "${{ github.sha }}"), "cache key does not"),
])
def test_each_check_fails_a_workflow_that_breaks_it(text, expected):
    problems = policy_problems(text)
    assert any(expected in problem for problem in problems), problems
