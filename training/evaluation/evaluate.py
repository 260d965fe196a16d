"""Evaluate an ADIFF model on an explanation dataset: captioning metrics per tier, fact accuracy against SynthDiff's
ground truth, and behavioural checks (swap consistency, identity, gain robustness).
Needs Java (a JRE on PATH, e.g. `apt-get install openjdk-17-jre-headless`) for every captioning metric: pycocoevalcap's
tokenizer, METEOR and SPICE are Java programs. Without it they are reported as not computed.

`python -m training.evaluation MODEL_DIR DATASET [options]`, or data-parallel on N devices / processes:
`accelerate launch --num_processes N -m training.evaluation MODEL_DIR DATASET [options]` (same report; on a machine
without GPUs add `--multi_gpu` to start N CPU processes).
"""

import argparse
import logging
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from accelerate import PartialState

from modeling_adiff import AdiffForConditionalGeneration
from modeling_adiff.generation_presets import GENERATION_PRESETS
from processing_adiff import AdiffProcessor

from .behaviour import gain_robustness, identity_check, swap_consistency
from .claims import extract_claims
from ..data.eval_set import DEFAULT_SPLIT, load_eval_set, sound_classes_of, synthdiff_facts_for
from .facts import event_accuracy, fact_accuracy
from .generation import ExplainRequest, distributed_state, explain_pairs
from .metrics import METRIC_FAMILIES, caption_metrics
from .pair_checks import DEFAULT_LOUDNESS_GAP_DB, pair_checks
from .report import ALL_TIERS, EvaluationReport

logger = logging.getLogger(__name__)

DEFAULT_GAIN_DB = -6.0  # the gain-robustness check plays both clips 6 dB softer (halves the amplitude)
# Behavioural variants of a row (A, B) and what each is checked against (see `behaviour`):
BEHAVIOUR_KINDS = ("swap", "identity", "gain", "identity_dither", "identity_reencode", "dither")
_CHECK_OF_KIND = {"swap": "swap_consistency", "identity": "identity", "gain": "gain_robustness",
                  "identity_dither": "identity_dither", "identity_reencode": "identity_reencode",
                  "dither": "dither_robustness"}


def load_model(model, processor=None, device=None) -> tuple:
    """`(model, processor)` from a saved model folder, or a model object and its processor, in eval mode on
    `device`."""
    if isinstance(model, (str, Path)):
        folder = Path(model)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} is not a saved ADIFF model folder (no config.json); pass the folder "
                                    "written by save_pretrained or a loaded AdiffForConditionalGeneration.")
        processor = processor if processor is not None else AdiffProcessor.from_pretrained(folder)
        model = AdiffForConditionalGeneration.from_pretrained(folder)
    elif processor is None:
        source = getattr(model, "name_or_path", "")
        if not source or not Path(source).is_dir():
            raise ValueError("A model object was given without its processor; pass processor=AdiffProcessor(...) "
                             "or give the saved model folder instead.")
        processor = AdiffProcessor.from_pretrained(source)
    if not hasattr(model, "generate"):
        raise TypeError(f"Expected an AdiffForConditionalGeneration (or its folder), got a {type(model).__name__}.")
    model.eval()
    if device is not None:
        model.to(device)
    return model, processor


def _variant(row, kind: str, gain_db: float) -> ExplainRequest:
    """The request of behavioural variant `kind` of `row` (A, B): (B, A); (A, A); (A, B) `gain_db` louder;
    (A, dithered A); (A, re-encoded A); (dithered A, dithered B)."""
    a, b, tier = row.audio1, row.audio2, row.tier
    return {"swap": ExplainRequest(b, a, tier), "identity": ExplainRequest(a, a, tier),
            "gain": ExplainRequest(a, b, tier, gain_db),
            "identity_dither": ExplainRequest(a, a, tier, variant2="dither"),
            "identity_reencode": ExplainRequest(a, a, tier, variant2="reencode"),
            "dither": ExplainRequest(a, b, tier, variant1="dither", variant2="dither")}[kind]


