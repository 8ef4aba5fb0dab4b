"""Readers run every chapter anywhere: the notebooks the website serves, run outside the repository.

The real book is built with BOOK_BASE_URL pointing at a server on localhost (real_book.py).
Each chapter's notebook is downloaded from its page's download menu, as a reader would, and
run top to bottom in a fresh virtualenv outside the repository that holds only ipykernel and
nbclient: its first cell installs the rest, and the site's own wheel of nnmath. Every cell
must run and print what the page shows. No MyST may be left in the notebooks' markdown, and
MathJax must typeset every formula with the macros the notebook defines. The wheel must
install, import and pass the package's torch-free tests on Python 3.12 and 3.13.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from bookbuild.keys import KERNEL_ENVIRONMENT
from real_book import REPO, built_site, site_url
from test_mutation import load_mutation_script

pytestmark = [pytest.mark.slow, pytest.mark.real_book]

NODE = REPO / "tests" / "node"
MYST = re.compile(r"\{[a-z][\w:-]*\}`|^\s*(```+|:::+)\s*\{|^\s*\([^()\s]+\)=\s*$|^%", re.M)
PINNED = {line.split("==")[0].lower(): line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
          if "==" in line and not line.startswith("#")}
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(notebook, sys.argv[2])
"""


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


@pytest.fixture(scope="module")
def site():
    root, _ = built_site()
    return root / "_build" / "html", site_url()


def chapter_pages(html: Path) -> dict[str, str]:
    """Every page's path relative to the site and its HTML."""
    return {path.relative_to(html).as_posix(): path.read_text() for path in sorted((html / "book").glob("*.html"))}


def notebook_link(page: str) -> str | None:
    """The download menu's notebook: the one .ipynb link into the site itself (Colab's is absolute)."""
    links = [href for href in re.findall(r'href="([^"]+\.ipynb)"', page) if not href.startswith("http")]
    assert len(set(links)) <= 1, links
    return links[0] if links else None


@pytest.fixture(scope="module")
def downloaded(site, tmp_path_factory) -> dict[str, Path]:
    """Each chapter's notebook, downloaded through the link on its page."""
    html, url = site
    folder = tmp_path_factory.mktemp("downloads")
    found = {}
    for name, page in chapter_pages(html).items():
        link = notebook_link(page)
        if link:
            path = folder / Path(link).name
            path.write_bytes(fetch(urllib.parse.urljoin(url + name, link)))
            found[name] = path
    return found


def test_every_page_with_code_offers_its_notebook_and_launch_buttons_and_no_other_page_does(site, downloaded):
    html, _ = site
    sources = {f"book/{path.stem}.html": path.read_text() for path in (REPO / "book").glob("*.md")}
    for name, page in chapter_pages(html).items():
        has_code = "{code-cell}" in sources[name]
        assert (name in downloaded) == has_code, name
        assert ("launch-colab-button" in page) == has_code, name
        if has_code:
            colab = re.search(r'href="(https://colab\.research\.google\.com/[^"]+)"', page).group(1)
            notebook = Path(name).stem + ".ipynb"
            assert colab == f"https://colab.research.google.com/github/nnmath/nnmath-book/blob/notebooks/{notebook}"
            assert (html / "notebooks" / notebook).is_file()  # what the deploy workflow publishes
        assert 'javascript:window.print()' not in page and "window.print()" not in page, name
    assert set(json.loads(json.dumps(sorted(p.name for p in (html / "notebooks").glob("*.ipynb"))))) == {
        path.name for path in downloaded.values()}
    assert (html / "notebooks" / "notebooks.zip").stat().st_size > 0


def test_no_myst_is_left_and_mathjax_reads_every_formula(downloaded):
    if not (NODE / "node_modules" / "mathjax-full").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE)], check=True,
                       capture_output=True)
    for path in downloaded.values():
        notebook = nbformat.read(path, as_version=4)
        cells = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
        leftovers = [(path.name, m.group()) for cell in cells[1:] for m in [MYST.search(_prose(cell.source))] if m]
        assert leftovers == []
        expressions = [{"where": f"{path.name}, markdown cell {index}", "tex": tex, "display": display}
                       for index, cell in enumerate(cells[1:], start=2) for tex, display in _maths(cell.source)]
        assert len(expressions) > 10, path.name
        preamble = cells[0].source.split("$", 1)[1].rsplit("$", 1)[0]
        result = subprocess.run(["node", str(NODE / "check_tex.js")], input=json.dumps(
            {"preamble": preamble, "expressions": expressions}), capture_output=True, text=True, check=True)
        assert json.loads(result.stdout) == [], path.name


def _prose(markdown: str) -> str:
    """Markdown without its code blocks and inline code, where MyST-like text may be legitimate."""
    without_blocks = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", without_blocks)


