"""Loading difference-explanation data: ACD/CLD-format CSVs, JSONL files and Hugging Face datasets.

Every loader returns a `datasets.Dataset` with the official columns (`taskname, filepath1, filepath2, caption1,
caption2, input, answer`) plus `tier` (1, 2, 3, read from the prompt; `None` for captioning or free prompts) and
`task` (`"caption_first"`, ... or `None`). File paths are resolved against the audio root. Audio files are checked
up front: missing or unreadable ones raise `AudioFilesError` with counts and examples, or, with `on_missing="skip"`,
their rows are dropped and counted in a warning. Nothing is dropped silently.
"""

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
from datasets import Audio, Dataset

from processing_adiff.prompts import task_from_prompt, tier_from_prompt

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("taskname", "filepath1", "filepath2", "caption1", "caption2", "input", "answer")
REQUIRED_COLUMNS = ("filepath1", "filepath2", "input")
ON_MISSING = ("error", "skip")
AUDIO_COLUMNS = (("audio1", "audio2"), ("filepath1", "filepath2"))


class AudioFilesError(FileNotFoundError):
    """Some referenced audio files are missing or unreadable; `report` holds the details."""

    def __init__(self, message: str, report: "AudioFileReport"):
        super().__init__(message)
        self.report = report


@dataclass
class AudioFileReport:
    """Result of checking audio files: how many were checked, which are missing, which could not be read."""

    checked: int = 0
    missing: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # (path, reason)

    @property
    def bad(self) -> set:
        return set(self.missing) | {path for path, _ in self.unreadable}

    def summary(self, limit: int = 10) -> str:
        parts = [f"{len(self.missing)} missing and {len(self.unreadable)} unreadable of {self.checked} audio files"]
        if self.missing:
            parts.append(f"first missing: {', '.join(map(str, self.missing[:limit]))}")
        if self.unreadable:
            parts.append("first unreadable: " + ", ".join(f"{p} ({why})" for p, why in self.unreadable[:limit]))
        return "; ".join(parts)


def _probe(source) -> str:
    """`None` if soundfile can parse the audio's header, else the reason it cannot."""
    try:
        info = sf.info(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source))
    except Exception as error:  # soundfile raises several types for corrupt data
        return f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    return None if info.frames > 0 else "no audio frames"


def check_audio_files(paths) -> AudioFileReport:
    """Check that every distinct path exists and has a readable audio header."""
    report = AudioFileReport()
    for path in dict.fromkeys(map(str, paths)):
        report.checked += 1
        if not Path(path).is_file():
            report.missing.append(path)
        elif (reason := _probe(path)) is not None:
            report.unreadable.append((path, reason))
    return report


def resolve_path(path: str, root: Path) -> str:
    """`path` as a string, relative paths taken against `root` (`~` expanded)."""
    path = Path(path).expanduser()
    return str(path if path.is_absolute() else root / path)


def _with_prompt_columns(rows: list) -> list:
    for row in rows:
        row["tier"] = tier_from_prompt(row["input"])
        row["task"] = task_from_prompt(row["input"])
    return rows


def _apply_report(rows: list, report: AudioFileReport, on_missing: str, source: str, max_report: int,
                  keys=("filepath1", "filepath2")) -> list:
    if not report.bad:
        return rows
    if on_missing == "error":
        raise AudioFilesError(
            f"{source}: {report.summary(max_report)}. Check the audio root (audio_root=...) and the files, or pass "
            "on_missing='skip' to drop the affected rows (they are counted in a warning).", report)
    kept = [row for row in rows if not any(_key(row[k]) in report.bad for k in keys)]
    logger.warning("%s: skipped %d of %d rows because of %s.", source, len(rows) - len(kept), len(rows),
                   report.summary(max_report))
    return kept


def _key(value) -> str:
    return value if isinstance(value, str) else (value or {}).get("path")


def _check_columns(columns, source: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}; expected the ADIFF format {list(CSV_COLUMNS)} (answer "
                         f"optional for inference), got {list(columns)}.")


def _check_on_missing(on_missing: str) -> None:
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}.")


def _finish(rows: list, source: str, on_missing: str, check_audio: bool, max_report: int) -> Dataset:
    for index, row in enumerate(rows):
        if not row.get("filepath1") or not row.get("filepath2"):
            raise ValueError(f"{source}, row {index}: empty filepath1/filepath2 ({row.get('filepath1')!r}, "
                             f"{row.get('filepath2')!r}); every row needs two audio paths.")
        for column in CSV_COLUMNS:
            row.setdefault(column, None)
    if check_audio:
        report = check_audio_files(p for row in rows for p in (row["filepath1"], row["filepath2"]))
        rows = _apply_report(rows, report, on_missing, source, max_report)
    rows = _with_prompt_columns(rows)
    columns = list(CSV_COLUMNS) + ["tier", "task"] + sorted({k for r in rows for k in r} - set(CSV_COLUMNS) -
                                                           {"tier", "task"})
    return Dataset.from_dict({c: [row.get(c) for row in rows] for c in columns})


