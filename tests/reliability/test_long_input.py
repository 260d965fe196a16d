"""Long recordings: a 10-minute, 48 kHz input is centre-cropped to one 10 s window before anything is converted,
resampled or transformed, so memory does not grow with the input's length."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from processing_adiff import AdiffFeatureExtractor

RATE = 48000
MINUTES = 10
GROWTH_LIMIT_MB = 200  # what the issue allows; the measured growth is about 12 MB (numpy) for any input length
_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_mb() -> float | None:
    """The process's peak resident memory (VmHWM) in MB, or None where /proc does not offer it."""
    if not _PROC_STATUS.exists():
        return None
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def ten_minutes():
    """10 minutes of 48 kHz stereo int16 (channels last, as soundfile returns it): 57.6 MB, whose float64 copy would
    be 460 MB. Three 200 s sections of 500 Hz, 2 kHz and 5 kHz tones, so the centre crop is recognisable."""
    section = np.arange(RATE * MINUTES * 20, dtype=np.float32) / RATE  # 200 s of time stamps
    tones = [(np.sin(2 * np.pi * freq * section) * 8000).astype(np.int16) for freq in (500, 2000, 5000)]
    mono = np.concatenate(tones)
    del section, tones
    return np.stack([mono, mono], axis=1)  # (samples, 2)


def test_ten_minutes_at_48k_use_bounded_memory(ten_minutes):
    extractor = AdiffFeatureExtractor()
    extractor(ten_minutes[: RATE * 12], sampling_rate=RATE)  # warm up (soxr, STFT plans)
    resettable = reset_peak_rss()
    rss_before = peak_rss_mb()
    tracemalloc.start()
    features = extractor(ten_minutes, sampling_rate=RATE)["input_features"]
    _, numpy_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert features.shape == (1, 1001, 64) and torch.isfinite(features).all()
    assert numpy_peak / 2**20 < GROWTH_LIMIT_MB
    if resettable and rss_before is not None:  # torch and soxr allocate outside tracemalloc's view
        assert peak_rss_mb() - rss_before < GROWTH_LIMIT_MB


def test_ten_minutes_are_centre_cropped_to_ten_seconds(ten_minutes):
    extractor = AdiffFeatureExtractor()
    middle = ten_minutes.shape[0] // 2
    for truncation, window in (("center", ten_minutes[middle - 5 * RATE: middle + 5 * RATE]),  # all 2 kHz tone
                               ("start", ten_minutes[: 10 * RATE])):  # all 500 Hz tone
        features = extractor(ten_minutes, sampling_rate=RATE, truncation=truncation)["input_features"]
        expected = extractor(window, sampling_rate=RATE)["input_features"]
        # equal but for the first and last few frames, where the resampler saw real neighbours instead of an edge
        torch.testing.assert_close(features[:, 5:-5], expected[:, 5:-5], atol=1e-2, rtol=0)
