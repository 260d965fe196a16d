"""load_audio: files of every supported format, bytes, dicts, and clear errors for bad sources."""

import numpy as np
import pytest
import soundfile as sf
import torch

from processing_adiff import load_audio

SR = 16000


@pytest.fixture(scope="module")
def signal():
    t = np.arange(SR // 2) / SR
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("suffix, fmt, subtype, rate, atol", [
    (".wav", "WAV", "PCM_16", SR, 1e-4),
    (".flac", "FLAC", "PCM_16", SR, 1e-4),
    (".ogg", "OGG", "VORBIS", SR, None),
    (".opus", "OGG", "OPUS", 48000, None),
    (".mp3", "MP3", "MPEG_LAYER_III", SR, None),
])
def test_reads_supported_formats(tmp_path, signal, suffix, fmt, subtype, rate, atol):
    path = tmp_path / f"clip{suffix}"
    sf.write(path, signal if rate == SR else np.tile(signal, 3), rate, format=fmt, subtype=subtype)
    array, sr = load_audio(path)
    assert sr == rate and array.dtype == np.float32 and array.ndim == 1
    assert abs(array.shape[0] - signal.shape[0] * rate // SR) < 0.05 * rate  # codecs may pad a few frames
    if atol is not None:
        np.testing.assert_allclose(array, signal, atol=atol)
    else:  # lossy codecs keep the energy
        assert 0.5 < np.sqrt(np.mean(array**2)) / np.sqrt(np.mean(signal**2)) < 1.5
    from_bytes, sr_bytes = load_audio(path.read_bytes())
    np.testing.assert_array_equal(from_bytes, array)
    assert sr_bytes == sr


def test_stereo_is_channels_first_and_resampling(tmp_path, signal):
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([signal, -signal], axis=1), SR, subtype="FLOAT")
    array, sr = load_audio(str(path))
    assert array.shape == (2, signal.shape[0]) and sr == SR
    np.testing.assert_array_equal(array[1], -signal)
    resampled, new_sr = load_audio(path, sampling_rate=32000)
    assert new_sr == 32000 and resampled.shape == (2, 2 * signal.shape[0])


def test_dict_sources(signal):
    pcm = torch.from_numpy((signal * 32767).astype(np.int16))
    array, sr = load_audio({"raw": pcm, "sampling_rate": SR})
    np.testing.assert_allclose(array, pcm.numpy() / 32768, atol=1e-7)
    assert sr == SR and array.dtype == np.float32
    array, sr = load_audio({"array": signal.astype(np.float64), "sampling_rate": SR}, sampling_rate=32000)
    assert sr == 32000 and array.shape == (2 * signal.shape[0],) and array.dtype == np.float32
    with pytest.raises(ValueError, match="exactly one of 'array' / 'raw' and a 'sampling_rate'"):
        load_audio({"array": signal})
    with pytest.raises(ValueError, match=r"\[1000, 768000\]"):
        load_audio({"array": signal, "sampling_rate": 10})


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_audio(tmp_path)


def test_empty_sources(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_audio(empty)
    with pytest.raises(ValueError, match="empty"):
        load_audio(b"")


def test_corrupt_and_non_audio_files(tmp_path, signal):
    good = tmp_path / "good.wav"
    sf.write(good, signal, SR)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:20])
    with pytest.raises(ValueError, match="corrupt, truncated or not audio"):
        load_audio(truncated)
    header_only = tmp_path / "header_only.wav"
    header_only.write_bytes(good.read_bytes()[:44])
    with pytest.raises(ValueError, match="0 samples"):
        load_audio(header_only)
    text = tmp_path / "notes.mp3"
    text.write_text("this is a text file, not an mp3\n" * 20)
    with pytest.raises(ValueError, match="Could not decode"):
        load_audio(text)


def test_unsupported_format_lists_supported(tmp_path):
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    with pytest.raises(ValueError, match=r"'\.m4a' is not a supported audio format.*\.wav, \.flac"):
        load_audio(path)


def test_other_bad_sources():
    with pytest.raises(ValueError, match="URL"):
        load_audio("https://example.com/a.wav")
    with pytest.raises(TypeError, match="file path, bytes, or a dict"):
        load_audio(12345)
