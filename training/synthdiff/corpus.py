"""Writing a SynthDiff corpus: wav pairs, CSVs in the official ACD/CLD format, JSON facts and clip labels.

Layout of `out_dir`:

- `audio/<split>/<id>_1.wav`, `<id>_2.wav`: 16-bit PCM clips.
- `<split>.csv`: `taskname,filepath1,filepath2,caption1,caption2,input,answer`, one row per (pair, tier) plus
  position-captioning rows; file paths are relative to `out_dir`; `input` holds the canonical prompts.
- `<split>_facts.jsonl`: one JSON object per pair with the exact facts of both clips and of the pair.
- `<split>_clips.csv`: `filepath,labels,background,events` per clip for multi-label tagging: `labels` the `;`-separated
  event classes, `events` their times as `;`-separated `class@start-end` (seconds), for frame-level targets.
- `<split>_reversed.csv`, `<split>_reversed_facts.jsonl` (for the splits named in `reversed_splits`): every pair of
  the split with its clips swapped and its explanations written for that order (`reversal.py`); same wav files.
- `corpus.json`: generator version, seed, parameters, class catalogue and counts.
"""

import csv
import inspect
import json
import logging
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from processing_adiff import AdiffFeatureExtractor
from processing_adiff.prompts import TASK_PROMPTS, TIER_PROMPTS

from ..data.sources import CSV_COLUMNS
from .catalogue import BACKGROUNDS, CLASS_NAMES
from .grammar import caption, caption_both, explain
from .pairs import compare_clips, make_pair, scheduled_pair
from .reversal import reverse_record, reversed_split_name
from .realworld import write_clip_file
from .scene import render_clip
from .source_pairs import generate_source_pair, source_summary

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0"
# Clips default to what the feature extractor consumes (its defaults are the single source of truth): 10 s at 32 kHz.
_EXTRACTOR_DEFAULTS = inspect.signature(AdiffFeatureExtractor.__init__).parameters
DEFAULT_SAMPLE_RATE = _EXTRACTOR_DEFAULTS["sampling_rate"].default
DEFAULT_SECONDS = _EXTRACTOR_DEFAULTS["max_length_s"].default
DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
TASKNAME = "synthdiff"
CAPTION_TASKS = ("caption_first", "caption_second", "caption_both")


def pair_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The seed of one pair: any pair regenerates alone, identically, from `(seed, split, index)`. Its children: 0 the
    scene, 1 the texts, 2 the texts of the reversed pair."""
    return np.random.SeedSequence([seed, zlib.crc32(split.encode("utf-8")), index])


def generate_pair(seed: int, split: str, index: int, sample_rate: int = DEFAULT_SAMPLE_RATE,
                  seconds: float = DEFAULT_SECONDS) -> tuple:
    """Render pair `index` of `split`: `(audio1, audio2, record)` with float32 audio and the pair's JSON record.

    The record holds the pair facts (`pair_type`, `edit`, `identical`, `louder`, ...), the facts of each clip
    (`clip1`, `clip2`), the three tiers' explanations and the two captions.
    """
    scene_seq, text_seq = pair_seed(seed, split, index).spawn(2)
    pair_type, edit = scheduled_pair(index)
    spec1, spec2, meta = make_pair(np.random.default_rng(scene_seq), pair_type, edit)
    cache = {}
    audio1, facts1 = render_clip(spec1, sample_rate, seconds, cache)
    if pair_type == "identical":
        audio2, facts2 = audio1.copy(), facts1
    else:
        audio2, facts2 = render_clip(spec2, sample_rate, seconds, cache)
    pair = compare_clips(facts1, facts2, meta, identical=bool(np.array_equal(audio1, audio2)))
    pair.update(clip1=facts1, clip2=facts2)
    text_rng = np.random.default_rng(text_seq)
    pair["explanations"] = {str(tier): explain(pair, tier, text_rng) for tier in (1, 2, 3)}
    pair["captions"] = [caption(facts1, text_rng), caption(facts2, text_rng)]
    return audio1, audio2, pair


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    # The audio already lies on the 16-bit grid, so this conversion is exact and the bytes are reproducible.
    sf.write(str(path), np.round(audio * 32767.0).astype(np.int16), sample_rate, subtype="PCM_16")


def _write_clip(path: Path, audio: np.ndarray, sample_rate: int, clip: dict) -> None:
    """A clip's file: 16-bit wav, or as its facts say for a source clip (format, rate, channels)."""
    if "file_format" not in clip:
        _write_wav(path, audio, sample_rate)
    else:
        write_clip_file(path, audio, sample_rate, clip["file_format"], clip["file_sample_rate"], clip["channels"])


