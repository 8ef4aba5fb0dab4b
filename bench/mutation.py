"""Mutation testing of nnmath: break one thing at a time and check that the tests notice.

Each mutant changes a single node of one module's syntax tree, on one line: a
flipped operator (+/-, * and /, @ to *), a dropped factor or term, a dropped
``.T`` or unary minus, a changed constant (0 -> 1, 1 -> 2, 0.5 -> 1, True <-> False),
a swapped ``axis=0``/``axis=1``, a negated comparison, ``and``/``or``, sum/mean
and max/min swapped. Error messages (f-strings and ``raise`` statements) are left
alone: changing their wording is not a bug the maths tests should catch.

The modules and their tests are found by convention, with nothing to register: every
module of ``code/nnmath`` is mutated (``layers`` for ``layers.py``; a subpackage's modules
too: ``exercises`` for ``exercises/__init__.py``, ``exercises.training``), and its tests are
``tests/test_<name>.py``, ``<name>`` being the module's, or its subpackage's, first name
(a module without that file is an error naming it). A private module (``_checks``) has no
tests of its own: the tests of the package's modules that import it guard it.

Each mutant is written into a temporary copy of the package (the real files are
never touched). A child process forked from this one puts the copy first on
``sys.path`` and runs ``pytest -x -q -p no:cacheprovider`` on the tests of the
mutated module, with a timeout; the mutant is killed if they fail or time out.
Forking from a process that has already imported NumPy, PyTorch, scikit-learn,
Hypothesis and pytest (but never nnmath) saves each run about two seconds of
start-up, so all the mutants fit in a few minutes. Before the mutants, the
unmutated copy must be the one imported and must pass the tests of the modules run.

A module's result depends only on its source, its tests, this script, the pinned
requirements and Python: it is kept, under a key that hashes them, in the user's cache
(``$XDG_CACHE_HOME/nnmath-book/mutation``, like pip's cache; ``NNMATH_MUTATION_CACHE``
moves it), and reused while none of them changes, also by a fresh clone. ``--no-cache``
runs everything.

``--changed`` mutates only the modules that the working tree's change touches: those
whose source or tests differ from the change's base (see :mod:`bookbuild.changes`: the
merge base with ``origin/main`` or ``main``), or every module when this script, the tests'
``conftest.py`` or the requirements changed. ``make test`` runs that; ``make mutation``
and CI's scheduled job run the whole package.

Run: python bench/mutation.py [--changed] [--max-mutants N] [--workers W] [--module NAME] [--no-cache]
"""

import argparse
import ast
import copy
import functools
import hashlib
import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from bookbuild.changes import changes, user_cache

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "code" / "nnmath"

TESTS = REPO / "tests"
# Files every module's result depends on: a change to one of them is a change to every module.
HARNESS = ["bench/mutation.py", "tests/conftest.py", "requirements.txt"]


class MissingTests(Exception):
    """A package module without the test file the convention expects; the message names it."""


def package_modules():
    """Every module of the package, by dotted name within it: ``layers``, ``exercises`` (the
    subpackage's ``__init__.py``), ``exercises.training``."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts and "__pycache__" not in parts:
            names.append(".".join(parts))
    return names


def module_file(module):
    """``module``'s file, relative to the package: ``layers.py``, ``exercises/__init__.py``."""
    folder = Path(*module.split("."))
    return folder / "__init__.py" if (PACKAGE / folder).is_dir() else folder.with_suffix(".py")


def is_private(module):
    return any(part.startswith("_") for part in module.split("."))


