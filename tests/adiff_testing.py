"""A tiny saved ADIFF model (model and processor in one folder) for the tests of the `adiff` package."""

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from conftest import build_tiny_config, build_tiny_tokenizer

SAMPLE_RATE = 32000  # AdiffFeatureExtractor's default rate


def save_tiny_model(folder: Path, seed: int = 0, **config_overrides) -> Path:
    """Builds a seeded tiny `AdiffForConditionalGeneration` and its processor and saves both into `folder`."""
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    tokenizer = build_tiny_tokenizer()
    config = build_tiny_config(tokenizer, **config_overrides)
    torch.manual_seed(seed)
    model = AdiffForConditionalGeneration(config).eval()
    processor = AdiffProcessor(feature_extractor=AdiffFeatureExtractor(), tokenizer=tokenizer,
                               prompt_length=config.prompt_length)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


def tone_and_burst(seconds: float = 10.0, burst=(4.0, 6.0), rate: int = SAMPLE_RATE) -> tuple:
    """A 440 Hz tone, and the same tone with a noise burst over `burst` (seconds): a pair that differs in one place."""
    time = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * time)).astype(np.float32)
    burst_clip = tone.copy()
    start, end = int(burst[0] * rate), int(burst[1] * rate)
    burst_clip[start:end] += 0.3 * np.random.default_rng(0).standard_normal(end - start).astype(np.float32)
    return tone, burst_clip


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Writes 16-bit PCM and returns the samples as they read back (float32)."""
    sf.write(path, audio, rate, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]
