# Two entry points for a fresh machine: `make run` and `make test`.
# Both create .venv (once) and install dfbench with its test extras, pinned by constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dfbench-installed
export HF_HUB_OFFLINE := 1

.PHONY: install run test lint check bench

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip -c constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	# facenet-pytorch 2.6.0 (MTCNN, InceptionResnetV1) pins torch<2.3 and numpy<2 in its metadata
	# although its code runs on ours; installed without its pins (its real needs are in pyproject.toml).
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dfbench run --grid quick

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/dfbench check --baseline baselines/quick-mini.json

bench: $(STAMP)
	cd benchmarks && for b in pgd_overhead adapter_overhead cascade_saving; do ../$(BIN)/python $$b.py || exit 1; done
