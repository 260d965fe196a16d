"""Pairs made from a source library: today's edits plus the real-world edits and identity pairs, with exact facts.

The schedule (one period of 10 pairs: 3 unrelated, 4 edited, 2 identical, 1 near-identical) cycles the edits over
`pairs.EDITS + realworld_pairs.REALWORLD_EDITS` and the identical pairs over exact copies and the invariance kinds
(`IDENTITY_KINDS`: dither, re-encoding, resampling, channel layout), whose facts say `identical`.
"""

from collections import Counter
from functools import lru_cache

import numpy as np

from .grammar import caption, explain
from .pairs import EDITS, compare_clips, make_pair
from .realworld import dither
from .realworld_pairs import (IDENTITY_KINDS, LEVEL_MATCHED_PROPERTIES, REALWORLD_EDITS, identity_change,
                              property_change, realworld_change)
from .scene import render_clip, measure_clip
from .source_scene import SourcePalette, recording_seconds
from .sources import check_source_names, load_library, split_recordings

SOURCE_PAIR_SCHEDULE = ("unrelated", "edited", "identical", "edited", "unrelated", "edited", "near_identical",
                        "edited", "identical", "unrelated")
SOURCE_EDITS = EDITS + REALWORLD_EDITS
IDENTICAL_KINDS = ("exact",) + IDENTITY_KINDS


def _count_before(index: int, pair_type: str) -> int:
    period = len(SOURCE_PAIR_SCHEDULE)
    return (index // period) * SOURCE_PAIR_SCHEDULE.count(pair_type) + SOURCE_PAIR_SCHEDULE[:index % period].count(
        pair_type)


def source_scheduled_pair(index: int) -> tuple:
    """`(pair_type, kind)` of pair `index`: the edit kind of edited pairs, the identity kind of identical pairs."""
    pair_type = SOURCE_PAIR_SCHEDULE[index % len(SOURCE_PAIR_SCHEDULE)]
    if pair_type == "edited":
        return pair_type, SOURCE_EDITS[_count_before(index, pair_type) % len(SOURCE_EDITS)]
    if pair_type == "identical":
        return pair_type, IDENTICAL_KINDS[_count_before(index, pair_type) % len(IDENTICAL_KINDS)]
    return pair_type, None


MIN_CLASSES_PER_SPLIT = 3  # an added or replacing event needs a class that the base scene does not have


def source_summary(sources: str, splits: dict, seed: int, source_names: str = "label") -> dict:
    """What `corpus.json` says about a source library: its path, what its sounds are called (`source_names`), and per
    split the recordings, their hours, sound classes (as named) and licences. Raises when a split with pairs has
    fewer than `MIN_CLASSES_PER_SPLIT` sound classes."""
    check_source_names(source_names)
    assigned = split_recordings(load_library(sources), splits, seed)
    per_split = {}
    for split, recordings in assigned.items():
        classes = sorted({r.name(source_names) for r in recordings})
        if splits[split] > 0 and len(classes) < MIN_CLASSES_PER_SPLIT:
            raise ValueError(f"Split {split!r} has recordings of {len(classes)} sound classes ({classes}); the pairs "
                             f"need at least {MIN_CLASSES_PER_SPLIT}. Add recordings of other labels to {sources}.")
        per_split[split] = {
            "recordings": len(recordings),
            "hours": round(sum(recording_seconds(r.path) for r in recordings) / 3600.0, 4),
            "classes": dict(Counter(r.name(source_names) for r in recordings)),
            "licenses": dict(Counter(r.license or "unknown" for r in recordings)),
        }
    return {"path": sources, "source_names": source_names, "recordings": sum(len(v) for v in assigned.values()),
            "splits": per_split}


@lru_cache(maxsize=16)
def split_palette(sources: str, seed: int, splits: tuple, split: str, source_names: str = "label") -> SourcePalette:
    """The palette of `split`'s recordings (`splits`: the corpus's `(name, pairs)` items; cached per process)."""
    return SourcePalette(split_recordings(load_library(sources), dict(splits), seed)[split], source_names)


def _realworld_specs(rng: np.random.Generator, kind: str, palette: SourcePalette) -> tuple:
    """`(spec1, spec2, meta)` of an edited pair with a real-world edit (or a level-matched property edit)."""
    base = palette.sample_clip(rng)
    if kind == "level_matched":
        prop = str(rng.choice(LEVEL_MATCHED_PROPERTIES))
        base, edited, details = property_change(rng, base, prop)
        details = {"property": prop, **details}
    else:
        settings, details = realworld_change(rng, kind)
        edited = base.replace(realworld=settings)
    second = bool(rng.random() < 0.5)
    spec1, spec2 = (base, edited) if second else (edited, base)
    return spec1, spec2, {"pair_type": "edited", "edit": {"kind": kind, "edited_audio": 2 if second else 1, **details}}


