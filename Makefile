# Esper Sanctum. Two commands on a fresh machine: `make test` and `make run`.
# Both create .venv and install what is missing first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Exact versions of everything but torch (pyproject.toml has ranges; `make lock` rewrites it).
CONSTRAINTS := constraints.txt
# The local CPU wheel keeps a dev/CI setup fast. GPU users name the PyTorch index of their
# CUDA version (the installed torch then has to be that build, e.g. 2.13.0+cu126):
#   make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
# or a full spec and pip arguments:
#   make setup TORCH_SPEC='torch==2.13.0+cu128' TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cu128'
# A TORCH_SPEC or TORCH_INDEX_URL given on the command line or in the environment is enforced
# on every make: an installed torch that satisfies it is kept, any other is replaced
# (scripts/ensure_torch.py). Left at its default, whatever torch is installed is kept.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
TORCH_PIP_ARGS ?=
TORCH_ENFORCE := $(filter command environment,$(firstword $(origin TORCH_SPEC)) $(firstword $(origin TORCH_INDEX_URL)))
export TORCH_INDEX_URL
PYTEST_ARGS ?=
# Test workers (pytest-xdist): most tests wait on servers and subprocesses, so two workers
# halve the wall time even on a 2-core machine. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
# Debian's chromium drives the browser-view test (tests/e2e/test_browser_view.py).
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup proto lint test run down lock browser bench bench-quick clean cluster

setup: $(STAMP)
ifneq ($(TORCH_ENFORCE),)
	@$(PY) scripts/ensure_torch.py "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
endif

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) scripts/ensure_torch.py "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)
	@echo "set up $(VENV): run commands as $(VENV)/bin/esper-sanctum ..., or 'source $(VENV)/bin/activate' first"

proto: setup
	$(PY) scripts/gen_protos.py
	@if [ -d clients/node ]; then $(MAKE) -s -C clients/node proto; fi

lint: setup
	$(VENV)/bin/buf lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) scripts/gen_protos.py --check
	@if command -v npm >/dev/null; then $(MAKE) -s -C clients/node check; \
	else echo "skip: TypeScript stubs check (npm not installed)"; fi
	BUF=$(VENV)/bin/buf scripts/check_breaking.sh

test: setup browser
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

run: setup
	$(VENV)/bin/esper up

# A local cluster (3 NATS JetStream servers, 2 sanctum replicas) until Ctrl-C.
cluster: setup
	$(VENV)/bin/esper cluster up

down:
	@if [ -x $(VENV)/bin/esper ]; then $(VENV)/bin/esper down; fi

# Rewrite constraints.txt from what pyproject.toml's ranges resolve to today.
lock: setup
	$(PY) scripts/lock.py "$(TORCH_SPEC)"

# Installs Debian's chromium where it is missing and apt can (as root); otherwise the
# browser-view test skips and says why (in CI it fails instead).
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (for the browser-view test)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
	  || echo "could not install chromium; the browser-view test will say so"; \
	else echo "skip: chromium is not installed (as root: apt-get install chromium)"; fi

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
