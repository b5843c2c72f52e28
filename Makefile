# Strato: `make run` starts the platform on embedded defaults; `make test` runs what CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test unit lint format bench clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/strato up

test: $(STAMP) lint
	$(BIN)/pytest -q -ra

unit: $(STAMP)
	$(BIN)/pytest -q -m "not system"

lint: $(STAMP)
	$(BIN)/ruff check strato tests bench
	$(BIN)/ruff format --check strato tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format strato tests bench
	$(BIN)/ruff check --fix strato tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.spine
	$(BIN)/python -m bench.deploy_throughput 200

clean-venv:
	rm -rf $(VENV)
