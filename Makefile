# The two commands: `make up` runs Causeway on this machine; `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test bench lint clean-test browser-deps saml-deps

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

# The tests run in several processes side by side (pytest-xdist), each with its own data directory,
# database and broker keys (see testkit/support.py). One per core: the Causeway processes the tests
# wait on work too, so more test processes than cores measured slower. TEST_PROCESSES=0 runs every
# test in one process.
TEST_PROCESSES ?= 2
# On PostgreSQL each test process's database commits without waiting for the disk (conftest.py;
# docs/decisions.md has the figures), and the API's OpenAPI document is built once per process.
# Each test process is handed one or two tests at a time, as it finishes the last. By default
# pytest-xdist hands out runs of consecutive tests, up to a quarter of those left: the tests that start
# real processes, which sit together after the rolled-back ones, could all go to one test process in
# one run while the other finished the quick tests and then stood idle (see docs/decisions.md).
TEST_SCHEDULING := --maxschedchunk=1
# Branch coverage of the policy and the cryptography as measured (92.3 % and 99.5 % on both the SQLite
# and the PostgreSQL runs), rounded down: each may only go up.
COVERAGE_FLOOR_ACCESS := 92
COVERAGE_FLOOR_VAULT := 99

# SAML sign-in checks XML signatures with xmlsec1 (pysaml2 runs it); Debian packages it.
saml-deps:
	@command -v xmlsec1 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null; }

test: export CAUSEWAY_HOME := $(CURDIR)/var/check
# Python keeps its compiled modules (and pytest its rewritten test modules) in __pycache__ even where
# the environment says not to: without them every test process and every Causeway process a test starts
# compiles the same modules again: half of a test process's collection, a seventh of a command's start.
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP) browser-deps saml-deps
	$(BIN)/ruff check causeway testkit bench
	$(BIN)/lint-imports
	$(BIN)/bandit -q -ll -r causeway -x '*/tests/*'
	$(BIN)/causeway init --no-admin
	$(BIN)/causeway check
	$(BIN)/mypy causeway testkit
	CAUSEWAY_HOME=$(CURDIR)/var/test $(BIN)/python -m pytest -q -n $(TEST_PROCESSES) $(TEST_SCHEDULING) --cov --cov-report= $(PYTEST_ARGS)
	$(BIN)/coverage report --include='causeway/access/*' --skip-covered --fail-under=$(COVERAGE_FLOOR_ACCESS)
	$(BIN)/coverage report --include='causeway/vault/*' --skip-covered --fail-under=$(COVERAGE_FLOOR_VAULT)

bench: $(STAMP)
	$(BIN)/python -m bench
