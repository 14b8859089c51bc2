# fer-lightning: the commands the README gives.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format demo train sweep reproduce tensorboard mlflow bench gpu-check clean

install: $(STAMP)  ## create .venv and install the package editable with the dev and trackers extras

# Re-running install is a no-op unless pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,trackers]'
	touch $(STAMP)

# Tests run in 2 processes of one thread each (pytest-xdist): much of the suite is starting Python and torch,
# which one core does alone. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: install  ## run the whole test suite
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test-fast: install  ## skip the slow tests
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format src tests

demo: install  ## train the sequential CNN on synthetic faces for a few epochs on CPU
	$(BIN)/python -m fer_lightning.train experiment=demo

train: install
	$(BIN)/python -m fer_lightning.train $(ARGS)

sweep: install  ## the optimizer x lr x batch x dropout grid on synthetic data (narrow it with ARGS)
	$(BIN)/python -m fer_lightning.train --multirun hparams_search=grid $(ARGS)

tensorboard: install
	$(BIN)/tensorboard --logdir outputs

mlflow: install  ## the MLflow UI over the runs' embedded store (logger=mlflow), http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/outputs/mlflow/mlflow.db \
		--default-artifact-root $(CURDIR)/outputs/mlflow/artifacts $(ARGS)

reproduce: install  ## the seed reports' FER2013 recipes + results page (ARGS="data_root=<dir with fer2013.csv>"); rerun to resume
	$(BIN)/python -m fer_lightning.reproduce $(ARGS)

bench: install
	$(BIN)/python -m fer_lightning.bench $(ARGS)

# No `install` prerequisite: a GPU machine may have its own torch and no registry access (README: GPU check).
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:  ## GPU tests, GPU benchmark, short FER2013 trainings (ARGS="data_root=... only=... full=true")
	PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) -m fer_lightning.bench.gpu_check $(ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