def load_csv(paths, audio_root=None, on_missing: str = "error", check_audio: bool = True,
             max_report: int = 10) -> Dataset:
    """Load one or more CSVs in the official ACD/CLD format.

    Args:
        paths (`str`, `Path` or list): CSV file(s).
        audio_root (`str` or `Path`, *optional*): folder the relative `filepath1`/`filepath2` live under; defaults to
            each CSV's own folder (right for SynthDiff corpora).
        on_missing (`str`, defaults to `"error"`): `"error"` raises `AudioFilesError` listing missing/unreadable
            files; `"skip"` drops those rows and logs how many and which.
        check_audio (`bool`, defaults to `True`): check files exist and parse before training starts.
        max_report (`int`, defaults to 10): how many bad files the message names.

    Example:

    ```python
    >>> ds = load_csv("synthdiff/train.csv")
    >>> ds[0]["tier"], ds.column_names[-2:]
    (1, ['tier', 'task'])
    ```
    """
    _check_on_missing(on_missing)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"CSV file {path} does not exist.")
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            _check_columns(reader.fieldnames or (), str(path))
            part = list(reader)
        root = Path(audio_root) if audio_root is not None else path.parent
        for row in part:
            for k in ("filepath1", "filepath2"):
                row[k] = resolve_path(row[k], root) if row[k] else row[k]
        rows += part
    source = ", ".join(map(str, paths))
    return _finish(rows, source, on_missing, check_audio, max_report)


def load_jsonl(paths, audio_root=None, on_missing: str = "error", check_audio: bool = True,
               max_report: int = 10) -> Dataset:
    """Load JSON-lines files with the official keys (one object per line); arguments as in `load_csv`."""
    _check_on_missing(on_missing)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"JSONL file {path} does not exist.")
        root = Path(audio_root) if audio_root is not None else path.parent
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
                _check_columns(row, f"{path}, line {number}")
                for k in ("filepath1", "filepath2"):
                    row[k] = resolve_path(row[k], root) if row[k] else row[k]
                rows.append(row)
    return _finish(rows, ", ".join(map(str, paths)), on_missing, check_audio, max_report)


def from_hf_dataset(dataset: Dataset, on_missing: str = "error", check_audio: bool = True,
                    max_report: int = 10) -> Dataset:
    """Adopt a `datasets.Dataset` whose audio lives in `Audio` columns (`audio1`/`audio2`, or `filepath1`/`filepath2`).

    The audio columns are cast to `Audio(decode=False)` (`{"bytes", "path"}` per clip, decoded later by the collator
    with soundfile), each clip is checked like a file, and `tier`/`task` columns are added from `input`.
    """
    _check_on_missing(on_missing)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"Expected a datasets.Dataset, got {type(dataset).__name__}.")
    pair = next((p for p in AUDIO_COLUMNS if all(c in dataset.column_names for c in p)), None)
    if pair is None or "input" not in dataset.column_names:
        raise ValueError(f"The dataset needs an `input` column and audio columns audio1/audio2 (or filepath1/"
                         f"filepath2); got {dataset.column_names}.")
    for column in pair:
        if isinstance(dataset.features[column], Audio):
            dataset = dataset.cast_column(column, Audio(decode=False))
    if check_audio:
        report = AudioFileReport()
        bad_rows = []
        for index, row in enumerate(dataset.select_columns(list(pair))):
            for column in pair:
                reason = _clip_problem(row[column])
                report.checked += 1
                if reason == "missing":
                    report.missing.append(f"row {index} {column}: {_key(row[column])}")
                elif reason:
                    report.unreadable.append((f"row {index} {column}: {_key(row[column])}", reason))
                if reason:
                    bad_rows.append(index)
        if bad_rows:
            if on_missing == "error":
                raise AudioFilesError(f"Dataset: {report.summary(max_report)}. Fix the audio or pass "
                                      "on_missing='skip' to drop those rows (they are counted in a warning).", report)
            bad = set(bad_rows)
            logger.warning("Dataset: skipped %d of %d rows because of %s.", len(bad), len(dataset),
                           report.summary(max_report))
            dataset = dataset.select([i for i in range(len(dataset)) if i not in bad])
    return dataset.map(lambda row: {"tier": tier_from_prompt(row["input"]), "task": task_from_prompt(row["input"])})


def _clip_problem(value) -> str:
    """'missing', a reason string, or None for one clip of an HF dataset row."""
    if isinstance(value, dict) and "array" in value:
        return None if len(value["array"]) else "empty array"
    if isinstance(value, dict):
        if value.get("bytes"):
            return _probe(value["bytes"])
        value = value.get("path")
    if not value or not Path(value).is_file():
        return "missing"
    return _probe(value)


def load_explanations(source, audio_root=None, **kwargs) -> Dataset:
    """Dispatch on the source: a `datasets.Dataset`, or `.csv` / `.jsonl` path(s)."""
    if isinstance(source, Dataset):
        return from_hf_dataset(source, **kwargs)
    paths = [source] if isinstance(source, (str, Path)) else list(source)
    suffixes = {Path(p).suffix.lower() for p in paths}
    if suffixes == {".csv"}:
        return load_csv(paths, audio_root, **kwargs)
    if suffixes <= {".jsonl", ".json"}:
        return load_jsonl(paths, audio_root, **kwargs)
    raise ValueError(f"Cannot tell the format of {paths}: expected .csv or .jsonl files (one kind at a time) or a "
                     "datasets.Dataset.")


__all__ = ["CSV_COLUMNS", "AudioFilesError", "AudioFileReport", "check_audio_files", "load_csv", "load_jsonl",
           "from_hf_dataset", "load_explanations", "resolve_path"]