def imported_package_modules(module):
    """The package's modules that ``module`` imports, absolutely or relatively, by dotted name."""
    here = module.split(".") if module_file(module).name == "__init__.py" else module.split(".")[:-1]
    known, found = set(package_modules()), set()
    for node in ast.walk(ast.parse((PACKAGE / module_file(module)).read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and (node.module + ".").startswith("nnmath."):
                base = node.module.removeprefix("nnmath").lstrip(".")
            else:
                continue
            found.update({base, *(f"{base}.{alias.name}".lstrip(".") for alias in node.names)})
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("nnmath.") for alias in node.names if alias.name.startswith("nnmath."))
    return found & known


def module_tests(module):
    """The test files that guard ``module``, relative to the repository, by convention.

    A public module's tests are ``tests/test_<name>.py``, ``<name>`` its first name (a
    subpackage's modules share its file); a private one's (``_checks``) are those of the public
    modules that import it. Raises MissingTests naming the file to create.
    """
    if is_private(module):
        importers = [name for name in package_modules()
                     if not is_private(name) and module in imported_package_modules(name)]
        if not importers:
            raise MissingTests(f"code/nnmath/{module_file(module).as_posix()}: a private module that no public "
                               f"module imports, so no tests guard it: import it from a module, or make it public "
                               f"with tests/test_{module.split('.')[0].lstrip('_')}.py")
        return sorted({test for name in importers for test in module_tests(name)})
    test = TESTS / f"test_{module.split('.')[0]}.py"
    if not test.is_file():
        raise MissingTests(f"code/nnmath/{module_file(module).as_posix()} has no tests: create "
                           f"{test.relative_to(REPO).as_posix()} (a module's tests are tests/test_<module>.py; "
                           "see CONTRIBUTING.md)")
    return [test.relative_to(REPO).as_posix()]


def changed_modules(changes):
    """The modules whose source or tests a change touches: all of them if the harness changed."""
    return [module for module in package_modules()
            if changes.touches(f"code/nnmath/{module_file(module).as_posix()}", *module_tests(module), *HARNESS)]


OPERATOR_SWAPS = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult],
    ast.Pow: [ast.Mult], ast.MatMult: [ast.Mult], ast.FloorDiv: [ast.Mult], ast.Mod: [ast.Mult],
}
COMPARISON_NEGATIONS = {
    ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
# Imported once here, before any fork, so that each child starts in a fraction of a second.
PRELOAD = ["numpy", "torch", "torch.nn.functional", "scipy", "sklearn.datasets", "sklearn.model_selection",
           "hypothesis", "hypothesis.extra.numpy", "pytest"]
METHOD_SWAPS = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "maximum": "minimum",
                "minimum": "maximum"}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int
    line: int
    description: str

    def __str__(self):
        return f"{module_file(self.module).as_posix()}:{self.line}: {self.description}"