def _behaviour_kinds(behaviour_checks) -> tuple:
    """The variant kinds `behaviour_checks` asks for, in `BEHAVIOUR_KINDS` order."""
    if isinstance(behaviour_checks, bool):
        return BEHAVIOUR_KINDS if behaviour_checks else ()
    kinds = (behaviour_checks,) if isinstance(behaviour_checks, str) else tuple(behaviour_checks)
    unknown = [k for k in kinds if k not in BEHAVIOUR_KINDS]
    if unknown:
        raise ValueError(f"Unknown behavioural check(s) {unknown}; expected True, False or some of {BEHAVIOUR_KINDS}.")
    return tuple(k for k in BEHAVIOUR_KINDS if k in kinds)


def _requests(rows, kinds: tuple, behaviour_max_pairs: int | None, gain_db: float) -> tuple:
    """Explanation requests (rows first, then the behavioural variants `kinds`) and, per kind, the request index of
    each checked row."""
    requests = [ExplainRequest(r.audio1, r.audio2, r.tier) for r in rows]
    variants = {kind: {} for kind in kinds}
    per_tier = {}
    for position, row in enumerate(rows):
        if not kinds or behaviour_max_pairs is not None and per_tier.get(row.tier, 0) >= behaviour_max_pairs:
            continue
        per_tier[row.tier] = per_tier.get(row.tier, 0) + 1
        for kind in kinds:
            variants[kind][position] = len(requests)
            requests.append(_variant(row, kind, gain_db))
    return requests, variants


def _behaviour(positions: list, texts: list, claims: list, variants: dict) -> dict:
    """`{check name: BehaviourScore.as_dict()}` of the rows at `positions` that were checked."""
    out = {}
    for kind, requested in variants.items():
        checked = [p for p in positions if p in requested]
        if not checked:
            continue
        other = [requested[p] for p in checked]
        extra = {}
        if kind.startswith("identity"):  # (A, A'): the texts must call the clips the same
            score = identity_check([claims[i] for i in other], [texts[i] for i in other])
            score.name = _CHECK_OF_KIND[kind]
        elif kind == "swap":
            score = swap_consistency([claims[p] for p in checked], [claims[i] for i in other],
                                     [texts[p] for p in checked], [texts[i] for i in other])
            # (B, A) explained word for word as (A, B): a model deaf to the order (issue 19 counted 29 of 99)
            extra["verbatim"] = sum(texts[p] == texts[i] for p, i in zip(checked, other))
        else:  # gain, dither: the same claims as the row's own text
            score = gain_robustness([claims[p] for p in checked], [claims[i] for i in other],
                                    [texts[p] for p in checked], [texts[i] for i in other])
            score.name = _CHECK_OF_KIND[kind]
        out[_CHECK_OF_KIND[kind]] = {**score.as_dict(), **extra}
    return out


def _environment(state: PartialState, seconds: float) -> dict:
    versions = {}
    for package in ("torch", "transformers", "accelerate", "pycocoevalcap"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"versions": versions, "python": platform.python_version(), "device": str(state.device),
            "num_processes": state.num_processes, "java": shutil.which("java"), "seconds": round(seconds, 2)}


