"""AdiffFeatureExtractor: the official HTSAT log-mel front end, input handling and determinism."""

import numpy as np
import pytest
import torch
from transformers.audio_utils import hertz_to_mel, mel_to_hertz

from conftest import FIXTURES
from processing_adiff import AdiffFeatureExtractor, load_audio

OFFICIAL = FIXTURES / "official"
SR = 32000


@pytest.fixture(scope="module")
def extractor():
    return AdiffFeatureExtractor()


def tone(freq, seconds, sr, amplitude=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def expected_mel_bin(freq, extractor):
    """Index of the Slaney mel filter whose centre frequency is closest to `freq`."""
    edges = np.linspace(hertz_to_mel(extractor.f_min, "slaney"), hertz_to_mel(extractor.f_max, "slaney"),
                        extractor.feature_size + 2)
    centres = mel_to_hertz(edges[1:-1], "slaney")
    return int(np.argmin(np.abs(centres - freq)))


def peak_bin(features):
    return int(features[0].mean(dim=0).argmax())


def features(extractor, audio, **kwargs):
    return extractor(audio, **kwargs)["input_features"]


def test_shape_dtype_and_defaults(extractor):
    out = features(extractor, tone(440, 10, SR), sampling_rate=SR)
    assert out.shape == (1, 1001, 64) and out.dtype == torch.float32
    assert (extractor.num_samples, extractor.num_frames) == (320000, 1001)


def test_parity_with_official_logmel(extractor):
    reference = torch.load(OFFICIAL / "official_tiny_io.pt")
    waves = [load_audio(OFFICIAL / name)[0] for name in
             ("official_tiny_wave_a_tone440_noise.wav", "official_tiny_wave_b_chirp100_8000.wav")]
    out = features(extractor, waves, sampling_rate=reference["sample_rate"])
    for index, key in enumerate(("logmel_a", "logmel_b")):
        expected = reference[key][0, 0]  # (1001, 64)
        diff = (out[index] - expected).abs()
        loud = expected > -40
        assert diff[loud].max() <= 1e-3, key
        # quiet cells (~-95 dB) differ by the official features' own float32 FFT rounding (~0.06 dB); ours are float64
        assert diff.max() <= 0.1, key


def test_silence_is_finite_at_floor(extractor):
    out = features(extractor, np.zeros(SR, dtype=np.float32), sampling_rate=SR)
    assert torch.isfinite(out).all()
    assert torch.all(out == -100.0)


def test_tone_peaks_in_expected_mel_bin(extractor):
    out = features(extractor, tone(1000, 10, SR), sampling_rate=SR)
    assert peak_bin(out) == expected_mel_bin(1000, extractor)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_resampled_tone_keeps_peak_bin(extractor, rate):
    out = features(extractor, tone(1000, 2, rate), sampling_rate=rate)
    assert out.shape == (1, 1001, 64)
    assert peak_bin(out) == expected_mel_bin(1000, extractor)


def test_stereo_is_averaged_in_either_layout(extractor):
    left, right = tone(440, 3, SR), tone(3000, 3, SR, amplitude=0.2)
    mono = features(extractor, (left + right) / 2, sampling_rate=SR)
    channels_first = features(extractor, np.stack([left, right]), sampling_rate=SR)
    channels_last = features(extractor, torch.from_numpy(np.stack([left, right], axis=1)), sampling_rate=SR)
    torch.testing.assert_close(channels_first, mono, atol=1e-4, rtol=0)
    torch.testing.assert_close(channels_last, mono, atol=1e-4, rtol=0)


def test_integer_pcm_is_scaled(extractor):
    pcm = (tone(440, 2, SR) * 32767).astype(np.int16)
    from_int = features(extractor, pcm, sampling_rate=SR)
    from_float = features(extractor, pcm.astype(np.float64) / 32768, sampling_rate=SR)
    torch.testing.assert_close(from_int, from_float, atol=1e-4, rtol=0)
    as_uint8 = features(extractor, np.array([128, 192, 64, 128], dtype=np.uint8), sampling_rate=SR)
    torch.testing.assert_close(as_uint8, features(extractor, np.array([0, 0.5, -0.5, 0]), sampling_rate=SR))


def test_short_clip_is_tiled(extractor):
    clip = tone(523, 3, SR) * np.linspace(0, 1, 3 * SR, dtype=np.float32)
    tiled = np.tile(clip, 4)[: extractor.num_samples]
    torch.testing.assert_close(features(extractor, clip, sampling_rate=SR),
                               features(extractor, tiled, sampling_rate=SR))
    single = features(extractor, np.array([0.25], dtype=np.float32), sampling_rate=SR)  # one sample -> constant
    assert torch.isfinite(single).all() and single.shape == (1, 1001, 64)


def test_long_input_crops_deterministically(extractor):
    sections = [tone(freq, 10, SR) for freq in (500, 2000, 5000)]  # 30 s: the middle 10 s are a 2 kHz tone
    long = np.concatenate(sections)
    centre = features(extractor, long, sampling_rate=SR)
    torch.testing.assert_close(centre, features(extractor, long, sampling_rate=SR), atol=0, rtol=0)
    start = (long.shape[0] - extractor.num_samples) // 2
    window = long[start:start + extractor.num_samples]
    torch.testing.assert_close(centre, features(extractor, window, sampling_rate=SR))
    assert peak_bin(centre) == expected_mel_bin(2000, extractor)
    start_features = features(extractor, long, sampling_rate=SR, truncation="start")
    assert peak_bin(start_features) == expected_mel_bin(500, extractor)
    # the same crop policy holds when the long input is resampled first
    long_48k = np.concatenate([tone(freq, 10, 48000) for freq in (500, 2000, 5000)])
    assert peak_bin(features(extractor, long_48k, sampling_rate=48000)) == expected_mel_bin(2000, extractor)


def test_random_crop_is_seedable(extractor):
    noise = np.random.default_rng(0).standard_normal(25 * SR).astype(np.float32) * np.linspace(0, 1, 25 * SR)
    first = features(extractor, noise, sampling_rate=SR, truncation="random", seed=3)
    again = features(extractor, noise, sampling_rate=SR, truncation="random", generator=np.random.default_rng(3))
    other = features(extractor, noise, sampling_rate=SR, truncation="random", seed=4)
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    assert not torch.allclose(first, other)


def test_batch_matches_single_calls(extractor):
    noise = np.random.default_rng(1).standard_normal(SR * 10).astype(np.float32)
    clips = [tone(440, 1, SR), tone(2000, 12, SR), noise]
    batch = features(extractor, clips, sampling_rate=SR)
    singles = torch.cat([features(extractor, clip, sampling_rate=SR) for clip in clips])
    assert batch.shape == (3, 1001, 64)
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)


