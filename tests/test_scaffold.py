"""``create_chapter``: a new chapter from the template, listed in ``_toc.yml`` with its comments kept."""

from __future__ import annotations

import re

import pytest
import yaml
from bookbuild.book import load_config
from bookbuild.lint import lint_book
from bookbuild.scaffold import add_to_toc, create_chapter
from fixture_book import REPO, FixtureBook, chapter
from myst_nb.core.read import is_myst_markdown_notebook

TOC = """\
# The order of the book.
format: jb-book
root: book/intro  # the landing page
chapters:
  - file: book/notation
  # the chapters on layers
  - file: book/layers
    sections:
      - file: book/layers-linear
"""


@pytest.fixture
def book(tmp_path):
    book = FixtureBook(tmp_path)
    book.add_chapter("intro", chapter("Intro"))
    book.add_chapter("notation", chapter("Notation"))
    book.add_chapter("layers", chapter("Layers"))
    book.add_chapter("layers-linear", chapter("Linear layers"))
    book.write("_toc.yml", TOC)
    return book


def test_creates_the_chapter_from_the_template_with_slug_and_title(book):
    path = create_chapter(book.root, "softmax-cross-entropy", "Softmax and cross-entropy")
    assert path == book.root / "book" / "softmax-cross-entropy.md"
    text = path.read_text()
    assert is_myst_markdown_notebook(text)
    assert "(chapter-softmax-cross-entropy)=\n# Softmax and cross-entropy\n" in text
    assert "$$ (eq-softmax-cross-entropy-result)" in text
    assert "{eq}`eq-softmax-cross-entropy-result`" in text
    assert ":label: ex-softmax-cross-entropy-1" in text and "{solution} ex-softmax-cross-entropy-2" in text
    assert "{slug}" not in text and "{title}" not in text
    template = (REPO / "code" / "bookbuild" / "templates" / "chapter.md").read_text()
    assert text == template.replace("{slug}", "softmax-cross-entropy").replace("{title}", "Softmax and cross-entropy")


def test_appends_to_the_toc_keeping_its_comments(book):
    create_chapter(book.root, "losses", "Losses")
    assert (book.root / "_toc.yml").read_text() == TOC + "  - file: book/losses\n"
    assert load_config(book.root).chapters[-1] == book.root / "book" / "losses.md"


def test_a_new_chapter_goes_after_the_last_chapter_before_trailing_content():
    toc = "root: intro\nchapters:\n- file: a\n  sections:\n  - file: a1\n\n# extras\noptions:\n  numbered: true\n"
    new = add_to_toc(toc, "b")
    assert new == toc.replace("  - file: a1\n", "  - file: a1\n- file: b\n")
    assert [entry["file"] for entry in yaml.safe_load(new)["chapters"]] == ["a", "b"]


@pytest.mark.parametrize("toc", ["root: intro\n", "root: intro", "root: intro\nchapters: []\n", "root: a\nchapters:\n"])
def test_a_toc_without_chapters_gets_its_first(toc):
    assert yaml.safe_load(add_to_toc(toc, "b"))["chapters"] == [{"file": "b"}]


PARTS_TOC = """\
root: intro
parts:
  - caption: Main
    numbered: true
    chapters:
      - file: a
        sections:
          - file: a1
  # the appendices are not numbered
  - caption: Appendices
    chapters:
      - file: z
"""


def test_in_a_book_with_parts_the_chapter_joins_the_last_numbered_part():
    text = add_to_toc(PARTS_TOC, "b")
    toc = yaml.safe_load(text)
    assert toc["parts"][0]["chapters"] == [{"file": "a", "sections": [{"file": "a1"}]}, {"file": "b"}]
    assert toc["parts"][1]["chapters"] == [{"file": "z"}]
    assert "# the appendices are not numbered" in text


