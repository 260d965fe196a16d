"""Bad and unusual input through `AdiffProcessor`: each case of the table in docs/input_handling.md has exactly one
outcome, pinned here (exception type and message, or the exact successful result)."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers.testing_utils import CaptureLogger

from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
from processing_adiff import processing_adiff as processing_module

from .conftest import BAD_FILES, SR, tone

def run(processor, first, second, **kwargs):
    kwargs.setdefault("tier", 1)
    return processor(audio=(first, second), **kwargs)


# --------------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("name, error, message", BAD_FILES)
def test_bad_files_raise_a_clear_error(processor, files, name, error, message):
    with pytest.raises(error, match=message):
        run(processor, files / "good.wav", files / name)
    with pytest.raises(error, match=message):  # str paths and Path objects behave the same
        run(processor, str(files / name), str(files / "good.wav"))


def test_pipes_and_devices_are_refused_without_blocking(processor, files, tmp_path):
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)  # opening it for reading would block until a writer appears
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ValueError, match=rf"{path} is not a regular file \(a pipe, socket or device\); pass the "
                                             r"path of an audio file, or read the stream yourself and pass its bytes"):
            run(processor, files / "good.wav", path)


def test_bad_bytes_raise_a_clear_error(processor, files):
    with pytest.raises(ValueError, match=r"The audio bytes are empty \(0 bytes\); pass the full encoded file content"):
        run(processor, b"", files / "good.wav")
    with pytest.raises(ValueError, match=r"Could not decode the given bytes as audio \(the file is corrupt"):
        run(processor, (files / "corrupt.flac").read_bytes(), files / "good.wav")
    with pytest.raises(ValueError, match=r"the given bytes is truncated: its header announces 16000 frames but only "
                                         r"6000 could be read"):
        run(processor, (files / "truncated.wav").read_bytes(), files / "good.wav")


def test_good_file_bytes_and_array_give_the_same_features(processor, files):
    array, rate = sf.read(files / "good.wav", dtype="float32")
    expected = run(processor, array, array, sampling_rate=rate)["input_features"]
    for source in (files / "good.wav", str(files / "good.wav"), (files / "good.wav").read_bytes(),
                   {"array": array, "sampling_rate": rate}):
        torch.testing.assert_close(run(processor, source, source)["input_features"], expected, atol=0, rtol=0)


# --------------------------------------------------------------------------------------------------- arrays
@pytest.mark.parametrize("second, error, message", [
    (np.zeros(0, np.float32), ValueError,
     r"the second audio of pair 0 is empty \(shape \(0,\)\); give at least one sample"),
    (np.array([0.1, np.nan, 0.2], np.float32), ValueError,
     r"the second audio of pair 0 contains 1 NaN or infinite sample\(s\); clean or drop the audio"),
    (np.array([0.1, np.inf, -np.inf], np.float64), ValueError,
     r"the second audio of pair 0 contains 2 NaN or infinite sample\(s\)"),
    (torch.tensor([0.1, float("nan")]), ValueError, r"the second audio of pair 0 contains 1 NaN or infinite"),
    (np.full(100, 1e300), ValueError,
     r"the second audio of pair 0 has samples beyond float32's range \(peak 1e\+300\); float audio is expected in "
     r"\[-1, 1\]\. Rescale it"),
    (np.zeros(100, np.int64), TypeError, r"the second audio of pair 0 has dtype int64; expected floating point "
                                         r"samples or integer PCM \(int8, int16, int32, uint8\)\. Convert it"),
    (np.zeros(100, bool), TypeError, r"has dtype bool; expected floating point samples or integer PCM"),
    (np.zeros((2, 3, 1000), np.float32), ValueError,
     r"the second audio of pair 0 has shape \(2, 3, 1000\); expected \(samples,\), \(channels, samples\) or "
     r"\(samples, channels\) with at most 16 channels"),
    (np.zeros((32, 48000), np.float32), ValueError, r"has shape \(32, 48000\); expected .* at most 16 channels"),
    (np.zeros((100, 100), np.float32), ValueError, r"has shape \(100, 100\); expected"),  # no smaller axis
])
def test_bad_arrays_raise_a_clear_error(processor, clips, second, error, message):
    with pytest.raises(error, match=message):
        run(processor, clips[0], second, sampling_rate=SR)


def test_wrong_python_types_raise_type_error(processor, clips):
    with pytest.raises(TypeError, match=r"The second audio of pair 0 is a int; expected a numpy array, torch tensor, "
                                        r"file path, bytes or \{'array', 'sampling_rate'\} dict"):
        run(processor, clips[0], 3, sampling_rate=SR)
    with pytest.raises(ValueError, match=r"audio must be a pair \(first, second\) or a non-empty list of pairs, got "
                                         r"ndarray"):
        processor(audio=clips[0], tier=1, sampling_rate=SR)


def test_missing_sampling_rate_for_raw_arrays(processor, clips, files):
    with pytest.raises(ValueError, match=r"The first audio of pair 0 is a raw array, which carries no rate: pass "
                                         r"sampling_rate= \(Hz\), or give paths / bytes"):
        run(processor, clips[0], clips[1])
    # files, bytes and dicts carry their own rate: no sampling_rate needed
    assert run(processor, files / "good.wav", {"array": clips[1], "sampling_rate": SR})["input_features"].shape == \
        (1, 2, 1001, 64)


@pytest.mark.parametrize("rate", [0, -16000, 1, 999, 768001, 1_000_000])
def test_absurd_sampling_rates(processor, clips, rate):
    with pytest.raises(ValueError, match=rf"sampling_rate={rate} Hz for the first audio of pair 0 is outside the "
                                         r"accepted range \[1000, 768000\] Hz\. Pass the rate the audio was recorded"):
        run(processor, clips[0], clips[1], sampling_rate=rate)


@pytest.mark.parametrize("rate", [16000.5, "16000", True])
def test_non_integer_sampling_rates(processor, clips, rate):
    with pytest.raises(ValueError, match=r"sampling_rate for the first audio of pair 0 must be a whole number of Hz"):
        run(processor, clips[0], clips[1], sampling_rate=rate)


def test_mismatched_batch_of_first_and_second_audios(processor, clips):
    firsts, seconds = clips[:3], clips[3:5]  # 3 first audios, 2 second audios
    with pytest.raises(ValueError, match=r"audio\[0\] holds 3 audio\(s\); every item of the batch must be a \(first, "
                                         r"second\) pair of audios\. Got 2 items\. .*audio=list\(zip\(firsts, "
                                         r"seconds\)\)"):
        processor(audio=(firsts, seconds), tier=1, sampling_rate=SR)
    with pytest.raises(ValueError, match=r"Got 2 tier values for 3 audio pairs; give one, or one per pair"):
        processor(audio=list(zip(firsts, clips[3:6])), tier=[1, 2], sampling_rate=SR)


# --------------------------------------------------------------------------------------------------- unusual, works
def test_silent_audio_works_at_the_power_floor(processor):
    silence = np.zeros(SR, np.float32)
    features = run(processor, silence, silence, sampling_rate=SR)["input_features"]
    assert torch.equal(features, torch.full((1, 2, 1001, 64), -100.0))


@pytest.mark.parametrize("rate", [1000, 16000, 32000, 44100, 96000, 768000])
@pytest.mark.parametrize("samples", ["one", "10ms"])
def test_extremely_short_audio_is_tiled(processor, rate, samples):
    length = 1 if samples == "one" else rate // 100
    short = tone(440, length / rate, rate) + np.float32(0.25)
    features = run(processor, short, short, sampling_rate=rate)["input_features"]
    assert features.shape == (1, 2, 1001, 64) and torch.isfinite(features).all()
    if rate == processor.feature_extractor.sampling_rate:  # no resampling: exactly the tiled signal's features
        tiled = np.tile(short, -(-processor.feature_extractor.num_samples // length))
        expected = processor.feature_extractor(tiled[: processor.feature_extractor.num_samples], sampling_rate=rate)
        torch.testing.assert_close(features[0, 0], expected["input_features"][0], atol=0, rtol=0)


def test_multichannel_is_downmixed_in_either_layout(processor):
    channels = np.stack([tone(freq, 1, SR, amplitude=0.1 * (k + 1))
                         for k, freq in enumerate((220, 440, 880, 1760, 3520, 7040))])  # (6, samples)
    mono = channels.mean(axis=0, dtype=np.float64).astype(np.float32)  # the channel average
    expected = run(processor, mono, mono, sampling_rate=SR)["input_features"]
    got = run(processor, channels, torch.from_numpy(channels.T.copy()), sampling_rate=SR)["input_features"]
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


@pytest.mark.parametrize("dtype, scale, offset", [
    (np.int8, 2.0**7, 0), (np.int16, 2.0**15, 0), (np.int32, 2.0**31, 0), (np.uint8, 2.0**7, 128),
    (np.float64, 1.0, 0), (np.float16, 1.0, 0),
])
def test_integer_and_float_dtypes_are_scaled_like_float32(processor, dtype, scale, offset):
    reference = tone(440, 1, SR, amplitude=0.5)
    if np.issubdtype(dtype, np.integer):
        converted = np.round(reference * (scale - 1) + offset).astype(dtype)
    else:
        converted = reference.astype(dtype)
    exact = ((converted.astype(np.float64) - offset) / scale).astype(np.float32)  # PCM value / full scale
    got = run(processor, converted, torch.from_numpy(converted), sampling_rate=SR)["input_features"]
    torch.testing.assert_close(got, run(processor, exact, exact, sampling_rate=SR)["input_features"], atol=0, rtol=0)
    # and, within 20 dB of the tone's peak (well above any dtype's quantisation noise), the float32 tone's features
    expected = run(processor, reference, reference, sampling_rate=SR)["input_features"]
    loud = expected > expected.max() - 20
    assert loud.sum() > 1000
    torch.testing.assert_close(got[loud], expected[loud], atol=0.2 if converted.itemsize == 1 else 0.05, rtol=0)


def test_absurdly_loud_float32_audio_gives_finite_features(processor, clips):
    unit = clips[3] / np.abs(clips[3]).max()
    loud = unit * np.float32(3e38)  # near float32's maximum
    features = run(processor, loud, unit, sampling_rate=SR)["input_features"]
    assert torch.isfinite(features).all()
    # log-mel is scale-equivariant: 20 * log10(3e38) dB above the same signal at unit scale (above the floor)
    shift = features[0, 0] - features[0, 1]
    above_floor = features[0, 1] > -90
    assert above_floor.float().mean() > 0.8  # the bins above 8 kHz of 16 kHz audio are at the floor
    torch.testing.assert_close(shift[above_floor], torch.full_like(shift[above_floor], 20 * np.log10(3e38)),
                               atol=1e-2, rtol=0)


# --------------------------------------------------------------------------------------------------- prompts, kwargs
def test_prompt_longer_than_prompt_length_is_cut_with_a_warning(tiny_tokenizer, clips):
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=8)
    long_prompt = "explain the difference in detail, " * 10
    with CaptureLogger(processing_module.logger) as captured:
        out = run(processor, clips[0], clips[1], tier=None, text=long_prompt, sampling_rate=SR)
    assert "more than prompt_length=8; it is cut to 8 tokens, keeping the final EOS" in captured.out
    full = tiny_tokenizer(long_prompt.strip(), add_special_tokens=False)["input_ids"]
    assert out["prompt_input_ids"][0].tolist() == full[:7] + [tiny_tokenizer.eos_token_id]
    assert out["prompt_attention_mask"][0].tolist() == [1] * 8


@pytest.mark.parametrize("kwargs, message", [
    (dict(tier=0), r"Unknown tier 0; valid tiers are \[1, 2, 3\] \(1: a few words, 2: a sentence, 3: in detail\)"),
    (dict(tier="4"), r"Unknown tier '4'; valid tiers are \[1, 2, 3\]"),  # "2" is tier 2, like the CLI's --tier 2
    (dict(tier=True), r"Unknown tier True; valid tiers are \[1, 2, 3\]"),
    (dict(tier=None, task="caption_third"), r"Unknown task 'caption_third'; valid tasks are \['caption_both', "
                                            r"'caption_first', 'caption_second'\]"),
    (dict(tier=None, text="   "), r"The prompt must be a non-empty string, got '   '"),
])
def test_unknown_tier_task_or_empty_prompt(processor, clips, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(processor, clips[0], clips[1], sampling_rate=SR, **kwargs)


@pytest.mark.parametrize("call, wrong, right", [
    ("processor", "audios", "audio"),
    ("processor", "sample_rate", "sampling_rate"),
    ("processor", "tiers", "tier"),
    ("processor", "prompt", "text"),
    ("extractor", "sample_rate", "sampling_rate"),
    ("extractor", "truncate", "truncation"),
])
def test_wrong_keyword_names_the_right_one(processor, clips, call, wrong, right):
    kwargs = {wrong: SR if "rate" in wrong else "center" if wrong == "truncate" else 1}
    with pytest.raises(TypeError, match=rf"got unexpected keyword argument\(s\) {wrong}= \(did you mean "
                                        rf"{right}=\?\)\. Valid arguments: "):
        if call == "processor":
            base = dict(audio=(clips[0], clips[1]), tier=1, sampling_rate=SR)
            base.pop(right, None)
            processor(**base, **kwargs)
        else:
            processor.feature_extractor(clips[0], **({"sampling_rate": SR} | kwargs))
