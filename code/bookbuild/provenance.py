"""Which code produced a build: the package's version and commit, the date, the versions.

Every page's footer, the PDF's title page, each reader notebook and the name of the wheel the
site serves carry these, so a reader can tell which package produced what they read.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

BASE_URL_VARIABLE = "BOOK_BASE_URL"
HTTP_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


@dataclasses.dataclass(frozen=True)
class Provenance:
    version: str  # nnmath's version, as its metadata gives it, e.g. 0.2.0
    commit: str  # the commit of the package's sources, 12 hex digits, or "unknown"
    dirty: bool  # the package's sources differ from that commit
    date: str  # the build date, YYYY-MM-DD (UTC, or SOURCE_DATE_EPOCH's)
    python: str
    numpy: str
    torch: str

    @property
    def wheel_version(self) -> str:
        """The version the site's wheel carries: the commit as a local version, e.g. 0.2.0+g1a2b3c4d5e6f."""
        if self.commit == "unknown":
            return f"{self.version}+unknown"
        return f"{self.version}+g{self.commit}" + (".dirty" if self.dirty else "")

    @property
    def commit_text(self) -> str:
        return self.commit + (" with local changes" if self.dirty else "")

    def sentence(self) -> str:
        """``nnmath 0.2.0+g1a2b3c4d5e6f (commit 1a2b3c4d5e6f), built 2026-12-02 with Python ...``."""
        return (f"nnmath {self.wheel_version} (commit {self.commit_text}), built {self.date} with "
                f"Python {self.python}, NumPy {self.numpy} and PyTorch {self.torch}")


@functools.cache
def provenance() -> Provenance:
    import nnmath

    package_dir = Path(nnmath.__file__).resolve().parent
    commit, dirty = _git_state(package_dir)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC) if epoch else datetime.datetime.now(datetime.UTC)
    return Provenance(
        version=metadata.version("nnmath"),
        commit=commit,
        dirty=dirty,
        date=now.date().isoformat(),
        python=platform.python_version(),
        numpy=_version_of("numpy"),
        torch=_version_of("torch"),
    )


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_state(package_dir: Path) -> tuple[str, bool]:
    """The commit of the repository holding the package, and whether the package differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--", str(package_dir), str(package_dir.parent / "pyproject.toml"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(changed)


def base_url(configured: str) -> str:
    """The site's base URL: ``BOOK_BASE_URL`` if set, else ``html.baseurl`` of ``_config.yml``.

    Always ends with a slash. Raises ValueError for anything that is not an http(s) URL.
    """
    value = os.environ.get(BASE_URL_VARIABLE) or configured
    source = BASE_URL_VARIABLE if os.environ.get(BASE_URL_VARIABLE) else "html.baseurl in _config.yml"
    if not value or not HTTP_URL.fullmatch(value.strip()):
        raise ValueError(f"{source} must be an http(s) URL such as https://example.org/book/, got {value!r}")
    return value.strip().rstrip("/") + "/"
