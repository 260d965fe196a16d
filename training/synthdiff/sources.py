"""Sound libraries as SynthDiff sources: real recordings, their labels and licences, split by recording.

A library is a folder of audio files (the label of a file is the name of its folder below the library root; files at
the root have none) or a CSV `path,label[,license,source]` (paths relative to the CSV's folder). Any format and rate
that soundfile reads is accepted; clips are read through `processing_adiff.load_audio`, mixed to mono and resampled.

Labels are normalised to a sound class (`"Grand Piano"` -> `"grand_piano"`); an empty or unusable label becomes the
generic class `"sound"`, and the classes `"speech"`, `"music"` and `"sound"` count as generic: the grammar then says
only what is known ("speech", "music", "a sound") instead of a catalogue name.

Every recording also has a category, the broader class it belongs to: the CSV's optional `category` column, else
`"music"` for a musical instrument's label (`MUSIC_LABELS`), else its own class. A corpus names its sounds either by
label ("a clarinet") or by category ("music"; `SOURCE_NAMES`): a small encoder cannot tell 24 instruments apart from
a few phrases each, and a model taught to name them guesses (release 9 named an absent instrument in half its texts),
so the shipped model's corpus names the category. The facts keep both, so either kind of name is judged right.

Every recording goes to exactly one split (class by class, by a hash of its id: its path relative to the library),
so no recording of a validation or test split is ever heard in training.
"""

import csv
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from processing_adiff import load_audio
from processing_adiff.audio_io import SUPPORTED_EXTENSIONS

GENERIC_CLASSES = ("speech", "music", "sound")
UNLABELLED_CLASS = "sound"
MUSIC_CATEGORY = "music"
SOURCE_NAMES = ("label", "category")  # what a corpus calls a recording's sound: its label or its category
# Musical instruments (normalised labels, General MIDI's and other common names): their category is "music".
MUSIC_LABELS = frozenset("""
accordion acoustic_guitar bagpipe bagpipes banjo bass bass_guitar bassoon bells brass cello choir clarinet
contrabass double_bass drum drum_kit drums electric_guitar electric_piano fiddle flute french_horn glockenspiel
grand_piano guitar harmonica harp harpsichord horn keyboard mandolin marimba oboe orchestra organ pan_flute piano
piccolo recorder saxophone singing sitar steel_drums strings synthesizer tambourine timpani trombone trumpet tuba
ukulele vibraphone viola violin xylophone
""".split())
# Labels that say nothing about the sound: they fall back to the generic class.
_UNUSABLE_LABELS = {"", "unknown", "none", "misc", "other", "unlabelled", "unlabeled", "na", "n/a", "sounds", "audio"}
MIN_RECORDING_S = 0.2  # shorter recordings hold too little sound to describe


@dataclass(frozen=True)
class Recording:
    """One source recording of a library.

    Args:
        recording_id (`str`): its path relative to the library root (stable across machines).
        path (`str`): absolute path of the file.
        sound_class (`str`): normalised label, or `"sound"` when the label is missing or unusable.
        label (`str` or `None`): the label as given.
        license (`str`): licence of the file ("" when the library does not say).
        package (`str`): where it comes from (the `source` column, e.g. a Debian package).
        category (`str`): the broader class (`"music"` for an instrument); defaults to `default_category(sound_class)`.
    """

    recording_id: str
    path: str
    sound_class: str
    label: str | None
    license: str = ""
    package: str = ""
    category: str = ""

    def __post_init__(self):
        if not self.category:
            object.__setattr__(self, "category", default_category(self.sound_class))

    @property
    def generic(self) -> bool:
        return self.sound_class in GENERIC_CLASSES

    def name(self, source_names: str) -> str:
        """The sound class a corpus calls this recording by: its label's (`"label"`) or its category (`"category"`)."""
        return self.category if source_names == "category" else self.sound_class


def default_category(sound_class: str) -> str:
    """`"music"` for a musical instrument's class (`MUSIC_LABELS`), else the class itself."""
    return MUSIC_CATEGORY if sound_class in MUSIC_LABELS else sound_class


def check_source_names(source_names: str) -> str:
    if source_names not in SOURCE_NAMES:
        raise ValueError(f"source_names must be one of {SOURCE_NAMES} (name a recording's sound by its label, e.g. "
                         f"'clarinet', or by its category, e.g. 'music'); got {source_names!r}.")
    return source_names


def normalise_label(label: str | None) -> str:
    """The sound class of a label: lower case, words joined by `_`; unusable labels give `"sound"`."""
    text = re.sub(r"[^a-z0-9]+", "_", (label or "").strip().lower()).strip("_")
    if text.replace("_", " ") in _UNUSABLE_LABELS or text.isdigit():
        return UNLABELLED_CLASS
    return text


