# `make install` then `make lint` / `make test` / `make demo`. torch is pinned first: an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python

install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[dev]"

lint:
	ruff check .

test:
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q tests

demo:
	adiff explain adiff/examples/siren_street.wav adiff/examples/birds_rain.wav --tier 1 2 3 --plot demo.png

.PHONY: install lint test demo