def _maths(markdown: str) -> list[tuple[str, bool]]:
    text = _prose(markdown)
    display = re.findall(r"\$\$(.+?)\$\$", text, re.S)
    without_display = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    inline = re.findall(r"(?<![\\$])\$([^$]+?)(?<!\\)\$", without_display)  # it may span lines
    return [(tex, True) for tex in display] + [(tex, False) for tex in inline]


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Path:
    """A virtualenv outside the repository with only ipykernel and nbclient, as a reader's Jupyter has."""
    venv = tmp_path_factory.mktemp("reader") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", PINNED["ipykernel"], PINNED["nbclient"]],
                   check=True, cwd=venv.parent)
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('nnmath'), "
                            "u.find_spec('numpy'))"], capture_output=True, text=True, check=True, cwd=venv.parent)
    assert probe.stdout.split() == ["None", "None"]
    return python


BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _run(python: Path, notebook: Path, threads: int = 1) -> tuple[Path, float]:
    """Run a notebook as the build runs a chapter, but with ``threads`` BLAS threads (a reader's
    machine has several cores, and sums in another order)."""
    out = notebook.with_suffix(f".run-{threads}.ipynb")
    start = time.monotonic()
    environment = {**os.environ, **KERNEL_ENVIRONMENT, **dict.fromkeys(BLAS_THREADS, str(threads)), "PYTHONPATH": ""}
    process = subprocess.run([str(python), "-c", RUNNER, str(notebook), str(out), str(notebook.parent)],
                             cwd=notebook.parent, capture_output=True, text=True, env=environment)
    assert process.returncode == 0, f"{notebook.name} with {threads} BLAS thread(s):\n{process.stderr[-4000:]}"
    return out, time.monotonic() - start


def _text(cell) -> str:
    return ("".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            + "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs))


def test_every_notebook_runs_in_a_fresh_virtualenv_and_prints_what_the_page_shows(downloaded, fresh_python, capsys):
    """With one BLAS thread, as the build, every cell prints what the page shows; with two, as
    on a reader's laptop or Colab, every cell runs (every claim holds in another summation order)."""
    notebooks = sorted(downloaded.values())
    start = time.monotonic()
    first, seconds = _run(fresh_python, notebooks[0])  # its install cell installs what all need
    install = time.monotonic() - start
    runs = {notebooks[0]: first}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for notebook, (out, _) in zip(notebooks[1:], pool.map(lambda n: _run(fresh_python, n), notebooks[1:]),
                                      strict=True):
            runs[notebook] = out
    for notebook, out in runs.items():
        page = nbformat.read(notebook, as_version=4)
        rerun = nbformat.read(out, as_version=4)
        pairs = [(a, b) for a, b in zip(page.cells, rerun.cells, strict=True) if a.cell_type == "code"][1:]
        assert pairs, notebook.name
        for index, (shown, again) in enumerate(pairs, start=1):
            assert _text(again) == _text(shown), f"{notebook.name}, code cell {index}"

    def failure_with_two_threads(notebook: Path) -> str | None:
        try:
            _run(fresh_python, notebook, threads=2)
        except AssertionError as error:
            return str(error)
        return None

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        failures = [failure for failure in pool.map(failure_with_two_threads, notebooks) if failure]
    assert not failures, "\n\n".join(failures)
    with capsys.disabled():
        print(f"\nreader notebooks: the first one ran in {seconds:.0f} s, installs included; "
              f"all {len(notebooks)}, with 1 and with 2 BLAS threads, in {time.monotonic() - start:.0f} s "
              f"(first: {install:.0f} s)")


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_wheel_installs_and_its_torch_free_tests_pass_on_newer_pythons(site, version, tmp_path):
    html, _ = site
    interpreters = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"))
    assert interpreters, f"no Python {version} under pyenv"
    venv = tmp_path / "venv"
    subprocess.run([str(interpreters[-1]), "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    (wheel,) = (html / "_static" / "wheels").glob("nnmath-*.whl")
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel), "pytest", "hypothesis", "scikit-learn"],
                   check=True, cwd=tmp_path)
    version_text = subprocess.run([python, "-c", "import nnmath; print(nnmath.__version__)"], cwd=tmp_path,
                                  capture_output=True, text=True, check=True).stdout.strip()
    assert version_text == wheel.name.split("-")[1] and "+g" in version_text
    mutation = load_mutation_script()
    package_tests = sorted({test for module in mutation.package_modules() for test in mutation.module_tests(module)})
    imports_torch = re.compile(r"^(import|from) torch\b", re.M)
    tests = [test for test in package_tests if not imports_torch.search((REPO / test).read_text())]
    assert "tests/test_verify.py" in tests and "tests/test_data.py" in tests
    result = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
