SHELL := /bin/bash
# The two commands: `make book` and `make test`. Each installs into .venv by itself
# (once: the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Quiet pip's warnings about missing local mirrors; keep real errors.
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: book test install unit notebooks book-strict browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo ">> installing advnb and its dependencies into $(VENV) (first time: a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[dev]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $(STAMP)

# Build the HTML book (profile from $$ADVNB_PROFILE, default auto), re-executing only the chapters whose
# code, advnb sources, profile or device changed, and the results pages (advnb/book/build.py: a
# jupyter-cache per profile, device and source hash in book/_build/.jupyter_cache). It prints which
# notebooks it executes and which it reuses. FRESH=1 executes every notebook afresh.
book: $(STAMP)
	$(BIN)/python -m advnb.book.build $(if $(FRESH),--fresh)
	@echo ">> open book/_build/html/index.html"

# Unit tests, every chapter under nbval at the smoke profile (then the results pages, which read
# the chapters' records), the book with warnings as errors, then that book in a headless browser.
test: $(STAMP)
	$(MAKE) unit notebooks book-strict browser

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

notebooks: $(STAMP)
	ADVNB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider book/chapters book/results

book-strict: $(STAMP)
	ADVNB_PROFILE=smoke $(BIN)/jupyter-book build book --all -W -n --keep-going

# Every page of book/_build/html in headless Chromium, network off (tests/test_browser.py; it skips,
# saying how to install it, where there is no chromium). The test carries the marker `browser`, which
# pyproject's addopts deselect, so that `make unit` and a plain pytest never open a book not built yet;
# `-m browser` selects it here, after book-strict has built the book.
browser: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m browser -p no:cacheprovider tests/test_browser.py

clean:
	rm -rf book/_build
