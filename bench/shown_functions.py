"""Every function a chapter shows fails the book when it is off by 1 %.

A chapter shows package code with ``{literalinclude} /code/nnmath/<module>.py`` and
``:pyobject: name`` (a function, or ``Class.method``). For each one, this script writes a
copy of the package in which that one function's results are 1.01 times what they should
be (its return value, and any float array it stores on ``self``), executes every chapter
that shows it against that copy, and expects the chapter to fail. A function whose results
are not numbers (an order of nodes, a data set, a checker) is listed in ``NOT_NUMERIC``
with the reason, and skipped.

Kernels are forked from the build's zygote (``bookbuild.zygote``), two chapters at a time;
each kernel puts the copy first on its search path before the chapter's first cell.

A function's verdict depends on the package, the chapters that show it, this script, the
pinned requirements and Python: it is kept in the user's cache
(``$XDG_CACHE_HOME/nnmath-book/shown``) under a key that hashes them, and reused while none
changes. ``--no-cache`` runs everything.

``--changed`` checks only the functions whose module, or a chapter that shows them, differs
from the change's base (see :mod:`bookbuild.changes`), or all of them when this script or the
requirements changed. ``make test`` runs that; ``make mutation`` and CI's scheduled job check
every function.

Run: python bench/shown_functions.py [--changed] [--workers N] [--only NAME] [--no-cache]
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bookbuild.changes import changes, user_cache

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "code" / "nnmath"
INCLUDE = re.compile(r"```\{literalinclude\}\s+/code/nnmath/(?P<module>\w+)\.py\s*\n:pyobject:\s*(?P<name>[\w.]+)")
SCALE = 1.01
# Files every verdict depends on: a change to one of them is a change to every function.
HARNESS = ["bench/shown_functions.py", "requirements.txt"]
NOT_NUMERIC = {
    "topological_order": "an order of the graph's nodes, not a number",
    "assert_close_to_autograd": "a checker: it returns nothing and raises on a mismatch",
    "load_digits_split": "a data set: scaling the pixels is not a wrong formula",
    "Tensor._accumulate": "adds into .grad in place; Tensor.backward, which calls it, is scaled instead",
}

# Injected into the mutated module. It calls the original, then scales what it produced: its
# return value, and every float array it stored on, or changed in, an nnmath object reachable
# from its arguments (a layer's dW, a tensor's grad, the weights a step updates).
SCALER = f'''
def _off_by_one_percent(function, *args, **kwargs):
    import dataclasses as _dataclasses

    import numpy as _np

    def scaled(value):
        if isinstance(value, _np.ndarray) and value.dtype.kind == "f" or isinstance(value, float):
            return value * {SCALE}
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*map(scaled, value))
        if _dataclasses.is_dataclass(value) and not isinstance(value, type):  # a frozen report too
            return _dataclasses.replace(value, **{{field.name: scaled(getattr(value, field.name))
                                                  for field in _dataclasses.fields(value) if field.init}})
        if isinstance(value, (tuple, list)):
            return type(value)(map(scaled, value))
        if type(value).__module__.startswith("nnmath") and hasattr(value, "__dict__"):
            for name, attribute in list(vars(value).items()):  # a Tensor's data, a Dual's parts
                if isinstance(attribute, (_np.ndarray, float)) and name != "grad":
                    setattr(value, name, scaled(attribute))
        return value

    objects, seen, stack = [], set(), [*args, *kwargs.values()]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("nnmath"):
            objects.append(value)
            stack.extend(vars(value).values())
    before = [{{name: (value, value.copy() if isinstance(value, _np.ndarray) else None)
                for name, value in vars(owner).items()}} for owner in objects]
    result = function(*args, **kwargs)
    for owner, old in zip(objects, before):
        for name, value in list(vars(owner).items()):
            if name not in old or old[name][0] is not value:
                setattr(owner, name, scaled(value))
            elif old[name][1] is not None and value.dtype.kind == "f" and not _np.array_equal(value, old[name][1]):
                value[...] = old[name][1] + {SCALE} * (value - old[name][1])
    return scaled(result)
'''


@dataclasses.dataclass(frozen=True)
class Target:
    module: str
    name: str  # function or Class.method
    chapters: tuple[str, ...]


def targets() -> list[Target]:
    from bookbuild.book import load_config

    shown: dict[tuple[str, str], list[str]] = {}
    config = load_config(REPO)
    for chapter in config.chapters:
        for match in INCLUDE.finditer(chapter.read_text()):
            key = (match["module"], match["name"])
            relative = config.relative(chapter)
            if relative not in shown.setdefault(key, []):
                shown[key].append(relative)
    return [Target(module, name, tuple(chapters)) for (module, name), chapters in shown.items()]


def scaled_source(module: str, name: str) -> str:
    """The module's source with ``name`` (a function or ``Class.method``) 1 % off."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    *owner, function = name.split(".")
    body = tree.body
    if owner:
        (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == owner[0]]
        body = cls.body
    (index,) = [i for i, node in enumerate(body) if isinstance(node, ast.FunctionDef) and node.name == function]
    original = body[index]
    if original.decorator_list:
        raise ValueError(f"{name}: decorated functions are not supported")
    hidden = f"_unscaled_{function}"
    original.name = hidden
    qualified = f"{owner[0]}.{hidden}" if owner else hidden  # looked up when called
    wrapper = ast.parse(f"def {function}(*args, **kwargs):\n"
                        f"    return _off_by_one_percent({qualified}, *args, **kwargs)\n").body[0]
    body.insert(index + 1, wrapper)
    docstring = tree.body[:1] if isinstance(tree.body[0], ast.Expr) else []
    tree.body[len(docstring):len(docstring)] = ast.parse(SCALER).body
    return ast.unparse(ast.fix_missing_locations(tree))


