"""The execution status page: each chapter's last run, as it produced the pages.

``{execution-status}`` becomes, when the page is written, a table of every chapter with code:
when the run that produced its page happened, how long it took (on the clock and in CPU
time), its execution key, and its result. The data is in each chapter's stored notebook
(written by :mod:`bookbuild.execute`), so a chapter that was not executed again shows the run
its page comes from. Only a chapter whose every cell passed is stored, so the result is
always "passed": a failure fails the build, and no page is published.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx
from sphinx.util.nodes import make_refnode

from bookbuild.book import has_code_cells, read_notebook, store_dir, toc_chapters
from bookbuild.keys import execution_key
from bookbuild.tables import table

HEADER = ("Chapter", "Last run (UTC)", "Seconds", "CPU seconds", "Execution key", "Result")


class status_placeholder(nodes.General, nodes.Element):
    """Where the status table goes; filled in when the page is written."""


class ExecutionStatus(Directive):
    def run(self):
        env = self.state.document.settings.env
        env.bookbuild_status_docname = env.docname
        return [status_placeholder()]


def runs(app: Sphinx) -> list[dict]:
    """One row per chapter with code, in book order, from its stored notebook."""
    root = Path(app.srcdir)
    config = app.config
    rows = []
    for path in toc_chapters(root):
        text = path.read_text()
        if path.suffix != ".md" or not has_code_cells(text):
            continue
        key = execution_key(read_notebook(text), tuple(config.bookbuild_tracked_packages),
                            root / config.bookbuild_requirements)
        stored = store_dir(root) / f"{key}.ipynb"
        run = nbformat.read(stored, as_version=4).metadata.get("bookbuild", {}) if stored.is_file() else {}
        rows.append({"docname": path.relative_to(root).with_suffix("").as_posix(), "key": key,
                     "executed": run.get("executed", "unknown"), "seconds": run.get("seconds"),
                     "cpu_seconds": run.get("cpu_seconds"), "result": "passed" if stored.is_file() else "not run"})
    return rows


def _outdated(app: Sphinx, env, added, changed, removed) -> list[str]:
    docname = getattr(env, "bookbuild_status_docname", None)
    digest = hashlib.sha256(json.dumps(runs(app)).encode()).hexdigest()
    previous = getattr(env, "bookbuild_status_digest", None)
    env.bookbuild_status_digest = digest
    return [docname] if docname and digest != previous and docname in env.found_docs else []


def _resolve(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for placeholder in list(doctree.findall(status_placeholder)):
        rows = []
        for run in runs(app):
            title = app.env.titles[run["docname"]].astext() if run["docname"] in app.env.titles else run["docname"]
            rows.append([
                make_refnode(app.builder, docname, run["docname"], "", nodes.Text(title)),
                nodes.Text(run["executed"]),
                nodes.Text(f"{run['seconds']:.1f}" if run["seconds"] is not None else ""),
                nodes.Text(f"{run['cpu_seconds']:.1f}" if run["cpu_seconds"] is not None else ""),
                nodes.literal(text=run["key"][:12]),  # as git abbreviates a commit
                nodes.Text(run["result"]),
            ])
        placeholder.replace_self(table(HEADER, (30, 18, 8, 10, 16, 8), rows, ["execution-status"],
                                       labelled=app.builder.format == "html"))


def setup(app: Sphinx) -> None:
    app.add_node(status_placeholder)
    app.add_directive("execution-status", ExecutionStatus)
    app.connect("env-get-outdated", _outdated)
    app.connect("doctree-resolved", _resolve)
