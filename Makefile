# proactax — every tier of work has a target. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)
# The tests run in development mode: built-in secrets (the Bot API emulator's token, the
# development notifier key) are accepted only there (docs/security.md).
PYTEST := PROACTAX_DEVELOPMENT=1 $(BIN)/python -m pytest
# make test runs on this many pytest-xdist workers (0: one process, in file order). Most of
# an integration test is waiting on other processes, so more workers than cores pay off;
# tests/support/parallel.py says what they share and how they are ordered.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.DEFAULT_GOAL := help
.PHONY: help venv lock run test test-unit test-tax test-integration lint format typecheck bench bench-million soak broker-start broker-stop clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Every package comes from requirements.lock, pinned and checked against its sha256 (pip
# refuses a file whose hash is not in the lock); the project itself goes on top without
# dependencies and without a separate build environment (setuptools and wheel are locked too).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP) ## create .venv and install the locked dependencies and the project

# The lock: pyproject.toml's dependencies, its dev extra and its build-system requirements,
# resolved for Python 3.11 on every platform, with the sha256 of every file on the index.
# Pins already in the lock are kept (a new dependency adds its own tree and moves nothing
# else); UPGRADE=1 moves everything to the newest allowed. uv reads only the default index
# (PyPI) and its cache: UV_OFFLINE=1 makes a lock from the cache alone.
lock: ## regenerate requirements.lock (pinned, hashed) from pyproject.toml; UPGRADE=1 to move pins
	test -x $(BIN)/uv || $(MAKE) venv
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
	  | $(BIN)/uv pip compile pyproject.toml - --extra dev --universal --python-version 3.11 \
	      --generate-hashes --custom-compile-command "make lock" --quiet $(if $(UPGRADE),--upgrade) -o $(LOCK)

run: venv ## run the service end to end on local defaults (broker, worker, demo season, OneID stand-in); Ctrl-C stops it
	PROACTAX_DEVELOPMENT=1 $(BIN)/proactax demo

test: venv ## the whole test suite: unit, tax cases, integration, reliability fast variants (starts its own broker and PostgreSQL)
	$(PYTEST) -q -p no:cacheprovider --durations=20 -m "not soak" $(XDIST) tests

test-unit: venv ## unit tests and tax cases: no broker, no database server
	$(PYTEST) -q tests/unit tests/tax_cases

test-integration: venv ## integration tests against the real broker, SQLite and PostgreSQL
	$(PYTEST) -q $(XDIST) tests/integration

lint: venv ## ruff, ruff format --check, mypy, import-linter (the layers: pyproject.toml [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv ## benchmarks that print figures (no assertions)
	$(BIN)/python bench/tax_engine.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/notifier.py
	$(BIN)/python bench/portal.py
	$(BIN)/python bench/multirow_insert.py
	$(BIN)/python bench/projection_writes.py
	$(BIN)/python bench/state_store.py
	$(BIN)/python bench/season.py --people 100000 --workers 1,2 --profile

bench-million: venv ## the million-resident season, one and two workers (hours; run alone)
	$(BIN)/python bench/season.py --people 1000000 --workers 1,2 --timeout 14400

soak: venv ## long fault runs (tests/reliability, -m soak); prints a table of faults, events, losses
	$(PYTEST) -q -p no:cacheprovider -o timeout=1800 -m soak tests/reliability

broker-start: venv ## start the local Kafka broker in the background
	$(BIN)/proactax broker start

broker-stop: venv ## stop the local Kafka broker
	$(BIN)/proactax broker stop

clean: ## remove .run/ (local broker data, SQLite) — stop the broker first
	rm -rf .run
