# The README's commands. Each target makes the virtualenv (.venv) and installs
# requirements.txt and the package (code/) first, when they changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JOBS ?= $(shell nproc)

.PHONY: html pdf site test test-group check mutation preview chapter lint bench system-deps clean

html: $(INSTALLED)
	$(BIN)/python -m bookbuild html --jobs $(JOBS)

pdf: $(INSTALLED) system-deps
	$(BIN)/python -m bookbuild pdf --jobs $(JOBS)

# What is published: the PDF, then the website with every page linking to it.
site: $(INSTALLED) system-deps
	$(BIN)/python -m bookbuild site --jobs $(JOBS)

# Everything: unit tests and the slow end-to-end tests (book builds, PDF, browser, notebooks),
# one worker per core, and mutation testing of what the working tree's change touches (the
# package modules and shown functions that differ from the merge base with origin/main or
# main; see code/bookbuild/changes.py). The summary at the end says what was compared with.
test: $(INSTALLED) system-deps
	$(BIN)/python -m pytest -m "slow or not slow" -n $(JOBS)

# The whole package mutated, and every function a chapter shows 1 % off (CI's weekly job).
# Results are kept in the user's cache, by content: only what changed since runs again.
mutation: $(INSTALLED)
	$(BIN)/python bench/mutation.py
	$(BIN)/python bench/shown_functions.py

# One slow group, as a CI job runs it: make test-group GROUP=pipeline (or real_book, mutation).
test-group: $(INSTALLED) system-deps
	$(BIN)/python -m pytest -m "slow and $(GROUP)" -n $(JOBS)

# The fast unit tests only (what plain `pytest` runs).
check: $(INSTALLED)
	$(BIN)/python -m pytest

# Live preview at http://127.0.0.1:8000: every save executes the chapters that changed and
# rebuilds with a Sphinx that stays loaded (code/bookbuild/preview.py); the page reloads itself.
preview: $(INSTALLED)
	$(BIN)/python -m bookbuild preview --jobs $(JOBS)

# A new chapter from the template, listed in _toc.yml: make chapter NAME=my-topic, optionally
# with TITLE="My topic" (default: from the name), PART="Backpropagation" or AFTER=book/notation.
chapter: $(INSTALLED)
	$(BIN)/python -m bookbuild chapter "$(NAME)" $(if $(TITLE),--title "$(TITLE)") \
		$(if $(PART),--part "$(PART)") $(if $(AFTER),--after "$(AFTER)")

lint: $(INSTALLED)
	$(BIN)/python -m bookbuild lint

bench: $(INSTALLED)
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/gpt_step.py
	$(BIN)/python bench/book_build.py

$(INSTALLED): requirements.txt code/pyproject.toml pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable code --editable .
	touch $@

system-deps:
	@bash .ci/system-deps

clean:
	rm -rf _build
