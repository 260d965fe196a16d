"""Loose ends of inference a user meets: an empty list, a fractional token budget, a 1-hour file, stereo channels
that cancel, samples of 1e30, a GPU flag on a CPU build, a Hub upload without a network."""

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch
from adiff_testing import save_tiny_model
from transformers import pipeline
from transformers.testing_utils import CaptureLogger

import adiff.cli
import processing_adiff.audio_io
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor, load_audio
from processing_adiff import feature_extraction_adiff as feature_module

RATE = 48_000


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    """The pipeline of a tiny saved model (its folder: `pipe.model.name_or_path`)."""
    return pipeline("audio-difference", model=str(save_tiny_model(tmp_path_factory.mktemp("tiny"))), device="cpu")


@pytest.fixture(scope="module")
def long_stereo(tmp_path_factory):
    """Two minutes of 48 kHz stereo noise as a 16-bit WAV, and its samples as float32 `(channels, samples)`."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    audio = (0.1 * np.random.default_rng(0).standard_normal((120 * RATE, 2))).astype(np.float32)  # (samples, ch)
    sf.write(path, audio, RATE, subtype="PCM_16")
    decoded, _ = sf.read(path, dtype="float32")
    return path, np.ascontiguousarray(decoded.T)


def test_an_empty_list_of_pairs_is_a_clear_error(pipe):
    with pytest.raises(ValueError, match=r"empty list of pairs; give at least one pair"):
        pipe([])


@pytest.mark.parametrize("budget", [2.5, True, 0, "5"])
def test_a_token_budget_must_be_a_positive_whole_number(pipe, budget):
    with pytest.raises(ValueError, match=rf"max_new_tokens must be a positive whole number of tokens, got {budget!r}"):
        pipe(np.zeros(32000, np.float32), np.zeros(32000, np.float32), tier=1, max_new_tokens=budget)
    assert pipe(np.zeros(32000, np.float32), np.zeros(32000, np.float32), max_new_tokens=np.int64(2))


def test_a_long_file_is_decoded_only_in_its_crop_window(long_stereo, tiny_tokenizer, tmp_path):
    path, samples = long_stereo
    extractor = AdiffFeatureExtractor()
    start, stop = extractor.crop_window(samples.shape[-1], RATE)
    assert stop - start == 12 * RATE and start == (samples.shape[-1] - (stop - start)) // 2  # 10 s + resampler margin
    window, rate = load_audio(path, crop=extractor.crop_window)
    np.testing.assert_array_equal(window, samples[:, start:stop])
    assert rate == RATE

    processor = AdiffProcessor(extractor, tiny_tokenizer)
    short = tmp_path / "short.wav"
    sf.write(short, samples[:, : 15 * RATE].T, RATE, subtype="PCM_16")  # longer than the window too

    def peak_bytes(audio):
        tracemalloc.start()
        features = processor(audio=(audio, audio), tier=1)["input_features"]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return features, peak

    from_file, long_peak = peak_bytes(path)
    short_peak = peak_bytes(short)[1]
    # The 2-minute file costs what the 15-second one does (decoding it whole would add 2 x 44 MiB).
    assert long_peak < short_peak + 2**20, (long_peak / 2**20, short_peak / 2**20)
    from_array = processor(audio=(samples, samples), tier=1, sampling_rate=RATE)["input_features"]
    torch.testing.assert_close(from_file, from_array, atol=0, rtol=0)  # the same crop as decoding it all


def test_the_cli_decodes_each_file_once_and_only_its_window(pipe, long_stereo, tmp_path, monkeypatch):
    model_dir = pipe.model.name_or_path
    path, samples = long_stereo
    reads, real = [], processing_adiff.audio_io._read

    def counting_read(file, name, crop=None):
        array, rate = real(file, name, crop)
        reads.append(array.shape[-1])
        return array, rate

    monkeypatch.setattr(processing_adiff.audio_io, "_read", counting_read)
    code = adiff.cli.main(["explain", str(path), str(path), "--model", str(model_dir), "--tier", "1", "2", "3",
                           "--max-new-tokens", "2", "--plot", str(tmp_path / "plot.png")])
    assert code == 0
    assert reads == [1, 1, 12 * RATE, 12 * RATE]  # a 1-frame check per file before loading, then one window each


def test_stereo_channels_that_cancel_are_warned_about():
    extractor = AdiffFeatureExtractor()
    left = 0.3 * np.sin(np.linspace(0, 2000, 32000)).astype(np.float32)
    with CaptureLogger(feature_module.logger) as captured:
        extractor(np.stack([left, -left]), sampling_rate=32000)
    assert "The 2 channels of the audio cancel when averaged to mono" in captured.out
    assert "Pass a single channel" in captured.out
    with CaptureLogger(feature_module.logger) as captured:
        extractor(np.stack([left, 0.5 * left]), sampling_rate=32000)
    assert captured.out == ""


def test_samples_far_outside_the_float_range_are_warned_about():
    extractor = AdiffFeatureExtractor()
    loud = np.full(32000, 1e30, dtype=np.float32)
    with CaptureLogger(feature_module.logger) as captured:
        features = extractor(loud, sampling_rate=32000)["input_features"]
    assert "the audio has samples up to 1e+30, far outside the [-1, 1] expected of float audio" in captured.out
    assert torch.isfinite(features).all()
    with CaptureLogger(feature_module.logger) as captured:
        extractor(np.full(32000, 0.9, dtype=np.float32), sampling_rate=32000)
    assert captured.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_device_on_a_cpu_build_is_one_line(pipe, long_stereo, capsys):
    model_dir = pipe.model.name_or_path
    path, _ = long_stereo
    assert adiff.cli.main(["explain", str(path), str(path), "--model", str(model_dir), "--device", "cuda"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("adiff explain: error: --device cuda: this PyTorch") and "--device cpu" in error
    assert "\n" not in error


def test_push_without_a_network_is_one_line(pipe, monkeypatch, capsys):
    model_dir = pipe.model.name_or_path
    httpx = pytest.importorskip("httpx2")

    def unreachable(*args, **kwargs):
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    monkeypatch.setattr(adiff.cli, "push_model", unreachable)
    assert adiff.cli.main(["push", str(model_dir), "user/adiff-test"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"adiff push: error: Could not reach the Hub to upload {model_dir} to user/adiff-test")
    assert "--out DIR" in error and "\n" not in error
