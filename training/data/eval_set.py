"""The evaluation set: rows of an explanation dataset with their tier, reference and (for SynthDiff) ground-truth
facts.

Sources (read with the training data loaders of `training.data`, which resolve and check the audio files):

- an ACD/CLD-format CSV (or JSONL) file, with `audio_root` the folder its relative paths live under (default: the
  file's folder); a SynthDiff `<split>.csv` also picks up the `<split>_facts.jsonl` next to it;
- a SynthDiff corpus folder and a split name (`<folder>/<split>.csv` and `<folder>/<split>_facts.jsonl`);
- a `datasets.Dataset` with `audio1`/`audio2` (or `filepath1`/`filepath2`), `input` and `answer` columns, and
  optionally a `facts` column (a SynthDiff pair record as a dict or a JSON string).

Only rows whose prompt names a tier in `tiers` are evaluated; the others (captioning tasks, free prompts, other tiers)
are counted in `skipped`, never dropped silently.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..synthdiff.interface import FACTS_SUFFIX, check_facts, clip_sound_names
from .collator import AdiffCollator
from .sources import load_explanations, resolve_path

DEFAULT_SPLIT = "test"


@dataclass
class EvalRow:
    """One explanation to evaluate.

    Args:
        index (`int`): row number in the source.
        pair (`tuple[str, str]`): identifies the audio pair (its two file paths, or `"row <n>"` keys).
        audio1, audio2: the clips in a form `AdiffProcessor` loads.
        tier (`int`): 1, 2 or 3.
        reference (`str`): the reference explanation.
        facts (`dict`, *optional*): the SynthDiff facts of the pair.
    """

    index: int
    pair: tuple
    audio1: object
    audio2: object
    tier: int
    reference: str
    facts: dict | None = None


@dataclass
class EvalSet:
    """Rows to evaluate, what was skipped, where they came from, and the sound classes of their corpus (the clip
    labels of the facts, and a source corpus's classes of every split from its `corpus.json`: what the claim parser
    reads as sounds, `claims.extract_claims(text, sound_classes)`)."""

    name: str
    rows: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    facts_source: str | None = None
    sound_classes: tuple = ()

    @property
    def has_facts(self) -> bool:
        return bool(self.rows) and all(row.facts is not None for row in self.rows)


def read_facts(path, audio_root=None) -> dict:
    """SynthDiff facts keyed by the pair's resolved `(filepath1, filepath2)`.

    Args:
        path (`str` or `Path`): a `<split>_facts.jsonl` file.
        audio_root (`str` or `Path`, *optional*): the folder the records' relative file paths live under (default:
            the file's folder, as the generator writes them).
    """
    path = Path(path)
    root = Path(audio_root) if audio_root is not None else path.parent
    facts = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
            check_facts(record)
            if "filepath1" not in record or "filepath2" not in record:
                raise ValueError(f"{path}, line {number}: a facts record needs filepath1 and filepath2 to be matched "
                                 "with its CSV rows.")
            facts[(resolve_path(record["filepath1"], root), resolve_path(record["filepath2"], root))] = record
    return facts


def sound_classes_of(facts_list, corpus_info: dict | None = None) -> tuple:
    """The sorted sound classes the clips of `facts_list` hold (with their recordings' categories, e.g. "music"), and
    those of every split of a source corpus whose `corpus.json` content is `corpus_info` (so a train-only class named
    in a test text is read, and can be found absent)."""
    classes = {name for facts in facts_list if facts for a in (1, 2) for name in clip_sound_names(facts[f"clip{a}"])}
    for split in ((corpus_info or {}).get("sources") or {}).get("splits", {}).values():
        classes.update(split.get("classes", {}))
    return tuple(sorted(classes))


def synthdiff_facts_for(rows, cache: dict | None = None) -> list | None:
    """The facts of each row (a dict with `filepath1`/`filepath2`, or a `facts` key) of a SynthDiff corpus, found from
    the generator's layout (`<corpus>/audio/<split>/<id>_1.wav` -> `<corpus>/<split>_facts.jsonl`); `None` when a row
    has none."""
    cache = {} if cache is None else cache
    out = []
    for row in rows:
        if row.get("facts") is not None:
            out.append(_row_facts(row["facts"]))
            continue
        first = Path(str(row.get("filepath1") or ""))
        facts_file = first.parent.parent.parent / f"{first.parent.name}{FACTS_SUFFIX}"
        if facts_file not in cache:
            cache[facts_file] = read_facts(facts_file) if facts_file.is_file() else {}
        record = cache[facts_file].get((str(row.get("filepath1")), str(row.get("filepath2"))))
        if record is None:
            return None
        out.append(record)
    return out


def _locate(dataset, split: str | None) -> tuple:
    """`(data file, facts file or None)` for a path source."""
    path = Path(dataset)
    if path.is_dir():
        split = split or DEFAULT_SPLIT
        data = path / f"{split}.csv"
        if not data.is_file():
            splits = sorted(p.stem for p in path.glob("*.csv") if not p.stem.endswith("_clips"))
            raise FileNotFoundError(f"{path} has no {split}.csv; expected a SynthDiff corpus folder holding "
                                    f"<split>.csv files (found splits: {splits or 'none'}). Pass split= or a CSV "
                                    "path.")
    elif path.is_file():
        if split is not None:
            raise ValueError(f"split={split!r} applies to a SynthDiff corpus folder, but {path} is a file.")
        data = path
    else:
        raise FileNotFoundError(f"Dataset {path} does not exist; pass a CSV/JSONL file, a SynthDiff corpus folder or "
                                "a datasets.Dataset.")
    facts = data.with_name(data.stem + FACTS_SUFFIX)
    return data, facts if facts.is_file() else None


def _pair_key(row: dict, index: int) -> tuple:
    """The pair's two file paths (from the path columns or the audio dicts); the row number when there are none."""
    paths = []
    for position in (1, 2):
        value = row.get(f"filepath{position}") or row.get(f"audio{position}")
        paths.append(value if isinstance(value, str)
                     else (value or {}).get("path") if isinstance(value, dict) else None)
    return tuple(paths) if all(paths) else (f"row {index}", f"row {index}")


def _row_facts(value):
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return json.loads(value)
    raise TypeError(f"A `facts` column must hold dicts or JSON strings, got a {type(value).__name__}.")


def load_eval_set(dataset, *, split: str | None = None, audio_root=None, tiers=(1, 2, 3),
                  max_pairs: int | None = None) -> EvalSet:
    """Read the rows to evaluate (see the module docstring).

    Args:
        dataset: a CSV/JSONL path, a SynthDiff corpus folder, or a `datasets.Dataset`.
        split (`str`, *optional*): the split of a corpus folder (default `"test"`).
        audio_root (`str` or `Path`, *optional*): the folder relative audio paths live under.
        tiers (iterable of `int`, defaults to `(1, 2, 3)`): the tiers to evaluate.
        max_pairs (`int`, *optional*): keep the rows of the first `max_pairs` distinct audio pairs only.

    Returns: `EvalSet`. Raises `training.data.AudioFilesError` (a `FileNotFoundError`) when audio files are missing.
    """
    tiers = tuple(tiers)
    if not tiers or any(isinstance(t, bool) or t not in (1, 2, 3) for t in tiers):
        raise ValueError(f"tiers must be a non-empty subset of (1, 2, 3), got {tiers!r}.")
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1):
        raise ValueError(f"max_pairs must be a positive integer or None, got {max_pairs!r}.")
    facts, facts_source = {}, None
    corpus_info = None
    if isinstance(dataset, (str, Path)):
        data_file, facts_file = _locate(dataset, split)
        table = load_explanations(data_file, audio_root)
        name = str(data_file)
        if facts_file is not None:
            facts, facts_source = read_facts(facts_file, audio_root), str(facts_file)
            if (data_file.parent / "corpus.json").is_file():
                corpus_info = json.loads((data_file.parent / "corpus.json").read_text(encoding="utf-8"))
    else:
        table = load_explanations(dataset)
        name = (dataset.info.dataset_name if dataset.info is not None else None) or "datasets.Dataset"
        if "facts" in table.column_names:
            facts_source = "facts column"
    if "answer" not in table.column_names or any(a is None for a in table["answer"]):
        raise ValueError(f"{name}: evaluation needs a reference `answer` for every row.")

    reader = AdiffCollator(processor=None)  # only its audio lookup is used
    out = EvalSet(name=name, facts_source=facts_source)
    skipped = Counter()
    pairs = {}
    for index, row in enumerate(table):
        if row["tier"] is None:
            skipped[row["task"] or "free_prompt"] += 1
            continue
        if row["tier"] not in tiers:
            skipped[f"tier_{row['tier']}_not_requested"] += 1
            continue
        pair = _pair_key(row, index)
        if pair not in pairs:
            if max_pairs is not None and len(pairs) >= max_pairs:
                skipped["beyond_max_pairs"] += 1
                continue
            pairs[pair] = len(pairs)
        row_facts = _row_facts(row.get("facts")) if facts_source == "facts column" else facts.get(pair)
        if facts_source is not None and row_facts is None:
            raise ValueError(f"{name}, row {index}: no facts for the pair {pair} in {facts_source}; the facts file "
                             "must describe every pair of the CSV (regenerate the split or remove the facts file).")
        out.rows.append(EvalRow(index=index, pair=pair, audio1=reader.audio(row, 1), audio2=reader.audio(row, 2),
                                tier=row["tier"], reference=row["answer"], facts=row_facts))
    out.skipped = dict(skipped)
    out.sound_classes = sound_classes_of([row.facts for row in out.rows], corpus_info)
    if not out.rows:
        raise ValueError(f"{name}: no row to evaluate for tiers {tiers} (skipped: {out.skipped or 'none'}).")
    return out


__all__ = ["DEFAULT_SPLIT", "EvalRow", "EvalSet", "read_facts", "sound_classes_of", "synthdiff_facts_for",
           "load_eval_set"]
