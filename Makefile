# Two commands do all setup on a fresh machine:
#   make run   - create the virtual environment, install, prepare the embedded default
#                (local DuckDB warehouse with demo history; no API keys) and start the app
#   make test  - the same setup, plus Debian's chromium for the browser tests, then every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8501
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run dev test install chromium axe lint bench mutate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# The app behind Switchyard's server (security headers, HttpOnly session cookie; core/web.py).
run: install
	$(BIN)/switchyard init
	$(BIN)/streamlit run core/launcher/switchyard_web.py --server.port $(PORT)

# Development: the same, reloading when a source file is saved (production does not watch files).
dev: install
	$(BIN)/switchyard init
	$(BIN)/streamlit run core/launcher/switchyard_web.py --server.port $(PORT) \
		--server.fileWatcherType auto --server.runOnSave true

# Browser tests drive Debian's chromium (never a browser download).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	@chromium --version

# axe-core (npm) for the browser suite's accessibility check, into .cache/axe
AXE_VERSION := 4.14.1
AXE := .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@$(AXE_VERSION)

# Style, the layer contracts of pyproject.toml ([tool.importlinter]) and the types of core.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The browser suite runs in its own process: Playwright's sync API keeps an asyncio loop
# running in the main thread for the whole session, where core's asyncio.run() cannot run.
test: install chromium axe lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not e2e"
	$(BIN)/python -m pytest -q -p no:cacheprovider -m e2e

bench: install
	$(BIN)/switchyard bench warehouse --events 10000000

# Mutation testing ([tool.mutmut] in pyproject.toml): which changes to auth, sessions, the
# vault, the config store and the warehouse queries and prices no test notices.
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/python mutation/report.py --survivors mutants/survivors.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .cache mutants *.egg-info
