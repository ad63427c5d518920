# Two commands for a new user: `make book` and `make test`; `make unit` runs the unit tests alone.
# The virtual environment is rebuilt only when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# an extra package index for torch, e.g. https://download.pytorch.org/whl/cpu for the CPU-only
# build on a machine where PyPI's torch is the CUDA one; empty by default (PyPI alone)
TORCH_INDEX ?=
PIP_INSTALL := $(PIP) install --quiet -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
INSTALL_BOOK  := $(VENV)/.installed-book
INSTALL_TEST  := $(VENV)/.installed-test
INSTALL_TEACH := $(VENV)/.installed-teach
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
BROWSER       := /usr/bin/chromium

# torch's threads for the chapters' kernels and the tests. The book's small models run about as
# fast on one thread, and one thread keeps a chapter from spinning against whatever else the
# machine runs (benchmarks/busy_machine.md). Set it to override, e.g. `make book OMP_NUM_THREADS=2`.
export OMP_NUM_THREADS ?= 1
# one string hash for every kernel: the book's execution and the notebook tests' must print the
# same (a set of strings iterates in an order that depends on it)
export PYTHONHASHSEED ?= 0

.PHONY: book chapters pdf unit test test-book test-unit test-notebooks assignments mirrors environment clean

# the most chapters executed at once by `make book` (tools/execute_chapters.py): one per core by
# default, and another starts beside those running only while a core is idle.
# (Not `nproc`, which answers OMP_NUM_THREADS, exported as 1 below.)
JOBS ?= $(shell nproc --all 2>/dev/null || echo 1)

# The chapters run first, up to JOBS at a time, into a cache keyed by their code, the library, the pins
# and the environment: a chapter whose key did not change is not executed again. Sphinx then reads
# every page, taking the chapters' outputs from the cache (book/_ext/executed.py refuses stale ones).
book: chapters
	rm -rf _build/html  # no page of an earlier build survives into this one
	DEEPISSUES_STATIC=1 $(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --all

chapters: $(INSTALL_BOOK) $(KERNEL_CONFIG)
	DEEPISSUES_STATIC=1 $(BIN)/python -m tools.execute_chapters --jobs $(JOBS) $(EXECUTE_ARGS)

# The built book as one PDF beside its HTML, printed by Debian's chromium from the pages `make book`
# wrote last (tools/pdf.py): nothing runs again, nothing is downloaded.
pdf: $(INSTALL_TEST) $(BROWSER)
	$(BIN)/python -m tools.pdf

# the unit tests and the library's doctests, without the book
unit: $(INSTALL_TEST) $(KERNEL_CONFIG)
	$(BIN)/python -m pytest tests lib -m "not book"

# The full gate, on both cores from its start, in three streams (`make -j3`), each pytest run ending
# with its own summary and its 20 slowest tests (their output interleaves, unbuffered):
# - test-unit: every unit test and doctest, at once, beside the book's chapters (whose scheduler then
#   runs one chapter at a time while the tests take the other core);
# - test-notebooks: once the chapters are executed, every chapter executed again, live as a
#   student's kernel runs it (sliders built and moved, progress bars, none of the book's tools
#   importable), each cell compared with what it printed for the book (the determinism check,
#   tests/notebook_runner.py), so every chapter is executed at least once even when the book's
#   cache was current; its claim records are kept apart from the book's;
# - test-book: the book's pages, the book printed to PDF, and the link, PDF, browser and JupyterLab
#   tests over it.
test: $(INSTALL_TEST) $(BROWSER) $(KERNEL_CONFIG)
	PYTHONUNBUFFERED=1 $(MAKE) --no-print-directory -j3 test-unit test-notebooks test-book

test-unit:
	DEEPISSUES_STATIC=1 DEEPISSUES_CLAIMS_DIR=_build/nbtest/claims \
		$(BIN)/python -m pytest tests lib -m "not book" --durations=20

# two workers (pytest-xdist), each taking whole chapters, so that a chapter's cells run in order in
# one kernel: with one, the last chapters ran alone at the end of the gate, on one core
test-notebooks: chapters
	DEEPISSUES_STATIC=1 DEEPISSUES_COMPARE_OUTPUTS=1 DEEPISSUES_CLAIMS_DIR=_build/nbtest/claims \
		$(BIN)/python -m pytest notebooks -n 2 --dist loadfile --durations=20

test-book: book
	$(MAKE) --no-print-directory pdf
	$(BIN)/python -m pytest tests -m book --durations=20

# the chapters' .ipynb mirrors on the branch ipynb, where the Colab buttons point, and the tag
# v<version> that the install cells pin (refused if that version was published from another commit)
mirrors: book
	tools/tag_release.sh
	tools/publish_mirrors.sh

# nbgrader course directory _build/assignments: source (teachers), release (students), zips.
# It needs the book (for the numbers the prose quotes: make book executes only what changed) and
# nbgrader (the teach extra), not the test tools.
assignments: book $(INSTALL_TEACH)
	$(BIN)/python -m tools.assignments

# Debian's chromium for the browser tests (apt-get; fails with a message where it cannot)
$(BROWSER):
	tools/install_browser.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_BOOK): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[book]"
	touch $@

$(INSTALL_TEST): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[book,teach,test]"
	touch $@ $(INSTALL_BOOK) $(INSTALL_TEACH)

$(INSTALL_TEACH): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[book,teach]"
	touch $@ $(INSTALL_BOOK)

# Binder's environment.yml, from constraints.txt (a test checks that it is current)
environment: $(INSTALL_TEST)
	$(BIN)/python -m tools.environment

# every kernel of this environment reads it: it silences one repeated log line (see the file)
$(KERNEL_CONFIG): tools/ipython_kernel_config.py | $(BIN)/python
	mkdir -p $(dir $@)
	cp $< $@

clean:
	rm -rf _build
