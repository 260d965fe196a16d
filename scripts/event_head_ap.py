"""Average precision of a model's sound-event head on a SynthDiff split's labelled clips: which sounds its audio
encoder can hear.

    python scripts/event_head_ap.py CORPUS [--model adiff/default_model] [--split test]

Reads `<split>_clips.csv` (columns filepath, labels, background) of the corpus folder, runs every clip through the
model's HTSAT and TSCAM event head (`model.model.get_audio_events`) and prints the average precision of each class it
has clips of, then the mean over the sounds and over the backgrounds. The stage-1a tagger's classes travel into the
ADIFF config (`event_labels`), so for the shipped model this measures its stage-1a encoder.
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processing_adiff.audio_io import load_audio  # noqa: E402
from training.stage_data import background_label  # noqa: E402
from training.stages import average_precisions  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "adiff" / "default_model"


def read_clips(corpus: Path, split: str) -> list:
    path = corpus / f"{split}_clips.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a SynthDiff corpus folder (python -m training.synthdiff "
                                f"--out DIR) and a split it has (train, validation, test).")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no clips.")
    return rows


def clip_targets(rows: list, labels: list) -> torch.Tensor:
    """`(clips, classes)` 0/1 targets: the clip's sounds plus `background:<name>` when the model has that class."""
    targets = torch.zeros(len(rows), len(labels))
    index = {name: k for k, name in enumerate(labels)}
    for i, row in enumerate(rows):
        names = [name for name in row["labels"].split(";") if name] + [background_label(row["background"])]
        for name in names:
            if name in index:
                targets[i, index[name]] = 1.0
    return targets


@torch.no_grad()
def clip_scores(model, feature_extractor, corpus: Path, rows: list, batch_size: int) -> torch.Tensor:
    """`(clips, classes)` clip probabilities. The model reads audio in pairs; the encoder treats the two clips of a
    pair independently, so consecutive clips are paired (the last one with itself when the count is odd)."""
    scores = []
    for start in range(0, len(rows), 2 * batch_size):
        chunk = rows[start:start + 2 * batch_size]
        features = []
        for row in chunk:
            audio, rate = load_audio(str(corpus / row["filepath"]))
            features.append(feature_extractor(audio, sampling_rate=rate, return_tensors="pt")["input_features"][0])
        if len(features) % 2:
            features.append(features[-1])
        pairs = torch.stack(features).view(-1, 2, *features[0].shape)  # (clips / 2, 2, frames, mels)
        probs = model.model.get_audio_events(pairs).clip_probs.flatten(0, 1)  # (clips / 2, 2, C) -> (clips, C)
        scores.append(probs[:len(chunk)])
    return torch.cat(scores)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a SynthDiff corpus folder")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder or Hub id (default: shipped model)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass")
    args = parser.parse_args(argv)

    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(args.model).eval()
    labels = model.config.event_labels
    if model.config.num_event_classes == 0 or not labels:
        raise SystemExit(f"{args.model} has no named event head (config.num_event_classes / event_labels); nothing "
                         "to measure.")
    rows = read_clips(args.corpus, args.split)
    scores = clip_scores(model, AutoProcessor.from_pretrained(args.model).feature_extractor, args.corpus, rows,
                         args.batch_size)
    precisions = average_precisions(scores, clip_targets(rows, labels))
    print(f"{args.model} on {len(rows)} {args.split} clips of {args.corpus}: average precision per class")
    for name, ap in sorted(zip(labels, precisions), key=lambda item: -1 if item[1] is None else item[1]):
        print(f"  {name:24s} {'no clips' if ap is None else f'{ap:.3f}'}")
    for group, keep in (("sounds", lambda n: not n.startswith("background:")),
                        ("backgrounds", lambda n: n.startswith("background:"))):
        values = [ap for name, ap in zip(labels, precisions) if keep(name) and ap is not None]
        if values:
            print(f"mean over {len(values)} {group}: {np.mean(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
