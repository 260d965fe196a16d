"""Install a trained model as the package's default (`adiff/default_model/`): copy the inference files of its
`save_pretrained` folder, evaluate it on the held-out SynthDiff test split, and write its model card (metrics,
training data, limits, and the measurements and release history kept in `docs/default_model.md`).

    python scripts/ship_default_model.py runs/adiff-synth-small/model runs/adiff-synth-small/corpus \
        --eval-dir runs/adiff-synth-small/eval
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adiff.default_model import DEFAULT_MODEL_DIR  # noqa: E402
from adiff.hub import build_model_card, without_machine_paths  # noqa: E402
from training.evaluation import evaluate_model  # noqa: E402
from training.evaluation.report import EvaluationReport  # noqa: E402

# What inference needs; training state, recipes, logs and the remote-code copies of the library (the installed package
# provides the code) stay behind.
SHIPPED_SUFFIXES = (".json", ".safetensors", ".txt")
SHIPPED_EXCLUDE = ("training_recipe.json", "trainer_state.json", "conversion_report.json")
# The shipped model's measurements and release history: a docs page whose text after NOTES_MARKER ends the card.
RELEASE_NOTES = REPO / "docs" / "default_model.md"
NOTES_MARKER = "-->\n"

TRAINING = """Trained from scratch on this machine (2 CPU cores) by the project's own recipe,
`scripts/train_default_model.sh`
(recipes in `training/recipes/synth_small/`), on **SynthDiff** (`training/synthdiff/`): {train_pairs} procedurally
generated 10 s audio pairs (seed 0) with three explanation tiers and position-captioning rows. No pretrained weights
were used: stage 1a trained the HTSAT encoder as a sound-event tagger on SynthDiff's clip labels and backgrounds,
with frame-level targets from the event times, stage 1b trained the GPT-2 decoder as a language model on the
explanations, stage 2 grounded the mappers and cross-projection with both towers frozen, and stage 3 fine-tuned the
language model too{final_stage_data}{second_pass}. The tokenizer is a byte-level BPE trained on the corpus
text and the prompt paraphrases ({vocab} tokens)."""

CONTINUED = """

It was then continued on real recordings by `scripts/continue_default_model.sh` (recipes in
`training/recipes/synth_real_small/`), on a corpus merging {synth_pairs} SynthDiff training pairs with {real_pairs}
pairs that SynthDiff's `--sources` mode built from a library of freely licensed recordings ({recordings} training
recordings: speech prompts in five languages, music on hold, General-MIDI instruments rendered by FluidSynth, desktop
sounds; Debian packages, licences in `training/synthdiff/SOURCE_LICENCES.md`; no test recording is heard in training),
with real-world edits (codecs, EQ tilt, pitch, time shift, hum, clicks), identity pairs that differ only by dither,
re-encoding, resampling or channel layout, and both orders of every pair. Stage 1a continued the encoder with a front
end that floors each clip 60 dB under its loudest cell (`top_db`) and with clip-property targets (level,
reverberation, timbre, speed, noise, distortion and the real-world edits); stage 2 retrained the projection, mappers
and cross-projection on it with the towers frozen; stage 3 fine-tuned them and the language model on both orders of
every pair."""

# A model continued from one that was already continued on real recordings (its base has the top_db front end): the
# first continuation is release 8's (its corpus and recipes are fixed facts), the second this model's own.
RELEASE_8 = {"synth_pairs": 2400, "real_pairs": 1600, "recordings": 2366}
CONTINUED_AGAIN = """

That model (release 8) was then continued once more by the same script with the recipes in
`training/recipes/synth_real_continue/` (shorter, lower peak learning rates), on a larger corpus: {synth_pairs}
SynthDiff training pairs and {real_pairs} real-source pairs from a library with more rendered phrases per instrument
({recordings} training recordings), both orders of every pair; stages 1a, 2 and 3 as above."""

# A model continued from release 9 on a corpus whose real-source texts name categories (SOURCE_NAMES=category).
RELEASE_9 = {"synth_pairs": 2400, "real_pairs": 6400, "recordings": 2766}
RELEASE_10 = RELEASE_9  # the same library and corpus sizes, texts naming categories
CONTINUED_CATEGORIES = """

