"""`AdiffCollator`: rows of an explanation dataset -> `AdiffProcessor` model inputs with labels."""

import random

import numpy as np
import torch
from torch.utils.data import get_worker_info

from processing_adiff.prompts import task_from_prompt, tier_from_prompt


class AdiffCollator:
    r"""
    Batches rows (dicts) into model inputs through an `AdiffProcessor`.

    Each row needs the two audios and the prompt `input`; `answer` (when every row has one) becomes `labels`. Audio is
    taken from `audio1`/`audio2` (a numpy array or tensor, a `{"array", "sampling_rate"}` dict, a `{"bytes", "path"}`
    dict from `datasets.Audio(decode=False)`, bytes or a path) or else from `filepath1`/`filepath2`.

    The prompt's tier or captioning task comes from the row's `tier` / `task` columns, or is read from `input`. When
    training, each row gets a paraphrase of its tier / task drawn at random (and long audio a random crop); when
    evaluating, the canonical prompt is used (free-text prompts pass through unchanged either way).

    Args:
        processor (`AdiffProcessor`): turns audio pairs, prompts and answers into tensors.
        training (`bool`, defaults to `False`): draw prompt paraphrases and random crops.
        seed (`int`, defaults to 0): seed of the collator's random generator. In `DataLoader` workers the generator is
            re-seeded from `(seed, worker id)`, so workers do not repeat each other's draws.
        sampling_rate (`int`, *optional*): rate of raw-array audio that carries none in its row (`sampling_rate` key).

    Example:

    ```python
    >>> collator = AdiffCollator(processor, training=True, seed=0)
    >>> loader = torch.utils.data.DataLoader(load_csv("synthdiff/train.csv"), batch_size=8, collate_fn=collator)
    >>> batch = next(iter(loader))  # input_features (8, 2, 1001, 64), prompt_input_ids, prompt_attention_mask, labels
    ```
    """

    def __init__(self, processor, training: bool = False, seed: int = 0, sampling_rate: int = None):
        self.processor = processor
        self.training = training
        self.seed = seed
        self.sampling_rate = sampling_rate
        self.rng = random.Random(seed)
        self._worker = None

    def _generator(self) -> random.Random:
        info = get_worker_info()
        if info is not None and self._worker != info.id:
            # Each worker holds a copy of this collator: give it its own stream.
            self.rng, self._worker = random.Random(f"{self.seed}-worker-{info.id}"), info.id
        return self.rng

    def prompt(self, row: dict, rng: random.Random) -> str:
        """The prompt of one row: a random paraphrase (training) or the canonical prompt of its tier / task, drawn by
        the processor (`AdiffProcessor.prompt_texts`, the one owner of paraphrase sampling)."""
        text = row.get("input")
        tier = row.get("tier") if row.get("tier") is not None else (tier_from_prompt(text) if text else None)
        task = row.get("task") if row.get("task") is not None else (task_from_prompt(text) if text else None)
        if tier is not None:
            given = {"tier": tier}
        elif task is not None:
            given = {"task": task}
        else:
            given = {"text": text if text is not None else ""}  # free text; an empty one is a clear error
        return self.processor.prompt_texts(1, training=self.training, rng=rng, **given)[0]

    def audio(self, row: dict, position: int):
        """The audio of clip `position` (1 or 2) in a form the processor loads."""
        value = row.get(f"audio{position}")
        if value is None:
            value = row.get(f"filepath{position}")
        if value is None:
            raise ValueError(f"Row has no audio{position} or filepath{position}; got keys {sorted(row)}.")
        if isinstance(value, dict) and "array" not in value and "raw" not in value:
            if value.get("bytes"):  # datasets.Audio(decode=False)
                return value["bytes"]
            if value.get("path"):
                return value["path"]
            raise ValueError(f"audio{position} is a dict without array, bytes or path: keys {sorted(value)}.")
        if isinstance(value, (np.ndarray, torch.Tensor, list)):
            rate = row.get("sampling_rate", self.sampling_rate)
            if rate is None:
                raise ValueError(f"audio{position} is a raw array without a rate: add a `sampling_rate` column or "
                                 "pass AdiffCollator(..., sampling_rate=...).")
            return {"array": np.asarray(value, dtype=np.float32) if isinstance(value, list) else value,
                    "sampling_rate": rate}
        return value

    def __call__(self, rows: list):
        if not rows:
            raise ValueError("AdiffCollator got an empty batch.")
        rng = self._generator()
        audio = [(self.audio(row, 1), self.audio(row, 2)) for row in rows]
        prompts = [self.prompt(row, rng) for row in rows]
        answers = [row.get("answer") for row in rows]
        if any(a is None for a in answers) and not all(a is None for a in answers):
            raise ValueError(f"{sum(a is None for a in answers)} of {len(rows)} rows have no answer; a batch needs an "
                             "answer for every row (training) or for none (inference).")
        return self.processor(audio=audio, text=prompts, answers=None if answers[0] is None else answers,
                              training=self.training, rng=rng)


__all__ = ["AdiffCollator"]
