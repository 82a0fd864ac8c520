# The two commands of the README, and what CI runs.
#   make run     install what is missing, then run Chairside on its embedded default
#   make test    the whole test suite
#   make check   formatting, lint, mypy --strict, then the whole test suite (CI runs this)

VENV       ?= .venv
# Debian's own Python: the `postgres` user (which runs archive_command) can execute it,
# unlike interpreters installed under /root.
SYSTEM_PY  ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed

.PHONY: run test check lint typecheck setup setup-test bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(SYSTEM_PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup:
	@scripts/install-system-deps.sh run
	@$(MAKE) --no-print-directory $(STAMP)

setup-test:
	@scripts/install-system-deps.sh test
	@$(MAKE) --no-print-directory $(STAMP)
	@$(MAKE) --no-print-directory tests/webapp/node_modules/.installed

# axe-core (pinned in tests/webapp/package-lock.json), injected by the web app's browser
# tests to check every page's accessibility.
tests/webapp/node_modules/.installed: tests/webapp/package.json tests/webapp/package-lock.json
	npm ci --prefix tests/webapp --no-audit --no-fund --silent
	@touch $@

run: setup
	$(BIN)/chairside up --demo

test: setup-test
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

check: setup-test lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
