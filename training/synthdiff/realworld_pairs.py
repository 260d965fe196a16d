"""Real-world edits as pairs: the edit kinds a user meets (codec, EQ tilt, pitch, time shift, hum, clicks,
level-matched property edits), the pair facts that compare them, and the identity pairs a listener cannot tell apart
(dither, re-encoding, resampling, channel layout)."""

import numpy as np

from .catalogue import REVERBS, TIMBRES
from .realworld_clip import realworld_settings

REALWORLD_EDITS = ("codec", "eq_tilt", "pitch", "time_shift", "hum", "clicks", "level_matched")
# Property edits a level-matched pair may carry (the edited clip is then rescaled to the other clip's RMS).
LEVEL_MATCHED_PROPERTIES = ("reverb", "filter", "eq_tilt", "noise", "clipping", "pitch")
IDENTITY_KINDS = ("dither", "reencode", "resample", "channels")
IDENTITY_FORMATS = ("flac", "ogg", "mp3")
IDENTITY_SAMPLE_RATES = (44100, 48000)
LOSSY_CODECS = ("ogg_vorbis", "mp3", "flac_8bit")
TILT_THRESHOLD_DB = 1.0  # dB per octave a tilt difference needs to count as brighter / darker
PITCH_THRESHOLD_SEMITONES = 0.5
SHIFT_THRESHOLD_S = 0.05


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def realworld_change(rng: np.random.Generator, kind: str) -> tuple:
    """`(settings, details)`: the real-world settings of an edited clip (from a clean base) and the edit's facts."""
    if kind == "codec":
        codec = str(rng.choice(LOSSY_CODECS))
        quality = None if codec == "flac_8bit" else round(float(rng.uniform(0.85, 1.0)), 2)
        return realworld_settings(codec=codec, codec_quality=quality), {"codec": codec, "quality": quality}
    if kind == "eq_tilt":
        tilt = round(float(rng.uniform(2.5, 5.0)) * _sign(rng), 2)
        return realworld_settings(eq_tilt_db_per_octave=tilt), {"db_per_octave": tilt}
    if kind == "pitch":
        semitones = round(float(rng.uniform(2.0, 5.0)) * _sign(rng), 2)
        return realworld_settings(pitch_semitones=semitones), {"semitones": semitones}
    if kind == "time_shift":
        seconds = round(float(rng.uniform(0.3, 1.5)), 3)
        return realworld_settings(time_shift_s=seconds), {"seconds": seconds}
    if kind == "hum":
        hz, db = int(rng.choice((50, 60))), round(float(rng.uniform(-20.0, -8.0)), 2)
        return realworld_settings(hum_hz=hz, hum_db=db), {"hz": hz, "db": db}
    if kind == "clicks":
        count = int(rng.integers(3, 12))
        return realworld_settings(clicks=count), {"count": count}
    raise ValueError(f"Unknown real-world edit {kind!r}; expected one of {REALWORLD_EDITS}.")


def property_change(rng: np.random.Generator, base, prop: str) -> tuple:
    """`(base, edited, details)` for a property edit of a level-matched pair (`base.realworld` must be set)."""
    if prop == "reverb":
        return base, base.replace(reverb=str(rng.choice([r for r in REVERBS if r != base.reverb]))), {}
    if prop == "filter":
        return base, base.replace(timbre=str(rng.choice([t for t in TIMBRES if t != base.timbre]))), {}
    if prop == "noise":
        base = base.replace(snr_db=None)
        return base, base.replace(snr_db=round(float(rng.uniform(0.0, 10.0)), 2)), {}
    if prop == "clipping":
        base = base.replace(clipped=False)
        return base, base.replace(clipped=True), {}
    if prop in ("eq_tilt", "pitch"):
        settings, details = realworld_change(rng, prop)
        return base, base.replace(realworld=settings), details
    raise ValueError(f"Unknown level-matched property {prop!r}; expected one of {LEVEL_MATCHED_PROPERTIES}.")


def identity_change(rng: np.random.Generator, kind: str) -> dict:
    """The edit facts of an identity pair of `kind`: how the second file differs while the sound is the same."""
    if kind == "dither":
        return {"kind": kind, "lsb": round(float(rng.uniform(0.5, 8.0)), 2)}
    if kind == "reencode":
        return {"kind": kind, "format": str(rng.choice(IDENTITY_FORMATS))}
    if kind == "resample":
        return {"kind": kind, "sample_rate": int(rng.choice(IDENTITY_SAMPLE_RATES))}
    if kind == "channels":
        return {"kind": kind, "channels": 2}
    raise ValueError(f"Unknown identity kind {kind!r}; expected one of {IDENTITY_KINDS}.")


def _which(value1, value2, threshold: float):
    if abs(value1 - value2) <= threshold:
        return None
    return 1 if value1 > value2 else 2


def realworld_pair_facts(facts1: dict, facts2: dict) -> dict:
    """Which clip is brighter, higher-pitched, starts later, hums, clicks or is lossy-coded (1, 2 or None)."""
    return {
        "brighter": _which(facts1["eq_tilt_db_per_octave"], facts2["eq_tilt_db_per_octave"], TILT_THRESHOLD_DB),
        "higher_pitched": _which(facts1["pitch_semitones"], facts2["pitch_semitones"], PITCH_THRESHOLD_SEMITONES),
        "starts_later": _which(facts1["time_shift_s"], facts2["time_shift_s"], SHIFT_THRESHOLD_S),
        "hummier": _which(facts1["hum_hz"] is not None, facts2["hum_hz"] is not None, 0),
        "clickier": _which(facts1["clicks"] > 0, facts2["clicks"] > 0, 0),
        "more_compressed": _which(facts1["codec"] is not None, facts2["codec"] is not None, 0),
    }


__all__ = ["REALWORLD_EDITS", "LEVEL_MATCHED_PROPERTIES", "IDENTITY_KINDS", "realworld_change", "property_change",
           "identity_change", "realworld_pair_facts"]