def _generate_chunk(job: tuple) -> list:
    out_dir, split, indices, seed, sample_rate, seconds, sources, splits, source_names = job
    records = []
    for index in indices:
        if sources is None:
            audio1, audio2, record = generate_pair(seed, split, index, sample_rate, seconds)
        else:
            audio1, audio2, record = generate_source_pair(sources, splits, pair_seed(seed, split, index), seed, split,
                                                          index, sample_rate, seconds, source_names)
        pair_id = f"{split}_{index:06d}"
        paths = [f"audio/{split}/{pair_id}_{k}.{record[f'clip{k}'].get('file_format', 'wav')}" for k in (1, 2)]
        for k, rel, audio in zip((1, 2), paths, (audio1, audio2)):
            _write_clip(Path(out_dir) / rel, audio, sample_rate, record[f"clip{k}"])
        records.append({"id": pair_id, "split": split, "index": index, "filepath1": paths[0], "filepath2": paths[1],
                        **record})
    return records


def _csv_rows(record: dict, caption_rows: int) -> list:
    cap1, cap2 = record["captions"]
    base = [TASKNAME, record["filepath1"], record["filepath2"], cap1, cap2]
    rows = [base + [TIER_PROMPTS[tier], record["explanations"][str(tier)]] for tier in (1, 2, 3)]
    answers = {"caption_first": cap1, "caption_second": cap2, "caption_both": caption_both(cap1, cap2)}
    # With fewer than three captioning rows per pair the task rotates with the pair index, keeping the tasks balanced.
    for k in range(caption_rows):
        task = CAPTION_TASKS[(record["index"] + k) % len(CAPTION_TASKS)]
        rows.append(base + [TASK_PROMPTS[task], answers[task]])
    return rows


def resolve_splits(pairs: int = None, splits: dict = None) -> dict:
    """Pairs per split: `splits` maps split names to counts (ints) or to fractions of `pairs` (floats summing to 1)."""
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    if not splits:
        raise ValueError("splits is empty; give at least one split, e.g. {'train': 100}.")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in splits.values()):
        counts = splits
    else:
        if pairs is None:
            raise ValueError(f"splits {splits} are fractions, so `pairs` (the total) is required.")
        if abs(sum(splits.values()) - 1.0) > 1e-6:
            raise ValueError(f"Split fractions must sum to 1, got {splits} (sum {sum(splits.values())}).")
        names = list(splits)
        counts = {name: int(pairs * splits[name]) for name in names}
        counts[names[0]] += pairs - sum(counts.values())  # rounding leftovers go to the first split
    bad = {k: v for k, v in counts.items() if not isinstance(v, int) or v < 0}
    if bad:
        raise ValueError(f"Pair counts per split must be integers >= 0, got {bad}.")
    return counts


