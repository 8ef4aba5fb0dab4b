"""MathJax 4, served by the website itself: maths render offline, and wide equations break.

MathJax 4 breaks a display equation wider than its column onto several lines, as a phone
needs (version 3 could only let it scroll). No Python package ships it; npm's registry has
it, as two packages: ``mathjax`` and its default font, ``@mathjax/mathjax-newcm-font``.
The build fetches their tarballs from the registry, pinned by version and by the registry's
integrity hash (:data:`PACKAGES`), once per machine: they are kept, unpacked, in the user's
cache (``$XDG_CACHE_HOME/nnmath-book/mathjax``). ``make html`` still needs only Python and
make. The website gets a copy in ``_static/mathjax/`` (the font in ``fonts/``), and every
page loads it from there: no CDN.

To move to another version: change :data:`PACKAGES`, with the ``dist.integrity`` that
``npm view mathjax@<version> dist.integrity`` prints.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

REGISTRY = "https://registry.npmjs.org"
# (package, version, integrity, files of the package the website needs, where they go in _static/mathjax)
PACKAGES = (
    ("mathjax", "4.1.3",
     "sha512-BN/8Pkgn7G1pIDYJqd9md+JHsE/jydSYbyOZnSdSA0WziuVO8mRxdYiWFumkVVly/8U+hm9DpIIoWuvySverzw==",
     ("tex-chtml.js", "input", "output", "a11y", "sre", "ui", "adaptors", "core.js", "loader.js",
      "startup.js", "LICENSE"), ""),
    ("@mathjax/mathjax-newcm-font", "4.1.3",
     "sha512-gzAB3dFHilHX1l5x2xUqRL+1jDQt3Fyza1DkEMVXWC4E8SvsGdlgEza47HYi2WhVcgfkvf4zgUGzuhbq3Pjlew==",
     ("chtml.js", "chtml", "package.json"), "fonts/mathjax-newcm-font"),
)
STATIC = "mathjax"
# How the pages use it: a display equation too wide for its column is broken onto lines
# (one that cannot break, a wide matrix, scrolls inside its box), to 97 % of the column (at
# 100 %, two equations a few pixels too wide for a phone were left whole); the font from this site;
# screen readers get MathML, as with MathJax 3. Version 4's speech and Braille, computed for
# every formula as a page loads, took a chapter of 400 formulas from 11 s to 66 s on a busy
# 2-core machine; a reader who wants them turns them on in MathJax's menu.
CONFIG = {
    "output": {"displayOverflow": "linebreak", "linebreaks": {"inline": True, "width": "97%"}},
    "loader": {"paths": {"fonts": "[mathjax]/fonts"}},
    "options": {"menuOptions": {"settings": {"enrich": False, "speech": False, "braille": False,
                                             "assistiveMml": True}}},
}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnmath-book" / "mathjax"


def _tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def _check_integrity(data: bytes, integrity: str, name: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ExtensionError(f"the {name} tarball from the npm registry does not match its pinned integrity "
                             f"{integrity} (got {algorithm}-{actual}): not using it")


def fetched(name: str, version: str, integrity: str, fetch=urllib.request.urlopen) -> Path:
    """The unpacked package, from the user's cache, or fetched from the registry and checked first."""
    folder = cache_dir() / f"{name.replace('/', '+')}-{version}"
    if (folder / "package.json").is_file():
        return folder
    url = _tarball_url(name, version)
    try:
        with fetch(url, timeout=120) as response:
            data = response.read()
    except OSError as error:
        raise ExtensionError(f"could not fetch {url} (MathJax, for the website's maths): {error}") from error
    _check_integrity(data, integrity, name)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [member for member in archive.getmembers() if member.name.startswith("package/")]
        for member in members:
            member.name = member.name.removeprefix("package/")
        archive.extractall(staging, members=members, filter="data")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)  # whole or not at all
    return folder


def _configure(app: Sphinx, config) -> None:
    config.mathjax_path = f"{STATIC}/tex-chtml.js"
    mathjax = dict(config.mathjax3_config or {})
    for section, options in CONFIG.items():
        mathjax[section] = {**options, **mathjax.get(section, {})}
    config.mathjax3_config = mathjax


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / STATIC
    stamp = target / ".versions"
    versions = " ".join(f"{name}@{version}" for name, version, *_ in PACKAGES)
    if stamp.is_file() and stamp.read_text() == versions:
        return  # copied by an earlier build (the preview rebuilds often)
    shutil.rmtree(target, ignore_errors=True)
    for name, version, integrity, files, where in PACKAGES:
        package = fetched(name, version, integrity)
        for file in files:
            source, destination = package / file, target / where / file
            if source.is_dir():
                shutil.copytree(source, destination, dirs_exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
    stamp.write_text(versions)


def _fetch_early(app: Sphinx) -> None:
    """Fetch before the long part of the build, so that a failure shows at once."""
    if app.builder.format == "html":
        for name, version, integrity, _, _ in PACKAGES:
            fetched(name, version, integrity)


def setup(app: Sphinx) -> None:
    app.connect("config-inited", _configure, priority=450)
    app.connect("builder-inited", _fetch_early)
    app.connect("build-finished", _copy)
