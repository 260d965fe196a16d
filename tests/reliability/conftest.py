"""Fixtures of the reliability suite. The tiny tokenizer and config come from tests/conftest.py (inherited by pytest);
this adds a processor matching the tiny config, a seeded tiny model whose greedy outputs differ between inputs (so
determinism tests can fail), and a few test signals."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import build_tiny_config

SR = 16000  # rate of the test signals (the extractor resamples them to 32 kHz)
SUPPORTED = r"Supported formats: \.wav, \.flac, \.ogg, \.oga, \.opus, \.mp3, \.aif, \.aiff, \.au, \.caf, \.w64, \.rf64"

# The bad files of `files` and what loading each one raises, wherever it is loaded (processor, pipeline, CLI).
BAD_FILES = [
    ("missing.wav", FileNotFoundError, r"Audio file not found: \S*missing\.wav \(resolved to /\S*missing\.wav\)"),
    ("a_folder.wav", IsADirectoryError, r"a_folder\.wav is a directory; pass the path of one audio file"),
    ("empty.wav", ValueError, r"Audio file \S*empty\.wav is empty \(0 bytes\)"),
    ("truncated.wav", ValueError, r"truncated\.wav is truncated: its header announces 16000 frames but only 6000 "
                                  r"could be read\. Re-export or re-download the file"),
    ("header_only.wav", ValueError, r"header_only\.wav decodes to 0 samples; it is empty or truncated"),
    ("corrupt.flac", ValueError, r"Could not decode \S*corrupt\.flac as audio \(the file is corrupt, truncated or not "
                                 r"audio; libsndfile said: .*" + SUPPORTED),
    ("notes.mp3", ValueError, r"Could not decode \S*notes\.mp3 as audio \(the file is corrupt, truncated or not "
                              r"audio"),
    ("clip.m4a", ValueError, r"Could not decode \S*clip\.m4a as audio \('\.m4a' is not a supported audio format; .*"
                             + SUPPORTED + r"\. Convert it \(e\.g\. `ffmpeg -i in\.m4a out\.flac`\)"),
    ("nan.wav", ValueError, r"nan\.wav contains 1 NaN or infinite sample\(s\); clean or drop the audio"),
]


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


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """A folder holding one good file (`good.wav`, 1 s at `SR`) and the bad files of `BAD_FILES`."""
    folder = tmp_path_factory.mktemp("inputs")
    sf.write(folder / "good.wav", tone(440, 1, SR), SR, subtype="PCM_16")  # 16000 frames
    wav = (folder / "good.wav").read_bytes()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(wav[: 44 + 2 * 6000])  # header + 6000 of the announced 16000 frames
    (folder / "header_only.wav").write_bytes(wav[:44])
    (folder / "corrupt.flac").write_bytes(np.random.default_rng(0).bytes(4000))
    (folder / "notes.mp3").write_text("meeting notes, not an mp3\n" * 40)
    (folder / "clip.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    (folder / "a_folder.wav").mkdir()
    with_nan = tone(440, 1, SR)
    with_nan[100] = np.nan
    sf.write(folder / "nan.wav", with_nan, SR, subtype="FLOAT")
    return folder


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
