"""A SynthDiff clip: its specification (`ClipSpec`), random sampling, rendering, and the facts measured on it."""

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .catalogue import (BACKGROUND_MOODS, BACKGROUNDS, CLASS_BY_NAME, CLASS_NAMES, ONSET_WINDOWS, ONSETS, REGISTERS,
                        REVERBS, TIMBRES)
from .effects import add_noise, apply_clipping, apply_speed, apply_timbre_and_reverb
from .synth import synthesize_background, synthesize_event

PEAK_LIMIT = 0.98  # clips are scaled down to this peak so 16-bit files never wrap
CLIPPED_FRACTION = 0.002  # share of samples sitting at the peak above which a clip counts as clipped
SPEEDS = (0.8, 0.9, 1.15, 1.25)


@dataclass
class EventSpec:
    """One foreground event; `onset_frac` is its start as a fraction of the clip, `duration_s` is in scene time."""

    name: str
    onset: str
    onset_frac: float
    duration_s: float
    level_db: float
    register: str
    repetitions: int
    seed: int


@dataclass
class ClipSpec:
    """Everything needed to render one clip deterministically."""

    background: str
    background_db: float
    background_seed: int
    events: list = field(default_factory=list)
    gain_db: float = 0.0
    reverb: str = "dry"
    timbre: str = "normal"
    snr_db: float = None
    clipped: bool = False
    speed: float = 1.0
    effect_seed: int = 0

    def labels(self) -> list:
        """Sound classes of the clip's events."""
        return [event.name for event in self.events]

    def replace(self, **changes) -> "ClipSpec":
        """A copy with `changes` applied (events copied, so edits never alias)."""
        return dataclasses.replace(self, events=list(changes.pop("events", self.events)), **changes)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def sample_event(rng: np.random.Generator, name: str, onset: str) -> EventSpec:
    """A random event of class `name` starting in onset slot `onset`."""
    cls = CLASS_BY_NAME[name]
    return EventSpec(
        name=name, onset=onset, onset_frac=float(rng.uniform(*ONSET_WINDOWS[onset])),
        duration_s=round(float(rng.uniform(*cls.duration_s)), 3), level_db=round(float(rng.uniform(-30.0, -16.0)), 2),
        register=str(rng.choice(REGISTERS)) if cls.tonal else "mid",
        repetitions=int(rng.integers(cls.repetitions[0], cls.repetitions[1] + 1)), seed=_seed(rng))


def sample_clip(rng: np.random.Generator, num_events: int = None, exclude: tuple = ()) -> ClipSpec:
    """A random scene: a background, 0-3 events of distinct classes in distinct onset slots, and global properties."""
    num_events = int(rng.integers(0, 4)) if num_events is None else num_events
    classes = rng.choice([c for c in CLASS_NAMES if c not in exclude], size=num_events, replace=False)
    onsets = rng.choice(ONSETS, size=num_events, replace=False)
    background = str(rng.choice(BACKGROUNDS))
    background_db = float(rng.uniform(-62.0, -56.0) if background == "silence" else rng.uniform(-48.0, -36.0))
    return ClipSpec(
        background=background, background_db=round(background_db, 2), background_seed=_seed(rng),
        events=[sample_event(rng, str(c), str(o)) for c, o in zip(classes, onsets)],
        gain_db=round(float(rng.uniform(-6.0, 0.0)), 2),
        reverb=str(rng.choice(REVERBS, p=[0.5, 0.3, 0.2])), timbre=str(rng.choice(TIMBRES, p=[0.7, 0.15, 0.15])),
        snr_db=round(float(rng.uniform(0.0, 12.0)), 2) if rng.random() < 0.25 else None,
        clipped=bool(rng.random() < 0.1), speed=float(rng.choice(SPEEDS)) if rng.random() < 0.2 else 1.0,
        effect_seed=_seed(rng))


def _db(value_db: float) -> np.float32:
    return np.float32(10.0 ** (value_db / 20.0))


