# bench — fair framework benchmarks. `make bench` runs the paper's experiment; `make test` the tests.
PY ?= python3
VENVS := .venvs
DEV := $(VENVS)/dev
DEVPY := $(DEV)/bin/python
FRAMEWORKS := tensorflow pytorch
ARGS ?=

.PHONY: help setup dev runners bench quick test test-unit lint schemas clean

help:
	@echo "make bench   run the paper suite end to end (venv backend, both frameworks, 5 repeats)"
	@echo "make quick   the same outputs from a small, fast run (< 3 min)"
	@echo "make test    build the environments it needs and run every test"
	@echo "make lint    ruff + mypy;  make schemas  re-export the JSON Schemas"

# The dev venv (orchestrator, reporting, tests), rebuilt when its pins change.
$(DEV)/.stamp: requirements-dev.txt pyproject.toml
	$(PY) -m venv $(DEV)
	$(DEVPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $@

dev: $(DEV)/.stamp

# One venv per framework from images/<fw>/requirements.txt (same logic the venv backend uses).
runners: dev
	$(DEVPY) -m orchestrator.envs $(FRAMEWORKS)

setup: dev runners

bench: setup
	$(DEV)/bin/bench orchestrate $(ARGS)

quick: setup
	$(DEV)/bin/bench orchestrate --quick $(ARGS)

test: setup
	$(DEVPY) -m pytest $(ARGS)

test-unit: dev
	$(DEVPY) -m pytest tests/unit $(ARGS)

lint: dev
	$(DEV)/bin/ruff check .
	$(DEV)/bin/mypy

schemas: dev
	$(DEVPY) -m schemas

clean:
	rm -rf $(VENVS) .pytest_cache .mypy_cache .ruff_cache
