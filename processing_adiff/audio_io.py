"""Reading audio for ADIFF: files, bytes and `{"array", "sampling_rate"}` dicts to float32 numpy (no torchaudio)."""

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

MAX_CHANNELS = 16  # the small axis of a 2-D array is the channel axis if it has at most this many entries
MIN_SAMPLING_RATE = 1_000
MAX_SAMPLING_RATE = 768_000

# File extensions soundfile (libsndfile >= 1.1) decodes; ".opus" lives in an Ogg container.
SUPPORTED_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64",
                        ".rf64")

_HEADER_SCAN_BYTES = 1 << 16  # a WAV's chunks before "data" (fmt, LIST, bext, ...) are looked for in this prefix
_WAV_STREAMING_SIZE = 0x7FFF0000  # data sizes from here up (e.g. 0xFFFFFFFF) mean "unknown": written while streaming

# Integer PCM -> float in [-1, 1): (offset, scale). Unsigned 8-bit PCM is centred on 128.
_PCM_SCALES = {
    np.dtype(np.int8): (0.0, 2.0**7),
    np.dtype(np.int16): (0.0, 2.0**15),
    np.dtype(np.int32): (0.0, 2.0**31),
    np.dtype(np.uint8): (128.0, 2.0**7),
}


def check_sampling_rate(sampling_rate, what: str = "the audio") -> int:
    """Validate a sampling rate in Hz and return it as an int."""
    if sampling_rate is None:
        raise ValueError(
            f"No sampling_rate was given for {what}. Raw arrays carry no rate: pass `sampling_rate=` (in Hz, e.g. "
            f"16000, 32000, 44100 or 48000), or give a file path / bytes / {{'array', 'sampling_rate'}} dict instead.")
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.integer, np.floating)) or \
            float(sampling_rate) != int(sampling_rate):
        raise ValueError(f"sampling_rate for {what} must be a whole number of Hz, got {sampling_rate!r}.")
    sampling_rate = int(sampling_rate)
    if not MIN_SAMPLING_RATE <= sampling_rate <= MAX_SAMPLING_RATE:
        raise ValueError(
            f"sampling_rate={sampling_rate} Hz for {what} is outside the accepted range "
            f"[{MIN_SAMPLING_RATE}, {MAX_SAMPLING_RATE}] Hz. Pass the rate the audio was recorded at, in Hz.")
    return sampling_rate