def impression(event_names: list, background: str) -> str:
    """The listener's likely impression of a scene, from its sounds' moods (one of catalogue.MOODS)."""
    moods = [CLASS_BY_NAME[n].mood for n in event_names]
    if "urgent" in moods:
        return "urgent"
    if len(event_names) >= 3 or moods.count("busy") + (BACKGROUND_MOODS[background] == "busy") >= 2:
        return "busy"
    for mood in ("tense", "lively", "mechanical", "busy"):
        if mood in moods:
            return mood
    return BACKGROUND_MOODS[background]


def render_scene(spec: ClipSpec, sample_rate: int, seconds: float) -> tuple:
    """The dry mix of background and events in scene time (before effects and speed), and the events' facts."""
    n_out = int(round(seconds * sample_rate))
    n_scene = int(round(n_out * spec.speed))
    audio = synthesize_background(np.random.default_rng(spec.background_seed), spec.background, n_scene,
                                  sample_rate) * _db(spec.background_db)
    events = []
    for event in spec.events:
        start = int(event.onset_frac * n_scene)
        length = min(int(event.duration_s * sample_rate), n_scene - start)
        sound = synthesize_event(np.random.default_rng(event.seed), event.name, length, sample_rate, event.register,
                                 event.repetitions)
        audio[start:start + length] += sound * _db(event.level_db)
        events.append({"class": event.name, "onset": event.onset, "onset_s": round(start / n_scene * seconds, 3),
                       "duration_s": round(length / sample_rate / spec.speed, 3), "level_db": event.level_db,
                       "register": event.register, "repetitions": event.repetitions})
    events.sort(key=lambda e: e["onset_s"])
    return audio, events


def render_clip(spec: ClipSpec, sample_rate: int, seconds: float, scene_cache: dict = None) -> tuple:
    """Render `spec` to float32 audio on the 16-bit grid, and return `(audio, facts)` with facts measured on it.

    `scene_cache` (a dict kept by the caller) lets clips that share a scene (an edited pair) synthesise it once.
    """
    key = (repr(spec.events), spec.background, spec.background_db, spec.background_seed, spec.speed, sample_rate,
           seconds)
    if scene_cache is not None and key in scene_cache:
        audio, events = scene_cache[key]
    else:
        audio, events = render_scene(spec, sample_rate, seconds)
        if scene_cache is not None:
            scene_cache[key] = (audio, events)
    events = [dict(event) for event in events]
    n_out = int(round(seconds * sample_rate))
    effect_rng = np.random.default_rng(spec.effect_seed)
    audio = apply_timbre_and_reverb(effect_rng, audio, sample_rate, spec.timbre, spec.reverb)
    audio = apply_speed(audio, n_out)
    if spec.snr_db is not None:
        audio = add_noise(effect_rng, audio, spec.snr_db)
    audio = audio * _db(spec.gain_db)
    if spec.clipped:
        audio = apply_clipping(audio)
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK_LIMIT:
        audio = audio * np.float32(PEAK_LIMIT / peak)
    audio = (np.round(audio * 32767.0) / 32767.0).astype(np.float32)
    return audio, _measure(audio, spec, events)


def _measure(audio: np.ndarray, spec: ClipSpec, events: list) -> dict:
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    peak = float(np.max(np.abs(audio)))
    clip_fraction = float(np.mean(np.abs(audio) >= peak - 1.0 / 32767.0)) if peak > 0 else 0.0
    names = [e["class"] for e in events]
    return {
        "background": spec.background, "events": events, "order": names, "labels": sorted(names),
        "rms": round(rms, 6), "loudness_db": round(20.0 * np.log10(rms + 1e-12), 2), "peak": round(peak, 5),
        "reverb": spec.reverb, "timbre": spec.timbre, "snr_db": spec.snr_db, "noisy": spec.snr_db is not None,
        "clipped": spec.clipped, "clip_fraction": round(clip_fraction, 5), "speed": spec.speed,
        "impression": impression(names, spec.background),
    }


__all__ = ["EventSpec", "ClipSpec", "SPEEDS", "sample_event", "sample_clip", "impression", "render_scene",
           "render_clip"]
