"""Merge SynthDiff corpora into one corpus folder, so that one training run sees several of them (e.g. the synthesised
corpus and a `--sources` corpus built from real recordings).

Command line: `python -m training.synthdiff.merge --out DIR CORPUS [CORPUS ...]` (optionally `--tags synth,real`).

The merged folder has the generator's layout, so every reader of a corpus works on it unchanged (the stages, the
evaluator, `synthdiff_facts_for`): `<split>.csv`, `<split>_clips.csv` and `<split>_facts.jsonl` are the corpora's files
concatenated in the order given, with each audio path rewritten to `audio/<split>/<tag>-<file name>`, a symbolic link
to the original file (no audio is copied; keep the source corpora where they are). `corpus.json` lists the union of the
sound classes and backgrounds (a `--sources` corpus's classes of every split included, so the tagger has an output for
each), the summed counts, and where each part came from.
"""

import argparse
import csv
import json
import os
from pathlib import Path

from .fact_records import FACTS_SUFFIX

CLIPS_SUFFIX = "_clips.csv"
PAIR_PATH_COLUMNS = ("filepath1", "filepath2")


def _splits(corpus: Path) -> list[str]:
    """The splits a corpus folder holds: every `<split>.csv` next to a `corpus.json`."""
    if not (corpus / "corpus.json").is_file():
        raise FileNotFoundError(f"{corpus} is not a SynthDiff corpus (no corpus.json); build one with `python -m "
                                "training.synthdiff --out DIR --pairs N [--sources LIBRARY]`.")
    return sorted(p.stem for p in corpus.glob("*.csv") if not p.name.endswith(CLIPS_SUFFIX))


class _Linker:
    """Maps a corpus's relative audio paths to the merged folder's, creating each symbolic link once."""

    def __init__(self, out: Path, corpus: Path, tag: str):
        self.out, self.corpus, self.tag, self.done = out, corpus, tag, {}

    def __call__(self, relative: str) -> str:
        if relative in self.done:
            return self.done[relative]
        source = (self.corpus / relative).resolve()
        if not source.is_file():
            raise FileNotFoundError(f"{self.corpus} names the audio file {relative!r}, which does not exist "
                                    f"({source}); the corpus is incomplete, regenerate it.")
        parts = Path(relative).parts
        if len(parts) != 3 or parts[0] != "audio":
            raise ValueError(f"{self.corpus}: audio path {relative!r} is not in the generator's layout "
                             "audio/<split>/<file>; only SynthDiff corpora can be merged.")
        merged = f"audio/{parts[1]}/{self.tag}-{parts[2]}"
        link = self.out / merged
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, link)
        self.done[relative] = merged
        return merged


def _append_csv(rows_out: list, fieldnames: list, path: Path, columns: tuple, link: _Linker) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fieldnames.extend(c for c in reader.fieldnames or () if c not in fieldnames)
        for row in reader:
            for column in columns:
                if row.get(column):
                    row[column] = link(row[column])
            rows_out.append(row)


