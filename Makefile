# Two entry points, each usable on a fresh machine (see README):
#   make demo   installs, fits samples/golden, scores samples/incoming, shows the CSV
#   make test   installs with the test tools, runs ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

demo: install
	$(BIN)/inspect-svdd fit samples/golden -o model
	$(BIN)/inspect-svdd score samples/incoming -m model --csv results.csv; \
	  code=$$?; cat results.csv; echo "score exit code $$code (0 all pass, 1 some fail, 3 unreadable)"

lint: install-test
	$(BIN)/ruff check inspect_svdd tests samples scripts
	$(BIN)/mypy inspect_svdd

test: lint
	$(BIN)/python -m pytest
