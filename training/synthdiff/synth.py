"""Vectorised numpy synthesis of SynthDiff's foreground sound classes and backgrounds.

Every function takes a `numpy.random.Generator` and returns float32 audio; events are normalised to unit RMS so the
scene sets their level in dB.
"""

from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft

REGISTER_HZ = {"low": 220.0, "mid": 660.0, "high": 1980.0}
TWO_PI = 2.0 * np.pi


def _time(n: int, sr: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(sr)


def _fade(n: int, sr: int, attack_s: float = 0.005, release_s: float = 0.02) -> np.ndarray:
    """A flat envelope with short linear fades (no clicks at the edges)."""
    env = np.ones(n, dtype=np.float32)
    a, r = min(n // 2, int(attack_s * sr)), min(n // 2, int(release_s * sr))
    if a:
        env[:a] = np.linspace(0.0, 1.0, a, dtype=np.float32)
    if r:
        env[n - r:] = np.linspace(1.0, 0.0, r, dtype=np.float32)
    return env


def _sweep(f_start: float, f_end: float, n: int, sr: int) -> np.ndarray:
    """An exponential frequency sweep."""
    freq = f_start * (f_end / f_start) ** np.linspace(0.0, 1.0, n, dtype=np.float32)
    return np.sin(TWO_PI * np.cumsum(freq) / sr).astype(np.float32)


def _repeat(unit: np.ndarray, n: int, reps: int) -> np.ndarray:
    """Place `reps` copies of `unit` evenly over `n` samples."""
    out = np.zeros(n, dtype=np.float32)
    period = n // reps
    unit = unit[:period]
    for k in range(reps):
        out[k * period:k * period + len(unit)] += unit
    return out


def _decay(n: int, sr: int, tau_s: float) -> np.ndarray:
    return np.exp(-_time(n, sr) / np.float32(tau_s))


@lru_cache(maxsize=256)
def _band_gain(size: int, sr: int, low_hz: float, high_hz: float, slope: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(size, 1.0 / sr).astype(np.float32)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    gain = np.zeros_like(freqs)
    gain[band] = (np.maximum(freqs[band], 1.0) / max(low_hz, 1.0)) ** (slope / 6.02)
    return gain


def colored_noise(rng: np.random.Generator, n: int, sr: int, low_hz: float, high_hz: float,
                  slope: float = 0.0) -> np.ndarray:
    """Band-limited noise made in the frequency domain (one inverse FFT); `slope` in dB/octave above `low_hz`."""
    size = sp_fft.next_fast_len(n, real=True)  # awkward lengths make FFTs 10-30x slower
    bins = size // 2 + 1
    spectrum = np.empty(bins, dtype=np.complex64)
    spectrum.real = rng.standard_normal(bins, dtype=np.float32)
    spectrum.imag = rng.standard_normal(bins, dtype=np.float32)
    spectrum *= _band_gain(size, sr, float(low_hz), float(high_hz), float(slope))
    noise = sp_fft.irfft(spectrum, n=size)[:n]
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def _beep(rng, n, sr, f0, reps):
    unit_n = int(n / reps * rng.uniform(0.4, 0.7))
    unit = np.sin(TWO_PI * 2 * f0 * _time(unit_n, sr)) * _fade(unit_n, sr)
    return _repeat(unit, n, reps)


def _chirp(rng, n, sr, f0, reps, rising):
    unit_n = int(n / reps * rng.uniform(0.6, 0.9))
    lo, hi = f0, f0 * rng.uniform(2.5, 4.0)
    unit = _sweep(lo, hi, unit_n, sr) if rising else _sweep(hi, lo, unit_n, sr)
    return _repeat(unit * _fade(unit_n, sr), n, reps)


def _siren(rng, n, sr, f0, reps):
    t = _time(n, sr)
    freq = f0 * (1.5 + 0.5 * np.sin(TWO_PI * rng.uniform(0.3, 0.6) * t))
    phase = TWO_PI * np.cumsum(freq) / sr
    return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * _fade(n, sr, 0.05, 0.1)


def _birdsong(rng, n, sr, f0, reps):
    out = np.zeros(n, dtype=np.float32)
    period = n // reps
    for k in range(reps):
        unit_n = int(sr * rng.uniform(0.06, 0.15))
        base = max(f0, 1500.0) * rng.uniform(1.2, 2.2)
        unit = _sweep(base, base * rng.uniform(1.3, 1.8), unit_n, sr) * np.hanning(unit_n).astype(np.float32)
        start = k * period + int(rng.uniform(0, max(1, period - unit_n)))
        out[start:start + unit_n] += unit[:n - start]
    return out


def _hits(rng, n, sr, reps, make_hit):
    out = np.zeros(n, dtype=np.float32)
    period = n // reps
    for k in range(reps):
        hit = make_hit()[:period]
        out[k * period:k * period + len(hit)] += hit
    return out


def _knocking(rng, n, sr, f0, reps):
    def hit():
        m = int(0.06 * sr)
        body = np.sin(TWO_PI * f0 * 0.6 * _time(m, sr)) + 0.5 * rng.standard_normal(m, dtype=np.float32)
        return body * _decay(m, sr, 0.012)
    return _hits(rng, n, sr, reps, hit)


def _footsteps(rng, n, sr, f0, reps):
    def hit():
        m = int(0.12 * sr)
        thump = np.sin(TWO_PI * 90.0 * _time(m, sr)) * _decay(m, sr, 0.03)
        scuff = colored_noise(rng, m, sr, 300.0, 4000.0) * _decay(m, sr, 0.05) * 0.4
        return thump + scuff
    return _hits(rng, n, sr, reps, hit)


def _engine(rng, n, sr, f0, reps):
    t = _time(n, sr)
    fund = f0 / 6.0 * (1.0 + 0.05 * np.sin(TWO_PI * 0.3 * t))
    phase = TWO_PI * np.cumsum(fund) / sr
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 7))
    rumble = colored_noise(rng, n, sr, 30.0, 400.0) * 0.3
    return (harmonics + rumble) * _fade(n, sr, 0.2, 0.2)


def _bell(rng, n, sr, f0, reps):
    m = n // reps
    t = _time(m, sr)
    partials = sum(a * np.sin(TWO_PI * f0 * r * t) * _decay(m, sr, 0.8 / r)
                   for r, a in ((1.0, 1.0), (2.76, 0.6), (5.4, 0.4), (8.93, 0.25)))
    return _repeat(partials * _fade(m, sr, 0.001, 0.05), n, reps)


def _drum(rng, n, sr, f0, reps):
    def hit():
        m = int(0.25 * sr)
        freq = np.float32(f0 / 3.0) * (1.0 + 2.0 * _decay(m, sr, 0.02))
        body = np.sin(TWO_PI * np.cumsum(freq) / sr) * _decay(m, sr, 0.08)
        click = rng.standard_normal(m, dtype=np.float32) * _decay(m, sr, 0.004) * 0.5
        return body + click
    return _hits(rng, n, sr, reps, hit)


def _melody(rng, n, sr, f0, reps):
    notes = int(rng.integers(4, 9))
    ratios = 2.0 ** (np.array([0, 2, 4, 7, 9, 12]) / 12.0)
    freqs = np.repeat(f0 * rng.choice(ratios, notes), n // notes + 1)[:n].astype(np.float32)
    phase = TWO_PI * np.cumsum(freqs) / sr
    note_env = np.tile(_fade(n // notes + 1, sr, 0.01, 0.05), notes)[:n]
    return (np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)) * note_env


def speech_like(rng, n, sr, f0=None, harmonics=10):
    """Voiced, syllable-modulated harmonic babble with a wandering pitch and moving formant (no words)."""
    t = _time(n, sr)
    pitch = (f0 if f0 is not None else rng.uniform(100.0, 220.0)) * (1.0 + 0.15 * np.sin(TWO_PI * 0.7 * t))
    phase = TWO_PI * np.cumsum(pitch) / sr
    syllable_rate = rng.uniform(3.5, 5.5)
    syllables = np.maximum(0.0, np.sin(TWO_PI * syllable_rate * t + rng.uniform(0, TWO_PI))) ** 1.5
    # The formant moves slowly: compute harmonic weights every 64 samples and hold them.
    step = 64
    formant = 3.0 * (1.0 + 0.5 * np.sin(TWO_PI * syllable_rate * 0.5 * t[::step]))
    # sin(k*phase) by the Chebyshev recurrence: one multiply-add per harmonic instead of a sine.
    two_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros_like(phase), np.sin(phase)
    voiced = np.zeros_like(phase)
    for k in range(1, harmonics + 1):
        weight = np.repeat(np.exp(-((k - formant) ** 2) / 8.0), step)[:n]
        voiced += weight * current
        previous, current = current, two_cos * current - previous
    return (voiced * syllables).astype(np.float32)


def _speech(rng, n, sr, f0, reps):
    return speech_like(rng, n, sr, f0 / 4.0) * _fade(n, sr, 0.05, 0.1)


def _alarm(rng, n, sr, f0, reps):
    t = _time(n, sr)
    toggle = (np.floor(t * rng.uniform(3.0, 6.0)) % 2).astype(np.float32)
    freq = 1.5 * f0 * (1.0 + 0.25 * toggle)
    return np.sign(np.sin(TWO_PI * np.cumsum(freq) / sr)) * 0.7 * _fade(n, sr)


def _clapping(rng, n, sr, f0, reps):
    out = np.zeros(n, dtype=np.float32)
    m = int(0.03 * sr)
    onsets = np.sort(rng.integers(0, max(1, n - m), reps))
    clap = np.diff(rng.standard_normal(m + 1, dtype=np.float32)) * _decay(m, sr, 0.006)
    for start in onsets:
        out[start:start + m] += clap
    return out


_SYNTHS = {
    "beep": _beep, "rising_chirp": lambda *a: _chirp(*a, rising=True),
    "falling_chirp": lambda *a: _chirp(*a, rising=False), "siren": _siren, "birdsong": _birdsong,
    "knocking": _knocking, "footsteps": _footsteps, "engine": _engine, "bell": _bell, "drum": _drum,
    "melody": _melody, "speech": _speech, "alarm": _alarm, "clapping": _clapping,
}


def synthesize_event(rng: np.random.Generator, name: str, n: int, sr: int, register: str, reps: int) -> np.ndarray:
    """Synthesise `n` samples of sound class `name` at unit RMS."""
    if name not in _SYNTHS:
        raise ValueError(f"Unknown sound class {name!r}; expected one of {sorted(_SYNTHS)}.")
    audio = np.asarray(_SYNTHS[name](rng, n, sr, REGISTER_HZ[register], reps), dtype=np.float32)
    return audio / (np.sqrt(np.mean(audio ** 2)) + 1e-12)


def synthesize_background(rng: np.random.Generator, name: str, n: int, sr: int) -> np.ndarray:
    """Synthesise `n` samples of background `name` at unit RMS."""
    t = _time(n, sr)
    if name == "silence":
        audio = colored_noise(rng, n, sr, 20.0, 4000.0, slope=-3.0)
    elif name == "wind":
        gusts = 0.6 + 0.4 * np.sin(TWO_PI * rng.uniform(0.1, 0.3) * t + rng.uniform(0, TWO_PI))
        audio = colored_noise(rng, n, sr, 40.0, 1200.0, slope=-6.0) * gusts
    elif name == "rain":
        drops = (rng.random(n, dtype=np.float32) > 0.9995) * rng.standard_normal(n, dtype=np.float32) * 8.0
        audio = colored_noise(rng, n, sr, 800.0, 12000.0, slope=-1.0) + drops
    elif name == "traffic":
        swell = 0.5 + 0.5 * np.sin(TWO_PI * rng.uniform(0.05, 0.15) * t) ** 2
        audio = (colored_noise(rng, n, sr, 30.0, 600.0, slope=-4.0) + 0.3 * np.sin(TWO_PI * 60.0 * t)) * swell
    elif name == "crowd":
        murmur = colored_noise(rng, n, sr, 200.0, 3000.0) * (1.0 + 0.5 * np.sin(TWO_PI * 4.3 * t) ** 2)
        audio = speech_like(rng, n, sr) + speech_like(rng, n, sr) + murmur
    else:
        raise ValueError(f"Unknown background {name!r}; expected silence, wind, rain, traffic or crowd.")
    audio = np.asarray(audio, dtype=np.float32)
    return audio / (np.sqrt(np.mean(audio ** 2)) + 1e-12)


__all__ = ["REGISTER_HZ", "colored_noise", "speech_like", "synthesize_event", "synthesize_background"]
