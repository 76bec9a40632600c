# kedro-mlflow-starter. Needs only Python 3.10+, git and make: each target bootstraps .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Telemetry off for everything started from here (Kedro, MLflow).
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: demo test lint format bench release clean

## demo: scaffold a project from this checkout, run it tracked in MLflow, show the run
demo: $(STAMP)
	$(PY) scripts/demo.py

## test: lint + the whole test suite (runtime, template, generated projects end to end)
test: $(STAMP) lint
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

## lint: ruff over the runtime, tests and scripts
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## bench: speed figures (ratios against a baseline measured in the same run)
bench: $(STAMP)
	$(PY) bench/cli_overhead.py
	$(PY) bench/pipeline_model_latency.py
	$(PY) bench/tracking_requests.py
	$(PY) bench/tracking_overhead.py
	$(PY) bench/install_size.py

## release: VERSION=X.Y.Z: bump the version, update CHANGELOG.md, commit and tag vX.Y.Z
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=X.Y.Z"; exit 2; }
	$(PYTHON) scripts/release.py $(VERSION)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
