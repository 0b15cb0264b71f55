# sweepflow — run `make help` for the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
TASK     ?= default
STORE    ?= mlruns
TRIALS   ?=
ENGINE   ?=
SEED     ?=
VERBOSE  ?= 0
WORKERS  ?= 1
# Keras 3 backend: tensorflow (default), jax or torch; `make tune BACKEND=jax` installs jax first.
BACKEND  ?=
# Optuna storage URL (postgresql://user:pw@host/db) for studies shared by workers; empty: SQLite
# in the store. It reaches sweepflow through the environment, never on a command line.
STORAGE  ?=
PORT     ?= 5000
DASH_PORT ?= 8080
SERVE_PORT ?= 5001
PREFECT_PORT ?= 4200
PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
CRON     ?= 0 3 * * 1
# Local data folder: ../shared/data on these machines, else ./data (loaders download what is missing).
DATA_DIR ?= $(if $(wildcard ../shared/data),../shared/data,data)
# TensorFlow's CUDA build where an NVIDIA GPU is present, the CPU build elsewhere.
TF_EXTRA ?= $(if $(shell command -v nvidia-smi 2>/dev/null),gpu,cpu)

export SWEEPFLOW_DATA_DIR := $(abspath $(DATA_DIR))
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
ifneq ($(STORAGE),)
export SWEEPFLOW_STORAGE := $(STORAGE)
endif

.PHONY: help install install-jax install-torch tune worker retrain server schedule serve serve-model tasks validate ui \
  dashboard \
  bench-engines bench-tables bench-task-times bench-backends \
  bench-workers bench bench-quality bench-baselines bench-memory bench-tracking bench-pruning test test-slow lint \
  format lock clean

# The variables `make help` lists (STORAGE's value is never printed: it may hold a password).
HELP_VARS := TASK TRIALS ENGINE SEED WORKERS BACKEND VERBOSE STORE DATA_DIR PORT DASH_PORT PREFECT_PORT \
  SERVE_PORT PREFECT_API_URL CRON TF_EXTRA PYTHON VENV

help: ## Show this help: every target, then every variable with its value
	@env $(foreach v,$(HELP_VARS),$(v)='$($(v))') awk -v tty="$$([ -t 1 ] && echo 1)" \
	  -v names='$(HELP_VARS)' -f tools/help.awk $(MAKEFILE_LIST)

install: $(VENV)/.installed ## Create .venv with the pinned stack (CUDA TensorFlow if nvidia-smi exists)

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[$(TF_EXTRA),dev]"
	touch $@

tune: install $(if $(filter jax torch,$(BACKEND)),install-$(BACKEND)) ## Tune TASK (default: one offline task of each kind); TRIALS= ENGINE= SEED= WORKERS= STORAGE= BACKEND=
	$(PY) -m sweepflow tune $(TASK) --store $(STORE) --verbose $(VERBOSE) --workers $(WORKERS) \
	  $(if $(TRIALS),--trials $(TRIALS)) $(if $(ENGINE),--engine $(ENGINE)) $(if $(SEED),--seed $(SEED)) \
	  $(if $(BACKEND),--backend $(BACKEND))

install-jax install-torch: install-%: $(VENV)/.installed-%
$(VENV)/.installed-%: $(VENV)/.installed
	$(PY) -m pip install -q -c requirements.lock -e ".[$(TF_EXTRA),dev,$*]"
	touch $@

worker: install ## One more worker on TASK's running search (same STORAGE= and MLFLOW_TRACKING_URI)
	$(PY) -m sweepflow worker $(TASK) --store $(STORE) --verbose $(VERBOSE)

retrain: install ## Retrain TASK's champion on its current data; promote only if really better
	$(PY) -m sweepflow retrain $(TASK) --store $(STORE)

server: install ## A standing Prefect server on 127.0.0.1:$(PREFECT_PORT) (schedules need one)
	PREFECT_HOME=$(abspath $(STORE))/prefect $(VENV)/bin/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

schedule: install ## Schedule retraining: make schedule TASK=imdb CRON="0 3 * * 1" (needs make server)
	PREFECT_API_URL=$(PREFECT_API_URL) $(PY) -m sweepflow schedule $(TASK) --cron "$(CRON)" --store $(STORE)