def _write_csv(path: Path, fieldnames: list, rows: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _merge_info(infos: list, tags: list, corpora: list) -> dict:
    first = infos[0]
    rates = {info["parameters"].get("sample_rate") for info in infos}
    if len(rates) > 1:
        raise ValueError(f"The corpora have different sample rates {sorted(rates)}; merge corpora generated at one "
                         "--sample-rate.")
    classes, backgrounds, source_splits, counts = [], [], {}, {}
    for info in infos:
        classes += [c for c in info.get("sound_classes", []) if c not in classes]
        backgrounds += [b for b in info.get("backgrounds", []) if b not in backgrounds]
        for split, stats in ((info.get("sources") or {}).get("splits") or {}).items():
            merged = source_splits.setdefault(split, {"classes": {}})
            for name, n in stats.get("classes", {}).items():
                merged["classes"][name] = merged["classes"].get(name, 0) + n
                if name not in classes:
                    classes.append(name)
        for split, stats in (info.get("counts") or {}).items():
            total = counts.setdefault(split, {"pairs": 0, "rows": 0})
            total["pairs"] += stats.get("pairs", 0)
            total["rows"] += stats.get("rows", 0)
    return {"generator": first.get("generator", "synthdiff"), "version": first.get("version"),
            "seed": first.get("seed"), "parameters": {"sample_rate": first["parameters"].get("sample_rate"),
                                                       "seconds": first["parameters"].get("seconds")},
            "sound_classes": classes, "backgrounds": backgrounds, "counts": counts,
            "sources": {"splits": source_splits},
            "merged_from": [{"tag": tag, "path": str(path.resolve()), "seed": info.get("seed"),
                             "counts": info.get("counts")} for tag, path, info in zip(tags, corpora, infos)]}


def merge_corpora(out: str | Path, corpora: list, tags: list | None = None) -> dict:
    """Writes the merged corpus of `corpora` (folders) to `out` (which must not exist) and returns its `corpus.json`
    content. `tags` (default `c0`, `c1`, ...) prefix each part's file names."""
    out, corpora = Path(out), [Path(c) for c in corpora]
    tags = list(tags) if tags else [f"c{i}" for i in range(len(corpora))]
    if len(corpora) < 2:
        raise ValueError(f"Merging needs at least two corpora, got {len(corpora)}.")
    if len(tags) != len(corpora) or len(set(tags)) != len(tags) or not all(t.isidentifier() for t in tags):
        raise ValueError(f"Give one distinct tag (letters, digits, _) per corpus: {len(corpora)} corpora, tags {tags}."
                         " Example: --tags synth,real.")
    if out.exists():
        raise FileExistsError(f"{out} exists; merge into a new folder (or remove it first).")
    splits = [_splits(c) for c in corpora]
    infos = [json.loads((c / "corpus.json").read_text(encoding="utf-8")) for c in corpora]
    out.mkdir(parents=True)
    linkers = [_Linker(out, corpus, tag) for corpus, tag in zip(corpora, tags)]  # reversed splits reuse the audio
    for split in sorted(set().union(*splits)):
        pairs, pair_fields, clips, clip_fields, facts = [], [], [], [], []
        for corpus, link, names in zip(corpora, linkers, splits):
            if split not in names:
                continue
            _append_csv(pairs, pair_fields, corpus / f"{split}.csv", PAIR_PATH_COLUMNS, link)
            if (corpus / f"{split}{CLIPS_SUFFIX}").is_file():
                _append_csv(clips, clip_fields, corpus / f"{split}{CLIPS_SUFFIX}", ("filepath",), link)
            if (corpus / f"{split}{FACTS_SUFFIX}").is_file():
                for line in (corpus / f"{split}{FACTS_SUFFIX}").read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        record = json.loads(line)
                        for column in PAIR_PATH_COLUMNS:
                            record[column] = link(record[column])
                        facts.append(json.dumps(record))
        _write_csv(out / f"{split}.csv", pair_fields, pairs)
        if clips:
            _write_csv(out / f"{split}{CLIPS_SUFFIX}", clip_fields, clips)
        if facts:
            (out / f"{split}{FACTS_SUFFIX}").write_text("\n".join(facts) + "\n", encoding="utf-8")
    info = _merge_info(infos, tags, corpora)
    (out / "corpus.json").write_text(json.dumps(info, indent=2), encoding="utf-8")  # written last: complete corpus
    return info


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m training.synthdiff.merge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="new folder for the merged corpus")
    parser.add_argument("--tags", type=lambda text: text.split(","),
                        help="one short name per corpus, comma-separated (e.g. synth,real), prefixed to its files")
    parser.add_argument("corpora", nargs="+", help="SynthDiff corpus folders, in order")
    args = parser.parse_args(argv)
    info = merge_corpora(args.out, args.corpora, args.tags)
    print(f"Merged {len(args.corpora)} corpora into {args.out}: "
          + ", ".join(f"{split} {c['pairs']} pairs" for split, c in info["counts"].items()))
    return info


if __name__ == "__main__":
    main()


__all__ = ["merge_corpora"]
