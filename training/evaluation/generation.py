"""Bulk explanation of many audio pairs, data-parallel under `accelerate launch`.

Requests are cut into batches of one tier each (a batch shares the tier's token budget), in request order. Under
`accelerate launch --num_processes N` process `r` generates batches `r, r + N, r + 2N, ...`; the texts are gathered on
every process and put back in request order. Each batch is generated from the same seed (`seed + batch number`) and
holds the same requests whatever `N` is, so the texts do not depend on the number of processes.
"""

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import gather_object, parse_flag_from_env
from tqdm.auto import tqdm

from modeling_adiff.generation_presets import GENERATION_PRESETS

from .variants import apply_variant

logger = logging.getLogger(__name__)


def distributed_state() -> PartialState:
    """The `accelerate` state of this process. On a machine without an accelerator, processes started by
    `accelerate launch --multi_gpu --num_processes N` (or `torchrun`) run on CPU and talk over gloo."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or (world_size > 1 and not torch.accelerator.is_available())
    return PartialState(cpu=cpu)


@dataclass(frozen=True)
class ExplainRequest:
    """One explanation to generate.

    Args:
        audio1, audio2: the clips, in any form `AdiffProcessor` loads (path, bytes, `{"array", "sampling_rate"}`).
        tier (`int`): 1, 2 or 3.
        gain_db (`float`, defaults to 0): gain applied to both clips before explaining (the gain-robustness check).
        variant1, variant2 (`str`, *optional*): an inaudible change of clip 1 / clip 2 before explaining (one of
            `variants.AUDIO_VARIANTS`: `"dither"`, `"reencode"`), for the invariance checks.
    """

    audio1: Any
    audio2: Any
    tier: int
    gain_db: float = 0.0
    variant1: str | None = None
    variant2: str | None = None


def plan_batches(requests, batch_size: int) -> list:
    """Request indices cut into batches of at most `batch_size`, each of one tier, tiers in order of appearance."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    by_tier = {}
    for index, request in enumerate(requests):
        by_tier.setdefault(request.tier, []).append(index)
    return [indices[i:i + batch_size] for indices in by_tier.values() for i in range(0, len(indices), batch_size)]


@torch.no_grad()
def explain_pairs(model, processor, requests, *, batch_size: int = 8, preset: str = "greedy", seed: int = 0,
                  max_new_tokens: int | None = None, progress: bool = True, state: PartialState | None = None) -> list:
    """Generate one explanation per request, sharded over the processes of `accelerate launch`.

    Args:
        model (`AdiffForConditionalGeneration`): the model, on this process's device.
        processor (`AdiffProcessor`): the model's processor.
        requests (list of `ExplainRequest`): what to explain.
        batch_size (`int`, defaults to 8): pairs per `generate` call on each process.
        preset (`str`, defaults to `"greedy"`): a decoding preset of `modeling_adiff.generation_presets`
            (`"greedy"`, `"paper"`: top-k 3 / top-p 0.8 sampling, `"beam"`).
        seed (`int`, defaults to 0): batch `b` is generated after `torch.manual_seed(seed + b)` (sampling presets).
        max_new_tokens (`int`, *optional*): overrides the tier's token budget.
        progress (`bool`, defaults to `True`): show a progress bar on the main process.
        state (`PartialState`, *optional*): the distributed state; created if omitted.

    Returns: list of `str`, the explanations in request order, on every process.
    """
    if preset not in GENERATION_PRESETS:
        raise ValueError(f"Unknown decoding preset {preset!r}; expected one of {sorted(GENERATION_PRESETS)}.")
    state = state if state is not None else distributed_state()
    requests = list(requests)
    batches = plan_batches(requests, batch_size)
    mine = range(state.process_index, len(batches), state.num_processes)
    extra = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
    done = []
    for number in tqdm(mine, desc="Explaining pairs", unit="batch", disable=not (progress and state.is_main_process)):
        batch = [requests[i] for i in batches[number]]
        audio = [(apply_variant(r.audio1, r.variant1, r.gain_db), apply_variant(r.audio2, r.variant2, r.gain_db))
                 for r in batch]
        inputs = processor(audio=audio, tier=batch[0].tier).to(model.device)
        torch.manual_seed(seed + number)  # per batch: the same texts for any number of processes
        ids = model.generate(**inputs, preset=preset, tier=batch[0].tier, **extra)
        done.append((number, processor.batch_decode(ids)))
    if state.num_processes > 1:
        done = gather_object(done)
    texts = [None] * len(requests)
    for number, batch_texts in done:
        for index, text in zip(batches[number], batch_texts):
            texts[index] = text
    missing = [i for i, t in enumerate(texts) if t is None]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(requests)} explanations were not gathered (first: request "
                           f"{missing[0]}); every process must call explain_pairs with the same requests.")
    return texts


__all__ = ["distributed_state", "ExplainRequest", "plan_batches", "explain_pairs"]
