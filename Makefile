# Set-up and everyday commands. Every target creates the environment first if it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-output

.PHONY: install test lint test-fast demo bench fuzz train-tiny clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src
	$(PY) -m mypy

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(PY) -m edvr_cli.lab.demo $(DEMO)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

train-tiny: $(STAMP)
	$(PY) scripts/train_tiny.py --out out/train-tiny --model-out src/edvr_cli/weights/edvr-tiny.safetensors

fuzz: $(STAMP)
	EDVR_FUZZ_CASES=10000 $(PY) -m pytest -q tests/e2e/test_fuzz.py -p no:randomly

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache $(DEMO)
