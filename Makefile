SHELL := /bin/bash
# The two commands: `make book` and `make test`. Each installs into .venv by itself
# (once: the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Quiet pip's warnings about missing local mirrors; keep real errors.
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: book test install unit notebooks book-strict clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo ">> installing advnb and its dependencies into $(VENV) (first time: a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[dev]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $(STAMP)

# Execute every chapter (profile from $$ADVNB_PROFILE, default auto) and build the HTML book.
book: $(STAMP)
	$(BIN)/jupyter-book build book --all
	@echo ">> open book/_build/html/index.html"

# Unit tests, every chapter under nbval at the smoke profile (then the results pages, which read
# the chapters' records), the book with warnings as errors.
test: $(STAMP)
	$(MAKE) unit notebooks book-strict

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

notebooks: $(STAMP)
	ADVNB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider book/chapters book/results

book-strict: $(STAMP)
	ADVNB_PROFILE=smoke $(BIN)/jupyter-book build book --all -W -n --keep-going

clean:
	rm -rf book/_build
