"""The real book builds to HTML and PDF, with live outputs, and its executions are deterministic."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import nbformat
import pytest
from bookbuild.book import load_config, read_notebook
from bookbuild.execute import plan, stored_path
from real_book import built_site, private_copy, run_bookbuild, scratch_copy, text_outputs

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
    config = load_config(root)  # this build's chapters only: the store also keeps earlier results
    stored = [nbformat.read(stored_path(config, job.key), as_version=4) for job in plan(config)]
    printed = [output.text.strip().splitlines()[0] for notebook in stored for cell in notebook.cells
               if cell.cell_type == "code" for output in cell.outputs
               if output.output_type == "stream" and output.text.strip()]
    assert len(printed) > 50, "the book prints almost nothing?"

    def letters_and_digits(string):  # what survives typesetting, line breaks and pdftotext
        return re.sub(r"[^A-Za-z0-9]", "", string)

    typeset = letters_and_digits(text)
    missing = [line for line in printed if letters_and_digits(line)[:30] not in typeset]
    assert not missing, missing


def test_with_two_blas_threads_every_check_passes_and_the_text_is_the_same(tmp_path):
    """A reader's machine sums in another order. Executed clean (an empty store, in a copy of
    its own) with 2 BLAS threads per kernel, every chapter passes every check and prints the
    same text as the build's 1-thread execution: no claim, and no printed digit, depends on
    the order of a sum."""
    root, _ = built_site()
    config = load_config(root)
    one_thread = {config.relative(job.chapter): stored_path(config, job.key) for job in plan(config)}
    again = private_copy(tmp_path / "book")
    process = run_bookbuild("execute", again, "--blas-threads", "2")
    assert process.returncode == 0, process.stdout + process.stderr
    assert re.search(rf"\n{len(one_thread)} of {len(one_thread)} chapters executed", process.stdout), process.stdout
    threaded = dataclasses.replace(load_config(again), blas_threads=2)
    two_threads = {threaded.relative(job.chapter): stored_path(threaded, job.key) for job in plan(threaded)}
    differing = {chapter: [cell for cell, (one, two) in enumerate(zip(
        text_outputs(one_thread[chapter]), text_outputs(two_threads[chapter]), strict=True), 1) if one != two]
        for chapter in one_thread}
    assert not any(differing.values()), {chapter: cells for chapter, cells in differing.items() if cells}


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


def _pages(root) -> list[str]:
    return _pdf_text(root).split("\f")


def test_the_pdf_has_no_blemishes():
    """No blank page, no overfull line, no undefined reference or numberless "Table 3.3" in the
    ledger, the preface on its own page, the degree sign, the title in the file's metadata, and
    figures in fonts a PDF reader can search (TrueType, not matplotlib's Type 3)."""
    root, _ = built_site()
    pdf = root / "_build" / "pdf" / "book.pdf"
    pages = _pages(root)
    blank = [number for number, page in enumerate(pages[:-1], start=1) if not page.strip()]
    assert not blank, f"blank pages: {blank}"
    log = (root / "_build" / "latex" / "book.log").read_text(errors="replace")
    overfull = re.findall(r"^Overfull \\hbox \((\d+\.\d+)pt too wide\)", log, re.M)
    assert not [width for width in overfull if float(width) > 5], f"{len(overfull)} overfull lines: {overfull}"
    undefined = re.findall(r"[Rr]eference `([^']+)' on page \d+ undefined", log.replace("\n", ""))
    assert not undefined, f"{len(undefined)} undefined references, such as {undefined[:3]}"
    assert "invalid in math mode" not in log
    text = "\f".join(pages)
    assert not re.search(r"Table [0-9A-Z]+\.\d+ – continued", text)
    assert re.search(r"12\s*[°∘]", text)  # a degree sign in maths (pdftotext reads LaTeX's ^\circ as ∘)
    (preface,) = [page for page in pages if "At a glance" in page]
    assert "ABOUT THIS BOOK" in preface.upper() and "CONTENTS" not in preface.upper()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Title:\s+The Mathematics of Neural Networks, Executed$", info, re.M), info
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Type 3" not in fonts, fonts


def test_a_folded_check_prints_its_verdict_but_not_its_code():
    root, _ = built_site()
    typeset = re.sub(r"[^A-Za-z0-9]", "", _pdf_text(root))
    cells = [(chapter.name, cell) for chapter in load_config(root).chapters
             for cell in read_notebook(chapter.read_text()).cells if cell.cell_type == "code"]
    # A line that a visible cell also has (two chapters define the same helper) may be printed.
    shown = {line for _, cell in cells if "check" not in cell.metadata.get("tags", [])
             for line in cell.source.splitlines()}
    folded = 0
    for name, cell in cells:
        if "check" in cell.metadata.get("tags", []):
            folded += 1
            own = [line for line in cell.source.splitlines() if line not in shown]
            longest = max(own, key=len) if own else ""
            assert len(longest) < 20 or re.sub(r"[^A-Za-z0-9]", "", longest) not in typeset, (name, longest)
    assert folded, "no chapter folds a check"