class _Mutator(ast.NodeTransformer):
    """Walks a module in a fixed order; lists the mutation sites, or applies the one at ``target``."""

    def __init__(self, target=None):
        self.target = target
        self.sites = []

    def _offer(self, node, description, mutate):
        index = len(self.sites)
        self.sites.append((node.lineno, description))
        if index == self.target:
            return ast.copy_location(mutate(copy.deepcopy(node)), node)
        return node

    def _offer_all(self, node, offers):
        """Offer each (description, mutate); only the targeted one (if any) changes the node."""
        for description, mutate in offers:
            result = self._offer(node, description, mutate)
            if result is not node:
                return result
        return node

    def visit_Raise(self, node):
        return node

    def visit_JoinedStr(self, node):
        return node

    def visit_Expr(self, node):
        is_docstring = isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        return node if is_docstring else self.generic_visit(node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        op = type(node.op).__name__
        offers = [(f"{op} -> {new.__name__}", lambda n, new=new: _with(n, op=new()))
                  for new in OPERATOR_SWAPS.get(type(node.op), [])]
        if isinstance(node.op, ast.Mult | ast.Div | ast.Add | ast.Sub):
            offers.append((f"drop the right operand of {op}", lambda n: n.left))
        if isinstance(node.op, ast.Mult):
            offers.append(("drop the left factor", lambda n: n.right))
        return self._offer_all(node, offers)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        op = type(node.op).__name__
        return self._offer_all(node, [(f"{op}= -> {new.__name__}=", lambda n, new=new: _with(n, op=new()))
                                      for new in OPERATOR_SWAPS.get(type(node.op), [])])

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub | ast.Not):
            return self._offer(node, f"drop unary {type(node.op).__name__}", lambda n: n.operand)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        return self._offer(node, f"{type(node.op).__name__} -> {new.__name__}", lambda n: _with(n, op=new()))

    def visit_Compare(self, node):
        self.generic_visit(node)
        offers = []
        for i, op in enumerate(node.ops):
            new = COMPARISON_NEGATIONS[type(op)]

            def negate(n, i=i, new=new):
                n.ops[i] = new()
                return n

            offers.append((f"{type(op).__name__} -> {new.__name__}", negate))
        return self._offer_all(node, offers)

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr == "T" and isinstance(node.ctx, ast.Load):
            return self._offer(node, "drop .T", lambda n: n.value)
        if node.attr in METHOD_SWAPS and isinstance(node.ctx, ast.Load):
            new = METHOD_SWAPS[node.attr]
            return self._offer(node, f".{node.attr} -> .{new}", lambda n: _with(n, attr=new))
        return node

    def visit_keyword(self, node):
        axis = _int_value(node.value) if node.arg == "axis" else None
        if axis is None:
            return self.generic_visit(node)
        new = 0 if axis else 1
        node.value = self._offer(node.value, f"axis={axis} -> axis={new}", lambda n: ast.Constant(new))
        return node

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool):
            return self._offer(node, f"{value} -> {not value}", lambda n: ast.Constant(not value))
        if isinstance(value, int | float):
            new = {0: 1, 1: 2, 0.5: 1.0}.get(value, value * 2 if value else 1)
            new = type(value)(new)
            return self._offer(node, f"{value!r} -> {new!r}", lambda n: ast.Constant(new))
        return node


def _with(node, **fields):
    for name, value in fields.items():
        setattr(node, name, value)
    return node


def _int_value(node):
    """The value of an int literal such as 1 or -1, else None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _int_value(node.operand) is not None:
        return -_int_value(node.operand)
    return None


def list_mutants(module):
    """Every mutant of ``code/nnmath/<module>.py``, in a fixed order."""
    mutator = _Mutator()
    mutator.visit(ast.parse((PACKAGE / module_file(module)).read_text()))
    return [Mutant(module, i, line, description) for i, (line, description) in enumerate(mutator.sites)]


def mutated_source(mutant):
    mutator = _Mutator(target=mutant.index)
    tree = ast.fix_missing_locations(mutator.visit(ast.parse((PACKAGE / module_file(mutant.module)).read_text())))
    return ast.unparse(tree)


def _run_child(root, module):
    """In a forked child: run ``module``'s tests on the package copy under ``root``. Never returns."""
    code = 1
    try:
        log = os.open(Path(root) / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.path.insert(0, str(root))
        os.chdir(REPO)
        sys.modules["torch"].set_num_threads(1)  # the children share the cores
        # Hypothesis is preloaded, so pytest cannot rewrite its plugin's asserts: that warning is moot.
        code = sys.modules["pytest"].main([*module_tests(module), "-x", "-q", "-p", "no:cacheprovider",
                                           "--hypothesis-profile=mutation",
                                           "-W", "ignore::pytest.PytestAssertRewriteWarning"])
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))


def run_in_children(jobs, workers, timeout, on_done):
    """Run each job's tests in a forked child, up to ``workers`` children at a time.

    A job is ``(key, prepare)``: ``prepare()`` runs here just before the fork and
    returns ``(root, module)``, the package copy and the module whose tests to run.
    ``on_done(key, passed, seconds)`` runs once the child has exited. A child still
    running after ``timeout`` seconds is killed, which counts as failing.
    """
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < workers:
            key, prepare = pending.pop(0)
            root, module = prepare()
            pid = os.fork()
            if pid == 0:
                _run_child(root, module)
            running[pid] = (key, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for child, (_, start) in running.items():
                if time.monotonic() - start > timeout:
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.01)
            continue
        key, start = running.pop(pid)
        on_done(key, os.waitstatus_to_exitcode(status) == 0, time.monotonic() - start)


