# The README's commands. Each target makes the virtualenv (.venv) and installs
# requirements.txt and the package (code/) first, when they changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JOBS ?= $(shell nproc)

.PHONY: html pdf test check preview chapter lint bench system-deps clean

html: $(INSTALLED)
	$(BIN)/python -m bookbuild html --jobs $(JOBS)

pdf: $(INSTALLED) system-deps
	$(BIN)/python -m bookbuild pdf --jobs $(JOBS)

# Everything: unit tests, then the slow end-to-end tests (book builds, PDF, browser).
test: $(INSTALLED) system-deps
	$(BIN)/python -m pytest -m "slow or not slow"

# The fast unit tests only (what plain `pytest` runs).
check: $(INSTALLED)
	$(BIN)/python -m pytest

$(INSTALLED): requirements.txt code/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable code
	touch $@

system-deps:
	@bash .ci/system-deps

clean:
	rm -rf _build
