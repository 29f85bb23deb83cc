# Esper Sanctum. Two commands on a fresh machine: `make test` and `make run`.
# Both create .venv and install what is missing first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The local CPU wheel keeps a dev/CI setup fast; GPU users set TORCH_SPEC to their build
# (and TORCH_PIP_ARGS to its index), e.g.
#   make setup TORCH_SPEC='torch==2.13.0+cu128' TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cu128'
# A TORCH_SPEC given on the command line or in the environment is enforced on every make:
# an installed torch that satisfies it is kept, any other is replaced (scripts/ensure_torch.py).
# Left at its default, whatever torch is installed is kept.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
TORCH_ENFORCE := $(filter command environment,$(firstword $(origin TORCH_SPEC)))
PYTEST_ARGS ?=

.PHONY: setup proto lint test run bench bench-quick clean

setup: $(STAMP)
ifneq ($(TORCH_ENFORCE),)
	@$(PY) scripts/ensure_torch.py "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
endif

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
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

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

run: setup
	$(VENV)/bin/esper up

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