def _fresh_copy(root):
    """A copy of the package under ``root``, to be put first on the children's sys.path."""
    target = Path(root) / "nnmath"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def check_setup(root, modules, timeout):
    """The unmutated copy must be what the children import, and pass the tests of ``modules``."""
    if "nnmath" in sys.modules:
        raise RuntimeError("nnmath is imported in this process: forked children would not see the mutants")
    probe = subprocess.run([sys.executable, "-c", "import nnmath; print(nnmath.__file__)"], cwd=REPO,
                           env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True, check=True)
    if Path(probe.stdout.strip()).parent != Path(root) / "nnmath":
        raise RuntimeError(f"the copy is not imported first: nnmath came from {probe.stdout.strip()}")
    failing = []
    once = {tuple(module_tests(module)): module for module in modules}.values()  # a subpackage shares its tests
    jobs = [(module, lambda module=module: (root, module)) for module in once]
    run_in_children(jobs, 1, timeout, lambda module, passed, _: passed or failing.append(module))
    if failing:
        log = (Path(root) / "pytest.log").read_text()[-3000:]
        raise RuntimeError(f"the unmutated package fails the tests of {failing}:\n{log}")


def run_mutants(mutants, workers=2, timeout=60, progress=None):
    """Run every mutant, each written into a free copy of the package; returns the survivors."""
    progress = progress or functools.partial(print, flush=True)
    for name in PRELOAD:
        importlib.import_module(name)
    survivors, finished = [], []
    slots = [tempfile.mkdtemp(prefix="nnmath-mutant-") for _ in range(workers)]
    free, slot_of = list(slots), {}
    try:
        for slot in slots:
            _fresh_copy(slot)
        check_setup(slots[0], sorted({mutant.module for mutant in mutants}), timeout)

        def prepare(mutant):
            slot_of[mutant] = free.pop()
            (Path(slot_of[mutant]) / "nnmath" / module_file(mutant.module)).write_text(mutated_source(mutant))
            return slot_of[mutant], mutant.module

        def finish(mutant, passed, seconds):
            slot = slot_of.pop(mutant)
            shutil.copy(PACKAGE / module_file(mutant.module), Path(slot) / "nnmath" / module_file(mutant.module))
            free.append(slot)
            finished.append(mutant)
            if passed:
                survivors.append(mutant)
            progress(f"[{len(finished)}/{len(mutants)}] {seconds:5.1f} s {'SURVIVED' if passed else 'killed  '} "
                     f"{mutant}")

        run_in_children([(m, lambda m=m: prepare(m)) for m in mutants], workers, timeout, finish)
    finally:
        for slot in slots:
            shutil.rmtree(slot, ignore_errors=True)
    return survivors


def select_mutants(modules, max_mutants=None, seed=0):
    """All mutants of ``modules``, or a deterministic sample of ``max_mutants`` of them."""
    mutants = [m for module in modules for m in list_mutants(module)]
    if max_mutants is not None and len(mutants) > max_mutants:
        chosen = random.Random(seed).sample(range(len(mutants)), max_mutants)
        mutants = [mutants[i] for i in sorted(chosen)]
    return mutants


def cache_dir() -> Path:
    return Path(os.environ.get("NNMATH_MUTATION_CACHE") or user_cache("mutation"))


