# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

# torch first, with pip, pinned: that takes the CPU build on this kind of machine instead of
# a CUDA build of several GB pulled in by sentence-transformers.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the marketing agent on 127.0.0.1:8080 with its embedded defaults.
run: $(STAMP)
	$(BIN)/ethos serve --host 127.0.0.1 --port 8080

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Run the benchmarks (prints figures and the commands that reproduce them).
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .ethos .pytest_cache
