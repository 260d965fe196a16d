"""Linear probes of clip properties on an audio encoder's clip embeddings: does the encoder hear level, reverberation,
timbre, speed, noise and distortion, or only which sounds are there?

    python scripts/property_probe.py CORPUS [--model adiff/default_model] [--train-split train] [--test-split test]

Embeds every clip of the two splits (the pooled HTSAT embedding stages 2-3 read; `<split>_facts.jsonl` says what each
clip is), fits one linear read-out per property on the training clips (`training.clip_properties.ClipPropertyHead`,
L2-regularised, full-batch L-BFGS on standardised embeddings) and prints its test score next to a baseline that
ignores the audio: accuracy against always answering the commonest training value (reverb, timbre, noise,
distortion), R^2 against predicting the training mean (level, speed, and tilt / pitch on real-source corpora; the
baseline's R^2 is about 0). `--model` is an ADIFF model folder or Hub id, or a stage-1a encoder / tagger folder.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adiff.default_model import DEFAULT_MODEL_DIR  # noqa: E402
from processing_adiff import load_audio  # noqa: E402
from training.clip_properties import (CLIP_PROPERTIES, ClipPropertyHead, property_scores,  # noqa: E402
                                      property_targets, read_clip_facts, select_properties)
from training.data.stage_data import split_file  # noqa: E402
from training.towers import load_feature_extractor  # noqa: E402

def load_encoder(source: str) -> tuple:
    """`(ClapAudioModel, AdiffFeatureExtractor)` of an ADIFF model folder / Hub id or a stage-1a encoder folder."""
    from transformers import AutoConfig, AutoModel, AutoProcessor, ClapAudioModel

    if AutoConfig.from_pretrained(source).model_type == "adiff":
        model = AutoModel.from_pretrained(source).eval()
        return model.model.audio_encoder, AutoProcessor.from_pretrained(source).feature_extractor
    return ClapAudioModel.from_pretrained(source).eval(), load_feature_extractor(source)


def read_split(corpus: Path, split: str, max_clips: int | None) -> tuple:
    """`(clip paths, clip facts)` of a split, each clip once, in file order (at most `max_clips`)."""
    facts = read_clip_facts(split_file(corpus, split, "_facts.jsonl"))
    paths = list(facts)[:max_clips]
    return paths, [facts[p] for p in paths]


@torch.no_grad()
def embed(encoder, feature_extractor, paths: list, batch_size: int) -> torch.Tensor:
    """`(clips, D)` pooled clip embeddings, centre crops as at inference."""
    out = []
    for start in range(0, len(paths), batch_size):
        audio = [load_audio(p) for p in paths[start:start + batch_size]]
        features = feature_extractor([a for a, _ in audio], sampling_rate=[r for _, r in audio])["input_features"]
        out.append(encoder(input_features=features.unsqueeze(1)).pooler_output)  # (B, 1, frames, mels) -> (B, D)
    return torch.cat(out)


def fit_probe(embeddings: torch.Tensor, values: torch.Tensor, known: torch.Tensor, properties: tuple,
              l2: float = 1e-2, steps: int = 200) -> ClipPropertyHead:
    """A linear `ClipPropertyHead` fitted to `(values, known)` by full-batch L-BFGS, `l2` times the squared weights
    added to its loss."""
    torch.manual_seed(0)
    head = ClipPropertyHead(embeddings.shape[1], properties)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = head.loss(head(embeddings), values, known) + l2 * head.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def baseline_scores(properties: tuple, train: tuple, test: tuple) -> dict:
    """Scores of predicting, without the audio, the commonest training class / the training mean of each property."""
    (train_values, train_known), (test_values, test_known) = train, test
    widths = [p.width for p in properties]
    constant = torch.zeros(test_values.shape[0], sum(widths))
    offset = 0
    for column, prop in enumerate(properties):
        seen = train_values[train_known[:, column], column]
        if len(seen):
            if prop.kind == "classes":
                constant[:, offset + int(seen.long().mode().values)] = 1.0
            elif prop.kind == "binary":
                constant[:, offset] = 1.0 if seen.mean() > 0.5 else -1.0
            else:
                constant[:, offset] = seen.mean()
        offset += prop.width
    return property_scores(properties, constant, test_values, test_known)


def probe(model: str, corpus: Path, train_split: str, test_split: str, properties: tuple,
          max_clips: int | None = None, batch_size: int = 16) -> dict:
    """`{property: {"kind", "train", "test", "probe", "baseline"}}` for the properties both splits know."""
    encoder, feature_extractor = load_encoder(model)
    splits = {}
    for name in (train_split, test_split):
        paths, facts = read_split(corpus, name, max_clips)
        if len(paths) < 2:
            raise ValueError(f"{corpus}/{name}_facts.jsonl describes {len(paths)} clip(s); a probe needs more.")
        splits[name] = (embed(encoder, feature_extractor, paths, batch_size), *property_targets(facts, properties))
    (x_train, v_train, k_train), (x_test, v_test, k_test) = splits[train_split], splits[test_split]
    mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    head = fit_probe((x_train - mean) / std, v_train, k_train, properties)
    with torch.no_grad():
        scores = property_scores(head, head((x_test - mean) / std), v_test, k_test)
    baselines = baseline_scores(properties, (v_train, k_train), (v_test, k_test))
    return {p.name: {"kind": p.kind, "train": int(k_train[:, i].sum()), "test": int(k_test[:, i].sum()),
                     "probe": scores[p.name], "baseline": baselines.get(p.name)}
            for i, p in enumerate(properties) if p.name in scores}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a corpus folder with <split>_facts.jsonl files")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR),
                        help="ADIFF model folder or Hub id (default: the shipped model), or a stage-1a encoder folder")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument("--properties", nargs="+", default=None, choices=[p.name for p in CLIP_PROPERTIES],
                        help="properties to probe (default: all that the facts hold)")
    parser.add_argument("--max-clips", type=int, default=None, help="clips per split (default: all)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    results = probe(args.model, args.corpus, args.train_split, args.test_split, select_properties(args.properties),
                    args.max_clips, args.batch_size)
    print(f"Linear probes of {args.model} clip embeddings, fitted on {args.train_split}, scored on {args.test_split} "
          f"of {args.corpus} (accuracy for classes and yes/no, R^2 for regressions):")
    print(f"  {'property':10s} {'kind':10s} {'train':>6s} {'test':>6s} {'probe':>7s} {'baseline':>9s}")
    for name, r in results.items():
        probe_score = "-" if r["probe"] is None else f"{r['probe']:.3f}"
        baseline = "-" if r["baseline"] is None else f"{r['baseline']:.3f}"
        print(f"  {name:10s} {r['kind']:10s} {r['train']:>6d} {r['test']:>6d} {probe_score:>7s} {baseline:>9s}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
