# The README's commands. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint fmt migrate demo bench lighthouse fuzz screenshots messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# axe-core, which the browser tests inject into Chromium (package.json; nothing of it is served).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

bench/lighthouse/node_modules/.package-lock.json: bench/lighthouse/package.json bench/lighthouse/package-lock.json
	cd bench/lighthouse && npm ci --no-audit --no-fund --loglevel=error

run: $(VENV)/.installed  ## migrate the SQLite database, import the demo brands, serve on :8000
	RETORNO_BASE_HOST=$${RETORNO_BASE_HOST:-localhost:$(PORT)} $(BIN)/retorno demo --shoppers
	RETORNO_BASE_HOST=$${RETORNO_BASE_HOST:-localhost:$(PORT)} $(BIN)/retorno serve --host $(HOST) --port $(PORT) --urls

test: $(VENV)/.installed-test node_modules/.package-lock.json  ## the whole suite (RETORNO_TEST_DATABASE_URL=postgresql://... for PostgreSQL)
	$(BIN)/pytest

lint: $(VENV)/.installed-test  ## ruff, mypy (strict on sales and the ledger), the layers of docs/architecture.md
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.installed-test  ## the catalogue: extract every message (backend/babel.cfg), then update pt-BR and en
	cd backend && ../$(BIN)/pybabel extract -F babel.cfg --sort-by-file --no-wrap -o retorno/locale/messages.pot retorno
	cd backend && ../$(BIN)/pybabel update -i retorno/locale/messages.pot -d retorno/locale --no-wrap --no-fuzzy-matching

migrate: $(VENV)/.installed
	$(BIN)/retorno migrate

bench: $(VENV)/.installed-test
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/messages.py
	$(BIN)/python bench/storefront.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/reports.py

screenshots: $(VENV)/.installed-test  ## every shopper and admin page of the demo, into screenshots/ (Debian's Chromium)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core)
	$(BIN)/python -m tests.screenshots --out screenshots

fuzz: $(VENV)/.installed-test  ## schemathesis against the API's own OpenAPI document (EXAMPLES=50, CHECKS=all)
	tests/fuzz_api.sh

lighthouse: $(VENV)/.installed bench/lighthouse/node_modules/.package-lock.json  ## performance, accessibility, best practices
	$(BIN)/python bench/lighthouse.py

clean:
	rm -rf $(VENV) node_modules bench/lighthouse/node_modules var/*.sqlite3* .pytest_cache .ruff_cache
