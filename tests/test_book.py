"""The real book builds to HTML and PDF, with live outputs, and its executions are deterministic."""

from __future__ import annotations

import re
import subprocess

import nbformat
import pytest
from bookbuild.book import load_config
from bookbuild.execute import plan, stored_path
from real_book import built_site, private_copy, run_bookbuild, scratch_copy

pytestmark = [pytest.mark.slow, pytest.mark.real_book]


def test_every_chapter_is_executed_and_rendered_with_its_outputs():
    root, log = built_site()
    config = load_config(root)
    assert "chapter(s) failed" not in log
    for chapter in config.chapters:
        page = root / "_build" / "html" / chapter.relative_to(root).with_suffix(".html")
        html = page.read_text()
        assert "cell_output" in html or "{code-cell}" not in chapter.read_text(), page
        assert "Traceback (most recent call last)" not in html, page


def test_the_pdf_is_typeset_with_no_undefined_references():
    root, _ = built_site()
    pdf = root / "_build" / "pdf" / "book.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2 * len(load_config(root).chapters)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "??" not in text
    assert (root / "_build" / "html" / "_static" / "book.pdf").read_bytes()[:4] == b"%PDF"


def test_the_pdf_shows_the_same_live_outputs_as_the_website():
    root, _ = built_site()
    text = subprocess.run(["pdftotext", "-layout", str(root / "_build" / "pdf" / "book.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    stored = [nbformat.read(path, as_version=4) for path in (root / "_build" / "executed").glob("*.ipynb")]
    printed = [output.text.strip().splitlines()[0] for notebook in stored for cell in notebook.cells
               if cell.cell_type == "code" for output in cell.outputs
               if output.output_type == "stream" and output.text.strip()]
    assert len(printed) > 50, "the book prints almost nothing?"

    def letters_and_digits(string):  # what survives typesetting, line breaks and pdftotext
        return re.sub(r"[^A-Za-z0-9]", "", string)

    typeset = letters_and_digits(text)
    missing = [line for line in printed if letters_and_digits(line)[:30] not in typeset]
    assert not missing, missing


def test_two_clean_executions_give_identical_text_outputs(tmp_path):
    """The shared build's outputs against a clean execution in a copy of its own (empty store)."""
    root, _ = built_site()
    config = load_config(root)
    keys = [job.key for job in plan(config)]  # this build's, not older ones
    first = _text_outputs([stored_path(config, key) for key in keys])
    again = private_copy(tmp_path / "book")
    process = run_bookbuild("execute", again)
    assert process.returncode == 0, process.stdout + process.stderr
    assert re.search(rf"\n{len(keys)} of {len(keys)} chapters executed", process.stdout), process.stdout
    assert _text_outputs([stored_path(load_config(again), key) for key in keys]) == first


def _text_outputs(paths) -> dict[str, list[str]]:
    """Each chapter's code cells' text as rendered, by execution key: its streams joined (a
    kernel may split a print into several stream messages, which MyST-NB merges), then the
    plain text of its results."""
    outputs = {}
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        outputs[path.name] = [
            "".join(output.text for output in cell.outputs if output.output_type == "stream")
            + "".join(output.get("data", {}).get("text/plain", "") for output in cell.outputs)
            for cell in notebook.cells if cell.cell_type == "code"
        ]
    return outputs


def test_a_no_op_rebuild_of_the_real_book_executes_nothing():
    built_site()
    process = run_bookbuild("html", scratch_copy())
    assert process.returncode == 0, process.stdout + process.stderr
    assert re.search(r"\n0 of \d+ chapters executed", process.stdout)


def _pdf_text(root, *options) -> str:
    return subprocess.run(["pdftotext", *options, str(root / "_build" / "pdf" / "book.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout


def test_the_pdf_plots_are_vector_and_only_data_images_are_raster():
    """matplotlib draws vectors; an image (a digit, a matrix) keeps one pixel per entry."""
    root, _ = built_site()
    listing = subprocess.run(["pdfimages", "-list", str(root / "_build" / "pdf" / "book.pdf")],
                             capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    widths = [int(line.split()[3]) for line in listing]
    assert widths, "the digits should be in the PDF as images"
    assert max(widths) <= 200, [line for line in listing if int(line.split()[3]) > 200]


def test_the_pdf_reads_like_a_textbook():
    root, _ = built_site()
    text = _pdf_text(root)
    contents = _pdf_text(root, "-f", "1", "-l", "10")
    for part in ("Part I", "Foundations", "Backpropagation", "Appendices"):
        assert part in contents, part
    assert "Edition " in _pdf_text(root, "-f", "1", "-l", "1")  # the title page
    assert "Solution at the end of the chapter" in text and "Solutions" in contents
    assert text.count("References") >= 2 and "Bibliography" not in contents  # one bibliography
    entries = {line.split("|")[0] for line in (root / "_build" / "latex" / "book.idx").read_text().splitlines()}
    assert len(entries) >= 100, f"the back-of-book index has {len(entries)} entries"
    assert re.search(r"\nIndex\n", text)


def test_no_text_in_the_pdf_is_mangled():
    root, _ = built_site()
    text = _pdf_text(root)
    assert not re.search("Ã|â€|\ufffd", text)
    assert "https://www.ics.uci.edu/~pjsadows/" in text.replace("\n", "")
    assert "\\vb" not in text and "\\loss" not in text  # no raw macros