def evaluate_model(model_dir_or_model, dataset, *, processor=None, split: str | None = None, audio_root=None,
                   batch_size: int = 8, preset: str = "greedy", tiers=(1, 2, 3), max_pairs: int | None = None,
                   behaviour_checks: bool | tuple = True, behaviour_max_pairs: int | None = None,
                   gain_db: float = DEFAULT_GAIN_DB, loudness_gap_db: float = DEFAULT_LOUDNESS_GAP_DB,
                   metrics=METRIC_FAMILIES, max_new_tokens: int | None = None,
                   seed: int = 0, progress: bool = True) -> EvaluationReport | None:
    """Evaluate a model; under `accelerate launch` each process explains a shard and the main process scores.

    Args:
        model_dir_or_model: a saved model folder, or an `AdiffForConditionalGeneration` (then give `processor`, or
            a model loaded from a folder that holds the processor).
        dataset: an ACD/CLD-format CSV (or JSONL) path, a SynthDiff corpus folder (with `split`), or a
            `datasets.Dataset` (see `training.data.eval_set`).
        processor (`AdiffProcessor`, *optional*): the processor of a model object.
        split (`str`, *optional*): split of a SynthDiff corpus folder (default `"test"`).
        audio_root (`str` or `Path`, *optional*): folder the relative audio paths live under (default: the CSV's).
        batch_size (`int`, defaults to 8): pairs per `generate` call on each process.
        preset (`str`, defaults to `"greedy"`): decoding preset; `"paper"` is the paper's top-k 3 / top-p 0.8.
        tiers (iterable of `int`, defaults to `(1, 2, 3)`): tiers to evaluate.
        max_pairs (`int`, *optional*): evaluate only the first `max_pairs` distinct audio pairs.
        behaviour_checks (`bool` or iterable of `str`, defaults to `True`): the behavioural variants explained for
            each checked row (A, B), one more explanation each (`BEHAVIOUR_KINDS`): `"swap"` (B, A), `"identity"`
            (A, A), `"gain"` (both clips `gain_db` louder), `"identity_dither"` (A, A with 1-LSB dither),
            `"identity_reencode"` (A, A through Ogg Vorbis), `"dither"` (both clips dithered). `True`: all;
            `False`: none.
        behaviour_max_pairs (`int`, *optional*): check at most this many rows per tier (default: all).
        gain_db (`float`, defaults to -6): the gain of the gain-robustness check, applied to both clips.
        loudness_gap_db (`float`, defaults to 6): the loudness-direction check uses pairs at least this far apart.
        metrics (iterable of `str`, defaults to all): captioning metric families (`"bleu"`, `"meteor"`, `"rouge"`,
            `"cider"`, `"spice"`); the others are reported as not requested.
        max_new_tokens (`int`, *optional*): overrides each tier's token budget.
        seed (`int`, defaults to 0): seed of the sampling presets.
        progress (`bool`, defaults to `True`): progress bar on the main process.

    Returns: the `EvaluationReport` on the main process; `None` on the other processes.

    Example:

    ```python
    >>> from training.evaluation import evaluate_model
    >>> report = evaluate_model("adiff-synthdiff", "synthdiff", split="test", max_pairs=200)  # doctest: +SKIP
    >>> print(report.to_markdown())  # doctest: +SKIP
    ```
    """
    start = time.perf_counter()
    if preset not in GENERATION_PRESETS:
        raise ValueError(f"Unknown decoding preset {preset!r}; expected one of {sorted(GENERATION_PRESETS)}.")
    if behaviour_max_pairs is not None and (isinstance(behaviour_max_pairs, bool) or
                                            not isinstance(behaviour_max_pairs, int) or behaviour_max_pairs < 1):
        raise ValueError(f"behaviour_max_pairs must be a positive integer or None, got {behaviour_max_pairs!r}.")
    kinds = _behaviour_kinds(behaviour_checks)
    if isinstance(loudness_gap_db, bool) or not isinstance(loudness_gap_db, (int, float)) or not loudness_gap_db > 0:
        raise ValueError(f"loudness_gap_db must be a number of dB > 0, got {loudness_gap_db!r}.")
    state = distributed_state()
    eval_set = load_eval_set(dataset, split=split, audio_root=audio_root, tiers=tiers, max_pairs=max_pairs)
    model, processor = load_model(model_dir_or_model, processor, state.device)
    rows = eval_set.rows
    requests, variants = _requests(rows, kinds, behaviour_max_pairs, gain_db)
    logger.info("Evaluating %d rows (%d explanations) on %d process(es).", len(rows), len(requests),
                state.num_processes)
    texts = explain_pairs(model, processor, requests, batch_size=batch_size, preset=preset, seed=seed,
                          max_new_tokens=max_new_tokens, progress=progress, state=state)
    if not state.is_main_process:
        return None

    claims = [extract_claims(text, eval_set.sound_classes) for text in texts]
    by_tier = {}
    for position, row in enumerate(rows):
        by_tier.setdefault(row.tier, []).append(position)
    tier_keys = [str(t) for t in sorted(by_tier)]
    report = EvaluationReport(
        model=str(model_dir_or_model if isinstance(model_dir_or_model, (str, Path)) else model.name_or_path),
        dataset=eval_set.name,
        settings={"preset": preset, "seed": seed, "batch_size": batch_size, "tiers": sorted(by_tier),
                  "max_pairs": max_pairs, "max_new_tokens": max_new_tokens, "behaviour_checks": list(kinds),
                  "behaviour_max_pairs": behaviour_max_pairs, "gain_db": gain_db, "loudness_gap_db": loudness_gap_db,
                  "metrics": list(metrics), "sound_classes": list(eval_set.sound_classes)},
        counts={"rows": len(rows), "pairs": len({r.pair for r in rows}),
                "rows_per_tier": {k: len(by_tier[int(k)]) for k in tier_keys}, "skipped": eval_set.skipped,
                "explanations_generated": len(requests)},
    )
    for key in tier_keys:
        positions = by_tier[int(key)]
        report.captioning[key] = caption_metrics([texts[p] for p in positions],
                                                 [rows[p].reference for p in positions], metrics).as_dict()
    if eval_set.has_facts:
        report.facts, report.events = {}, {}
        report.pair_checks, report.tier_agreement = pair_checks(
            claims[:len(rows)], [r.facts for r in rows], [r.tier for r in rows], [r.pair for r in rows],
            texts[:len(rows)], loudness_gap_db)
        for key in [*tier_keys, ALL_TIERS]:
            positions = range(len(rows)) if key == ALL_TIERS else by_tier[int(key)]
            tier_claims, tier_facts = [claims[p] for p in positions], [rows[p].facts for p in positions]
            report.facts[key] = {name: score.as_dict()
                                 for name, score in fact_accuracy(tier_claims, tier_facts).items()}
            report.events[key] = {name: score.as_dict()
                                  for name, score in event_accuracy(tier_claims, tier_facts).items()}
    else:
        report.notes["facts"] = (f"not computed: {eval_set.name} has no SynthDiff facts (a <split>_facts.jsonl next "
                                 "to the CSV, or a `facts` column)")
    if kinds:
        report.behaviour = {key: _behaviour(by_tier[int(key)], texts, claims, variants) for key in tier_keys}
        report.behaviour[ALL_TIERS] = _behaviour(list(range(len(rows))), texts, claims, variants)
    else:
        report.notes["behaviour"] = "not run (behaviour_checks=False)"
    for position, row in enumerate(rows):
        entry = {"row": row.index, "tier": row.tier, "audio1": row.pair[0], "audio2": row.pair[1],
                 "reference": row.reference, "prediction": texts[position],
                 "claims": [str(c) for c in sorted(claims[position])]}
        for kind in kinds:
            if position in variants[kind]:
                entry[f"{kind}_prediction"] = texts[variants[kind][position]]
        report.predictions.append(entry)
    report.environment = _environment(state, time.perf_counter() - start)
    return report