def _prepare(target: Target) -> Path:
    root = Path(tempfile.mkdtemp(prefix="nnmath-off-"))
    shutil.copytree(PACKAGE, root / "nnmath", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "nnmath" / f"{target.module}.py").write_text(scaled_source(target.module, target.name))
    return root


def _execute(chapter: str, package_root: str | None) -> str | None:
    """Run a chapter against the package under ``package_root``; return its failure, or None."""
    import nbformat
    from bookbuild.book import read_notebook
    from bookbuild.execute import _ipc_transport
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = REPO / chapter
    notebook = read_notebook(path.read_text())
    first = (f"import sys\nsys.path.insert(0, {package_root!r})\nimport nnmath\n"
             f"assert nnmath.__file__.startswith({package_root!r}), nnmath.__file__") if package_root else "pass"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(first))
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", config=_ipc_transport(),
                            resources={"metadata": {"path": str(path.parent)}}, shutdown_kernel="immediate")
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        text = [line for line in str(getattr(error, "evalue", error)).splitlines() if line.strip()]
        return f"{getattr(error, 'ename', type(error).__name__)}: {text[0] if text else ''}"[:160]
    return None


def _run(target: Target) -> tuple[Target, list[tuple[str, str | None]], float]:
    start = time.perf_counter()
    root = _prepare(target)
    try:
        return target, [(chapter, _execute(chapter, str(root))) for chapter in target.chapters], \
            time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stored_verdict_path(target: Target) -> Path:
    """Where the verdict on one function is kept, under a key of what it depends on."""
    return user_cache("shown") / f"{target_key(target)}.json"


def target_key(target: Target) -> str:
    """What the verdict on one function depends on, hashed."""
    digest = hashlib.sha256(f"{sys.version}\0{target}\0".encode())
    for path in [*sorted(PACKAGE.rglob("*.py")), *(REPO / chapter for chapter in target.chapters), Path(__file__),
                 REPO / "requirements.txt"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _start_worker(parent: int, ipython_dir: str) -> None:
    from bookbuild.execute import _start_worker as start_bookbuild_worker

    start_bookbuild_worker(parent, ipython_dir)


def _run_all(pending: dict[Target, Path], workers: int) -> list[Target]:
    """Run each function's chapters against its 1 %-off copy; store each verdict (``pending`` says
    where); return the survivors."""
    from bookbuild.book import load_config
    from bookbuild.execute import _ipython_dir

    survivors = []
    user_cache("shown").mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(os.getpid(), str(_ipython_dir(load_config(REPO))))) as pool:
        baseline = {chapter: pool.submit(_execute, chapter, None)
                    for chapter in sorted({c for t in pending for c in t.chapters})}
        broken = {chapter: failure for chapter, future in baseline.items() if (failure := future.result())}
        if broken:
            raise SystemExit(f"the unchanged package already fails: {broken}")
        for future in concurrent.futures.as_completed([pool.submit(_run, t) for t in pending]):
            target, outcomes, seconds = future.result()
            caught = [(chapter, failure) for chapter, failure in outcomes if failure]
            if not caught:
                survivors.append(target)
            verdict = f"caught by {caught[0][0]}: {caught[0][1]}" if caught else "NOT CAUGHT by " + ", ".join(
                target.chapters)
            pending[target].write_text(json.dumps({"caught": bool(caught), "verdict": verdict}))
            print(f"{seconds:5.1f} s  {target.module}.{target.name}: {verdict}", flush=True)
    return survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", action="append", help="only this function (repeatable)")
    parser.add_argument("--changed", action="store_true",
                        help="only the functions whose module or showing chapter differs from the change's base")
    parser.add_argument("--no-cache", action="store_true", help="run every function, stored verdicts or not")
    args = parser.parse_args()
    chosen = [t for t in targets() if not args.only or t.name in args.only]
    if args.changed:
        change = changes(REPO)
        chosen = [t for t in chosen if change.touches(f"code/nnmath/{t.module}.py", *t.chapters, *HARNESS)]
        print(f"Compared with {change.described}: {len(chosen)} shown function(s) whose module or chapter changed")
    skipped = [t for t in chosen if t.name in NOT_NUMERIC]
    chosen = [t for t in chosen if t.name not in NOT_NUMERIC]
    print(f"{len(chosen)} functions shown by the chapters, each 1 % off; {len(skipped)} not numeric, skipped:")
    for target in skipped:
        print(f"  {target.module}.{target.name}: {NOT_NUMERIC[target.name]}")
    start = time.perf_counter()
    survivors, pending = [], {}
    for target in chosen:
        stored = stored_verdict_path(target)
        if stored.is_file() and not args.no_cache:
            verdict = json.loads(stored.read_text())
            print(f"stored   {target.module}.{target.name}: {verdict['verdict']}")
            if not verdict["caught"]:
                survivors.append(target)
        else:
            pending[target] = stored
    if pending:
        survivors += _run_all(pending, args.workers)
    print(f"\nCaught {len(chosen) - len(survivors)} of {len(chosen)} functions off by 1 % "
          f"in {time.perf_counter() - start:.0f} s.")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
