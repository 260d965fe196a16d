# `make install` then `make lint` / `make test` / `make demo`. torch is pinned first: an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python

install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[dev]"

lint:
	ruff check .

test:
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q tests

# Config, modeling, generation, processing, pipeline, short runs of every training stage, LoRA/Trainer, plots and data
# loading (about 3 min): what CI runs on the declared dependency floors, and benchmarks/gpu_checks.sh on a GPU
# machine's own versions.
FAST_TESTS = tests/test_modeling.py tests/test_generation.py tests/test_processor.py tests/test_feature_extraction.py \
	tests/test_pipeline.py tests/test_training_units.py tests/test_training_stages.py tests/test_training_loader.py \
	tests/test_dependency_range.py tests/test_training_lora.py tests/test_trainer_peft_frozen.py tests/test_plot.py \
	tests/test_data_loading.py

test-fast:
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q $(FAST_TESTS)

demo:
	adiff explain adiff/examples/siren_street.wav adiff/examples/birds_rain.wav --tier 1 2 3 --plot demo.png

.PHONY: install lint test test-fast demo
