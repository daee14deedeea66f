# Two entry points, each usable on a fresh machine (see README):
#   make demo   installs, fits samples/golden, scores samples/incoming, shows the CSV, writes report/
#   make test   installs with the test tools, runs ruff, mypy and pytest
#   make test-fast  the same without the tests marked slow (inner loop)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo test test-fast lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

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
