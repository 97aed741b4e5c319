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

.PHONY: run test setup lint bench migrate run-cluster clean

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
	$(PY) -m daphne -b $(HOST) -p $(PORT) gameserver.asgi:application

test: setup
	$(PY) -m pytest
	cd client && npm test --silent

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict engine/

PROCESSES ?= 2
run-cluster: migrate
	$(PY) -m gameserver.cluster --processes $(PROCESSES) --host $(HOST) --port $(PORT)

bench: migrate
	$(PY) -m load_tests bench --out bench/results.json

clean:
	rm -rf $(VENV) client/node_modules var
