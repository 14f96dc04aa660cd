# FusionX hub. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 1

# Settings from .env (see .env.example) when present.
ifneq (,$(wildcard .env))
include .env
export
endif

.PHONY: run test lint typecheck migrate seed demo watch clean bench bench-full soak

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(VENV)/.installed-bench: requirements-bench.txt bench/peers/node/package-lock.json $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-bench.txt
	if command -v npm >/dev/null; then npm ci --prefix bench/peers/node --no-audit --no-fund --silent; \
	else echo "npm not found: make bench leaves out the Node ws peer"; fi
	touch $@

migrate: $(VENV)/.installed
	$(PY) -m app migrate

seed: $(VENV)/.installed
	$(PY) -m app migrate
	$(PY) -m app seed --reset

run: $(VENV)/.installed
	$(PY) -m app migrate
	$(PY) -m app seed --if-empty
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) $(PY) -m app serve

# With `make run` going in another terminal: orders every second on the demo truck, and a tablet's view of them.
# Plain commands with HOST/PORT exported (no `VAR=… cmd` prefix): make then runs them without a shell, so
# Ctrl-C stops them with their own one line instead of a shell dying by SIGINT and make adding "Interrupt".
demo watch: export HOST := $(HOST)
demo watch: export PORT := $(PORT)
demo: $(VENV)/.installed
	$(PY) -m app demo

watch: $(VENV)/.installed
	$(PY) -m app watch

test: $(VENV)/.installed-dev
	$(PY) -m ruff check hub app tests hub_client
	$(PY) -m ruff format --check hub app tests hub_client
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check hub app tests hub_client
	$(PY) -m ruff format --check hub app tests hub_client

typecheck: $(VENV)/.installed-dev
	$(PY) -m mypy

# Benchmarks against two in-run peers; both rewrite docs/benchmarks.md (BENCH_ARGS: e.g. --targets hub,naive).
bench: $(VENV)/.installed-bench
	$(PY) -m bench --generated-by "make bench" $(BENCH_ARGS)

bench-full: $(VENV)/.installed-bench
	$(PY) -m bench --full --generated-by "make bench-full" $(BENCH_ARGS)

# The city at half its capacity for SOAK_MINUTES (30) on PostgreSQL + Redis: RSS every minute, lost tickets, errors,
# disconnects; rewrites docs/soak.md and fails when RSS grew or anything was lost (SOAK_ARGS: e.g. --minutes 5).
SOAK_MINUTES ?= 30
soak: $(VENV)/.installed-bench
	$(PY) -m bench.soak --minutes $(SOAK_MINUTES) --generated-by "make soak" $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache hub.db
