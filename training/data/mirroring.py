"""Mirrored pairs: a row for (A, B) rewritten as the row for (B, A).

ACD/CLD explanations (and SynthDiff's) name the clips "Audio 1" and "Audio 2", so swapping the two clips and the two
names gives a true explanation of the swapped pair: "Audio 1 is louder than Audio 2" for (A, B) becomes "Audio 2 is
louder than Audio 1" for (B, A). Training on both orders (`data.mirror_ratio`) shows each audio mapper every kind of
clip and asks the model for the same judgement whichever slot a clip is in (swap consistency).
"""

import re

from processing_adiff.prompts import TASK_PROMPTS

_AUDIO_NAME = re.compile(r"\b([Aa]udio) ([12])\b")
_SWAPPED_TASKS = {"caption_first": "caption_second", "caption_second": "caption_first"}


def swap_audio_names(text: str) -> str:
    """`text` with "Audio 1" and "Audio 2" (either case of "audio") exchanged."""
    return _AUDIO_NAME.sub(lambda m: f"{m.group(1)} {3 - int(m.group(2))}", text)


def mirror_row(row: dict) -> dict:
    """The row of the swapped pair: clips, captions and answer swapped; a caption-first row becomes caption-second
    (and its prompt with it). Keys other than these are kept."""
    mirrored = dict(row)
    for first, second in (("filepath1", "filepath2"), ("audio1", "audio2"), ("caption1", "caption2")):
        if first in row or second in row:
            mirrored[first], mirrored[second] = row.get(second), row.get(first)
    if row.get("answer") is not None:
        mirrored["answer"] = swap_audio_names(row["answer"])
    task = row.get("task")
    if task in _SWAPPED_TASKS:
        mirrored["task"] = _SWAPPED_TASKS[task]
        mirrored["input"] = TASK_PROMPTS[mirrored["task"]]
    return mirrored


__all__ = ["mirror_row", "swap_audio_names"]
