"""Inaudible changes of a clip for the evaluator's invariance checks, as a user's re-export of the same recording
makes them.

- `"dither"`: TPDF dither of 1 LSB (16-bit) added and the result put back on the 16-bit grid (what SoX does when it
  writes 16-bit audio);
- `"reencode"`: a round trip through Ogg Vorbis at libsndfile's default quality (a lossy codec, transparent to a
  listener).

Both are deterministic: the noise of a clip is drawn from a seed the caller derives from the clip.
"""

import io
import os
import zlib

import numpy as np
import soundfile as sf

from processing_adiff.audio_io import load_audio

FULL_SCALE = 32767.0  # 16-bit PCM
AUDIO_VARIANTS = ("dither", "reencode")


def quantise_16bit(audio: np.ndarray) -> np.ndarray:
    """`audio` on the 16-bit grid, float32."""
    return (np.round(np.clip(audio, -1.0, 1.0) * FULL_SCALE) / FULL_SCALE).astype(np.float32)


def tpdf_dither(audio: np.ndarray, lsb: float = 1.0, seed: int = 0) -> np.ndarray:
    """`audio` + triangular (TPDF) noise of `lsb` LSB peak, re-quantised to 16 bits."""
    rng = np.random.default_rng(seed)
    noise = (rng.uniform(-0.5, 0.5, audio.shape) + rng.uniform(-0.5, 0.5, audio.shape)) * lsb / FULL_SCALE
    return quantise_16bit(audio + noise)


def vorbis_round_trip(audio: np.ndarray, rate: int) -> np.ndarray:
    """`audio` ((samples,) or (channels, samples)) encoded as Ogg Vorbis and decoded again, same shape."""
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, rate, format="OGG", subtype="VORBIS")  # soundfile wants (samples, channels)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32", always_2d=True)  # (samples, channels)
    decoded = decoded.T[:, :audio.shape[-1]]  # (channels, samples); Vorbis may pad the end
    if decoded.shape[-1] < audio.shape[-1]:
        decoded = np.pad(decoded, ((0, 0), (0, audio.shape[-1] - decoded.shape[-1])))
    return decoded[0] if audio.ndim == 1 else decoded


def clip_seed(audio) -> int:
    """A seed that depends only on the clip's path (0 for in-memory clips), whatever process explains it."""
    return zlib.crc32(str(audio).encode("utf-8")) if isinstance(audio, (str, os.PathLike)) else 0


def apply_variant(audio, variant: str | None, gain_db: float = 0.0):
    """The clip `audio` (anything `load_audio` reads) changed by `variant` and played `gain_db` louder, as an audio
    dict; `audio` itself when there is nothing to change."""
    if variant is not None and variant not in AUDIO_VARIANTS:
        raise ValueError(f"Unknown audio variant {variant!r}; expected one of {AUDIO_VARIANTS} or None.")
    if variant is None and gain_db == 0:
        return audio
    array, rate = load_audio(audio)
    if variant == "dither":
        array = tpdf_dither(array, seed=clip_seed(audio))
    elif variant == "reencode":
        array = vorbis_round_trip(array, rate)
    if gain_db:
        array = array * np.float32(10.0 ** (gain_db / 20.0))
    return {"array": array, "sampling_rate": rate}


__all__ = ["AUDIO_VARIANTS", "FULL_SCALE", "quantise_16bit", "tpdf_dither", "vorbis_round_trip", "clip_seed",
           "apply_variant"]