That model (release 9) named an absent source in 0.69 of its texts on held-out real recordings, and only 0.21 when any
instrument counts as any other: its encoder cannot tell 24 instruments apart from 20 phrases each. So it was continued
once more{encoder}, on a corpus whose real-source texts name a recording's category instead of its label ("music"
for every instrument; `adiff synth --source-names category`): {synth_pairs} SynthDiff training pairs and {real_pairs}
real-source pairs ({recordings} training recordings), both orders of every pair; stage 2 regrounded release 9's
projection, mappers and cross-projection, and stage 3 fine-tuned them with the language model."""

# A model continued from release 10 with noisy cached embeddings (data.embedding_noise) on a category-named corpus
# whose freely drawn scenes may hold two instruments.
CONTINUED_TWO_INSTRUMENTS = """

That model (release 10) still named an absent source in 0.28 of its texts on held-out real recordings; 37 of the 60
clips it wrongly said hold speech held two instruments, which its corpus never put in one clip (a scene drew distinct
categories). So it was regrounded once more, its encoder kept as it was, on a corpus whose freely drawn real-source
scenes may hold two recordings of one category (a violin and an organ are both "music"): {synth_pairs} SynthDiff
training pairs and {real_pairs} real-source pairs ({recordings} training recordings), both orders of every pair.
Stages 2 and 3 added Gaussian noise to the cached clip embeddings while training, its RMS {noise:g} of each vector's
(`data.embedding_noise`), so that a change nobody hears (1-LSB dither moved release 10's clip embeddings by 0.0002 of
their size, the median over 40 real clips) does not change the text."""

LIMITS = (
    "It knows SynthDiff's world only: {classes} synthesised sound classes ({class_list}) over five backgrounds, and "
    "the signal properties SynthDiff varies (level, reverberation, muffled/thin timbre, added noise, clipping, "
    "speed). "
    "Real recordings (speech, music, AudioCaps/Clotho scenes) are outside its training distribution; expect fluent "
    "but wrong explanations there. For real audio, train on ACD/CLD with a pretrained HTSAT and GPT-2 (see the "
    "README).",
    "Its vocabulary is SynthDiff's grammar: the explanations are templated and shorter than the paper's.",
    "It is small ({params:.1f} M parameters) so that it trains on a CPU in about {train_time}.",
)
# The base model of a continued release (release 7, scripts/train_default_model.sh); its training folders do not ship.
RELEASE_7 = {"train_pairs": 2400, "second_pass": " (then stage 3b: 2 more epochs at peak lr 0.0002 from that model)",
             "final_stage_data": ", on the splits train (2400 pairs), train_reversed (2400 pairs), train_extra (3000 "
             "pairs), train_extra_reversed (3000 pairs); a reversed split holds its source split's pairs with the "
             "clips swapped and the texts written for that order"}
LIMITS_REAL = (
    "It knows SynthDiff's {classes} synthesised sound classes ({class_list}) over five synthesised backgrounds, and "
    "the kinds of recording in its sound library: telephone-prompt speech, music on hold, General-MIDI instruments "
    "and desktop sounds. Field recordings and dense real scenes (AudioCaps/Clotho) are outside its training "
    "distribution; expect fluent but wrong explanations there. For such audio, train on ACD/CLD with a pretrained "
    "HTSAT and GPT-2 (see the README).",
    "Its vocabulary is SynthDiff's grammar: the explanations are templated and shorter than the paper's.",
    "It is small ({params:.1f} M parameters) so that it trains on a CPU in about {train_time} (all of its recipes).",
)


def release_notes() -> str:
    """The card's last section: `docs/default_model.md` below its opening comment, under its title as `##`."""
    text = RELEASE_NOTES.read_text(encoding="utf-8")
    title = text.partition("\n")[0]
    return f"#{title}\n\n{text.partition(NOTES_MARKER)[2].strip()}\n"


# Settings of the machine that saved the folder: its run folders, and HF_HUB_OFFLINE's local_files_only.
MACHINE_KEYS = ("_name_or_path", "local_files_only")