def generate_corpus(out_dir, pairs: int = None, seed: int = 0, splits: dict = None,
                    sample_rate: int = DEFAULT_SAMPLE_RATE, seconds: float = DEFAULT_SECONDS, caption_rows: int = 1,
                    workers: int = 1, chunk_size: int = 64, reversed_splits=None, sources=None,
                    source_names: str = "label") -> dict:
    """Generate a SynthDiff corpus in `out_dir` and return the content of its `corpus.json`.

    Args:
        out_dir (`str` or `Path`): folder to write (created; existing files of the same splits are overwritten). The
            other splits of a corpus already there are kept (a corpus grows split by split, e.g. a `train_extra`
            split for stage 3 only), which needs the same seed, sample rate, clip length and caption rows.
        pairs (`int`, *optional*): total pairs, divided by `splits` when those are fractions.
        seed (`int`): corpus seed; pair `i` of split `s` depends only on `(seed, s, i)`.
        splits (`dict`, *optional*): split name -> pair count (int) or fraction of `pairs` (float); defaults to
            80/10/10 train/validation/test.
        sample_rate (`int`): sampling rate of the wav files (default 32 kHz).
        seconds (`float`): clip length.
        caption_rows (`int`): position-captioning rows per pair (0-3), in addition to the three tier rows.
        workers (`int`): processes; the output is identical for any number of workers.
        chunk_size (`int`): pairs per job handed to a worker.
        reversed_splits (list of `str`, *optional*): splits that also get a reversed split (`add_reversed_splits`),
            e.g. `["train"]` for `train_reversed`; `None` means none, or every split for a source corpus.
        sources (`str` or `Path`, *optional*): a source library (a folder of recordings, or a CSV
            `path,label[,license,source]`): the scenes are then made of its recordings, split by recording, with the
            real-world edits and identity pairs of `source_pairs` (see `sources.py`).
        source_names (`str`): with `sources`, what the texts call a recording's sound: `"label"` ("a clarinet") or
            `"category"` ("music" for every instrument; `sources.Recording.category`).

    Example:

    ```python
    >>> from training.synthdiff import generate_corpus
    >>> info = generate_corpus("synthdiff_small", pairs=100, seed=0)
    >>> info["counts"]["train"]["pairs"]
    80
    ```
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    if not 0 <= caption_rows <= len(CAPTION_TASKS):
        raise ValueError(f"caption_rows must be between 0 and {len(CAPTION_TASKS)}, got {caption_rows!r}.")
    if sample_rate < 8000 or seconds < 2.0:
        raise ValueError(f"Need sample_rate >= 8000 and seconds >= 2 for the sound catalogue; got {sample_rate} Hz, "
                         f"{seconds} s.")
    counts = resolve_splits(pairs, splits)
    if reversed_splits is None:  # a source corpus teaches both orders of every pair
        reversed_splits = list(counts) if sources is not None else []
    out_dir = Path(out_dir)
    settings = {"version": GENERATOR_VERSION, "seed": seed, "sample_rate": sample_rate, "seconds": seconds,
                "caption_rows": caption_rows}
    if sources is not None:
        sources = str(Path(sources).resolve())
        # checks the library before any audio is written
        library = source_summary(sources, counts, seed, source_names)
        settings["sources"] = sources
    previous = _corpus_to_extend(out_dir, settings, counts)
    if previous and sources is not None:
        raise ValueError(f"{out_dir} already holds splits {sorted(previous['parameters']['splits'])}; a source corpus "
                         "splits its recordings over all of its splits at once, so it cannot grow split by split. "
                         "Write to another folder, or generate all splits in one call.")
    start = time.perf_counter()
    summary = {}
    with ProcessPoolExecutor(workers) if workers > 1 else _InlineExecutor() as executor:
        for split, n in counts.items():
            (out_dir / "audio" / split).mkdir(parents=True, exist_ok=True)
            jobs = [(str(out_dir), split, range(i, min(i + chunk_size, n)), seed, sample_rate, seconds, sources,
                     tuple(counts.items()), source_names) for i in range(0, n, chunk_size)]
            records = [r for chunk in executor.map(_generate_chunk, jobs) for r in chunk]
            summary[split] = _write_split(out_dir, split, records, caption_rows)
            logger.info("SynthDiff %s: %d pairs written to %s", split, n, out_dir)
    elapsed = time.perf_counter() - start
    info = {
        "generator": "synthdiff", "version": GENERATOR_VERSION, "seed": seed,
        "parameters": {"sample_rate": sample_rate, "seconds": seconds, "caption_rows": caption_rows,
                       "splits": counts},
        "sound_classes": list(CLASS_NAMES), "backgrounds": list(BACKGROUNDS), "counts": summary,
        "seconds_elapsed": round(elapsed, 2), "workers": workers,
    }
    if sources is not None:
        info["sources"] = library
    if previous:  # its other splits stay: listed first, as they were
        info["parameters"]["splits"] = {**previous["parameters"]["splits"], **counts}
        info["counts"] = {**previous["counts"], **summary}
        if "reversed_splits" in previous["parameters"]:
            info["parameters"]["reversed_splits"] = previous["parameters"]["reversed_splits"]
    with open(out_dir / "corpus.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return add_reversed_splits(out_dir, reversed_splits) if reversed_splits else info


def _corpus_to_extend(out_dir: Path, settings: dict, new_splits: dict) -> dict | None:
    """The `corpus.json` in `out_dir` when it has splits this call does not regenerate (they are kept), else None."""
    path = out_dir / "corpus.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    others = sorted(set(previous["parameters"]["splits"]) - set(new_splits))
    if not others:
        return None
    theirs = {"version": previous["version"], "seed": previous["seed"],
              **{k: previous["parameters"][k] for k in ("sample_rate", "seconds", "caption_rows")},
              **({"sources": previous["sources"]["path"]} if "sources" in previous else {})}
    if theirs != settings:
        raise ValueError(f"{out_dir} already holds a SynthDiff corpus (splits {others}) made with {theirs}; a split "
                         f"added to it must use the same settings, got {settings}. Write to another folder, or "
                         "regenerate all of its splits.")
    return previous


def add_reversed_splits(out_dir, splits) -> dict:
    """Write `<split>_reversed` for each of `splits` of the corpus in `out_dir` from its facts and seed (no audio is
    rendered; an existing corpus can be extended), record them in `corpus.json` and return its new content."""
    out_dir = Path(out_dir)
    info_path = out_dir / "corpus.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} does not exist: reversed splits are written into a SynthDiff corpus "
                                f"(python -m training.synthdiff --out {out_dir} --pairs N).")
    with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    for split in splits:
        if split not in info["parameters"]["splits"]:
            raise ValueError(f"Split {split!r} is not in the corpus at {out_dir}; it has "
                             f"{sorted(info['parameters']['splits'])}.")
        with open(out_dir / f"{split}_facts.jsonl", encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        reversed_records = [
            reverse_record(r, np.random.default_rng(pair_seed(info["seed"], split, r["index"]).spawn(3)[2]))
            for r in records]
        name = reversed_split_name(split)
        info["counts"][name] = _write_split(out_dir, name, reversed_records, info["parameters"]["caption_rows"],
                                            clips_index=False)
        logger.info("SynthDiff %s: %d reversed pairs written to %s", name, len(reversed_records), out_dir)
    info["parameters"]["reversed_splits"] = sorted(set(info["parameters"].get("reversed_splits", [])) | set(splits))
    with open(info_path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return info


class _InlineExecutor:
    """`executor.map` in the calling process (workers=1), with the executor's context-manager interface."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, jobs):
        return map(fn, jobs)


