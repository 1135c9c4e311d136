# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
BANDIT := $(BIN)/bandit -q -c pyproject.toml -r crisis workers scripts
# pytest-xdist workers: one per CPU; each has its own database, instance folder and queues. Bytecode is
# written even where the environment says not to (PYTHONDONTWRITEBYTECODE): each worker otherwise
# rewrites and compiles every test module again (12 s a worker against 6 s on the test machine).
WORKERS ?= auto
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(WORKERS) --dist worksteal

.PHONY: run test test-fast venv venv-app services catalogs bytecode messages lint format bench clean

# `make run` installs what the app needs; `make test` (and lint) add the test tools on top.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/pip install -e ".[test]"
	touch $@

## The app alone (what `make run` needs), and the development venv: the app and the test tools.
venv-app: $(BIN)/.installed

venv: $(BIN)/.installed-test

catalogs: venv-app
	$(BIN)/pybabel -q compile -d crisis/translations

## The project's own modules compiled once: an editable install leaves them as source, and where the
## environment sets PYTHONDONTWRITEBYTECODE every process (`crisis run`, a worker, a CLI command in a
## test) compiled them again at start-up (0.6 s of a 2.9 s start on the 2-CPU test machine).
bytecode: venv-app
	$(BIN)/python -m compileall -q crisis workers

## Serve the embedded default: SQLite in instance/, scheduler and tasks in-process, demo data.
run: venv-app catalogs bytecode
	$(BIN)/crisis db upgrade
	$(BIN)/crisis seed demo --if-empty
	$(BIN)/crisis run --host $(HOST) --port $(PORT)

## Start (or install) PostgreSQL, Redis and Chromium, then run lint and the whole suite.
test: venv catalogs bytecode services lint
	$(PYTEST) $(PYTEST_ARGS)

## The inner loop: the suite without real processes, the browser and schemathesis (no lint), and
## the engine's state machine on fewer examples (`make test` runs all of them).
test-fast: venv catalogs bytecode services
	CRISIS_MODEL_EXAMPLES=$${CRISIS_MODEL_EXAMPLES:-40} $(PYTEST) -m "not slow and not e2e and not schemathesis" $(PYTEST_ARGS)

services:
	bash scripts/test-services.sh

## Re-extract user-visible strings and merge them into both catalogs.
messages: venv-app
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --no-location -o crisis/translations/messages.pot .
	$(BIN)/pybabel -q update -i crisis/translations/messages.pot -d crisis/translations --no-fuzzy-matching
	$(BIN)/python scripts/fill_en_catalog.py

## ruff (lint and format), the one-way import contract (import-linter, pyproject.toml), bandit.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BANDIT)

## Apply ruff's fixes and formatting to the whole tree.
format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance test-artifacts
