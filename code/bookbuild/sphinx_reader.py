"""What a reader takes away from the website: notebooks, the package, launch buttons, provenance.

After the HTML is written, for every chapter with code:

* its reader notebook (:mod:`bookbuild.notebooks`) at ``notebooks/<chapter>.ipynb``, with the
  page's outputs, plus ``notebooks/notebooks.zip`` of all of them and
  ``notebooks/binder/requirements.txt`` for Binder;
* the package the pages were built with, as a wheel whose version names its commit, at
  ``_static/wheels/``; each notebook's first code cell installs exactly that wheel.

On each page, the download menu offers the reader notebook and the book's PDF (not the page
printed), and pages with code have launch buttons that open the notebook of the same build
in Colab or Binder (from the branch the deploy workflow publishes them to); pages without
code have none. Every page's footer says which package, commit and versions built it.

The base URL of the site (``html.baseurl``, overridden by ``BOOK_BASE_URL``) is where the
notebooks' links and install cell point.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import nbformat
from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

from bookbuild import notebooks
from bookbuild.book import has_code_cells, store_dir, toc_chapters
from bookbuild.keys import execution_key, imported_modules, module_closure
from bookbuild.macros import read_macros
from bookbuild.provenance import base_url, provenance

logger = logging.getLogger(__name__)
NOTEBOOKS = "notebooks"
WHEELS = "_static/wheels"
PDF_IN_SITE = "_static/book.pdf"
STATUS_PAGE = "book/execution-status"
# Import names that differ from the distribution's name on PyPI.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml", "IPython": "ipython"}


def _configure(app: Sphinx, config) -> None:
    try:
        config.html_baseurl = base_url(config.html_baseurl)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    options = dict(config.html_theme_options or {})
    options.pop("launch_buttons", None)  # ours replace the theme's, which open the .md
    status = f"{config.html_baseurl}{STATUS_PAGE}.html"
    options["extra_footer"] = (f"<p class=\"provenance\">Built from {provenance().sentence()}. Every output "
                               f"on this page was computed from that code (<a href=\"{status}\">execution "
                               "status</a>).</p>")
    config.html_theme_options = options


def _chapter_notebook(docname: str) -> str:
    return f"{Path(docname).name}.ipynb"


def _has_code(app: Sphinx, docname: str) -> bool:
    path = Path(app.env.doc2path(docname))
    return path.suffix == ".md" and path.is_file() and has_code_cells(path.read_text())


def _buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """The download menu offers our notebook and the book's PDF; launch buttons open it."""
    buttons = context.get("header_buttons")
    if buttons is None or doctree is None:
        return
    has_code = _has_code(app, pagename)
    pathto = context["pathto"]
    for group in buttons:
        if group.get("label") != "download-buttons":
            continue
        kept = [button for button in group["buttons"] if button.get("label") == "download-source-button"]
        if has_code:
            kept.insert(0, {"type": "link", "url": pathto(f"{NOTEBOOKS}/{_chapter_notebook(pagename)}", 1),
                            "text": "This chapter (.ipynb)",
                            "tooltip": "Download this chapter as a notebook that runs anywhere",
                            "icon": "fas fa-code", "label": "download-notebook-button"})
        if context.get("book_pdf"):
            kept.append({"type": "link", "url": pathto(PDF_IN_SITE, 1), "text": "The whole book (.pdf)",
                         "tooltip": "Download the whole book as a PDF", "icon": "fas fa-file-pdf",
                         "label": "download-pdf-button"})
        group["buttons"] = kept
    if has_code:
        buttons.insert(0, _launch_group(app, pagename, pathto))


def launch_urls(app: Sphinx, docname: str) -> dict[str, str]:
    """Colab's and Binder's URLs for a chapter's notebook, on the branch the deploy publishes."""
    launch = app.config.bookbuild_launch
    owner, repository = urlparse(app.config.html_theme_options.get("repository_url", "")).path.strip("/").split("/")
    notebook = _chapter_notebook(docname)
    branch = launch["branch"]
    return {
        "Colab": f"{launch['colab'].rstrip('/')}/github/{owner}/{repository}/blob/{branch}/{notebook}",
        "Binder": f"{launch['binder'].rstrip('/')}/v2/gh/{owner}/{repository}/{branch}?urlpath=lab/tree/{notebook}",
    }


def _launch_group(app: Sphinx, docname: str, pathto) -> dict:
    icons = {"Colab": "_static/images/logo_colab.png", "Binder": "_static/images/logo_binder.svg"}
    return {
        "type": "group", "tooltip": "Run this chapter", "icon": "fas fa-rocket", "label": "launch-buttons",
        "buttons": [{"type": "link", "text": name, "tooltip": f"Run this chapter's notebook on {name}",
                     "icon": pathto(icons[name], 1), "url": url, "label": f"launch-{name.lower()}-button"}
                    for name, url in launch_urls(app, docname).items()],
    }


# Build-finished: the wheel, the notebooks


