"""Real-world edits of a rendered clip: codec round trips, EQ tilt, pitch shift, time shift, mains hum, clicks, and
the changes a listener must not hear (dither, resampling, re-encoding, channel layout).

Codecs are those of the libsndfile behind soundfile (1.2 here: Ogg/Vorbis, MP3, FLAC at 8 bits); no other system
library is needed. Every function takes and returns float32 mono audio (except `write_clip_file`).
"""

import io
from functools import lru_cache

import numpy as np
import soundfile as sf

from processing_adiff.audio_io import resample

# codec name -> (soundfile format, subtype); "flac_8bit" is lossless FLAC of audio quantised to 8 bits.
CODECS = {"ogg_vorbis": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III"), "flac_8bit": ("FLAC", "PCM_S8")}
# file format -> (soundfile format, subtype, compression level) for transparent re-encodings (identity pairs)
FILE_FORMATS = {"wav": ("WAV", "PCM_16", None), "flac": ("FLAC", "PCM_16", None), "ogg": ("OGG", "VORBIS", 0.0),
                "mp3": ("MP3", "MPEG_LAYER_III", 0.0)}
MP3_MAX_LEVEL = 0.99  # the smallest MP3 libsndfile writes (its LAME setting for level 1.0 fails)
TILT_PIVOT_HZ = 1000.0
TILT_LIMIT_DB = 18.0
PITCH_GRAIN_S = 0.064
HUM_HARMONICS = (1.0, 0.5, 0.3, 0.15)  # relative amplitudes of the mains frequency and its first overtones


def _round_trip(audio: np.ndarray, sr: int, fmt: str, subtype: str, quality) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, audio, sr, format=fmt, subtype=subtype, compression_level=quality)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32", always_2d=False)
    # Decoders may return a few samples more or less (encoder delay and padding are trimmed by libsndfile).
    out = np.zeros_like(audio)
    out[:min(len(audio), len(decoded))] = decoded[:len(audio)]
    return out


def codec_round_trip(audio: np.ndarray, sr: int, codec: str, quality: float) -> np.ndarray:
    """Encode with `codec` at `quality` (soundfile compression level 0-1, 1 = smallest file) and decode again."""
    if codec not in CODECS:
        raise ValueError(f"Unknown codec {codec!r}; expected one of {sorted(CODECS)}.")
    fmt, subtype = CODECS[codec]
    if codec == "mp3":  # libsndfile 1.2 refuses MP3 compression level 1.0 ("Error set compression level")
        quality = min(quality, MP3_MAX_LEVEL)
    return _round_trip(audio, sr, fmt, subtype, None if codec == "flac_8bit" else quality)


@lru_cache(maxsize=32)
def _tilt_gain(size: int, sr: int, db_per_octave: float) -> np.ndarray:
    freqs = np.maximum(np.fft.rfftfreq(size, 1.0 / sr), 20.0)
    gain_db = np.clip(db_per_octave * np.log2(freqs / TILT_PIVOT_HZ), -TILT_LIMIT_DB, TILT_LIMIT_DB)
    return (10.0 ** (gain_db / 20.0)).astype(np.float32)


def eq_tilt(audio: np.ndarray, sr: int, db_per_octave: float) -> np.ndarray:
    """Tilt the spectrum by `db_per_octave` around 1 kHz (positive: brighter, negative: darker)."""
    spectrum = np.fft.rfft(audio)
    return np.fft.irfft(spectrum * _tilt_gain(len(audio), sr, float(db_per_octave)), n=len(audio)).astype(np.float32)


