"""Average precision of a model's sound-event head on a SynthDiff split's labelled clips: which sounds its audio
encoder can hear.

    python scripts/event_head_ap.py CORPUS [--model adiff/default_model] [--split test]

Reads `<split>_clips.csv` (columns filepath, labels, background) of the corpus folder, runs every clip through the
HTSAT and TSCAM event head and prints the average precision of each class it has clips of, then the mean over the
sounds and over the backgrounds. `--model` is an ADIFF model folder (`model.model.get_audio_events`; the stage-1a
tagger's classes travel into its config as `event_labels`, so for the shipped model this measures its stage-1a
encoder) or a stage-1a tagger folder (`<run>/stage1_encoder/final`), to compare encoders before training stages 2-3.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processing_adiff import AdiffFeatureExtractor  # noqa: E402
from training.data.stage_data import ClipTaggingData  # noqa: E402
from training.stages import average_precisions  # noqa: E402
from training.tagger import LABELS_FILE, AdiffAudioTagger  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "adiff" / "default_model"


def read_clips(corpus: Path, split: str, feature_extractor=None) -> ClipTaggingData:
    """The split's labelled clips (`<split>_clips.csv`) with their backgrounds as `background:<name>` labels, read
    with `feature_extractor` (default `AdiffFeatureExtractor()`); centre crops, as at inference."""
    path = corpus / f"{split}_clips.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a SynthDiff corpus folder (python -m training.synthdiff "
                                f"--out DIR) and a split it has (train, validation, test).")
    clips = ClipTaggingData(path, feature_extractor or AdiffFeatureExtractor(), training=False, background_labels=True)
    if not len(clips):
        raise ValueError(f"{path} has no clips.")
    return clips


def clip_targets(clips: ClipTaggingData, labels: list) -> torch.Tensor:
    """`(clips, classes)` 0/1 targets over the model's classes: a clip's labels the model has no class for are not
    scored."""
    targets = torch.zeros(len(clips), len(labels))
    index = {name: k for k, name in enumerate(labels)}
    for i, item in enumerate(clips.items):
        targets[i, [index[name] for name in item["labels"] if name in index]] = 1.0
    return targets


def adiff_events(model):
    """Clip probabilities from an ADIFF model: `(clips, frames, mels)` -> `(clips, classes)`. The model reads audio
    in pairs and its encoder treats the two clips of a pair independently, so consecutive clips are paired (the last
    one with itself when the count is odd)."""
    def events(features: torch.Tensor) -> torch.Tensor:
        count = features.shape[0]
        if count % 2:
            features = torch.cat([features, features[-1:]])
        pairs = features.view(-1, 2, *features.shape[1:])  # (clips / 2, 2, frames, mels)
        return model.model.get_audio_events(pairs).clip_probs.flatten(0, 1)[:count]  # (clips / 2, 2, C) -> (clips, C)
    return events


def tagger_events(tagger: AdiffAudioTagger):
    """Clip probabilities from a stage-1a tagger: `(clips, frames, mels)` -> `(clips, classes)`."""
    return lambda features: torch.sigmoid(tagger(features).logits)


@torch.no_grad()
def clip_scores(events, clips: ClipTaggingData, batch_size: int) -> torch.Tensor:
    """`(clips, classes)` clip probabilities, `batch_size` clips per call of `events`."""
    scores = []
    for start in range(0, len(clips), batch_size):
        batch = clips.collate([(item, 0) for item in clips.items[start:start + batch_size]])
        scores.append(events(batch["input_features"]))  # (clips, frames, mels) -> (clips, classes)
    return torch.cat(scores)


def load_scorer(source: str) -> tuple:
    """`(events function, feature extractor, class names)` of an ADIFF model folder / Hub id or a tagger folder."""
    if (Path(source) / LABELS_FILE).is_file():
        tagger = AdiffAudioTagger.from_pretrained(source).eval()
        return tagger_events(tagger), AdiffFeatureExtractor(), tagger.labels
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(source).eval()
    labels = model.config.event_labels
    if model.config.num_event_classes == 0 or not labels:
        raise SystemExit(f"{source} has no named event head (config.num_event_classes / event_labels); nothing "
                         "to measure.")
    return adiff_events(model), AutoProcessor.from_pretrained(source).feature_extractor, labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a SynthDiff corpus folder")
    parser.add_argument("--model", default=str(DEFAULT_MODEL),
                        help="ADIFF model folder or Hub id (default: the shipped model), or a stage-1a tagger folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    args = parser.parse_args(argv)

    events, feature_extractor, labels = load_scorer(args.model)
    clips = read_clips(args.corpus, args.split, feature_extractor)
    scores = clip_scores(events, clips, args.batch_size)
    precisions = average_precisions(scores, clip_targets(clips, labels))
    print(f"{args.model} on {len(clips)} {args.split} clips of {args.corpus}: average precision per class")
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
