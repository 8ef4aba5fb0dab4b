"""Skip Sphinx when nothing it reads has changed since its last successful run.

Sphinx re-reads only changed pages, but starting Jupyter Book and Sphinx, and loading
their saved environment, costs more than a second: most of a rebuild in which nothing
changed. So after every successful Sphinx run we record two fingerprints, and the next
build runs Sphinx only if either differs:

* the **inputs**: every file of the book's folder (chapters, configuration, static
  files, templates, the package whose code the chapters show), the files of the
  pipeline itself and of the tracked packages, the stored execution results, the
  published PDF (the website links to it), the interpreter and the names and
  versions of the installed distributions, what the pages say of their build
  (commit, date) and the site's base URL;
* the **outputs**: the name, size and modification time of every file Sphinx wrote.

The comparison is conservative: any change to a file of the book's folder (a test, the
README) runs Sphinx, which then rebuilds only what it must. A failed run deletes the
record, so a failure is never skipped over.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
from collections.abc import Iterator
from pathlib import Path

import bookbuild
from bookbuild.book import BookConfig, built_pdf
from bookbuild.keys import package_modules
from bookbuild.provenance import BASE_URL_VARIABLE, provenance

SKIPPED_DIRS = {"_build", "__pycache__", "node_modules"}


def inputs_digest(config: BookConfig, builder: str) -> str:
    """One digest of everything ``builder`` reads: take it before Sphinx starts."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{builder}\0{sys.executable}\0{sys.version}\0".encode())
    # What the pages say about their build, and where the reader notebooks point.
    digest.update(f"{provenance().sentence()}\0{os.environ.get(BASE_URL_VARIABLE, '')}\0".encode())
    for name in _installed_distributions():
        digest.update(f"{name}\0".encode())
    folders = [config.root, Path(bookbuild.__file__).parent]
    files = {path for folder in folders for path in _files(folder, SKIPPED_DIRS)}
    files |= {path for package in config.tracked_packages for path in package_modules(package).values()}
    files |= set(_files(config.store_dir, skipped=set()))
    if builder == "html" and built_pdf(config.root).is_file():
        files.add(built_pdf(config.root))
    for path in sorted(files):
        digest.update(f"{path}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_up_to_date(config: BookConfig, builder: str, inputs: str) -> bool:
    """Whether ``builder``'s output is what Sphinx would produce from ``inputs``."""
    try:
        recorded = json.loads(_record_path(config, builder).read_text())
    except (OSError, ValueError):
        return False
    return recorded == _fingerprint(config, builder, inputs)


def record(config: BookConfig, builder: str, inputs: str) -> None:
    """After a successful Sphinx run on ``inputs``: remember them and its outputs.

    The inputs are the digest taken before the run, so a file edited while Sphinx ran
    makes the next build run it again.
    """
    path = _record_path(config, builder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_fingerprint(config, builder, inputs)))


def forget(config: BookConfig, builder: str) -> None:
    """Before a Sphinx run: until it succeeds, its output is not known to be good."""
    _record_path(config, builder).unlink(missing_ok=True)


def _fingerprint(config: BookConfig, builder: str, inputs: str) -> dict:
    return {"inputs": inputs, "outputs": _outputs(config, builder)}


def _record_path(config: BookConfig, builder: str) -> Path:
    return config.reports_dir / f"sphinx-{builder}.json"


def _output_dir(config: BookConfig, builder: str) -> Path:
    return config.build_dir / builder


def _outputs(config: BookConfig, builder: str) -> dict[str, list[int]]:
    output_dir = _output_dir(config, builder)
    listing = {}
    for path in _files(output_dir, skipped=set()):
        status = path.stat()
        listing[path.relative_to(output_dir).as_posix()] = [status.st_size, status.st_mtime_ns]
    return listing


def _files(folder: Path, skipped: set[str]) -> Iterator[Path]:
    """Every file under ``folder``, not descending into hidden or ``skipped`` folders."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_dir():
            if not path.name.startswith(".") and path.name not in skipped and not path.name.endswith(".egg-info"):
                yield from _files(path, skipped)
        elif path.is_file():
            yield path


def _installed_distributions() -> list[str]:
    """``name-version.dist-info`` of every installed distribution: the theme, Sphinx, ..."""
    folders = [Path(folder) for folder in [*site.getsitepackages(), site.getusersitepackages()]]
    return sorted(path.name for folder in folders if folder.is_dir() for path in folder.glob("*.dist-info"))
