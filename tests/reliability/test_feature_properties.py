"""Property-based tests of `AdiffFeatureExtractor`: any finite input of any length, rate, layout and dtype gives finite
features of the right shape, deterministically and independently of the rest of the batch."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from processing_adiff import AdiffFeatureExtractor
from processing_adiff.audio_io import MAX_SAMPLING_RATE, MIN_SAMPLING_RATE
from processing_adiff.feature_extraction_adiff import POWER_FLOOR

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FLOOR_DB = 10 * np.log10(POWER_FLOOR)
_INTEGER_LIMITS = {np.int8: 127, np.int16: 32767, np.int32: 2**31 - 1, np.uint8: 255}


@pytest.fixture(scope="module")
def extractor():
    return AdiffFeatureExtractor()


@st.composite
def waveforms(draw):
    """`(waveform, rate)`: a drawn pattern of up to 64 finite samples (any float32 value, subnormal to near max, or
    any integer PCM value) repeated to any length from 1 sample to 13 s, in 1 to 3 channels, either layout."""
    rate = draw(st.one_of(st.sampled_from([MIN_SAMPLING_RATE, 16000, 32000, 44100, 48000, MAX_SAMPLING_RATE]),
                          st.integers(MIN_SAMPLING_RATE, MAX_SAMPLING_RATE)))
    channels = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.uint8]))
    if dtype in _INTEGER_LIMITS:
        limit = _INTEGER_LIMITS[dtype]
        elements = st.integers(0 if dtype is np.uint8 else -limit - 1, limit)
    else:
        elements = st.floats(width=min(32, np.dtype(dtype).itemsize * 8), allow_nan=False, allow_infinity=False)
    pattern = draw(arrays(dtype, (channels, draw(st.integers(1, 64))), elements=elements))
    length = draw(st.one_of(st.integers(1, 2048), st.integers(1, int(13 * rate))))
    waveform = np.resize(pattern, (channels, length)) if length > 1 or channels == 1 else pattern[:, :1]
    if channels == 1 and draw(st.booleans()):
        waveform = waveform[0]  # (samples,)
    elif channels > 1 and length > channels and draw(st.booleans()):
        waveform = np.ascontiguousarray(waveform.T)  # (samples, channels)
    return waveform, rate


def _valid_layout(waveform) -> bool:
    """Multichannel audio needs more samples than channels to tell the axes apart (else a clear error, tested
    below)."""
    return waveform.ndim == 1 or min(waveform.shape) != max(waveform.shape) and min(waveform.shape) <= 16


@PROPERTY_SETTINGS
@given(waveforms())
def test_any_finite_input_gives_finite_features_of_the_right_shape(extractor, drawn):
    waveform, rate = drawn
    if not _valid_layout(waveform):
        with pytest.raises(ValueError, match=r"expected \(samples,\), \(channels, samples\) or \(samples, channels\)"):
            extractor(waveform, sampling_rate=rate)
        return
    features = extractor(waveform, sampling_rate=rate)["input_features"]
    assert features.shape == (1, extractor.num_frames, extractor.feature_size)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()
    assert features.min() >= FLOOR_DB


@PROPERTY_SETTINGS
@given(waveforms(), waveforms())
def test_features_are_deterministic_and_independent_of_the_batch(extractor, first, second):
    (a, rate_a), (b, rate_b) = first, second
    if not (_valid_layout(a) and _valid_layout(b)):
        return
    alone = extractor(a, sampling_rate=rate_a)["input_features"]
    assert torch.equal(alone, extractor(a, sampling_rate=rate_a)["input_features"])
    batch = extractor([b, a], sampling_rate=[rate_b, rate_a])["input_features"]
    assert torch.equal(batch[1:], alone)


@PROPERTY_SETTINGS
@given(st.integers(-10**7, MIN_SAMPLING_RATE - 1) | st.integers(MAX_SAMPLING_RATE + 1, 10**9))
def test_any_rate_outside_the_range_is_refused(extractor, rate):
    with pytest.raises(ValueError, match=rf"sampling_rate={rate} Hz for the audio is outside the accepted range "
                                         rf"\[{MIN_SAMPLING_RATE}, {MAX_SAMPLING_RATE}\] Hz"):
        extractor(np.zeros(100, np.float32), sampling_rate=rate)