def module_key(module) -> str:
    """What a module's mutation result depends on, hashed."""
    digest = hashlib.sha256(f"{sys.version}\0{module}\0".encode())
    for path in [PACKAGE / module_file(module), *(REPO / test for test in module_tests(module)),
                 *(REPO / name for name in HARNESS)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def mutation_score(modules, max_mutants=None, workers=2, timeout=60, seed=0, progress=None,
                   use_cache=True):
    """Run the mutation analysis; returns (killed, total, survivors).

    With ``use_cache`` (and no sampling), each module whose key has a stored result is not
    run again, and each module that runs stores its result.
    """
    progress = progress or functools.partial(print, flush=True)
    total = sum(len(list_mutants(m)) for m in modules)
    if max_mutants is not None or not use_cache:
        mutants = select_mutants(modules, max_mutants, seed)
        progress(f"{len(mutants)} mutants run, of {total} generated" +
                 (f" (a deterministic sample, seed {seed})" if len(mutants) < total else ""))
        survivors = run_mutants(mutants, workers, timeout, progress)
        return len(mutants) - len(survivors), len(mutants), survivors
    killed, count, survivors, pending = 0, 0, [], []
    for module in modules:
        stored = cache_dir() / f"{module}-{module_key(module)}.json"
        if stored.is_file():
            record = json.loads(stored.read_text())
            killed, count = killed + record["killed"], count + record["total"]
            survivors += [Mutant(**fields) for fields in record["survivors"]]
            progress(f"{module}: {record['killed']} of {record['total']} killed (stored result, unchanged module)")
        else:
            pending.append(module)
    mutants = select_mutants(pending)
    progress(f"{len(mutants)} mutants of {len(pending)} changed module(s) run, of {total} generated")
    run_survivors = run_mutants(mutants, workers, timeout, progress) if mutants else []
    for module in pending:
        mine = [m for m in mutants if m.module == module]
        lost = [m for m in run_survivors if m.module == module]
        record = {"killed": len(mine) - len(lost), "total": len(mine), "survivors": [vars(m) for m in lost]}
        cache_dir().mkdir(parents=True, exist_ok=True)
        (cache_dir() / f"{module}-{module_key(module)}.json").write_text(json.dumps(record))
        killed, count = killed + record["killed"], count + record["total"]
    return killed, count, survivors + run_survivors


MIN_SCORE = 0.90  # the share of mutants the tests must kill, over the modules run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=package_modules(),
                        help="only this module (repeatable; default all)")
    parser.add_argument("--changed", action="store_true",
                        help="only the modules whose source or tests differ from the change's base")
    parser.add_argument("--max-mutants", type=int, default=None, help="run a deterministic sample of this many")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per test run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--no-cache", action="store_true", help="run every module, stored results or not")
    args = parser.parse_args()
    try:
        modules = args.module or package_modules()
        for module in modules:
            module_tests(module)
        if args.changed:
            change = changes(REPO)
            modules = [module for module in changed_modules(change) if module in modules]
            print(f"Compared with {change.described}: "
                  + (f"{len(modules)} module(s) touched: {', '.join(modules)}" if modules else
                     "no package module, its tests or this script changed; nothing to mutate"), flush=True)
    except MissingTests as error:
        sys.exit(f"bench/mutation.py: {error}")
    if args.list:
        for mutant in select_mutants(modules, args.max_mutants, args.seed):
            print(mutant)
        return
    if not modules:
        return
    start = time.perf_counter()
    killed, total, survivors = mutation_score(modules, args.max_mutants, args.workers, args.timeout, args.seed,
                                              use_cache=not args.no_cache)
    print(f"\nKilled {killed} of {total} mutants ({killed / total:.1%}) of {', '.join(modules)} "
          f"in {time.perf_counter() - start:.0f} s.")
    if survivors:
        print("Survivors:")
        for mutant in survivors:
            print(f"  {mutant}")
    if killed < MIN_SCORE * total:
        sys.exit(f"bench/mutation.py: the tests kill {killed / total:.1%} of the mutants, under {MIN_SCORE:.0%}")


if __name__ == "__main__":
    main()