def event_times(clip: dict) -> str:
    """A clip's events as `class@start-end;...` (seconds, clipped to the clip), the `events` column of `_clips.csv`."""
    return ";".join(f"{e['class']}@{e['onset_s']:.3f}-{e['onset_s'] + e['duration_s']:.3f}" for e in clip["events"])


def write_clips_csv(path: Path, records: list) -> None:
    """The tagging index of a split (`filepath,labels,background,events` per clip) from its fact records; also
    rebuilds the index of an existing corpus from `<split>_facts.jsonl`."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("filepath", "labels", "background", "events"))
        for record in records:
            for k in (1, 2):
                clip = record[f"clip{k}"]
                writer.writerow((record[f"filepath{k}"], ";".join(clip["labels"]), clip["background"],
                                 event_times(clip)))


def _write_split(out_dir: Path, split: str, records: list, caption_rows: int, clips_index: bool = True) -> dict:
    with open(out_dir / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerows(_csv_rows(record, caption_rows))
    with open(out_dir / f"{split}_facts.jsonl", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    if clips_index:  # a reversed split's clips are its source split's: no second tagging index
        write_clips_csv(out_dir / f"{split}_clips.csv", records)
    edits = Counter(r["edit"]["kind"] for r in records if r["pair_type"] == "edited")
    return {"pairs": len(records), "rows": len(records) * (3 + caption_rows),
            "pair_types": dict(Counter(r["pair_type"] for r in records)), "edits": dict(edits)}


__all__ = ["GENERATOR_VERSION", "DEFAULT_SAMPLE_RATE", "DEFAULT_SECONDS", "DEFAULT_SPLITS", "TASKNAME",
           "CSV_COLUMNS", "pair_seed", "generate_pair", "generate_corpus", "add_reversed_splits", "resolve_splits",
           "event_times", "write_clips_csv"]
