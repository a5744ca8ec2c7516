# Two entry points (README "Quick start"): `make demo` and `make test`. Both create .venv/ when needed.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
OUT ?= output/demo

.PHONY: demo test lint install

$(STAMP): pyproject.toml constraints.txt
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

## Run the algorithm on the bundled demo case (tests/container/input) and print where the outputs are.
demo: $(STAMP)
	$(VENV)/bin/pdacrad predict --input tests/container/input --output $(OUT)

## Lint, type-check and run the full test suite (what .ci/run calls).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest
