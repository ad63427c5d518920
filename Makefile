# Two commands for a new user: `make book` and `make test`.
# The virtual environment is rebuilt only when pyproject.toml or constraints.txt change.
# `make test` builds the book first: the browser and link tests read the built HTML.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
INSTALL_BOOK := $(VENV)/.installed-book
INSTALL_TEST := $(VENV)/.installed-test
BROWSER      := /usr/bin/chromium

.PHONY: book test assignments mirrors clean

book: $(INSTALL_BOOK)
	rm -rf _build/html  # no page of an earlier build survives into this one
	DEEPISSUES_STATIC=1 $(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --all

test: $(INSTALL_TEST) $(BROWSER)
	$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest

# the chapters' .ipynb mirrors on the branch ipynb, where the Colab buttons point
mirrors: book
	tools/publish_mirrors.sh

# nbgrader course directory _build/assignments: source (teachers), release (students), zips
assignments: $(INSTALL_TEST)
	$(BIN)/python -m tools.assignments

# Debian's chromium for the browser tests (apt-get; fails with a message where it cannot)
$(BROWSER):
	tools/install_browser.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_BOOK): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e ".[book]"
	touch $@

$(INSTALL_TEST): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e ".[book,test]"
	touch $@ $(INSTALL_BOOK)

clean:
	rm -rf _build