def test_the_repository_toc_takes_a_new_chapter_before_the_appendices():
    toc = yaml.safe_load(add_to_toc((REPO / "_toc.yml").read_text(), "book/new-topic"))
    numbered = [part for part in toc["parts"] if part.get("numbered")]
    assert numbered[-1]["chapters"][-1] == {"file": "book/new-topic"}
    assert {"file": "book/new-topic"} not in toc["parts"][-1]["chapters"]


@pytest.mark.parametrize("name", ["My-topic", "my_topic", "my topic", "-topic", "topic-", "my--topic", "", "../topic",
                                  "book/topic", "topic.md"])
def test_refuses_a_name_that_is_not_kebab_case(book, name):
    with pytest.raises(ValueError, match="is not kebab-case"):
        create_chapter(book.root, name, "Title")
    assert (book.root / "_toc.yml").read_text() == TOC


@pytest.mark.parametrize("title", ["", "  ", "Two\nlines"])
def test_refuses_an_empty_or_multiline_title(book, title):
    with pytest.raises(ValueError, match="must be one non-empty line"):
        create_chapter(book.root, "topic", title)


def test_refuses_an_existing_chapter(book):
    before = (book.root / "book" / "notation.md").read_text()
    with pytest.raises(ValueError, match=r"book/notation\.md already exists"):
        create_chapter(book.root, "notation", "Notation again")
    assert (book.root / "book" / "notation.md").read_text() == before
    assert (book.root / "_toc.yml").read_text() == TOC


def test_refuses_a_name_the_toc_already_lists(book):
    (book.root / "book" / "layers-linear.md").unlink()
    with pytest.raises(ValueError, match="already lists book/layers-linear"):
        create_chapter(book.root, "layers-linear", "Linear layers")


def test_a_scaffolded_chapter_passes_the_lint(book):
    create_chapter(book.root, "losses", "Losses")
    assert lint_book(book.root) == []


@pytest.mark.slow
@pytest.mark.pipeline
def test_a_scaffolded_chapter_builds_at_once(tmp_path):
    book = FixtureBook(tmp_path)
    book.add_chapter("intro", chapter("Intro"))
    # The template shows and imports the real package: /code/nnmath/activations.py.
    (book.root / "code").symlink_to(REPO / "code")
    create_chapter(book.root, "my-topic", "My topic")
    result = book.build()
    assert result.returncode == 0, result.output
    page = re.sub(r"<[^>]+>", "", book.html("my-topic"))
    assert "My topic" in page and "def sigmoid_prime(z):" in page  # the literalinclude
    assert "autograd: [" in page  # the check cell's output


def test_the_title_defaults_to_the_name_in_words(book):
    text = create_chapter(book.root, "gradient-flow-at-depth").read_text()
    assert "# Gradient flow at depth\n" in text


def test_a_chapter_can_be_placed_in_a_part_or_after_a_chapter():
    toc = yaml.safe_load(add_to_toc(PARTS_TOC, "y", part="Appendices"))
    assert toc["parts"][1]["chapters"] == [{"file": "z"}, {"file": "y"}]
    with pytest.raises(ValueError, match="no part captioned 'Extras'; its parts: Main, Appendices"):
        add_to_toc(PARTS_TOC, "y", part="Extras")


def test_after_a_chapter_means_after_its_sections_too(book):
    create_chapter(book.root, "first-steps", after="book/notation")
    create_chapter(book.root, "layers-deep", after="book/layers")
    toc = yaml.safe_load((book.root / "_toc.yml").read_text())
    assert [item["file"] for item in toc["chapters"]] == [
        "book/notation", "book/first-steps", "book/layers", "book/layers-deep"]
    assert toc["chapters"][2]["sections"] == [{"file": "book/layers-linear"}]
    assert "# the chapters on layers" in (book.root / "_toc.yml").read_text()
    with pytest.raises(ValueError, match="lists no chapter 'book/ghost' to place the new one after"):
        create_chapter(book.root, "orphan", after="book/ghost")
    assert not (book.root / "book" / "orphan.md").exists()
