"""Auxiliary pair-fact supervision for the ADIFF stages (2-3) on corpora with SynthDiff facts.

The explanation loss teaches the pair relation ("identical", "Audio 2 is louder", "Audio 1 adds a bell") through a few
answer tokens among many. Measured on release 5 of adiff-synth-small, a linear probe reads the relation (same scene /
edited / unrelated) from the two clip embeddings at 0.83 accuracy but from the prefix GPT-2 sees only at 0.70. This
module adds a training-only head: a linear map from the whole prefix to the pair's facts, whose loss (weighted by
`data.fact_loss_weight`) makes the mappers and the cross-projection write those facts into the prefix. The head is not
part of ADIFF: it is attached to the model while a stage trains (so the optimizer and checkpoints hold it) and left
out of the saved model.

Targets per pair, from a `<split>_facts.jsonl` record (`FACT_GROUPS`, then the events):
- relation: same scene (identical or near-identical) / edited / unrelated;
- louder, more reverberant, noisier, faster: neither / audio 1 / audio 2;
- timbre, clipping, background differ: no / yes;
- the sound-event classes present in audio 1 and in audio 2 (multi-label, `CLASS_NAMES`).
"""

import torch
from torch import nn
from torch.nn import functional as F

from .catalogue import CLASS_NAMES

_RELATION = {"identical": 0, "near_identical": 0, "edited": 1, "unrelated": 2}
_WHICH = {None: 0, 1: 1, 2: 2}

# (name, number of classes, record -> class index)
FACT_GROUPS = (
    ("relation", 3, lambda r: _RELATION[r["pair_type"]]),
    ("louder", 3, lambda r: _WHICH[r["louder"]]),
    ("more_reverberant", 3, lambda r: _WHICH[r["more_reverberant"]]),
    ("noisier", 3, lambda r: _WHICH[r["noisier"]]),
    ("faster", 3, lambda r: _WHICH[r["faster"]]),
    ("timbre_differs", 2, lambda r: int(r["timbre_differs"])),
    ("clipped_differs", 2, lambda r: int(r["clipped_differs"])),
    ("background_differs", 2, lambda r: int(r["background_differs"])),
)
GROUP_SIZES = [size for _, size, _ in FACT_GROUPS]  # logits per group, then 2 * len(CLASS_NAMES) event logits
NUM_TARGETS = len(FACT_GROUPS) + 2 * len(CLASS_NAMES)


def fact_targets(record: dict) -> list[int]:
    """One pair's targets: a class index per `FACT_GROUPS` entry, then 0/1 per event class for audio 1 and audio 2."""
    try:
        groups = [pick(record) for _, _, pick in FACT_GROUPS]
    except KeyError as error:
        raise ValueError(f"A facts record of pair {record.get('id', '?')!r} has no usable {error} value; expected a "
                         "record of a SynthDiff <split>_facts.jsonl. Regenerate the corpus with the current "
                         "generator.") from None
    events = []
    for clip in ("clip1", "clip2"):
        present = set(record[clip]["labels"])
        unknown = present - set(CLASS_NAMES)
        if unknown:
            raise ValueError(f"Pair {record.get('id', '?')!r} names event classes {sorted(unknown)} that SynthDiff "
                             f"does not have (known: {list(CLASS_NAMES)}).")
        events += [int(name in present) for name in CLASS_NAMES]
    return groups + events


class PairFactHead(nn.Module):
    """Linear read-out of the pair facts from ADIFF's prefix (training only).

    Args:
        prefix_length (`int`): tokens in the prefix (`AdiffConfig.total_prefix_length`).
        hidden_size (`int`): GPT-2's width.

    Shapes: prefix `(B, prefix_length, hidden_size)` -> logits `(B, sum of group sizes + 2 * event classes)`.
    """

    def __init__(self, prefix_length: int, hidden_size: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.linear = nn.Linear(prefix_length * hidden_size, sum(GROUP_SIZES) + 2 * len(CLASS_NAMES))

    def forward(self, prefix: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(prefix.float()).flatten(1))  # (B, L, E) -> (B, L * E) -> (B, outputs)


def pair_fact_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the fact groups (cross-entropy each) and the event labels (one binary cross-entropy term, averaged
    over both audios' classes): every group weighs the same, whatever its number of classes.

    Args:
        logits (`torch.FloatTensor` of shape `(B, outputs)`): `PairFactHead` outputs.
        targets (`torch.LongTensor` of shape `(B, NUM_TARGETS)`): rows of `fact_targets`.
    """
    if targets.shape[-1] != NUM_TARGETS:
        raise ValueError(f"pair fact targets must have {NUM_TARGETS} columns (see "
                         "training.synthdiff.pair_facts.fact_targets), "
                         f"got shape {tuple(targets.shape)}.")
    *group_logits, event_logits = logits.float().split(GROUP_SIZES + [2 * len(CLASS_NAMES)], dim=-1)
    losses = [F.cross_entropy(group, targets[:, i]) for i, group in enumerate(group_logits)]
    losses.append(F.binary_cross_entropy_with_logits(event_logits, targets[:, len(GROUP_SIZES):].float()))
    return torch.stack(losses).mean()


__all__ = ["FACT_GROUPS", "GROUP_SIZES", "NUM_TARGETS", "PairFactHead", "fact_targets", "pair_fact_loss"]
