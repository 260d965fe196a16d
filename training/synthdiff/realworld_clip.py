"""The real-world edits of one clip as part of its specification (`ClipSpec.realworld`) and its facts.

`render_clip` applies them after the clip's effects and gain, in a fixed order (EQ tilt, pitch, time shift, hum,
clicks, codec), each with its exact parameters recorded as clip facts; a time shift moves the events' onsets too.
"""

import numpy as np

from .realworld import add_clicks, add_hum, codec_round_trip, eq_tilt, pitch_shift, time_shift

REALWORLD_DEFAULTS = {"eq_tilt_db_per_octave": 0.0, "pitch_semitones": 0.0, "time_shift_s": 0.0, "hum_hz": None,
                      "hum_db": None, "clicks": 0, "codec": None, "codec_quality": None}
REALWORLD_SEED_CHILD = 7  # the edits draw from their own generator, so the clip's other effects stay as they were


def realworld_settings(**changes) -> dict:
    """`REALWORLD_DEFAULTS` with `changes`; unknown names are an error."""
    unknown = sorted(set(changes) - set(REALWORLD_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown real-world settings {unknown}; expected some of {sorted(REALWORLD_DEFAULTS)}.")
    return {**REALWORLD_DEFAULTS, **changes}


def apply_realworld(audio: np.ndarray, sr: int, spec, events: list) -> tuple:
    """`(audio, events)` after the real-world edits of `spec.realworld`; events shift with a time shift."""
    settings = spec.realworld
    rng = np.random.default_rng([spec.effect_seed, REALWORLD_SEED_CHILD])
    if settings["eq_tilt_db_per_octave"]:
        audio = eq_tilt(audio, sr, settings["eq_tilt_db_per_octave"])
    if settings["pitch_semitones"]:
        audio = pitch_shift(audio, sr, settings["pitch_semitones"])
    if settings["time_shift_s"]:
        audio = time_shift(audio, sr, settings["time_shift_s"])
        events = _shifted(events, settings["time_shift_s"], len(audio) / sr)
    if settings["hum_hz"]:
        audio = add_hum(rng, audio, sr, settings["hum_hz"], settings["hum_db"])
    if settings["clicks"]:
        audio = add_clicks(rng, audio, sr, settings["clicks"])
    if settings["codec"]:
        audio = codec_round_trip(audio, sr, settings["codec"], settings["codec_quality"])
    return audio, events


def _shifted(events: list, seconds: float, clip_s: float) -> list:
    """Events delayed by `seconds`: onsets move, what falls past the clip's end is cut (events that start after it
    are gone)."""
    moved = []
    for event in events:
        onset = round(event["onset_s"] + seconds, 3)
        if onset < clip_s:
            moved.append({**event, "onset_s": onset, "duration_s": round(min(event["duration_s"], clip_s - onset), 3)})
    return moved


def realworld_facts(spec, events: list) -> dict:
    """The clip facts of a source clip: its real-world edits and the recordings heard in it."""
    recordings = [e for e in events if "recording_id" in e]
    return {**spec.realworld, "recording_ids": sorted({e["recording_id"] for e in recordings}),
            "source_labels": sorted({e["source_label"] or e["class"] for e in recordings})}


__all__ = ["REALWORLD_DEFAULTS", "realworld_settings", "apply_realworld", "realworld_facts"]
