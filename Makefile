# Two commands for a fresh machine: `make demo` (end-to-end demo on bundled digits) and `make test`.
# Each creates or refreshes .venv on its own; torch is pinned first so that no CUDA build is pulled.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bitmixer demo

# The suite runs on pytest-xdist workers, one per core (2 on CI's 2-core machine; tests/conftest.py caps
# -n auto at 4, as each worker compiles its own numba kernels). --dist loadfile keeps a file's tests on one
# worker, so that a module fixture (a DDP training run, a study's network) is built once.
XDIST := -n auto --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

clean:
	rm -rf $(VENV) runs .pytest_cache .numba_cache
