# The two commands: `make up` runs Causeway on this machine; `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test bench lint clean-test browser-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/causeway up

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: export CAUSEWAY_HOME := $(CURDIR)/var/check
test: $(STAMP) browser-deps
	$(BIN)/ruff check causeway bench
	$(BIN)/lint-imports
	$(BIN)/bandit -q -ll -r causeway -x '*/tests/*'
	$(BIN)/causeway init --no-admin
	$(BIN)/causeway check
	$(BIN)/mypy causeway
	CAUSEWAY_HOME=$(CURDIR)/var/test $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench
