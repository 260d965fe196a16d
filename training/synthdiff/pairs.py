"""Pair construction (unrelated, edited, identical, near-identical) and the pair-level facts derived from two clips."""

import dataclasses

import numpy as np

from .catalogue import ONSETS, REVERBS, TIMBRES
from .realworld_pairs import realworld_pair_facts
from .scene import SPEEDS, SYNTH_PALETTE, _seed

PAIR_TYPES = ("unrelated", "edited", "identical", "near_identical")
EDITS = ("gain", "reverb", "filter", "noise", "speed", "clipping", "event_added", "event_removed", "event_replaced",
         "order_changed")
# One period of the pair-type schedule: 40% unrelated, 40% edited, 10% identical, 10% near-identical.
PAIR_SCHEDULE = ("unrelated", "edited", "unrelated", "edited", "identical", "unrelated", "edited", "unrelated",
                 "edited", "near_identical")
LOUDNESS_THRESHOLD_DB = 3.0  # a louder/quieter claim needs at least this RMS difference
NOISE_THRESHOLD_DB = 6.0  # two noisy clips compare as noisier only if their SNRs differ this much


def scheduled_pair(index: int) -> tuple:
    """The balanced `(pair_type, edit)` of pair `index`: types follow `PAIR_SCHEDULE`, edits cycle over `EDITS`."""
    period = len(PAIR_SCHEDULE)
    pair_type = PAIR_SCHEDULE[index % period]
    if pair_type != "edited":
        return pair_type, None
    edits_per_period = PAIR_SCHEDULE.count("edited")
    edited_before = (index // period) * edits_per_period + PAIR_SCHEDULE[:index % period].count("edited")
    return pair_type, EDITS[edited_before % len(EDITS)]


def _other(rng, choices, current):
    return str(rng.choice([c for c in choices if c != current]))


def _edit(rng: np.random.Generator, edit: str, palette) -> tuple:
    """`(base, edited, details, edited_is_second)` for one controlled edit of a random scene made from `palette`."""
    if edit in ("event_added", "event_removed"):
        base = palette.sample_clip(rng, num_events=int(rng.integers(0, 3)))
        free = [o for o in ONSETS if o not in {e.onset for e in base.events}]
        new = palette.sample_event(rng, palette.pick_class(rng, exclude=base.labels()), str(rng.choice(free)))
        edited = base.replace(events=base.events + [new])
        # "Added" puts the richer clip second, "removed" first; the facts always say which clip has the event.
        return base, edited, {"class": new.name}, edit == "event_added"
    base = palette.sample_clip(rng, num_events=2 if edit == "order_changed" else (int(rng.integers(1, 4)) if edit ==
                                                                               "event_replaced" else None))
    details = {}
    if edit == "gain":
        delta = float(rng.uniform(6.0, 10.0)) * (1 if rng.random() < 0.5 else -1)
        edited = base.replace(gain_db=round(base.gain_db + delta, 2))
        details = {"gain_db": round(delta, 2)}
    elif edit == "reverb":
        edited = base.replace(reverb=_other(rng, REVERBS, base.reverb))
    elif edit == "filter":
        edited = base.replace(timbre=_other(rng, TIMBRES, base.timbre))
    elif edit == "noise":
        base = base.replace(snr_db=None)
        edited = base.replace(snr_db=round(float(rng.uniform(0.0, 10.0)), 2))
    elif edit == "speed":
        base = base.replace(speed=1.0)
        edited = base.replace(speed=float(rng.choice(SPEEDS)))
    elif edit == "clipping":
        base = base.replace(clipped=False)
        edited = base.replace(clipped=True)
    elif edit == "event_replaced":
        k = int(rng.integers(0, len(base.events)))
        old = base.events[k]
        new = palette.sample_event(rng, palette.pick_class(rng, exclude=base.labels()), old.onset)
        new.onset_frac = old.onset_frac
        edited = base.replace(events=base.events[:k] + [new] + base.events[k + 1:])
        details = {"class_before": old.name, "class_after": new.name}
    elif edit == "order_changed":
        first, second = base.events
        # Each event keeps all it is (seed, recording, length, level) and takes the other's onset slot.
        slots = [palette.sample_event(rng, first.name, second.onset),
                 palette.sample_event(rng, second.name, first.onset)]
        edited = base.replace(events=[dataclasses.replace(old, onset=slot.onset, onset_frac=slot.onset_frac)
                                      for slot, old in zip(slots, (first, second))])
    else:
        raise ValueError(f"Unknown edit {edit!r}; expected one of {EDITS}.")
    return base, edited, details, bool(rng.random() < 0.5)


def make_pair(rng: np.random.Generator, pair_type: str, edit: str = None, palette=SYNTH_PALETTE) -> tuple:
    """Specs of a pair: `(spec1, spec2, meta)`; `meta` holds the pair type and the edit with the clip it lives in.

    `palette` supplies the scenes and events (`scene.SynthPalette`: the synthesised catalogue; `SourcePalette`: the
    recordings of a source library)."""
    if pair_type == "unrelated":
        return palette.sample_clip(rng), palette.sample_clip(rng), {"pair_type": pair_type, "edit": None}
    if pair_type == "identical":
        spec = palette.sample_clip(rng)
        return spec, spec.replace(), {"pair_type": pair_type, "edit": None}
    if pair_type == "near_identical":
        spec = palette.sample_clip(rng)
        if rng.random() < 0.5:  # the same scene recorded again: new noise textures, same sounds and settings
            other = spec.replace(background_seed=_seed(rng), effect_seed=_seed(rng))
            details = {"kind": "rerecorded"}
        else:
            delta = round(float(rng.uniform(0.2, 1.0)) * (1 if rng.random() < 0.5 else -1), 2)
            other = spec.replace(gain_db=round(spec.gain_db + delta, 2))
            details = {"kind": "tiny_gain", "gain_db": delta}
        return spec, other, {"pair_type": pair_type, "edit": details}
    if pair_type != "edited":
        raise ValueError(f"Unknown pair type {pair_type!r}; expected one of {PAIR_TYPES}.")
    base, edited, details, edited_is_second = _edit(rng, edit, palette)
    spec1, spec2 = (base, edited) if edited_is_second else (edited, base)
    return spec1, spec2, {"pair_type": pair_type, "edit": {"kind": edit, "edited_audio": 2 if edited_is_second else 1,
                                                          **details}}


def _which(value1, value2, threshold=0.0):
    """1 or 2 for the clip with the larger value when they differ by more than `threshold`, else None."""
    if value1 is None or value2 is None or abs(value1 - value2) <= threshold:
        return None
    return 1 if value1 > value2 else 2


def compare_clips(facts1: dict, facts2: dict, meta: dict, identical: bool) -> dict:
    """Pair-level facts an evaluator can check claims against, derived only from the two clips' measured facts."""
    near = meta["pair_type"] == "near_identical" and not identical
    noise1 = None if not facts1["noisy"] else -facts1["snr_db"]
    noise2 = None if not facts2["noisy"] else -facts2["snr_db"]
    if facts1["noisy"] != facts2["noisy"]:
        noisier = 1 if facts1["noisy"] else 2
    else:
        noisier = _which(noise1, noise2, NOISE_THRESHOLD_DB)
    set1, set2 = set(facts1["labels"]), set(facts2["labels"])
    shared = sorted(set1 & set2)
    # The order of the classes both clips hold, each at its first onset (a clip may hold two recordings of a class).
    order1 = [c for c in dict.fromkeys(facts1["order"]) if c in set2]
    order2 = [c for c in dict.fromkeys(facts2["order"]) if c in set1]
    return {
        **meta, "identical": identical, "near_identical": near,
        "louder": None if (identical or near) else _which(facts1["loudness_db"], facts2["loudness_db"],
                                                          LOUDNESS_THRESHOLD_DB),
        "loudness_diff_db": round(facts2["loudness_db"] - facts1["loudness_db"], 2),
        "more_reverberant": _which(REVERBS.index(facts1["reverb"]), REVERBS.index(facts2["reverb"])),
        "noisier": noisier,
        "timbre_differs": facts1["timbre"] != facts2["timbre"],
        "clipped_differs": facts1["clipped"] != facts2["clipped"],
        "faster": _which(facts1["speed"], facts2["speed"]),
        "background_differs": facts1["background"] != facts2["background"],
        "events_only_in_1": sorted(set1 - set2), "events_only_in_2": sorted(set2 - set1), "shared_events": shared,
        "order_changed": len(order1) >= 2 and order1 != order2,
        **(realworld_pair_facts(facts1, facts2) if "pitch_semitones" in facts1 and "pitch_semitones" in facts2
           else {}),
    }


__all__ = ["PAIR_TYPES", "EDITS", "PAIR_SCHEDULE", "LOUDNESS_THRESHOLD_DB", "scheduled_pair", "make_pair",
           "compare_clips"]
