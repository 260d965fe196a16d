"""On-disk cache of HTSAT clip embeddings for frozen-encoder training (stage 2).

A clip's embedding depends only on its audio bytes, the feature extractor's settings and the encoder (config and
weights), so the cache key is exactly that: `<cache_dir>/<encoder key>/<sha256 of the file>.npy`. The encoder key
hashes the encoder config, its weights and the feature-extractor config; a retrained or reconfigured encoder gets a
fresh sub-folder and never reads stale vectors. Embeddings are computed once (in parallel across processes) and
reused in every epoch and every later run. Long clips are centre-cropped (deterministic), as at inference. With the
encoder on a GPU the log-mels of each chunk are computed there, batched (`AdiffFeatureExtractor.batched_log_mel`;
they agree with the per-clip CPU features to float32 rounding, as the encoder's own GPU kernels do with its CPU ones).
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling_adiff.acoustic_summary import append_acoustic_summary
from processing_adiff import load_audio

logger = logging.getLogger(__name__)


def file_digest(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Bookkeeping entries of saved configs that do not change what the encoder computes.
_VOLATILE_KEYS = ("_name_or_path", "transformers_version", "architectures", "auto_map", "processor_class",
                  "feature_extractor_type", "_processor_class")


def _settings(config: dict) -> str:
    return json.dumps({k: v for k, v in config.items() if k not in _VOLATILE_KEYS}, sort_keys=True, default=str)


def encoder_fingerprint(encoder: torch.nn.Module, feature_extractor, summary_segments: int | None = None) -> str:
    """Hash of the encoder config, its weights, the feature-extractor settings and the acoustic summary's segments
    when vectors carry one (bookkeeping fields such as the source path or library version are left out, so a saved
    and reloaded encoder keeps its key)."""
    digest = hashlib.sha256()
    if summary_segments is not None:
        digest.update(f"acoustic_summary:{summary_segments}".encode("utf-8"))
    digest.update(_settings(encoder.config.to_dict()).encode("utf-8"))
    digest.update(_settings(feature_extractor.to_dict()).encode("utf-8"))
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


class EmbeddingCache:
    """Computes, stores and loads HTSAT clip embeddings (with the acoustic summary, if asked) keyed by file content +
    encoder.

    Args:
        cache_dir (`str` or `Path`): root folder of the cache (shared by runs; safe to delete).
        encoder (`ClapAudioModel`): the frozen audio encoder (`model.model.audio_encoder`).
        feature_extractor (`AdiffFeatureExtractor`): turns audio into the encoder's log-mel input.
        batch_size (`int`): clips per encoder call when filling the cache.
        features_on_device (`bool`, *optional*): compute each chunk's log-mels batched on the encoder's device;
            `None` (default) does so when the encoder is on a CUDA device, else computes them per clip on the CPU.
        summary_segments (`int`, *optional*): append each clip's acoustic summary with this many envelope segments
            to its embedding (`modeling_adiff.acoustic_summary`), as a model with `config.acoustic_summary` reads it;
            `None` (default): the pooled embedding alone.

    Example:

    ```python
    >>> cache = EmbeddingCache("cache/embeddings", model.model.audio_encoder, processor.feature_extractor)
    >>> table = cache.embed_files(["a.wav", "b.wav"])  # {path: tensor (D,)}
    ```
    """

    def __init__(self, cache_dir: str | Path, encoder: torch.nn.Module, feature_extractor, batch_size: int = 16,
                 features_on_device: bool | None = None, summary_segments: int | None = None):
        self.encoder = encoder
        self.feature_extractor = feature_extractor
        self.batch_size = batch_size
        self.features_on_device = features_on_device
        self.summary_segments = summary_segments
        self.key = encoder_fingerprint(encoder, feature_extractor, summary_segments)
        self.folder = Path(cache_dir) / self.key
        self.hits = 0
        self.misses = 0

    def _entry(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    @torch.no_grad()
    def _compute(self, paths: list[str], digests: list[str], show_progress: bool) -> None:
        was_training = self.encoder.training
        self.encoder.eval()
        device = next(self.encoder.parameters()).device
        dtype = next(self.encoder.parameters()).dtype
        starts = range(0, len(paths), self.batch_size)
        for start in tqdm(starts, desc="caching clip embeddings", disable=not show_progress):
            chunk = paths[start:start + self.batch_size]
            clips, rates = zip(*(load_audio(path) for path in chunk))
            features = self._log_mels(list(clips), list(rates), device)
            features = features.unsqueeze(1).to(device, dtype)  # (N, 1, frames, mels)
            pooled = self.encoder(input_features=features).pooler_output.float()  # (N, D)
            if self.summary_segments is not None:
                pooled = append_acoustic_summary(pooled, features, self.summary_segments)  # (N, D + S)
            for digest, vector in zip(digests[start:start + self.batch_size], pooled.cpu().numpy()):
                target = self._entry(digest)
                target.parent.mkdir(parents=True, exist_ok=True)
                temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                with open(temp, "wb") as f:
                    np.save(f, vector)
                os.replace(temp, target)  # readers never see a half-written vector
        self.encoder.train(was_training)

    def _log_mels(self, clips: list, rates: list, device: torch.device) -> torch.Tensor:
        """(N, frames, mels) centre-crop log-mels: batched on `device` or per clip on the CPU (see the class doc)."""
        on_device = self.features_on_device if self.features_on_device is not None else device.type == "cuda"
        if not on_device:
            return self.feature_extractor(clips, sampling_rate=rates, truncation="center")["input_features"]
        waveforms, gains = self.feature_extractor.prepare_waveforms(clips, rates, truncation="center")
        return self.feature_extractor.batched_log_mel(waveforms.to(device), gains.to(device))

    def embed_files(self, paths: list[str | Path], accelerator=None, show_progress: bool = True) -> dict:
        """Embeddings of `paths` (each path once), computing the missing ones: `{path: FloatTensor (D,)}`.

        With an `accelerator`, missing clips are split across processes, and every process waits for all of them.
        """
        unique = sorted({str(p) for p in paths})
        missing_files = [p for p in unique if not Path(p).is_file()]
        if missing_files:
            raise FileNotFoundError(f"{len(missing_files)} audio file(s) listed in the data do not exist, e.g. "
                                    f"{missing_files[0]!r}. Check data.corpus and the CSV's file paths.")
        digests = {p: file_digest(p) for p in unique}
        todo = sorted({d: p for p, d in digests.items() if not self._entry(d).is_file()}.items())
        rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
        mine = todo[rank::world]
        self.misses, self.hits = len(todo), len(set(digests.values())) - len(todo)
        if mine:
            self._compute([p for _, p in mine], [d for d, _ in mine], show_progress and rank == 0)
        if accelerator is not None:
            accelerator.wait_for_everyone()
        logger.info("Embedding cache %s: %d files, %d distinct clips: %d reused, %d computed", self.folder,
                    len(unique), self.hits + self.misses, self.hits, self.misses)
        return {p: torch.from_numpy(np.load(self._entry(d))) for p, d in digests.items()}


__all__ = ["EmbeddingCache", "encoder_fingerprint", "file_digest"]