serve: install ## Run the scheduled retrains (keep it running; needs make server)
	PREFECT_API_URL=$(PREFECT_API_URL) $(PY) -m sweepflow serve --store $(STORE)

validate: install ## Check TASK's YAML and open its data (target, kind, columns) without training
	$(PY) -m sweepflow validate $(TASK)

tasks: install ## List the built-in tasks
	@$(PY) -m sweepflow tasks

ui: install ## MLflow UI on http://127.0.0.1:$(PORT) over the store
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(PY) -m mlflow ui --host 127.0.0.1 --port $(PORT) \
	  --backend-store-uri sqlite:///$(abspath $(STORE))/mlflow.db \
	  --default-artifact-root $(abspath $(STORE))/artifacts

serve-model: install ## Serve models:/TASK@champion on http://127.0.0.1:$(SERVE_PORT)/invocations (raw columns in)
	@test "$(TASK)" != default || { echo "make serve-model needs TASK=<task>"; exit 2; }
	PATH="$(abspath $(VENV))/bin:$$PATH" MLFLOW_TRACKING_URI=sqlite:///$(abspath $(STORE))/mlflow.db \
	  $(VENV)/bin/mlflow models serve -m "models:/$(TASK)@champion" --env-manager local \
	  --host 127.0.0.1 --port $(SERVE_PORT)

dashboard: install ## optuna-dashboard on http://127.0.0.1:$(DASH_PORT) over TASK's study
	$(PY) -m sweepflow dashboard $(TASK) --store $(STORE) --port $(DASH_PORT)

bench: bench-quality bench-memory bench-tracking bench-pruning bench-workers ## The maintained benchmarks on the real data (~1.7 h on 2 cores)

bench-quality: install ## Test metric (3 seeds), peak RSS, fixed cost per trial: make tune per task
	$(PY) bench/quality.py

bench-baselines: install ## Linear, HistGB and NBSVM test metrics on each task's split (quality.md)
	$(PY) bench/baselines.py

bench-task-times: install ## Wall time and peak RSS of one default run per built-in task (make tasks)
	$(PY) bench/task_times.py

bench-memory: install ## RSS across a 50-trial tracked study (+ imdb peak RSS from bench-quality)
	$(PY) bench/memory.py

bench-tracking: install ## Same study with MLflow tracking on vs off: wall-time ratio
	$(PY) bench/tracking.py --trials 6 --pairs 4

bench-pruning: install ## imdb + fashion_mnist: epochs trained and test metric, pruning vs none
	$(PY) bench/pruning.py

test: install ## Run the test suite (real MLflow/Optuna/Prefect in temp folders; no slow tests)
	$(PY) -m pytest -m "not slow" -q

test-slow: install install-jax ## Run only the slow tests (kill/resume, PostgreSQL workers, real data, a JAX run)
	$(PY) -m pytest -m slow -q

bench-engines: install ## Rank the engines and the plain scripts a user would write, at equal wall time (~7 h; bench/engines.py --help)
	$(PY) bench/engines.py

bench-tables: install ## The minimal YAML on every table in ../shared/tables, 3 split seeds (~1 h)
	$(PY) bench/tables.py --jobs 2

bench-backends: install-jax ## TensorFlow vs JAX per built-in task, A B A B (seconds/epoch, fixed cost, RSS; ~2 h)
	$(PY) bench/backends.py

bench-workers: install ## Trials/hour with WORKERS=1 vs 2 on one study (carseats, ~10 min)
	$(PY) bench/workers.py

lint: install ## ruff lint + format check
	$(VENV)/bin/ruff check src flows tests bench tools
	$(VENV)/bin/ruff format --check src flows tests bench tools

format: install ## ruff format + autofix
	$(VENV)/bin/ruff format src flows tests bench
	$(VENV)/bin/ruff check --fix src flows tests bench

lock: install ## Regenerate requirements.lock from the current environment
	$(PY) -m pip freeze --exclude-editable | grep -v '^sweepflow' > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## Remove the store's contents (MLflow runs, Optuna studies, models)
	find $(STORE) -mindepth 1 ! -name .gitkeep -delete