def _file_facts(sample_rate: int) -> dict:
    return {"file_format": "wav", "file_sample_rate": sample_rate, "channels": 1, "dither_lsb": 0.0}


def _match_levels(audio1, facts1, spec1, audio2, facts2, spec2, edit: dict) -> tuple:
    """Scale the louder clip down to the quieter clip's RMS (on the 16-bit grid) and measure it again."""
    louder = 1 if facts1["rms"] > facts2["rms"] else 2
    ratio = min(facts1["rms"], facts2["rms"]) / max(max(facts1["rms"], facts2["rms"]), 1e-12)
    edit.update(matched_audio=louder, matched_gain_db=round(float(20.0 * np.log10(max(ratio, 1e-12))), 2))
    clips = [[audio1, facts1, spec1], [audio2, facts2, spec2]]
    audio, facts, spec = clips[louder - 1]
    audio = (np.round(audio * np.float32(ratio) * 32767.0) / 32767.0).astype(np.float32)
    clips[louder - 1] = [audio, measure_clip(audio, spec, facts["events"]), spec]
    return clips[0][0], clips[0][1], clips[1][0], clips[1][1]


def generate_source_pair(sources: str, splits: tuple, seed_seq: np.random.SeedSequence, seed: int, split: str,
                         index: int, sample_rate: int, seconds: float, source_names: str = "label") -> tuple:
    """Render source pair `index` of `split`: `(audio1, audio2, record)` like `corpus.generate_pair`; the clip facts
    also say how each file is written (`file_format`, `file_sample_rate`, `channels`, `dither_lsb`). `source_names`:
    whether the texts name a recording's label or its category (`sources.SOURCE_NAMES`)."""
    scene_seq, text_seq = seed_seq.spawn(2)
    rng = np.random.default_rng(scene_seq)
    palette = split_palette(sources, seed, splits, split, source_names)
    pair_type, kind = source_scheduled_pair(index)
    if pair_type == "edited" and kind in REALWORLD_EDITS:
        spec1, spec2, meta = _realworld_specs(rng, kind, palette)
    else:
        spec1, spec2, meta = make_pair(rng, pair_type, kind if pair_type == "edited" else None, palette)
    cache = {}
    audio1, facts1 = render_clip(spec1, sample_rate, seconds, cache)
    audio2, facts2 = (audio1.copy(), dict(facts1)) if pair_type == "identical" else render_clip(spec2, sample_rate,
                                                                                                   seconds, cache)
    facts1, facts2 = {**facts1, **_file_facts(sample_rate)}, {**facts2, **_file_facts(sample_rate)}
    if kind == "level_matched":
        audio1, facts1, audio2, facts2 = _match_levels(audio1, facts1, spec1, audio2, facts2, spec2, meta["edit"])
        facts1, facts2 = {**facts1, **_file_facts(sample_rate)}, {**facts2, **_file_facts(sample_rate)}
    if pair_type == "identical" and kind != "exact":
        meta["edit"] = {**identity_change(rng, kind), "edited_audio": 2}
        facts2 = _identity_file(meta["edit"], rng, audio2, facts2, spec2)
        audio2 = facts2.pop("_audio")
    pair = compare_clips(facts1, facts2, meta, identical=pair_type == "identical")
    pair.update(clip1=facts1, clip2=facts2)
    text_rng = np.random.default_rng(text_seq)
    pair["explanations"] = {str(tier): explain(pair, tier, text_rng) for tier in (1, 2, 3)}
    pair["captions"] = [caption(facts1, text_rng), caption(facts2, text_rng)]
    return audio1, audio2, pair


def _identity_file(edit: dict, rng: np.random.Generator, audio: np.ndarray, facts: dict, spec) -> dict:
    """Clip 2's facts (and, under `_audio`, its samples) for an identity pair of `edit["kind"]`."""
    facts = dict(facts)
    if edit["kind"] == "dither":
        audio = dither(rng, audio, edit["lsb"])
        facts = {**measure_clip(audio, spec, facts["events"]), **_file_facts(facts["file_sample_rate"]),
                 "dither_lsb": edit["lsb"]}
    elif edit["kind"] == "reencode":
        facts["file_format"] = edit["format"]
    elif edit["kind"] == "resample":
        facts["file_sample_rate"] = edit["sample_rate"]
    else:
        facts["channels"] = edit["channels"]
    return {**facts, "_audio": audio}


__all__ = ["SOURCE_PAIR_SCHEDULE", "SOURCE_EDITS", "IDENTICAL_KINDS", "source_scheduled_pair", "source_summary",
           "split_palette",
           "generate_source_pair"]