def _drop_machine_paths(value):
    """Removes `_name_or_path` entries (at any depth): the build machine's run folders. `auto_map` stays: the installed
    package provides the code, and `adiff.hub.export_for_hub` copies it next to the weights."""
    if isinstance(value, dict):
        return {k: _drop_machine_paths(v) for k, v in value.items() if k not in MACHINE_KEYS}
    return value


def copy_inference_files(model_dir: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.suffix in SHIPPED_SUFFIXES and path.name not in SHIPPED_EXCLUDE:
            shutil.copy2(path, out_dir / path.name)
            if path.suffix == ".json":
                data = json.loads(path.read_text())
                text = json.dumps(_drop_machine_paths(data), indent=2, sort_keys=True) + "\n"
                (out_dir / path.name).write_text(text)


def _training_recipe(model_dir: Path) -> dict | None:
    recipe_path = model_dir / "training_recipe.json"
    return json.loads(recipe_path.read_text()) if recipe_path.is_file() else None


def final_stage_data(model_dir: Path, corpus_info: dict) -> str:
    """", on the splits train (2400 pairs), ..." when the last stage trained on more than the `train` split."""
    recipe = _training_recipe(model_dir)
    if recipe is None:
        return ""
    splits = recipe["data"].get("train_split", "train")
    splits = [splits] if isinstance(splits, str) else splits
    if splits == ["train"]:
        return ""
    listed = ", ".join(f"{name} ({corpus_info['counts'][name]['pairs']} pairs)" for name in splits)
    return (f", on the splits {listed}; a reversed split holds its source split's pairs with the clips swapped and "
            "the texts written for that order")


def second_pass(model_dir: Path) -> str:
    """" (then stage 3b: 2 more epochs at peak lr 0.0002 from that model)" when the last stage fine-tuned a model that
    was itself fine-tuned (scripts/train_default_model.sh without STAGE3B=0), else ""."""
    recipe = _training_recipe(model_dir)
    start = (recipe or {}).get("init", {}).get("from_pretrained")
    parent = _training_recipe(Path(start)) if start else None
    if recipe is None or recipe["stage"] != "finetune" or parent is None or parent["stage"] != "finetune":
        return ""
    return (f" (then stage 3b: {recipe['train']['epochs']} more epochs at peak lr {recipe['optim']['lr']:g} from that "
            "model)")


def continuation(model_dir: Path, corpus_info: dict) -> list:
    """The card's paragraphs on the model's continuations, oldest first (CONTINUED, then CONTINUED_AGAIN and
    CONTINUED_CATEGORIES for later releases), when its stage 2 put a continued encoder into an existing model
    (init.from_pretrained + init.audio_encoder, scripts/continue_default_model.sh) on a merged corpus, else []."""
    recipe = _training_recipe(model_dir)
    start = (recipe or {}).get("init", {}).get("from_pretrained")
    grounding = _training_recipe(Path(start)) if start else None
    init = (grounding or {}).get("init", {})
    parts = {part["tag"]: part for part in corpus_info.get("merged_from", [])}
    if not (init.get("from_pretrained") and init.get("audio_encoder") and {"synth", "real"} <= set(parts)):
        return []
    real_train = (corpus_info.get("sources", {}).get("splits", {}).get("train", {}).get("classes", {}))
    counts = dict(synth_pairs=parts["synth"]["counts"]["train"]["pairs"],
                  real_pairs=parts["real"]["counts"]["train"]["pairs"], recordings=sum(real_train.values()))
    from transformers import AutoProcessor

    if AutoProcessor.from_pretrained(init["from_pretrained"]).feature_extractor.top_db is None:
        return [CONTINUED.format(**counts)]
    noise = grounding.get("data", {}).get("embedding_noise") or 0.0
    if _source_names(parts["real"]) == "category" and noise:  # release 10 regrounded with noisy embeddings
        release_10 = CONTINUED_CATEGORIES.format(**RELEASE_10,
                                                 encoder=" with release 9's stage-1a encoder kept as it was")
        return [CONTINUED.format(**RELEASE_8), CONTINUED_AGAIN.format(**RELEASE_9), release_10,
                CONTINUED_TWO_INSTRUMENTS.format(**counts, noise=noise)]
    if _source_names(parts["real"]) == "category":  # release 9's encoder kept, the texts name categories
        encoder = " with release 9's stage-1a encoder kept as it was" if _encoder_reused(grounding) else ""
        return [CONTINUED.format(**RELEASE_8), CONTINUED_AGAIN.format(**RELEASE_9),
                CONTINUED_CATEGORIES.format(**counts, encoder=encoder)]
    return [CONTINUED.format(**RELEASE_8), CONTINUED_AGAIN.format(**counts)]


def _source_names(part: dict) -> str:
    """`label` or `category`: what the real-source part of a merged corpus calls its recordings."""
    info = json.loads((Path(part["path"]) / "corpus.json").read_text())
    return info.get("sources", {}).get("source_names", "label")


def _encoder_reused(grounding: dict) -> bool:
    """Whether stage 2 took an encoder from another run (continue_default_model.sh with ENCODER=...)."""
    encoder = Path(grounding["init"]["audio_encoder"])
    return encoder.parent.parent != Path(grounding["output_dir"]).parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the trained model's save_pretrained folder")
    parser.add_argument("corpus", type=Path, help="the SynthDiff corpus it was trained on (its test split is scored)")
    parser.add_argument("--eval-dir", type=Path, required=True, help="where the full evaluation report is written")
    parser.add_argument("--max-pairs", type=int, default=None, help="evaluate the first N test pairs only")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="default: adiff/default_model")
    parser.add_argument("--limit-note", action="append", default=[],
                        help="an extra (measured) limit for the card's Limits list; repeatable")
    parser.add_argument("--reuse-eval", action="store_true",
                        help="take the report already in --eval-dir (report.json) instead of evaluating again, e.g. "
                             "to rewrite the card after editing docs/default_model.md")
    args = parser.parse_args(argv)

    from transformers import AutoModel, AutoProcessor

    from training.synthdiff import CLASS_NAMES

    if args.reuse_eval:
        saved = json.loads((args.eval_dir / "report.json").read_text())
        report = EvaluationReport(**{k: v for k, v in saved.items() if k != "targets"})  # targets are recomputed
    else:
        report = evaluate_model(args.model, args.corpus, split="test", max_pairs=args.max_pairs, batch_size=16)
        report.save(args.eval_dir)
    copy_inference_files(args.model, args.out)
    eval_copy = args.out / "eval"
    eval_copy.mkdir()
    for name in ("report.md", "model_index.yaml"):
        if (args.eval_dir / name).exists():
            (eval_copy / name).write_text(without_machine_paths((args.eval_dir / name).read_text()), encoding="utf-8")
    model = AutoModel.from_pretrained(args.out)
    processor = AutoProcessor.from_pretrained(args.out)
    corpus_info = json.loads((args.corpus / "corpus.json").read_text())
    continued = second_pass(args.model)
    facts = dict(train_pairs=corpus_info["counts"]["train"]["pairs"],
                 final_stage_data=final_stage_data(args.model, corpus_info), second_pass=continued,
                 vocab=len(processor.tokenizer), train_time="two and a half hours" if continued else "two hours",
                 classes=len(CLASS_NAMES), class_list=", ".join(CLASS_NAMES), params=model.num_parameters() / 1e6)
    continued_as = continuation(args.model, corpus_info)
    real = "".join(continued_as)
    if real:  # the first paragraph describes the base model (release 7), the others its continuations
        # release 7 took two and a half hours; release 8 and 9 about an hour each, release 10 37 min, release 11 47 min
        facts.update(RELEASE_7, train_time={1: "three and a half hours", 2: "four and a half hours",
                                            3: "five hours"}.get(len(continued_as), "six hours"))
    limits = LIMITS_REAL if real else LIMITS
    build_model_card(args.out, results=report, datasets=["synthdiff"], model_name="adiff-synth-small",
                     training_data=TRAINING.format(**facts) + real,
                     limitations=[line.format(**facts) for line in limits] + list(args.limit_note),
                     notes=release_notes())
    print(report.to_markdown())
    print(json.dumps(report.targets(), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
