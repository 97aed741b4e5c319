# The two commands a fresh machine needs: `make run` and `make test`.
# Both set up what is missing first (.venv, Python and npm packages, the
# database) and are quick when everything is already in place.

PYTHON ?= python3.11
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := client/node_modules/.installed

.PHONY: run test test-repeat setup lint bench capacity migrate run-cluster clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test,bench,dev]'
	touch $@

$(NODE_STAMP): client/package.json client/package-lock.json
	cd client && npm ci --no-audit --no-fund --loglevel=error
	touch $@

migrate: setup
	$(PY) manage.py migrate --noinput -v 0

run: migrate
	$(PY) -m gameserver.serve -b $(HOST) -p $(PORT) gameserver.asgi:application

# Lint first: CI runs `make test`, so a type or lint error fails CI too.
test: lint
	$(PY) -m pytest
	cd client && npm test --silent

# The in-process suites N times in a row, stopping at the first red run:
# a flaky or hanging test shows up here before it shows up in CI.
REPEAT ?= 10
SUITES ?= tests/lobby tests/gameserver
test-repeat: setup
	@for i in $$(seq $(REPEAT)); do \
		echo "== run $$i of $(REPEAT): $(SUITES)"; \
		$(PY) -m pytest -q -p no:cacheprovider $(SUITES) || { echo "run $$i failed"; exit 1; }; \
	done; echo "$(REPEAT) runs in a row green"

# mypy checks what [tool.mypy] in pyproject.toml says: the whole Python tree, strict.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

PROCESSES ?= 2
run-cluster: migrate
	$(PY) manage.py runcluster --processes $(PROCESSES) --host $(HOST) --port $(PORT)

bench: migrate
	$(PY) -m load_tests bench --out bench/results.json

# The capacity model (docs/capacity.md): measures this machine (a few minutes),
# writes bench/capacity.json and regenerates the page's tables. CAPACITY_ARGS
# passes options, e.g. CAPACITY_ARGS=--quick or CAPACITY_ARGS=--render-only.
CAPACITY_ARGS ?=
capacity: migrate
	$(PY) -m load_tests capacity --out bench/capacity.json --docs docs/capacity.md $(CAPACITY_ARGS)

clean:
	rm -rf $(VENV) client/node_modules var
