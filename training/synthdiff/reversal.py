"""Reversed pairs: every pair of a split played the other way round, with its explanations written afresh.

Pair (A, B) reversed is (B, A): the same two wav files, clip facts swapped, pair facts recomputed by `compare_clips`
(louder 1 <-> 2, events only in 1 <-> only in 2, the edited clip's number, ...) and all three tiers written by the
grammar from those facts. The texts read like every other SynthDiff explanation ("Audio 1 ..." first), which swapping
the names inside a written text (`training.data.mirroring`, for ACD/CLD) cannot give. The reversed split doubles the
pairs a model learns from at no audio cost (its clips are the split's own, so cached embeddings are reused) and asks
for the same judgement with the clips in either slot (swap consistency).

`corpus.add_reversed_splits` draws the texts from a third child of the pair's seed, so a corpus's reversed split is a
pure function of the corpus seed and its facts, and the original pairs are unchanged.
"""

import numpy as np

from .grammar import explain
from .pairs import compare_clips

REVERSED_SUFFIX = "_reversed"


def reversed_split_name(split: str) -> str:
    return split + REVERSED_SUFFIX


def reverse_record(record: dict, text_rng: np.random.Generator) -> dict:
    """The fact record of `record`'s pair with its clips swapped and its explanations written with `text_rng`."""
    meta = {"pair_type": record["pair_type"], "edit": record["edit"]}
    if isinstance(record["edit"], dict) and "edited_audio" in record["edit"]:
        meta["edit"] = {**record["edit"], "edited_audio": 3 - record["edit"]["edited_audio"]}
    clip1, clip2 = record["clip2"], record["clip1"]
    pair = compare_clips(clip1, clip2, meta, identical=record["identical"])
    pair.update(clip1=clip1, clip2=clip2)
    pair["explanations"] = {str(tier): explain(pair, tier, text_rng) for tier in (1, 2, 3)}
    pair["captions"] = list(reversed(record["captions"]))
    return {"id": record["id"] + REVERSED_SUFFIX, "split": reversed_split_name(record["split"]),
            "index": record["index"], "filepath1": record["filepath2"], "filepath2": record["filepath1"], **pair}


__all__ = ["REVERSED_SUFFIX", "reversed_split_name", "reverse_record"]
