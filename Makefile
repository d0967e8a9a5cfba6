# QuotaWatch: `make demo` and `make test` are all a newcomer needs; each sets itself up.
SHELL := /bin/bash
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
# sam build finds python3.13 on PATH: the venv's comes first.
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test lint unit integration template check-config build validate up invoke bench docs clean

$(STAMP): requirements-dev.txt requirements-checkov.txt layers/quotawatch/requirements.txt scripts/bootstrap
	./scripts/bootstrap

setup: $(STAMP)

demo: $(STAMP)  ## The whole story on this machine: embedded AWS, fake provider, messages
	$(BIN)/python -m quotawatch_local demo

# Tests run on every core (pytest-xdist): each worker has its own embedded AWS and fakes.
# loadscope: each test module goes whole to one worker, handed out in order as workers free
# up. A module's expensive fixture (sam build, checkov, the site, test_view's story) is then
# made once, not once per worker or again after another module's tests came in between;
# the slow integration and template modules start first and the run ends on small unit
# modules, not with one worker idle behind the other's long tests.
WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist loadscope
test: lint  ## Lint, types, then every test (unit, integration, template)
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(PYTEST) tests/unit

integration: $(STAMP)
	$(PYTEST) tests/integration

template: $(STAMP)
	$(PYTEST) tests/template

validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/sam validate --lint

# The monitors file is checked first: a file the run would refuse never reaches the account.
MONITORS ?= functions/check_usage/monitors.yaml
check-config: $(STAMP)  ## Every problem of the monitors file and its provider declarations
	$(BIN)/quotawatch check-config $(MONITORS)

build: check-config  ## check-config, then sam build (no Docker needed: pure-Python and manylinux wheels)
	$(BIN)/sam build

bench: $(STAMP)  ## Benchmarks: fan-out, cold start, memory, AWS calls, artifacts, cost (prints, asserts nothing)
	$(BIN)/python bench/run.py

docs: $(STAMP)  ## The docs/ pages as a browsable site in site/ (open site/index.html); offline
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# REAL=1: check the real providers of monitors.yaml instead of the demo's fakes.
up: $(STAMP)  ## Keep the embedded AWS running with the stack deployed, checking the demo's fakes
	$(BIN)/python -m quotawatch_local up $(if $(REAL),--real-providers)

FUNCTION ?= CheckUsageFunction
EVENT ?= events/scheduled.json
invoke: $(STAMP)  ## Local invoke without Docker: make invoke [FUNCTION=..] [EVENT=..]
	$(BIN)/python -m quotawatch_local invoke $(FUNCTION) -e $(EVENT)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .quotawatch-local site