def _publish(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html" or app.config.bookbuild_preview:
        return  # the preview leaves out what only the published site needs
    root = Path(app.srcdir)
    outdir = Path(app.outdir)
    wheel = build_wheel(root, outdir / WHEELS)
    chapters = [path for path in toc_chapters(root) if path.suffix == ".md" and has_code_cells(path.read_text())]
    folder = outdir / NOTEBOOKS
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    macros = read_macros(root / app.config.bookbuild_macros)
    links = _links(app)
    site = app.config.html_baseurl
    wheel_url = f"{site}{WHEELS}/{wheel.name}"
    pinned = _pinned(root / app.config.bookbuild_requirements)
    packages = tuple(app.config.bookbuild_tracked_packages)
    requirements = root / app.config.bookbuild_requirements
    for path in chapters:
        text = path.read_text()
        relative = path.relative_to(root).as_posix()
        docname = relative.removesuffix(".md")
        source = notebooks.read_notebook(text)
        stored = store_dir(root) / f"{execution_key(source, packages, requirements)}.ipynb"
        chapter = notebooks.Chapter(relative, text, nbformat.read(stored, as_version=4), root)
        needed = _needed(source, packages, pinned)
        try:
            notebook = notebooks.reader_notebook(chapter, links, macros, _preface(app, docname),
                                                 install_cell(wheel_url, needed))
        except notebooks.ConversionError as error:
            raise ExtensionError(f"reader notebook: {error}") from error
        notebook.metadata["nnmath"] = {"chapter": relative, "page": f"{site}{docname}.html",
                                       "version": provenance().wheel_version}
        nbformat.write(notebook, folder / _chapter_notebook(docname))
    with zipfile.ZipFile(folder / "notebooks.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for notebook in sorted(folder.glob("*.ipynb")):
            archive.write(notebook, notebook.name)
    binder = folder / "binder"
    binder.mkdir()
    runtime = (root / "binder" / "requirements.txt").read_text() if (root / "binder" / "requirements.txt").is_file() \
        else ""
    lines = [line for line in runtime.splitlines() if line.strip() and not line.strip().startswith(("./", "-e"))]
    (binder / "requirements.txt").write_text("\n".join([*lines, f"nnmath @ {wheel_url}"]) + "\n")


def _preface(app: Sphinx, docname: str) -> str:
    site = app.config.html_baseurl
    numbers = app.env.toc_secnumbers.get(docname, {}).get("", ())
    chapter = f"Chapter {'.'.join(map(str, numbers))} of " if numbers else "From "
    return (f"{chapter}*{app.config.html_title}* ([read it online]({site}{docname}.html)). "
            f"This notebook comes from the same build as that page: {provenance().sentence()}; "
            "the outputs below were computed from that code. Run the next cell first: it installs exactly that "
            "version of `nnmath` and whatever else this chapter needs that is missing here.")


# PyTorch's own index of its CPU builds, which binder/requirements.txt names too.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def install_cell(wheel_url: str, needed: dict[str, str]) -> str:
    """The first code cell: install the page's own nnmath, and what the chapter imports if missing.

    PyTorch, where it is missing, comes from its CPU index (:data:`TORCH_CPU_INDEX`), as on
    Binder: on Linux PyPI's build brings CUDA, several GB, so there the cell asks for the
    ``+cpu`` version, which only that index has. Where PyTorch is
    already installed (Colab), it is left alone.
    """
    requirements = ",\n".join(f"    {module!r}: {spec!r}" for module, spec in sorted(needed.items()))
    torch = "" if "torch" not in needed else f'''
if "torch" in [spec.split("==")[0] for spec in missing]:  # PyTorch's CPU build, never CUDA's (GBs)
    options = ["--extra-index-url", "{TORCH_CPU_INDEX}"]
    if sys.platform == "linux":
        missing = [spec + "+cpu" if spec.startswith("torch==") else spec for spec in missing]'''
    return f'''# Installs this chapter's requirements (skipping those this environment already has) and
# exactly the nnmath that produced the book's pages: {provenance().wheel_version}.
import importlib
import importlib.util
import subprocess
import sys

NNMATH = "{wheel_url}"
REQUIREMENTS = {{
{requirements},
}}
missing = [spec for module, spec in REQUIREMENTS.items() if importlib.util.find_spec(module) is None]
options = []{torch}
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *options, *missing, NNMATH], check=True)
importlib.invalidate_caches()'''


def _pinned(requirements: Path) -> dict[str, str]:
    """``name==version`` lines of the pinned requirements, by lower-case name."""
    pinned = {}
    for line in requirements.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name = line.split("==")[0].strip()
            pinned[name.lower().replace("_", "-")] = line.strip()
    return pinned


def _needed(notebook, packages: tuple[str, ...], pinned: dict[str, str]) -> dict[str, str]:
    """The third-party modules the chapter's cells import, directly or through the package."""
    modules: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            modules |= imported_modules(cell.source)
    for path in module_closure(modules, packages):
        modules |= imported_modules(path.read_text())
    installed_by_the_wheel = {"nnmath", *packages}
    tops = {name.split(".")[0] for name in modules} - set(sys.stdlib_module_names) - installed_by_the_wheel
    tops.discard("__future__")
    needed = {}
    for module in sorted(tops):
        distribution = DISTRIBUTIONS.get(module, module).lower()
        if distribution not in pinned:
            raise ExtensionError(f"a chapter imports {module}, which requirements.txt does not pin "
                                 f"(as {distribution}==...): the reader's install cell would not know its version")
        needed[module] = pinned[distribution]
    return needed


def build_wheel(root: Path, target: Path) -> Path:
    """The package as a wheel whose version names its commit; built once per content."""
    import nnmath

    project = Path(nnmath.__file__).resolve().parent.parent
    files = sorted(p for p in (project / "nnmath").rglob("*.py")) + [project / "pyproject.toml"]
    digest = hashlib.sha256(provenance().wheel_version.encode())
    for path in files:
        digest.update(path.read_bytes())
    cache = root / "_build" / "wheels" / digest.hexdigest()[:16]
    built = sorted(cache.glob("*.whl"))
    if not built:
        with tempfile.TemporaryDirectory(prefix="nnmath-wheel-") as staging:
            stage = Path(staging) / "nnmath-project"
            shutil.copytree(project / "nnmath", stage / "nnmath", ignore=shutil.ignore_patterns("__pycache__"))
            pyproject = (project / "pyproject.toml").read_text()
            version_line = f'version = "{provenance().version}"'
            if version_line not in pyproject:
                raise ExtensionError(f"code/pyproject.toml has no line {version_line!r} to stamp the commit into")
            (stage / "pyproject.toml").write_text(pyproject.replace(
                version_line, f'version = "{provenance().wheel_version}"'))
            for extra in ("README.md", "LICENSE"):
                if (project / extra).is_file():
                    shutil.copy(project / extra, stage / extra)
            cache.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                       "--wheel-dir", str(cache), str(stage)]
            process = subprocess.run(command, capture_output=True, text=True)
            if process.returncode != 0:
                raise ExtensionError(f"building the nnmath wheel failed:\n{process.stderr[-3000:]}")
        built = sorted(cache.glob("*.whl"))
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.whl"):
        old.unlink()
    shutil.copy(built[0], target / built[0].name)
    return target / built[0].name


# Labels to links, from Sphinx's environment


NUMFIG = {"figure": "Fig. %s", "table": "Table %s", "code-block": "Listing %s", "section": "Section %s",
          "exercise": "Exercise %s", "displaymath": "(%s)"}


def _links(app: Sphinx):
    env = app.env
    site = app.config.html_baseurl
    labels = env.domaindata["std"]["labels"]
    anonymous = env.domaindata["std"]["anonlabels"]
    equations = env.domaindata["math"]["objects"]
    citations = {c.key: c for c in env.domaindata.get("cite", {}).get("citations", [])}
    formats = {**NUMFIG, **(app.config.numfig_format or {})}

    def url(docname: str, anchor: str = "") -> str:
        return f"{site}{docname}.html" + (f"#{anchor}" if anchor else "")

    def number(docname: str, anchor: str) -> str | None:
        for figtype, numbers in env.toc_fignumbers.get(docname, {}).items():
            if anchor in numbers:
                return formats.get(figtype, "%s") % ".".join(map(str, numbers[anchor]))
        section = env.toc_secnumbers.get(docname, {}).get(f"#{anchor}")
        return formats["section"] % ".".join(map(str, section)) if section else None

    def resolve(role: str, target: str) -> notebooks.Link | None:
        if role == "eq":
            if target not in equations:
                return None
            docname = equations[target][0]
            anchor = f"equation-{target}"
            return notebooks.Link(number(docname, anchor) or f"({equations[target][1]})", url(docname, anchor))
        if role == "cite":
            citation = citations.get(target)
            if citation is None:
                return None
            return notebooks.Link(citation.formatted_entry.label,
                                  url(citation.bibliography_key.docname, citation.citation_id))
        if role == "doc":
            docname = _docname(env, target)
            return notebooks.Link(env.titles[docname].astext(), url(docname)) if docname else None
        found = labels.get(target) or anonymous.get(target)
        if found is None:
            return None
        docname, anchor = found[0], found[1]
        if role == "numref":
            text = number(docname, anchor)
            return notebooks.Link(text, url(docname, anchor)) if text else None
        title = labels[target][2] if target in labels else target
        return notebooks.Link(title, url(docname, anchor))

    return resolve


def _docname(env, target: str) -> str | None:
    """A {doc} target: absolute from the book's root, or relative to the chapters' folder."""
    for candidate in (target.lstrip("/"), f"book/{target}"):
        if candidate in env.titles:
            return candidate
    return None


def setup(app: Sphinx) -> None:
    app.add_config_value("bookbuild_launch", {"colab": "https://colab.research.google.com",
                                              "binder": "https://mybinder.org", "branch": "notebooks"}, "html")
    app.connect("config-inited", _configure, priority=450)
    app.connect("html-page-context", _buttons, priority=600)
    app.connect("build-finished", _publish)