def _audio_files(root: Path) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)


def _from_folder(root: Path) -> list:
    files = _audio_files(root)
    if not files:
        raise ValueError(f"No audio files ({', '.join(SUPPORTED_EXTENSIONS)}) under {root}; give a folder of "
                         "recordings (sub-folder names are the labels) or a CSV path,label[,license,source].")
    recordings = []
    for path in files:
        rel = path.relative_to(root)
        label = rel.parts[-2] if len(rel.parts) > 1 else None
        recordings.append(Recording(rel.as_posix(), str(path), normalise_label(label), label))
    return recordings


def _from_csv(csv_path: Path) -> list:
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else []
    if "path" not in header or "label" not in header:
        raise ValueError(f"{csv_path} must have a header with the columns path,label[,license,source,category]; got "
                         f"{list(header)}.")
    recordings, missing = [], []
    for row in rows:
        path = (csv_path.parent / row["path"]).resolve()
        if not path.is_file():
            missing.append(row["path"])
            continue
        label = (row.get("label") or "").strip() or None
        category = (row.get("category") or "").strip()
        recordings.append(Recording(row["path"], str(path), normalise_label(label), label,
                                    (row.get("license") or "").strip(), (row.get("source") or "").strip(),
                                    normalise_label(category) if category else ""))
    if missing:
        raise FileNotFoundError(f"{len(missing)} files listed in {csv_path} do not exist (paths are relative to the "
                                f"CSV's folder), e.g. {missing[:3]}; fix or remove those rows.")
    return recordings


@lru_cache(maxsize=4)
def load_library(path: str) -> tuple:
    """The recordings of a library folder or CSV, sorted by id (cached: every worker reads a library once)."""
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"Source library {source} does not exist; give a folder of recordings or a CSV "
                                "path,label[,license,source].")
    recordings = _from_csv(source) if source.is_file() else _from_folder(source)
    if not recordings:
        raise ValueError(f"The source library {source} lists no recordings.")
    short = [r.recording_id for r in recordings if sf.info(r.path).duration < MIN_RECORDING_S]
    if short:
        raise ValueError(f"{len(short)} recordings of {source} last less than {MIN_RECORDING_S} s (too little sound "
                         f"to describe), e.g. {short[:3]}; remove them from the library.")
    ids = [r.recording_id for r in recordings]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source} lists some files twice, e.g. {sorted({i for i in ids if ids.count(i) > 1})[:3]}.")
    return tuple(sorted(recordings, key=lambda r: r.recording_id))


def split_recordings(recordings, splits: dict, seed: int) -> dict:
    """Assign every recording to one split, class by class, in proportion to the splits' pair counts.

    Within a sound class the recordings are ordered by a hash of `(seed, id)`; each split after the first takes its
    share (at least one recording when the class has more recordings than there are splits) and the first split (the
    training split) the rest. Returns `{split: [recordings]}`; raises when a split with pairs gets no recording.
    """
    names = [name for name, count in splits.items() if count > 0]
    total = sum(splits[name] for name in names)
    assigned = {name: [] for name in splits}
    by_class = {}
    for recording in recordings:
        by_class.setdefault(recording.sound_class, []).append(recording)
    for members in by_class.values():
        members = sorted(members, key=lambda r: zlib.crc32(f"{seed}:{r.recording_id}".encode("utf-8")))
        taken = 0
        for name in names[1:]:
            share = int(round(len(members) * splits[name] / total))
            share = max(share, 1) if len(members) > len(names) else share
            assigned[name] += members[taken:taken + share]
            taken += share
        assigned[names[0]] += members[taken:]
    empty = [name for name in names if not assigned[name]]
    if empty:
        raise ValueError(f"Splits {empty} got no source recording ({len(recordings)} recordings in the library); add "
                         "recordings or give those splits a larger share of the pairs.")
    return assigned


@lru_cache(maxsize=256)
def recording_audio(path: str, sample_rate: int) -> np.ndarray:
    """A recording as mono float32 at `sample_rate` (cached per process)."""
    audio, _ = load_audio(path, sampling_rate=sample_rate)
    if audio.ndim == 2:  # (channels, samples)
        audio = audio.mean(axis=0)
    audio = audio.astype(np.float32)
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms < 1e-5:
        raise ValueError(f"Source recording {path} is silent (RMS {rms:.2g}); remove it from the library.")
    return audio


__all__ = ["GENERIC_CLASSES", "UNLABELLED_CLASS", "MUSIC_CATEGORY", "MUSIC_LABELS", "SOURCE_NAMES", "Recording",
           "default_category", "check_source_names", "normalise_label", "load_library", "split_recordings",
           "recording_audio"]