@pytest.mark.parametrize("audio, rate, match", [
    (np.zeros(100, np.float32), None, "No sampling_rate"),
    (np.zeros(100, np.float32), 0, r"\[1000, 768000\]"),
    (np.zeros(100, np.float32), 500, r"\[1000, 768000\]"),
    (np.zeros(100, np.float32), 1_000_000, r"\[1000, 768000\]"),
    (np.zeros(0, np.float32), SR, "empty"),
    (np.array([0.1, np.nan], np.float32), SR, "NaN or infinite"),
    (np.array([0.1, np.inf], np.float32), SR, "NaN or infinite"),
    (np.zeros((32, 48000), np.float32), SR, "at most 16 channels"),
    (np.zeros((4, 4), np.float32), SR, "at most 16 channels"),
    (np.zeros((2, 3, 1000), np.float32), SR, "expected"),
])
def test_bad_input_raises_clear_error(extractor, audio, rate, match):
    with pytest.raises(ValueError, match=match):
        extractor(audio, sampling_rate=rate)


def test_bad_dtype_and_truncation(extractor):
    with pytest.raises(TypeError, match="int64"):
        extractor(np.zeros(100, np.int64), sampling_rate=SR)
    with pytest.raises(ValueError, match="truncation must be one of"):
        extractor(np.zeros(100, np.float32), sampling_rate=SR, truncation="middle")


def test_save_load_round_trip(tmp_path):
    extractor = AdiffFeatureExtractor(f_max=12000.0, truncation="start")
    extractor.save_pretrained(tmp_path)
    saved = (tmp_path / "preprocessor_config.json").read_text()
    for key in ("sampling_rate", "feature_size", "n_fft", "hop_length", "f_min", "f_max", "max_length_s",
                "truncation"):
        assert f'"{key}"' in saved
    loaded = AdiffFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == extractor.to_dict()
    audio = tone(700, 12, SR)
    torch.testing.assert_close(loaded(audio, sampling_rate=SR)["input_features"],
                               extractor(audio, sampling_rate=SR)["input_features"])
