"""SynthDiff: a deterministic procedural corpus of audio pairs with difference explanations and exact facts.

Generate with `generate_corpus(out_dir, pairs=N, seed=S)` or `python -m training.synthdiff --out DIR --pairs N`;
`reversed_splits=["train"]` / `--reverse train` adds every training pair the other way round (`train_reversed`).
`sources=LIBRARY` / `--sources LIBRARY` makes the scenes from real recordings (`sources.py`, `source_pairs.py`).
The training engine and the evaluator import SynthDiff only through `interface.py` (vocabulary, corpus layout,
facts records, the auxiliary pair-fact loss of `pair_facts.py`).
"""

from .catalogue import (BACKGROUND_SYNONYMS, BACKGROUNDS, CLASS_NAMES, EVENT_SYNONYMS, PROPERTY_WORDS, SOUND_CLASSES,
                        SoundClass)
from .corpus import (CSV_COLUMNS, DEFAULT_SAMPLE_RATE, DEFAULT_SECONDS, GENERATOR_VERSION, add_reversed_splits,
                     generate_corpus, generate_pair, resolve_splits)
from .grammar import caption, explain
from .pairs import EDITS, PAIR_TYPES, compare_clips, make_pair
from .reversal import reverse_record
from .scene import ClipSpec, EventSpec, render_clip, sample_clip

__all__ = [
    "SOUND_CLASSES", "SoundClass", "CLASS_NAMES", "EVENT_SYNONYMS", "BACKGROUNDS", "BACKGROUND_SYNONYMS",
    "PROPERTY_WORDS", "CSV_COLUMNS", "DEFAULT_SAMPLE_RATE", "DEFAULT_SECONDS", "GENERATOR_VERSION", "generate_corpus",
    "generate_pair", "resolve_splits", "add_reversed_splits", "reverse_record", "explain", "caption", "EDITS",
    "PAIR_TYPES", "compare_clips", "make_pair", "ClipSpec", "EventSpec", "render_clip", "sample_clip",
]
