# Two commands for a fresh machine:  `make run` (install + start the platform), `make test`.
# Needs python3 (3.11+) on PATH; everything else is installed into .venv (with uv, for speed).
# Running installs Python packages only; system packages for the browser test (Chromium) and the
# flash-sale benchmark (wrk) come with the targets that need them (scripts/install-system-deps.sh).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bytecode run test lint pytest test-system-deps bench-system-deps bench-flash-sale clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Bytecode for our own sources too: every service, worker and test server is a fresh Python
# process, and where PYTHONDONTWRITEBYTECODE is set each would compile everything again
# (measured: a service answers /health after 6.5 s without cached bytecode, 2.4 s with it).
bytecode: install
	$(BIN)/python -m compileall -q src

## Start the whole platform (embedded PostgreSQL unless DATABASE_URL/DB_HOST is set). ARGS=--demo
run: bytecode
	$(BIN)/tickettoken up $(ARGS)

## Lint, type-check, then the whole test suite against real PostgreSQL and Redis.
test: install lint pytest

lint: install
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy src

pytest: bytecode test-system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test-system-deps:
	bash scripts/install-system-deps.sh test

bench-system-deps:
	bash scripts/install-system-deps.sh bench

## The flash-sale benchmark (wrk installed first when possible). ARGS=--clients 32 ...
bench-flash-sale: bytecode bench-system-deps
	$(BIN)/python bench/flash_sale.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
