"""Execution keys: what a chapter's outputs depend on, hashed.

A chapter's outputs are a function of its code cells, of the package modules those
cells import (directly or through other modules of the package), of the pinned
requirements, of the Python version and of the kernel's environment and configuration
(below). The key hashes exactly these, so

* editing a chapter's code, or a module it imports, changes its key (it re-executes);
* editing a module it does not import, or a chapter's prose, leaves its key alone;
* editing ``requirements.txt`` changes every key;
* executing with another number of BLAS threads (``python -m bookbuild execute
  --blas-threads 2``) gives other keys, so its results never mix with the build's.

MyST-NB's own cache (jupyter-cache) hashes the code cells only, which is why the book
does not use it: a change in ``code/`` would leave old outputs on the page.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path

import nbformat

KEY_FORMAT = "bookbuild-key-2"


def kernel_environment(blas_threads: int = 1) -> dict[str, str]:
    """The kernels' environment: what makes two runs, on two machines, print the same.

    The build uses one BLAS and OpenMP thread (the order of a threaded sum changes the last
    digits), and a fixed hash seed. A reader's machine uses as many threads as it has cores:
    the tests execute the book with 2 as well, and every check must pass there too.
    """
    threads = str(blas_threads)
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "PYTHONHASHSEED": "0"}


KERNEL_ENVIRONMENT = kernel_environment(1)  # the build's
# The kernels' IPython configuration: every figure kept as SVG and as PDF (the website shows
# the one, the PDF the other, both vector), an image (a matrix, a digit) embedded at its own
# resolution, one pixel per entry, for the viewer to scale sharply; a PDF figure's text in
# TrueType (Type 42) fonts, which PDF readers search and copy, not Type 3 (embedding them,
# fontTools warns that matplotlib's TeX fonts carry a creation date before 1970: harmless,
# and not a reader's business); no history (kernels run side by side).
KERNEL_CONFIG = """c.InlineBackend.figure_formats = {"svg", "pdf"}
c.InlineBackend.rc = {"image.interpolation": "none", "pdf.fonttype": 42}
c.InteractiveShellApp.exec_lines = [
    "import logging; logging.getLogger('fontTools.ttLib.tables._h_e_a_d').setLevel(logging.ERROR)"]
c.HistoryManager.enabled = False
"""


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@functools.lru_cache(maxsize=4096)
def imported_modules(source: str) -> frozenset[str]:
    """Absolute names of the modules an (IPython) source imports, e.g. ``{'nnmath.losses'}``.

    Lines that are not Python (``%magic``, ``!shell``) are blanked before parsing.
    ``from pkg import name`` counts ``pkg`` and ``pkg.name`` (``name`` may be a submodule).
    """
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    modules: set[str] = set()
    for node in ast.walk(ast.parse(python)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(modules)


@cache
def package_modules(package: str) -> dict[str, Path]:
    """Every module of an installed package: dotted name -> source file."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"tracked package '{package}' is not installed (pip install -e code)")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((package, *parts))] = path
    return modules


def _module_imports(name: str, path: Path, package: str) -> set[str]:
    """Modules of ``package`` that module ``name`` imports, resolving relative imports."""
    status = path.stat()
    return _parsed_imports(name, path, package, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=1024)
def _parsed_imports(name: str, path: Path, package: str, mtime_ns: int, size: int) -> set[str]:
    """:func:`_module_imports` for one version of the file (its time and size say which)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(here[: len(here) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(imported_modules(ast.unparse(node)))
    return {module for module in found if module == package or module.startswith(package + ".")}


def module_closure(imported: set[str], packages: tuple[str, ...]) -> list[Path]:
    """Source files of the tracked modules that importing ``imported`` executes.

    Importing ``pkg.sub`` runs ``pkg/__init__.py`` first, then ``pkg/sub.py`` and
    whatever they import in turn.
    """
    files: dict[str, Path] = {}
    for package in packages:
        modules = package_modules(package)
        pending = [name for name in imported if name == package or name.startswith(package + ".")]
        while pending:
            name = pending.pop()
            if name in files or name not in modules:
                continue
            files[name] = modules[name]
            parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
            pending += parents + sorted(_module_imports(name, modules[name], package))
    return [files[name] for name in sorted(files)]


def chapter_dependencies(notebook: nbformat.NotebookNode, packages: tuple[str, ...]) -> list[Path]:
    """The package source files a chapter's code cells depend on."""
    imported: set[str] = set()
    for cell in code_cells(notebook):
        imported |= imported_modules(cell.source)
    return module_closure(imported, packages)


def execution_key(notebook: nbformat.NotebookNode, packages: tuple[str, ...], requirements: Path,
                  blas_threads: int = 1) -> str:
    """The hash of everything the chapter's outputs depend on (see the module docstring), for
    kernels with ``blas_threads`` BLAS threads (the build's 1 unless told otherwise)."""
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    cells = [[cell.source, sorted(cell.metadata.get("tags", []))] for cell in code_cells(notebook)]
    dependencies = [
        [path.name, hashlib.sha256(path.read_bytes()).hexdigest()]
        for path in chapter_dependencies(notebook, packages)
    ]
    pinned = requirements.read_text() if requirements.is_file() else ""
    payload = [KEY_FORMAT, sys.version, kernel, kernel_environment(blas_threads), KERNEL_CONFIG, cells,
               dependencies, pinned]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]
