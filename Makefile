# Two entry points, each usable on a fresh machine (see README):
#   make demo   installs, fits samples/golden, scores samples/incoming, shows the CSV, writes report/
#   make test   installs with the test tools, runs ruff, mypy and pytest
#   make test-fast  the same without the tests marked slow (inner loop)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo test test-fast lint lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs take their versions from requirements/lock.txt (a constraints file: the exact versions the
# tests and the README's measurements ran with); `make lock` refreshes it (see README).
LOCK := requirements/lock.txt

install: $(BIN)/python
	$(BIN)/pip install -q -c $(LOCK) -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -c $(LOCK) -e '.[test]'

# a fresh venv resolves pyproject.toml's ranges (with the test extra) today; its versions become the lock
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip && .lock-venv/bin/pip install -q -e '.[test]'
	{ echo "# Versions the tests and measurements ran with; regenerate with 'make lock' (README: Reproducible installs)."; \
	  .lock-venv/bin/pip freeze --exclude-editable; } > $(LOCK)
	rm -rf .lock-venv

# score exits 1 when some part fails, which is the demo's expected outcome (samples/incoming holds
# defects); anything else (2 usage error, 3 unreadable files, a crash) fails the demo.
demo: install
	$(BIN)/inspect-svdd fit samples/golden -o model
	$(BIN)/inspect-svdd score samples/incoming -m model --csv results.csv; \
	  code=$$?; cat results.csv; echo "score exit code $$code (0 all pass, 1 some fail, 3 unreadable)"; \
	  test $$code -le 1
	$(BIN)/inspect-svdd evaluate samples/incoming -m model -o report
	@echo "report: report/report.html (metrics, curves, part grids, heat maps of the failures)"

lint: install-test
	$(BIN)/ruff check inspect_svdd tests samples scripts
	$(BIN)/mypy inspect_svdd

test: lint
	$(BIN)/python -m pytest

# the inner loop: the same suite without the slow tests (default fits on samples/, the runtime venv)
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"
