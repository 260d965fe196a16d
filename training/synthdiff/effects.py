"""Global signal effects of a SynthDiff clip: timbre filter, reverberation, playback speed, added noise, clipping."""

from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft

from .synth import colored_noise

# Cut-off of the muffled (low-pass) and thin (high-pass) timbres, and the RT60 of each reverberation class.
MUFFLED_CUTOFF_HZ = 800.0
THIN_CUTOFF_HZ = 1500.0
REVERB_RT60_S = {"room": 0.5, "hall": 2.0}
REVERB_WET = {"room": 0.6, "hall": 1.2}
REVERB_RT60_S_KEYS = tuple(REVERB_RT60_S)
REVERBS_SEED = 20250204  # fixed: the impulse-response bank is part of the generator, the same for every corpus seed
CLIP_DRIVE_DB = 14.0


REVERB_VARIANTS = 8  # impulse responses per reverb class; a clip draws one (their spectra are cached)


@lru_cache(maxsize=64)
def _timbre_response(sr: int, size: int, timbre: str) -> np.ndarray:
    """Magnitude response of the muffled (4th-order low-pass) or thin (4th-order high-pass) timbre."""
    freqs = np.fft.rfftfreq(size, 1.0 / sr).astype(np.float32)
    if timbre == "muffled":
        return 1.0 / (1.0 + (freqs / MUFFLED_CUTOFF_HZ) ** 4)
    if timbre == "thin":
        return 1.0 / (1.0 + (THIN_CUTOFF_HZ / np.maximum(freqs, 1.0)) ** 4)
    raise ValueError(f"Unknown timbre {timbre!r}; expected normal, muffled or thin.")


def reverb_impulse_response(sr: int, reverb: str, variant: int) -> np.ndarray:
    """A direct path plus exponentially decaying diffuse noise (-60 dB at RT60); `variant` seeds the noise."""
    if reverb not in REVERB_RT60_S:
        raise ValueError(f"Unknown reverb {reverb!r}; expected dry, room or hall.")
    rt60 = REVERB_RT60_S[reverb]
    n = int(rt60 * sr)
    t = np.arange(n, dtype=np.float32) / sr
    rng = np.random.default_rng([REVERBS_SEED, REVERB_RT60_S_KEYS.index(reverb), variant])
    tail = colored_noise(rng, n, sr, 100.0, 8000.0, slope=-2.0) * np.exp(-6.91 * t / rt60)
    tail *= REVERB_WET[reverb] / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    tail[0] = 1.0
    return tail.astype(np.float32)


@lru_cache(maxsize=64)
def _reverb_spectrum(sr: int, size: int, reverb: str, variant: int) -> np.ndarray:
    return sp_fft.rfft(reverb_impulse_response(sr, reverb, variant), size)


def apply_timbre_and_reverb(rng: np.random.Generator, audio: np.ndarray, sr: int, timbre: str,
                            reverb: str) -> np.ndarray:
    """Filter for the timbre and convolve with a room response in one FFT pass (tails past the clip are cut).

    `timbre` is normal, muffled or thin; `reverb` is dry, room or hall. Normal and dry leave the audio untouched.
    """
    if timbre == "normal" and reverb == "dry":
        return audio
    # Zero-padding keeps the convolution linear: room for the reverb tail, or 0.1 s of filter ringing.
    tail = int(REVERB_RT60_S[reverb] * sr) if reverb != "dry" else sr // 10
    size = sp_fft.next_fast_len(len(audio) + tail, real=True)
    spectrum = sp_fft.rfft(audio, size)
    if timbre != "normal":
        spectrum *= _timbre_response(sr, size, timbre)
    if reverb != "dry":
        spectrum *= _reverb_spectrum(sr, size, reverb, int(rng.integers(0, REVERB_VARIANTS)))
    return sp_fft.irfft(spectrum, n=size)[:len(audio)].astype(np.float32)


def apply_speed(audio: np.ndarray, n_out: int) -> np.ndarray:
    """Play `audio` back so that it lasts `n_out` samples (linear interpolation; pitch moves with speed)."""
    if len(audio) == n_out:
        return audio
    positions = np.linspace(0.0, len(audio) - 1, n_out, dtype=np.float32)
    left = np.minimum(positions.astype(np.int64), len(audio) - 2)
    frac = positions - left
    return (audio[left] * (1.0 - frac) + audio[left + 1] * frac).astype(np.float32)


def add_noise(rng: np.random.Generator, audio: np.ndarray, snr_db: float) -> np.ndarray:
    """Add white noise `snr_db` below the clip's RMS."""
    rms = np.sqrt(np.mean(audio ** 2)) + 1e-12
    noise = rng.standard_normal(len(audio), dtype=np.float32) * np.float32(rms * 10.0 ** (-snr_db / 20.0))
    return audio + noise


def apply_clipping(audio: np.ndarray) -> np.ndarray:
    """Hard-clip `CLIP_DRIVE_DB` below the peak (or at the 99th percentile), keeping the RMS before clipping."""
    magnitude = np.abs(audio)
    # At least 1% of the samples hit the ceiling, so even a clip with one sharp transient is audibly distorted.
    ceiling = min(float(magnitude.max()) * 10.0 ** (-CLIP_DRIVE_DB / 20.0), float(np.quantile(magnitude, 0.99)))
    clipped = np.clip(audio, -ceiling, ceiling)
    return clipped * np.float32(np.sqrt(np.mean(audio ** 2)) / (np.sqrt(np.mean(clipped ** 2)) + 1e-12))


__all__ = [
    "MUFFLED_CUTOFF_HZ", "THIN_CUTOFF_HZ", "REVERB_RT60_S", "reverb_impulse_response", "apply_timbre_and_reverb",
    "apply_speed", "add_noise", "apply_clipping",
]
