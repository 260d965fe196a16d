"""Fixtures of the reliability suite. The tiny tokenizer and config come from tests/conftest.py (inherited by pytest);
this adds a processor matching the tiny config, a seeded tiny model whose greedy outputs differ between inputs (so
determinism tests can fail), and a few test signals."""

import numpy as np
import pytest
import torch

from conftest import build_tiny_config

SR = 16000  # rate of the test signals (the extractor resamples them to 32 kHz)


@pytest.fixture(scope="session")
def processor(tiny_tokenizer):
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=build_tiny_config(tiny_tokenizer)
                          .prompt_length)


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    """A seeded tiny model in eval mode. Its text tower is initialised wide (std 0.5) so that greedy decoding gives
    different tokens for different pairs instead of one repeated token."""
    from modeling_adiff import AdiffForConditionalGeneration

    config = build_tiny_config(tiny_tokenizer)
    config.text_config.initializer_range = 0.5
    torch.manual_seed(0)
    return AdiffForConditionalGeneration(config).eval()


@pytest.fixture(scope="session")
def clips():
    """Six one-second noise clips of different loudness, float32 at `SR`."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal(SR).astype(np.float32) * scale for scale in (0.01, 0.1, 0.5, 1.0, 0.05, 0.3)]


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