def pitch_shift(audio: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift the pitch by `semitones` keeping the duration: Hann grains (50% overlap) read `ratio` times faster."""
    ratio = 2.0 ** (semitones / 12.0)
    grain = int(PITCH_GRAIN_S * sr)
    hop = grain // 2
    window = np.hanning(grain).astype(np.float32)
    padded = np.concatenate([audio, np.zeros(int(grain * ratio) + grain, dtype=np.float32)])
    out = np.zeros(len(audio) + grain, dtype=np.float32)
    norm = np.zeros_like(out)
    reads = np.arange(grain, dtype=np.float32) * np.float32(ratio)  # (grain,) read positions inside one grain
    for start in range(0, len(audio), hop):
        # Each grain starts where it sits in the input (tempo kept) but is read `ratio` times faster (pitch moved).
        positions = start + reads
        left = positions.astype(np.int64)
        frac = positions - left
        piece = padded[left] * (1.0 - frac) + padded[left + 1] * frac
        out[start:start + grain] += piece * window
        norm[start:start + grain] += window
    return (out / np.maximum(norm, 1e-3))[:len(audio)].astype(np.float32)


def time_shift(audio: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """Delay the content by `seconds` (silence before it; the end is cut)."""
    shift = int(round(seconds * sr))
    return np.concatenate([np.zeros(shift, dtype=np.float32), audio[:len(audio) - shift]])


def add_hum(rng: np.random.Generator, audio: np.ndarray, sr: int, hz: float, db: float) -> np.ndarray:
    """Add mains hum (`hz` and three overtones) `db` relative to the clip's RMS."""
    t = np.arange(len(audio), dtype=np.float64) / sr
    phase = rng.uniform(0.0, 2.0 * np.pi, len(HUM_HARMONICS))
    hum = sum(a * np.sin(2.0 * np.pi * hz * (k + 1) * t + p) for k, (a, p) in enumerate(zip(HUM_HARMONICS, phase)))
    hum = hum / np.sqrt(np.mean(hum ** 2))
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
    return (audio + hum * rms * 10.0 ** (db / 20.0)).astype(np.float32)


def add_clicks(rng: np.random.Generator, audio: np.ndarray, sr: int, count: int) -> np.ndarray:
    """Add `count` short clicks (1 ms decaying impulses of random sign, 0.3-0.9 full scale)."""
    out = audio.copy()
    length = max(2, sr // 1000)
    shape = np.exp(-np.arange(length, dtype=np.float32) / (length / 4.0))
    for position in rng.choice(len(audio) - length, size=count, replace=False):
        out[position:position + length] += shape * np.float32(rng.uniform(0.3, 0.9) * rng.choice((-1.0, 1.0)))
    return out


def dither(rng: np.random.Generator, audio: np.ndarray, lsb: float) -> np.ndarray:
    """Requantise to 16 bits with triangular (TPDF) dither of `lsb` least significant bits peak."""
    noise = (rng.random(len(audio)) - rng.random(len(audio))) * lsb
    return (np.round(audio * 32767.0 + noise) / 32767.0).astype(np.float32)


def write_clip_file(path, audio: np.ndarray, sr: int, file_format: str = "wav", file_sample_rate: int = None,
                    channels: int = 1) -> None:
    """Write a clip (on the 16-bit grid at `sr`) as `file_format`, resampled to `file_sample_rate`, with `channels`
    identical channels: the file a listener hears as the same clip."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"Unknown file format {file_format!r}; expected one of {sorted(FILE_FORMATS)}.")
    fmt, subtype, quality = FILE_FORMATS[file_format]
    rate = file_sample_rate or sr
    if rate != sr:
        audio = np.clip(resample(audio, sr, rate), -1.0, 1.0)
    data = np.round(audio * 32767.0).astype(np.int16) if subtype == "PCM_16" else audio.astype(np.float32)
    if channels > 1:
        data = np.repeat(data[:, None], channels, axis=1)  # (samples, channels)
    sf.write(str(path), data, rate, format=fmt, subtype=subtype, compression_level=quality)


__all__ = ["CODECS", "FILE_FORMATS", "codec_round_trip", "eq_tilt", "pitch_shift", "time_shift", "add_hum",
           "add_clicks", "dither", "write_clip_file"]
