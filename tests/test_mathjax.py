"""MathJax for the website: fetched from the npm registry once, checked against its pinned hash, cached."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import tarfile

import pytest
from bookbuild import sphinx_mathjax
from sphinx.errors import ExtensionError


def tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f"package/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class Registry:
    """A stand-in for the registry: counts the fetches, serves one tarball."""

    def __init__(self, data: bytes):
        self.data = data
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float):
        self.urls.append(url)
        return contextlib.closing(io.BytesIO(self.data))


def test_a_package_is_fetched_once_checked_and_unpacked_into_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = tarball({"package.json": "{}", "tex-chtml.js": "// MathJax", "input/tex.js": "// TeX"})
    registry = Registry(data)
    folder = sphinx_mathjax.fetched("@mathjax/font", "4.1.3", integrity(data), fetch=registry)
    assert registry.urls == ["https://registry.npmjs.org/@mathjax/font/-/font-4.1.3.tgz"]
    assert folder.parent == tmp_path / "nnmath-book" / "mathjax"
    assert (folder / "input" / "tex.js").read_text() == "// TeX"
    assert sphinx_mathjax.fetched("@mathjax/font", "4.1.3", integrity(data), fetch=registry) == folder
    assert len(registry.urls) == 1  # the second build uses the cache


def test_a_tarball_that_does_not_match_its_pinned_hash_is_refused_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pinned = integrity(tarball({"package.json": "{}"}))
    tampered = Registry(tarball({"package.json": "{}", "tex-chtml.js": "// something else"}))
    with pytest.raises(ExtensionError, match="does not match its pinned integrity"):
        sphinx_mathjax.fetched("mathjax", "4.1.3", pinned, fetch=tampered)
    assert not list((tmp_path / "nnmath-book" / "mathjax").glob("*"))

