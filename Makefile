# Strato: `make run` starts the platform on embedded defaults; `make test` runs what CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test unit lint format bench chaos fuzz lab clean-venv

# libvirt-python builds against the C library: installed when its headers are present
# (scripts/libvirt-host install), so `make run` still needs nothing from apt.
EXTRAS := $(shell pkg-config --exists libvirt 2>/dev/null && echo server,acl,dev,libvirt || echo server,acl,dev)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/strato up

test: $(STAMP) lint
	$(BIN)/pytest -q -ra --durations=15 -n 2 --dist loadgroup

# Random API fuzzing for SECONDS (the stateful machines share the budget; the per-operation
# and event-stream runs explore new cases once): prints requests, 5xx and refusals that
# changed a table, which must be 0 and 0. CI runs the same tests on fixed cases.
SECONDS ?= 300
fuzz: $(STAMP)
	STRATO_FUZZ_RANDOM=1 STRATO_FUZZ_SECONDS=$(SECONDS) $(BIN)/pytest -q -s \
		tests/api/test_fuzz.py tests/api/test_fuzz_stateful.py

unit: $(STAMP)
	$(BIN)/pytest -q -m "not system"

lint: $(STAMP)
	$(BIN)/ruff check strato tests bench examples
	$(BIN)/ruff format --check strato tests bench examples
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format strato tests bench examples
	$(BIN)/ruff check --fix strato tests bench examples

bench: $(STAMP)
	$(BIN)/python -m bench.spine
	$(BIN)/python -m bench.deploy_throughput 200

# The chaos suite at length: SECONDS of workload under SIGKILLs (SEED replays a run).
SECONDS ?= 600
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos --seconds $(SECONDS) $(if $(SEED),--seed $(SEED))

# A real libvirt + QEMU host on this machine for the compute tests (root, apt).
lab: $(STAMP)
	scripts/libvirt-host install
	scripts/libvirt-host start
	scripts/tiny-guest
	$(BIN)/pip install --quiet 'libvirt-python>=9.0'

clean-venv:
	rm -rf $(VENV)
