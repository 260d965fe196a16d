"""Helpers for the tests of the `adiff` package: a tiny saved model, test clips, a PNG reader, a Hub stand-in and a
Python process that cannot import some of this project's packages."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from conftest import build_tiny_config, build_tiny_tokenizer

SAMPLE_RATE = 32000  # AdiffFeatureExtractor's default rate
PROJECT_PACKAGES = ("adiff", "configuration_adiff", "modeling_adiff", "processing_adiff", "training")


def save_tiny_model(folder: Path, seed: int = 0, **config_overrides) -> Path:
    """Builds a seeded tiny `AdiffForConditionalGeneration` and its processor and saves both into `folder`."""
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    tokenizer = build_tiny_tokenizer()
    config = build_tiny_config(tokenizer, **config_overrides)
    torch.manual_seed(seed)
    model = AdiffForConditionalGeneration(config).eval()
    processor = AdiffProcessor(feature_extractor=AdiffFeatureExtractor(), tokenizer=tokenizer,
                               prompt_length=config.prompt_length)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


def tone_and_burst(seconds: float = 10.0, burst=(4.0, 6.0), rate: int = SAMPLE_RATE) -> tuple:
    """A 440 Hz tone, and the same tone with a noise burst over `burst` (seconds): a pair that differs in one place."""
    time = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * time)).astype(np.float32)
    burst_clip = tone.copy()
    start, end = int(burst[0] * rate), int(burst[1] * rate)
    burst_clip[start:end] += 0.3 * np.random.default_rng(0).standard_normal(end - start).astype(np.float32)
    return tone, burst_clip


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Writes 16-bit PCM and returns the samples as they read back (float32)."""
    sf.write(path, audio, rate, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, checking its signature."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG file"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class FakeHfApi:
    """Stands in for `huggingface_hub.HfApi`: records the calls and what the uploaded folder held."""

    calls = []

    def __init__(self, endpoint=None, token=None):
        self.calls.append(("init", {"endpoint": endpoint, "token": token}))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, repo_id, folder_path, **kwargs):
        files = {path.name: path.read_bytes() for path in Path(folder_path).iterdir()}
        self.calls.append(("upload_folder", {"repo_id": repo_id, "files": files, **kwargs}))
        return f"https://hub.example/{repo_id}/commit/1"


def run_python_without(blocked: tuple[str, ...], script: str, cwd: Path, library_importable: bool = False) -> str:
    """Runs `script` in a fresh offline interpreter in `cwd` where the packages `blocked` cannot be imported (a user
    who never installed them), with this checkout importable only if `library_importable`. Asserts it exits 0 and
    returns the last line it printed."""
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               f"        if name.split('.')[0] in {tuple(blocked)!r}:\n"
               "            raise ImportError(f'{name} is blocked in this test')\n"
               "sys.meta_path.insert(0, Block())\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if library_importable:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_MODULES_CACHE=str(Path(cwd) / "modules"))
    result = subprocess.run([sys.executable, "-c", blocker + script], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]