FINITE_CHECK_BLOCK = 1 << 20  # samples per block when scanning for NaN/Inf: memory stays O(block), not O(input)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_numpy(array) -> np.ndarray:
    """A numpy view of a numpy array, torch tensor or list of numbers (bfloat16 tensors are copied to float32)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu()
        return array.float().numpy() if array.dtype == torch.bfloat16 else array.numpy()
    return array if isinstance(array, np.ndarray) else np.asarray(array)


def check_samples(array, what: str = "audio") -> None:
    """Raise `ValueError` for an empty array, NaN/Inf samples or samples beyond float32's range, and `TypeError` for a
    dtype that is neither floating point nor integer PCM (int8/16/32, uint8). Never copies the whole array: long
    inputs are scanned in blocks."""
    array = as_numpy(array)
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape}); give at least one sample.")
    if array.dtype in _PCM_SCALES:
        return
    array = array.reshape(1) if array.ndim == 0 else array
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{what} has dtype {array.dtype}; expected floating point samples or integer PCM (int8, int16, int32, "
            "uint8). Convert it, e.g. `array.astype(np.float32) / 32768` for 16-bit PCM stored in a wider integer.")
    bad, peak = 0, 0.0
    for start in range(0, array.shape[-1], FINITE_CHECK_BLOCK):
        block = array[..., start:start + FINITE_CHECK_BLOCK]
        bad += int(np.count_nonzero(~np.isfinite(block)))
        if not bad and array.dtype.itemsize > 4:  # only floats wider than float32 can exceed its range
            peak = max(peak, float(np.abs(block).max()))
    if bad:
        raise ValueError(f"{what} contains {bad} NaN or infinite sample(s); clean or drop the audio before "
                         "processing.")
    if peak > FLOAT32_MAX:  # e.g. float64 samples of 1e300
        raise ValueError(f"{what} has samples beyond float32's range (peak {peak:.3g}); float audio is expected in "
                         "[-1, 1]. Rescale it, e.g. `array / np.abs(array).max()`.")


def to_float32(array, what: str = "audio") -> np.ndarray:
    """Convert a numpy array or torch tensor to float32, scaling integer PCM (int8/16/32, uint8) to [-1, 1).

    Raises `ValueError` for empty arrays, NaN/Inf samples and samples beyond float32's range, `TypeError` for other
    dtypes.
    """
    array = as_numpy(array)
    check_samples(array, what=what)
    if array.dtype in _PCM_SCALES:
        offset, scale = _PCM_SCALES[array.dtype]
        return ((array.astype(np.float64) - offset) / scale).astype(np.float32)
    return array.astype(np.float32, copy=False)


def channels_first(array: np.ndarray, what: str = "audio") -> np.ndarray:
    """Return a 1-D or 2-D waveform as `(channels, samples)`.

    In a 2-D array the channel axis is the smaller one, and it must hold at most `MAX_CHANNELS` entries; anything
    else (a square array, two long axes, 3-D input) is ambiguous and raises `ValueError`.
    """
    if array.ndim == 1:
        return array[None]  # (1, samples)
    if array.ndim == 2:
        rows, cols = array.shape
        if rows < cols and rows <= MAX_CHANNELS:
            return array
        if cols < rows and cols <= MAX_CHANNELS:
            return array.T  # (samples, channels) -> (channels, samples)
    raise ValueError(
        f"{what} has shape {tuple(array.shape)}; expected (samples,), (channels, samples) or (samples, channels) with "
        f"at most {MAX_CHANNELS} channels. Pass a batch as a list of 1-D arrays, not as one 2-D array.")


def checked_channels_first(array, what: str = "audio") -> np.ndarray:
    """Validate a waveform's layout, size, dtype and values (see `channels_first` and `check_samples`) without copying
    it, and return it as a `(channels, samples)` view."""
    array = as_numpy(array)
    audio = channels_first(array, what=what) if array.size else array  # an empty array is reported in its own shape
    check_samples(audio, what=what)
    return audio


def resample(array: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality soxr resampling of a (samples,) or (channels, samples) float32 / float64 array (dtype kept)."""
    if orig_sr == target_sr:
        return array
    # soxr wants (frames, channels)
    resampled = soxr.resample(np.ascontiguousarray(array.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(resampled.T, dtype=array.dtype)


def _supported_formats() -> str:
    return ", ".join(SUPPORTED_EXTENSIONS)


def _wav_announced_frames(head: bytes) -> int | None:
    """Frames the data chunk of a RIFF/WAVE header announces; `None` when `head` is not WAV, its data size is a
    streaming placeholder, or the chunk lies beyond `head`.

    libsndfile quietly reads a truncated WAV up to where the file ends; comparing with the header catches it."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, block_align = 12, 0
    while offset + 8 <= len(head):
        chunk, size = head[offset:offset + 4], int.from_bytes(head[offset + 4:offset + 8], "little")
        if chunk == b"fmt " and offset + 22 <= len(head):
            block_align = int.from_bytes(head[offset + 20:offset + 22], "little")  # bytes per frame
        if chunk == b"data":
            return size // block_align if block_align and 0 < size < _WAV_STREAMING_SIZE else None
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def _head(file) -> bytes:
    if isinstance(file, io.BytesIO):
        return file.getbuffer()[:_HEADER_SCAN_BYTES].tobytes()
    with open(file, "rb") as handle:
        return handle.read(_HEADER_SCAN_BYTES)


def _truncated(name: str, expected: int, read: int) -> ValueError:
    return ValueError(f"{name} is truncated: its header announces {expected} frames but only {read} could be read. "
                      "Re-export or re-download the file.")


def _read(file, name: str, crop=None) -> tuple[np.ndarray, int]:
    announced = _wav_announced_frames(_head(file))
    try:
        with sf.SoundFile(file) as handle:
            expected = max(handle.frames, announced or 0)
            sampling_rate = handle.samplerate
            # (a file with no readable frame is read whole, and reported below as empty)
            start, stop = crop(expected, sampling_rate) if crop is not None and handle.frames > 0 else (0, expected)
            frames = -1  # all
            if (start, stop) != (0, expected):  # decode only the window: memory does not grow with the file
                if announced is not None and announced > handle.frames:
                    raise _truncated(name, expected, handle.frames)
                handle.seek(start)
                frames = expected = stop - start
            data = handle.read(frames=frames, dtype="float32", always_2d=True)  # (frames, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        suffix = Path(name).suffix.lower()
        hint = (f"'{suffix}' is not a supported audio format" if suffix and suffix not in SUPPORTED_EXTENSIONS
                else "the file is corrupt, truncated or not audio")
        raise ValueError(
            f"Could not decode {name} as audio ({hint}; libsndfile said: {error}). Supported formats: "
            f"{_supported_formats()}. Convert it (e.g. `ffmpeg -i in.m4a out.flac`) or pass a decoded array with "
            "its sampling_rate.") from error
    if data.shape[0] == 0:
        raise ValueError(f"{name} decodes to 0 samples; it is empty or truncated.")
    if expected > 0 and data.shape[0] < expected:
        raise _truncated(name, expected, data.shape[0])
    check_samples(data, what=name)  # float files can hold NaN / Inf
    return data.T if data.shape[1] > 1 else data[:, 0], sampling_rate  # (channels, samples) or (samples,)


def load_audio(source, sampling_rate: int | None = None, crop=None) -> tuple[np.ndarray, int]:
    """Load audio as float32 numpy, optionally resampled.

    Args:
        source: a file path (`str` / `Path`), the encoded bytes of a file, or a dict `{"array": ..., "sampling_rate":
            ...}` (`"raw"` is accepted in place of `"array"`) holding a numpy array or torch tensor.
        sampling_rate (`int`, *optional*): resample to this rate (soxr, high quality). `None` keeps the source rate.
        crop (*optional*): `(frames, rate) -> (start, stop)`, e.g. `AdiffFeatureExtractor.crop_window`: a file or
            bytes source is decoded only from `start` to `stop` (a 1-hour file costs what its window does). Arrays
            are returned whole.

    Returns:
        `(array, sampling_rate)`: `array` is `(samples,)` for mono and `(channels, samples)` for multichannel audio.

    Supported file formats: wav, flac, ogg/vorbis, opus, mp3 and the other formats of libsndfile (through soundfile).
    """
    if isinstance(source, dict):
        keys = [key for key in ("array", "raw") if key in source]
        if len(keys) != 1 or "sampling_rate" not in source:
            raise ValueError(
                "An audio dict needs exactly one of 'array' / 'raw' and a 'sampling_rate', got keys "
                f"{sorted(source)}. Example: {{'array': waveform, 'sampling_rate': 16000}}.")
        array = to_float32(source[keys[0]], what=f"audio dict '{keys[0]}'")
        if array.ndim > 1:
            array = channels_first(array, what=f"audio dict '{keys[0]}'")
            array = array[0] if array.shape[0] == 1 else array
        source_sr = check_sampling_rate(source["sampling_rate"], what="the audio dict")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ValueError("The audio bytes are empty (0 bytes); pass the full encoded file content.")
        array, source_sr = _read(io.BytesIO(bytes(source)), name="the given bytes", crop=crop)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if isinstance(source, str) and "://" in source:
            raise ValueError(f"{source!r} looks like a URL; download it first and pass the local path or its bytes.")
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory; pass the path of one audio file.")
        if not path.exists():
            raise FileNotFoundError(f"Audio file not found: {path} (resolved to {path.resolve()}).")
        if not path.is_file():  # reading a pipe or a device could block forever or never end
            raise ValueError(f"{path} is not a regular file (a pipe, socket or device); pass the path of an audio "
                             "file, or read the stream yourself and pass its bytes.")
        if path.stat().st_size == 0:
            raise ValueError(f"Audio file {path} is empty (0 bytes).")
        array, source_sr = _read(str(path), name=str(path), crop=crop)
    else:
        raise TypeError(
            f"Cannot load audio from a {type(source).__name__}; expected a file path, bytes, or a dict "
            "{'array': ..., 'sampling_rate': ...}.")
    if sampling_rate is not None:
        target_sr = check_sampling_rate(sampling_rate, what="the requested output")
        array, source_sr = resample(array, source_sr, target_sr), target_sr
    return array, source_sr


__all__ = ["load_audio", "as_numpy", "check_samples", "to_float32", "channels_first", "checked_channels_first",
           "check_sampling_rate", "resample", "SUPPORTED_EXTENSIONS"]
