"""The Sphinx side of the pipeline: stored outputs in, stale outputs never.

* Every ``.md`` page is read by :func:`read_with_outputs`, which attaches the outputs
  stored under the chapter's *current* execution key, and no others. MyST-NB's own
  execution is off: the pipeline (:mod:`bookbuild.execute`) has run the chapters.
* A chapter whose current key has no stored result (it was never executed with
  today's code, or it failed) is an error that names the chapter.
* Each chapter depends, for Sphinx, on the package modules it imports and on the
  pinned requirements, so editing a module re-renders exactly the pages that use it.
* The maths macros are defined once, in the file named by ``bookbuild_macros``, and
  handed to both MathJax and the LaTeX preamble.
* A code cell tagged ``check`` (``:tags: [check]``) is folded: its code hides behind a
  "Show the check" toggle, its outputs (the verdict lines) stay visible (:func:`fold_checks`);
  the PDF prints only the outputs, the reader notebooks keep the code. Such a cell must
  check something (call ``check``, ``check_all`` or ``refute``, or assert): the build says
  so, naming the line, when it does not.
* When the PDF has been built (``_build/pdf/book.pdf``), the website carries a copy in
  ``_static/book.pdf`` and every page links to it (``book/_templates/pdf-link.html``).
* A source's words are quoted with the role ``{quote}`exact words <bibkey>```, rendered
  in curly quotes; ``tests/test_quotations.py`` finds every one in the source's text.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from bookbuild import (
    sphinx_a11y,
    sphinx_latex,
    sphinx_ledger,
    sphinx_mathjax,
    sphinx_reader,
    sphinx_search,
    sphinx_status,
)
from bookbuild.book import QUOTATION, built_pdf, has_code_cells, read_notebook, store_dir
from bookbuild.keys import chapter_dependencies, code_cells, execution_key
from bookbuild.ledger import check_calls
from bookbuild.listings import PackageLiteralInclude
from bookbuild.macros import latex_preamble, mathjax_macros, read_macros

logger = logging.getLogger(__name__)


def read_with_outputs(text: str, store: str, packages: list[str], requirements: str):
    """Read a MyST Markdown chapter and attach the outputs stored for its current key.

    A chapter without a stored result is returned without outputs;
    :func:`_check_chapter` has already reported it as an error.
    """
    notebook = read_notebook(text)
    cells = code_cells(notebook)
    if not cells:
        return notebook
    key = execution_key(notebook, tuple(packages), Path(requirements))
    stored_path = Path(store) / f"{key}.ipynb"
    if stored_path.is_file():
        import nbformat

        stored = nbformat.read(stored_path, as_version=4)
        for cell, executed in zip(cells, code_cells(stored), strict=True):
            cell.outputs = executed.outputs
            cell.execution_count = executed.execution_count
    fold_checks(notebook)
    return notebook


CHECK_TAG = "check"
CHECK_PROMPTS = {"code_prompt_show": "Show the check", "code_prompt_hide": "Hide the check"}


def fold_checks(notebook) -> None:
    """Fold every cell tagged ``check``: MyST-NB's ``hide-input``, with the toggle saying what it hides.

    Its outputs stay in view; the PDF leaves the code out (:mod:`bookbuild.sphinx_latex`).
    """
    for cell in code_cells(notebook):
        tags = cell.metadata.get("tags", [])
        if CHECK_TAG in tags:
            cell.metadata["tags"] = [*tags, *(["hide-input"] if "hide-input" not in tags else [])]
            cell.metadata["mystnb"] = {**CHECK_PROMPTS, **cell.metadata.get("mystnb", {})}


def unchecked_check_cells(notebook) -> list[int]:
    """The ``.md`` lines of the cells tagged ``check`` that neither call a check nor assert."""
    found = []
    for cell, line in zip(notebook.cells, notebook.metadata["source_map"], strict=True):
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []) and not _checks(cell.source):
            found.append(line)
    return found


def _checks(source: str) -> bool:
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree)) or any(check_calls(source))


def _configure(app: Sphinx, config: Config) -> None:
    root = Path(app.srcdir)
    config.nb_execution_mode = "off"
    config.nb_custom_formats = {
        ".md": (
            "bookbuild.sphinx_ext.read_with_outputs",
            {
                "store": str(store_dir(root)),
                "packages": list(config.bookbuild_tracked_packages),
                "requirements": str(root / config.bookbuild_requirements),
            },
            False,
        )
    }
    macros = read_macros(root / config.bookbuild_macros)
    mathjax = dict(config.mathjax3_config or {})
    mathjax["tex"] = {**mathjax.get("tex", {}), "macros": mathjax_macros(macros)}
    config.mathjax3_config = mathjax
    # The search page reads the macros to show formulas in its snippets as plain words
    # (book/_static/search-snippets.js).
    app.add_js_file(None, body=f"window.NNMATH_MACROS = {json.dumps(mathjax_macros(macros))};")
    app.add_js_file("search-snippets.js")
    if config.bookbuild_preview:
        from bookbuild.preview import RELOAD_SCRIPT, keep_compiled_templates

        app.add_js_file(None, body=RELOAD_SCRIPT)
        app.connect("builder-inited", keep_compiled_templates)
    elements = dict(config.latex_elements or {})
    elements["preamble"] = elements.get("preamble", "") + latex_preamble(macros)
    config.latex_elements = elements
    # One search box, the sidebar's: the theme's top bar would add a second one.
    config.html_theme_options = {**(config.html_theme_options or {}), "navbar_persistent": []}


def _check_chapter(app: Sphinx, docname: str, source: list[str]) -> None:
    text = source[0]
    if not has_code_cells(text):
        return
    path = Path(app.env.doc2path(docname))
    notebook = read_notebook(text)
    if not notebook.metadata.get("jupytext") and notebook.metadata.get("file_format") != "mystnb":
        logger.error("has {code-cell} blocks but no jupytext/MyST-NB header: its cells would never run",
                     location=docname, type="bookbuild", subtype="header")
        return
    for line in unchecked_check_cells(notebook):
        logger.error(f"{path.name}:{line}: a cell tagged '{CHECK_TAG}' is folded on the page, but checks nothing "
                     "(no check, check_all, refute or assert): show it, or make it check",
                     location=(docname, line), type="bookbuild", subtype="fold")
    config = app.config
    requirements = Path(app.srcdir) / config.bookbuild_requirements
    packages = tuple(config.bookbuild_tracked_packages)
    for dependency in [*chapter_dependencies(notebook, packages), requirements]:
        app.env.note_dependency(str(dependency))
    key = execution_key(notebook, packages, requirements)
    if not (store_dir(Path(app.srcdir)) / f"{key}.ipynb").is_file():
        logger.error(
            f"{path.name}: no executed outputs for its current code and package "
            f"(key {key}); build with `make html`, which executes the chapter first",
            location=docname, type="bookbuild", subtype="not-executed",
        )


PDF_IN_SITE = "_static/book.pdf"


def quote_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """``{quote}`exact words <bibkey>```: the source's own words, in curly quotes.

    The words are parsed as inline MyST, so a quoted formula is typeset; the key says
    whose words they are, for the test that finds each quotation in its source.
    """
    match = QUOTATION.match(text)
    if not match:
        message = inliner.reporter.error(
            f"{{quote}} takes the source's exact words and its bibliography key, "
            f"{{quote}}`exact words <key>`; got {text!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    words, messages = inliner.parse(match["words"], lineno, None, inliner.parent)
    quotation = nodes.inline(rawtext, "", classes=["source-quote"])
    quotation += nodes.Text("\u201c")
    quotation.extend(words)
    quotation += nodes.Text("\u201d")
    return [quotation], messages


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    context["book_pdf"] = PDF_IN_SITE if built_pdf(Path(app.srcdir)).is_file() else None
    # sphinx-thebe and sphinx-togglebutton register their inline scripts once per read
    # phase, with different priorities, so Sphinx keeps both copies: a second `const`
    # declaration is a page error. Keep the first copy of each script.
    if "script_files" in context:
        seen = set()
        unique = []
        for script in context["script_files"]:
            identity = (script.filename or "", repr(sorted(script.attributes.items())))
            if identity not in seen:
                seen.add(identity)
                unique.append(script)
        context["script_files"] = unique


def _copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html" and built_pdf(Path(app.srcdir)).is_file():
        shutil.copyfile(built_pdf(Path(app.srcdir)), Path(app.outdir) / PDF_IN_SITE)


def _static_changed(app: Sphinx, env, added, changed, removed) -> list[str]:
    """When only a static file changed, read the root page again: Sphinx copies static files
    only when it writes a page, and with no page out of date it would not (the site would
    keep the old CSS or script)."""
    digest = hashlib.sha256()
    for folder in app.config.html_static_path:
        for path in sorted((Path(app.confdir) / folder).rglob("*")):
            if path.is_file():
                digest.update(f"{path}\0".encode() + path.read_bytes())
    previous = getattr(env, "bookbuild_static_digest", None)
    env.bookbuild_static_digest = digest.hexdigest()
    return [app.config.root_doc] if previous not in (None, env.bookbuild_static_digest) else []


def _pipeline_digest() -> str:
    """A digest of this package's code: when the pipeline changes, Sphinx reads every page again."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def setup(app: Sphinx) -> dict:
    app.add_config_value("bookbuild_pipeline_digest", _pipeline_digest(), "env")
    app.add_config_value("bookbuild_preview", False, "")  # set by bookbuild.preview
    app.add_config_value("bookbuild_tracked_packages", ["nnmath"], "env")
    app.add_config_value("bookbuild_requirements", "requirements.txt", "env")
    app.add_config_value("bookbuild_macros", "book/macros.tex", "env")
    app.add_config_value("bookbuild_chapter_budget", 20, "", types=(int, float))
    app.add_config_value("bookbuild_output_cap_mb", 1, "", types=(int, float))
    # Before MyST-NB's own config-inited handlers (priority 500), which read these values.
    app.connect("config-inited", _configure, priority=400)
    app.connect("source-read", _check_chapter)
    app.connect("env-get-outdated", _static_changed)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _copy_pdf)
    app.add_directive("literalinclude", PackageLiteralInclude, override=True)
    app.add_role("quote", quote_role)
    sphinx_ledger.setup(app)
    sphinx_reader.setup(app)
    sphinx_status.setup(app)
    sphinx_latex.setup(app)
    sphinx_a11y.setup(app)
    sphinx_search.setup(app)
    sphinx_mathjax.setup(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
