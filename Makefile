# custsat — every target is a thin call of the `custsat` CLI or of pytest.
# `make help` lists them; `make demo` and `make test` are the two commands to know.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CUSTSAT := $(BIN)/custsat
STAMP := $(VENV)/.installed
SYNTH_DIR := data/raw/synthetic
DEMO_CUSTOMERS ?= 3000
SEED ?= 42
AS_OF ?= 2026-06-30

export MLFLOW_DISABLE_TELEMETRY := true
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONHASHSEED := 0

.PHONY: help setup data synth profile models features train train-text train-churn train-clv \
        eval-clv score demo test test-all lint bench mlflow-ui notebooks lab clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "custsat make targets:\n"} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<26"
	# torch first and alone, pinned: a looser requirement pulls several GB of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[spark,bench,dev]"
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install custsat with its pinned dependencies

data: setup ## Fetch the real datasets, generate the synthetic demo company and validate it
	$(CUSTSAT) data fetch
	$(CUSTSAT) data synth --customers $(DEMO_CUSTOMERS) --seed $(SEED) --as-of $(AS_OF) --out $(SYNTH_DIR)
	$(CUSTSAT) data profile $(SYNTH_DIR)

synth: setup ## Generate only the synthetic demo company (DEMO_CUSTOMERS, SEED)
	$(CUSTSAT) data synth --customers $(DEMO_CUSTOMERS) --seed $(SEED) --as-of $(AS_OF) --out $(SYNTH_DIR)

profile: setup ## Validate the synthetic tables and log a data-profile run to MLflow
	$(CUSTSAT) data profile $(SYNTH_DIR)

mlflow-ui: setup ## Serve the local MLflow store on http://127.0.0.1:5000
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri "$$($(CUSTSAT) mlflow-uri)"

test: setup ## Run the test suite (what CI runs)
	$(BIN)/pytest -q -m "not slow" -p no:cacheprovider

test-all: setup ## Run every test, the slow ones included
	$(BIN)/pytest -q -p no:cacheprovider

lint: setup ## Lint with ruff
	$(BIN)/ruff check src tests

demo: data ## The main job on embedded defaults: set-up, data, training, scoring and outputs
	@echo "demo finished: data in data/, runs in $$($(CUSTSAT) mlflow-uri)"

clean: ## Remove generated data, MLflow runs and caches (keeps .venv)
	rm -rf data/raw/* data/interim/* data/processed/* data/external/* data/models/* mlruns/* reports/* outputs/ bench/results/
	find . -name __pycache__ -prune -exec rm -rf {} +
