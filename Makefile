# Esper Sanctum. Two commands on a fresh machine: `make test` and `make run`.
# Both create .venv and install what is missing first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The local CPU wheel keeps a dev/CI setup fast; GPU users may set TORCH_SPEC to their own build.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup proto lint test run bench bench-quick clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

proto: $(STAMP)
	$(PY) scripts/gen_protos.py
	@if [ -d clients/node ]; then $(MAKE) -s -C clients/node proto; fi

lint: $(STAMP)
	$(VENV)/bin/buf lint
	$(VENV)/bin/ruff check .
	$(PY) scripts/gen_protos.py --check
	@if command -v npm >/dev/null; then $(MAKE) -s -C clients/node check; \
	else echo "skip: TypeScript stubs check (npm not installed)"; fi
	BUF=$(VENV)/bin/buf scripts/check_breaking.sh

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

run: $(STAMP)
	$(VENV)/bin/esper up

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
