# Two entry points (README "Quick start"): `make demo` and `make test`. Both create .venv/ when needed and install
# the runtime set plus the extras the test suite and training tree use. `make container-test` needs Docker only.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
OUT ?= output/demo

.PHONY: demo test lint install expected-output container-test

$(STAMP): pyproject.toml constraints.txt
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[dev,train,analysis]"
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

## Regenerate tests/container/expected_output (what ./test.sh compares with) from the committed resources/ on CPU.
## Run it whenever resources/ changes; process.py must give identical outputs twice (test.sh checks the rest).
expected-output: $(STAMP)
	rm -rf output/expected.tmp
	$(VENV)/bin/python process.py --input tests/container/input --output output/expected.tmp --device cpu
	rm -rf tests/container/expected_output && mv output/expected.tmp tests/container/expected_output

## Build the container image and check it as Grand Challenge runs it (docker/container-test.sh: --network none,
## read-only, non-root; invalid input; export + docker load + run). Needs a Docker daemon; makes a local Debian
## base image when the public one cannot be pulled. Sizes and times: output/container-test/summary.txt.
container-test:
	docker/container-test.sh
