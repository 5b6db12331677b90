# Two commands on a fresh machine: `make run` serves the dashboard, `make test` runs every test.
# Both create .venv and install the pinned requirements when needed, and fetch MNIST when missing.

PYTHON3 ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test install data lint format unit e2e bench pretrained clean

$(INSTALLED): requirements.txt requirements-dev.txt
	@test -x $(PYTHON) || $(PYTHON3) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(INSTALLED)

install: $(INSTALLED)

# GPU=1: the GPU builds of JAX and TensorFlow (requirements-gpu.txt) replace the CPU-only TensorFlow.
GPU ?= 0
GPU_INSTALLED := $(VENV)/.installed-gpu
$(GPU_INSTALLED): $(INSTALLED) requirements-gpu.txt
	$(PYTHON) -m pip uninstall --yes --quiet tensorflow-cpu
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-gpu.txt
	@touch $(GPU_INSTALLED)
ifeq ($(GPU),1)
install: $(GPU_INSTALLED)
data: $(GPU_INSTALLED)
endif

# TORCH=1: PyTorch's CPU build (requirements-torch.txt), for Keras' torch backend. Once it is installed, `make test`
# also trains on it (tests/test_backends.py), and the sidebar offers it.
TORCH ?= 0
TORCH_INSTALLED := $(VENV)/.installed-torch
$(TORCH_INSTALLED): $(INSTALLED) requirements-torch.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-torch.txt
	@touch $(TORCH_INSTALLED)
ifeq ($(TORCH),1)
install: $(TORCH_INSTALLED)
data: $(TORCH_INSTALLED)
endif

data: $(INSTALLED)
	$(PYTHON) -m core.mnist fetch

run: data
	$(VENV)/bin/streamlit run dashboard.py --server.port $(PORT)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: data lint
	$(PYTHON) -m pytest

# The fast loop: no training, no browser, on two processes (pytest-xdist). `make test` runs everything, serially.
unit: data
	$(PYTHON) -m pytest -m "not slow and not e2e" --ignore=tests/e2e -n 2

e2e: data
	$(PYTHON) -m pytest tests/e2e

bench: data
	$(PYTHON) -m bench.train_speed

# Rebuilds the small pretrained models that ship in pretrained/, with our own training command: the reference
# architecture (seed-fast) and a denoiser (denoising), which the Draw page starts on. Each trains in about 1-2 minutes.
# In float32, which "auto" is not on every CPU, so that every machine trains them the same way (CPUs still round
# differently: seed-fast's test BCE was 0.05977 on Intel cores and 0.05980 on AMD ones, README).
pretrained: data
	rm -rf pretrained
	$(PYTHON) -m core.train --preset seed-fast --dtype-policy float32 --runs-dir pretrained --json
	$(PYTHON) -m core.train --preset denoising --dtype-policy float32 --runs-dir pretrained --json
	rm -rf pretrained/.queue.lock pretrained/*/worker.log pretrained/*/events.jsonl pretrained/*/tensorboard

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