def score_samples(predictions, references, rows=None) -> dict:
    """Scores of a few generated samples, for periodic evaluation during training (`eval.evaluator:
    "training.evaluation:score_samples"` in a recipe): BLEU-4, ROUGE-L and CIDEr-D, and, for SynthDiff rows whose
    facts are found (`data.synthdiff_facts_for`), the fact accuracy and recall over all claims.

    Returns `{name: float}`; metrics that cannot be computed are left out and their reasons logged."""
    result = caption_metrics(predictions, references, metrics=("bleu", "rouge", "cider"))
    scores = {name: result.scores[name] for name in ("BLEU-4", "ROUGE-L", "CIDEr-D") if name in result.scores}
    for name, reason in result.not_computed.items():
        if name in ("BLEU-4", "ROUGE-L", "CIDEr-D"):
            logger.warning("score_samples: %s not computed: %s", name, reason)
    facts = synthdiff_facts_for(rows) if rows else None
    if facts is not None:
        classes = sound_classes_of(facts)
        overall = fact_accuracy([extract_claims(p, classes) for p in predictions], facts)["all"]
        scores.update({f"fact_{key}": value for key, value in (("accuracy", overall.precision),
                                                              ("recall", overall.recall)) if value is not None})
    return scores


def build_parser(prog: str = "python -m training.evaluation") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="saved ADIFF model folder")
    parser.add_argument("dataset", help="ACD/CLD-format CSV or JSONL file, or a SynthDiff corpus folder")
    parser.add_argument("--split", default=None, help=f"split of a corpus folder (default {DEFAULT_SPLIT})")
    parser.add_argument("--audio-root", default=None, help="folder relative audio paths live under (default: the "
                                                           "CSV's folder)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--preset", default="greedy", choices=sorted(GENERATION_PRESETS),
                        help="decoding: greedy, or paper (top-k 3 / top-p 0.8 sampling), or beam")
    parser.add_argument("--tiers", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    parser.add_argument("--max-pairs", type=int, default=None, help="evaluate the first N audio pairs only")
    parser.add_argument("--no-behaviour", action="store_true", help="skip the behavioural checks")
    parser.add_argument("--behaviour", nargs="+", default=None, choices=BEHAVIOUR_KINDS,
                        help="run only these behavioural checks (default: all)")
    parser.add_argument("--behaviour-max-pairs", type=int, default=None, help="behavioural checks on at most N rows "
                                                                              "per tier")
    parser.add_argument("--gain-db", type=float, default=DEFAULT_GAIN_DB, help="gain of the gain-robustness check")
    parser.add_argument("--loudness-gap-db", type=float, default=DEFAULT_LOUDNESS_GAP_DB,
                        help="loudness direction is checked on pairs at least this many dB apart (default 6)")
    parser.add_argument("--metrics", nargs="+", default=list(METRIC_FAMILIES), choices=METRIC_FAMILIES)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the tiers' token budgets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default=None, help="write report.json, report.md, predictions.jsonl and "
                                                           "model_index.yaml here")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None, prog: str = "python -m training.evaluation") -> int:
    """Command line entry point; prints the Markdown report on the main process. Returns the exit status. `prog` is
    the command name the usage lines show (`adiff evaluate` when the CLI forwards here)."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.metrics and shutil.which("java") is None:  # said first, not after the model has run for an hour
        logger.warning("No `java` on PATH: the captioning metrics (%s) need it and will be reported as not computed. "
                       "Install a JRE (e.g. apt-get install openjdk-17-jre-headless) to get them.",
                       ", ".join(args.metrics))
    report = evaluate_model(args.model, args.dataset, split=args.split, audio_root=args.audio_root,
                            batch_size=args.batch_size, preset=args.preset, tiers=tuple(args.tiers),
                            max_pairs=args.max_pairs,
                            behaviour_checks=False if args.no_behaviour else (args.behaviour or True),
                            behaviour_max_pairs=args.behaviour_max_pairs, gain_db=args.gain_db,
                            loudness_gap_db=args.loudness_gap_db,
                            metrics=tuple(args.metrics), max_new_tokens=args.max_new_tokens, seed=args.seed,
                            progress=not args.no_progress)
    if report is None:
        return 0
    if args.output_dir is not None:
        paths = report.save(args.output_dir)
        logger.info("Report written: %s", ", ".join(paths.values()))
    sys.stdout.write(report.to_markdown())
    return 0


__all__ = ["DEFAULT_GAIN_DB", "load_model", "evaluate_model", "score_samples", "build_parser", "main"]
