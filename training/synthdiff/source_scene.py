"""Scenes made of real recordings: a recording excerpt as an event (`RecordingEventSpec`) and the palette of one
split's recordings (`SourcePalette`), which `pairs.make_pair` uses in place of the synthesised catalogue."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf

from .catalogue import ONSET_WINDOWS, ONSETS
from .realworld_clip import realworld_settings
from .scene import EventSpec, SynthPalette, _seed, sample_clip
from .sources import GENERIC_CLASSES, check_source_names, recording_audio

EXCERPT_S = (1.5, 5.0)  # length of a recording excerpt placed in a scene
# An excerpt's level is its peak (dBFS before the clip's gain): recordings have crest factors of 10-25 dB, so an RMS
# level would drive the loud ones into the peak limiter, and a gain edit of a limited clip changes nothing.
EXCERPT_PEAK_DB = (-21.0, -12.0)
SILENT_BACKGROUND_SHARE = 0.6  # real recordings are mostly heard without a synthesised backdrop
SILENCE_DB = (-62.0, -56.0)
BACKDROP_OFFSET_DB = -10.0  # other backdrops sit lower than under synthesised events, which have no crest to speak of
FADE_S = 0.01
MAX_RECORDINGS_PER_CLIP = 2


@dataclass
class RecordingEventSpec(EventSpec):
    """An excerpt of a source recording as a scene event (`name` is the recording's sound class)."""

    recording_id: str = ""
    path: str = ""
    offset_s: float = 0.0
    label: str = None
    generic: bool = True
    license: str = ""
    package: str = ""
    category: str = ""

    def synthesize(self, length: int, sample_rate: int) -> np.ndarray:
        """`length` samples of the recording from `offset_s`, at unit peak, with 10 ms fades (zeros past its end)."""
        audio = recording_audio(self.path, sample_rate)
        start = int(self.offset_s * sample_rate)
        out = np.zeros(length, dtype=np.float32)
        piece = audio[start:start + length]
        fade = min(len(piece) // 2, int(FADE_S * sample_rate))
        out[:len(piece)] = piece
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            out[:fade] *= ramp
            out[len(piece) - fade:len(piece)] *= ramp[::-1]
        return out / np.float32(max(float(np.max(np.abs(out))), 1e-4))

    def extra_facts(self) -> dict:
        return {"recording_id": self.recording_id, "source_label": self.label, "category": self.category,
                "generic": self.generic, "offset_s": self.offset_s, "license": self.license, "package": self.package}


@lru_cache(maxsize=4096)
def recording_seconds(path: str) -> float:
    return float(sf.info(path).duration)


class SourcePalette(SynthPalette):
    """Scenes of one or two (`MAX_RECORDINGS_PER_CLIP`) recording excerpts of distinct labels, over a synthesised
    backdrop (mostly a near-silent room), with the same global properties as synthesised scenes.

    A scene drawn freely (`sample_clip` without `num_events`) may hold two labels of one named class: with
    `source_names="category"`, a violin and an organ are both "music", as two instruments are in real recordings
    (a corpus whose clips never hold two instruments teaches a model to call the second one speech). A scene drawn
    for an event edit (`num_events` given: added, removed, replaced or reordered events) holds distinct named classes,
    so that the edit is a difference in the corpus's own names. With `source_names="label"` every class has one label
    and both draws are the same.

    Args:
        recordings (list of `sources.Recording`): the recordings of one split.
        source_names (`str`): what an event is called, `"label"` (its recording's class) or `"category"`
            (`sources.Recording.name`).
    """

    def __init__(self, recordings, source_names: str = "label"):
        check_source_names(source_names)
        self.by_class = {}  # named class -> {label: recordings}
        for recording in recordings:
            labels = self.by_class.setdefault(recording.name(source_names), {})
            labels.setdefault(recording.sound_class, []).append(recording)
        self.class_names = tuple(sorted(self.by_class))
        # Square-root sampling per label: a label with many recordings (speech) is heard more often than one with a
        # few, but not in proportion, so the rare labels are still learnt; a category weighs as its labels together.
        self.label_weights = {c: np.sqrt([len(self.by_class[c][label]) for label in sorted(self.by_class[c])])
                              for c in self.class_names}
        self.weights = {c: float(self.label_weights[c].sum()) for c in self.class_names}

    def _probabilities(self, classes) -> np.ndarray:
        weights = np.array([self.weights[c] for c in classes])
        return weights / weights.sum()

    def pick_class(self, rng: np.random.Generator, exclude=()) -> str:
        """One sound class not in `exclude`, by square-root sampling."""
        available = [c for c in self.class_names if c not in exclude]
        return str(rng.choice(available, p=self._probabilities(available)))

    def sample_event(self, rng: np.random.Generator, name: str, onset: str, label: str = None) -> RecordingEventSpec:
        """An excerpt of a recording of class `name` (of its label `label`; by default a label drawn by square-root
        sampling) starting in the `onset` window."""
        labels, weights = sorted(self.by_class[name]), self.label_weights[name]
        if label is None:
            label = labels[int(rng.choice(len(labels), p=weights / weights.sum()))] if len(labels) > 1 else labels[0]
        elif label not in self.by_class[name]:
            raise ValueError(f"The class {name!r} has no recordings labelled {label!r}; its labels are {labels}.")
        choices = self.by_class[name][label]
        recording = choices[int(rng.integers(0, len(choices)))]
        length = recording_seconds(recording.path)
        duration = min(length, float(rng.uniform(*EXCERPT_S)))
        return RecordingEventSpec(
            name=name, onset=onset, onset_frac=float(rng.uniform(*ONSET_WINDOWS[onset])),
            duration_s=round(duration, 3),
            level_db=round(float(rng.uniform(*EXCERPT_PEAK_DB)), 2), register="mid", repetitions=1, seed=_seed(rng),
            recording_id=recording.recording_id, path=recording.path,
            offset_s=round(float(rng.uniform(0.0, length - duration)), 3), label=recording.label,
            generic=name in GENERIC_CLASSES, license=recording.license,
            package=recording.package, category=recording.category)

    def sample_clip(self, rng: np.random.Generator, num_events: int = None, exclude: tuple = ()):
        spec = sample_clip(rng, num_events=0)  # backdrop and global properties as for synthesised scenes
        if rng.random() < SILENT_BACKGROUND_SHARE:
            spec = spec.replace(background="silence", background_db=round(float(rng.uniform(*SILENCE_DB)), 2))
        elif spec.background != "silence":
            spec = spec.replace(background_db=round(spec.background_db + BACKDROP_OFFSET_DB, 2))
        available = [c for c in self.class_names if c not in exclude]
        wanted = int(rng.integers(1, 3)) if num_events is None else num_events
        if num_events is None:  # distinct labels, possibly two of one class
            units = [(c, label) for c in available for label in sorted(self.by_class[c])]
            weights = np.concatenate([self.label_weights[c] for c in available])
            probabilities = weights / weights.sum()
        else:  # distinct classes, each with a label drawn by sample_event
            units, probabilities = [(c, None) for c in available], self._probabilities(available)
        picked = rng.choice(len(units), size=min(wanted, MAX_RECORDINGS_PER_CLIP, len(units)), replace=False,
                            p=probabilities)
        onsets = rng.choice(ONSETS, size=len(picked), replace=False)
        events = [self.sample_event(rng, units[k][0], str(o), units[k][1]) for k, o in zip(picked, onsets)]
        return spec.replace(events=events, realworld=realworld_settings())


__all__ = ["RecordingEventSpec", "SourcePalette", "recording_seconds"]
