# proactax — every tier of work has a target. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help venv run test test-unit test-tax test-integration lint format typecheck bench bench-million soak broker-start broker-stop clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project with its dev extra

run: venv ## run the service end to end on local defaults (broker, worker, demo season); Ctrl-C stops it
	$(BIN)/proactax demo

test: venv ## the whole test suite: unit, tax cases, integration, reliability fast variants (starts its own broker and PostgreSQL)
	$(PYTEST) -q -p no:cacheprovider -m "not soak" tests

test-unit: venv ## unit tests and tax cases: no broker, no database server
	$(PYTEST) -q tests/unit tests/tax_cases

test-integration: venv ## integration tests against the real broker, SQLite and PostgreSQL
	$(PYTEST) -q tests/integration

lint: venv ## ruff, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv ## benchmarks that print figures (no assertions)
	$(BIN)/python bench/tax_engine.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/notifier.py
	$(BIN)/python bench/portal.py
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
