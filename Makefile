# Two commands for a fresh machine:  `make run` (install + start the platform), `make test`.
# Needs python3 (3.11+) on PATH; everything else is installed into .venv (with uv, for speed).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint pytest clean

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	bash scripts/install-system-deps.sh
	touch $(STAMP)

install: $(STAMP)

## Start the whole platform (embedded PostgreSQL unless DATABASE_URL/DB_HOST is set). ARGS=--demo
run: install
	$(BIN)/tickettoken up $(ARGS)

## Lint, type-check, then the whole test suite against real PostgreSQL and Redis.
test: install lint pytest

lint: install
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy src

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
