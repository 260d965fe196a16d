"""Inference benchmarks: `python benchmarks/inference.py --help`."""
