"""Evaluation of ADIFF models: captioning metrics, fact accuracy against SynthDiff ground truth, behavioural checks
(swap consistency, identity, gain robustness, identity and claims under dither and re-encoding), pair checks (edit
accuracy by kind, loudness direction, hallucinated sources, tier agreement), data-parallel generation and reports
(JSON, Markdown, model-index).

`evaluate_model(model_dir, dataset)` or `python -m training.evaluation MODEL_DIR DATASET`; under
`accelerate launch --num_processes N -m training.evaluation ...` each process explains a shard of the pairs.
"""

from .behaviour import BehaviourScore, gain_robustness, identity_check, swap_consistency
from .claims import FACT_TYPES, Claim, difference_claims, extract_claims, swap_claims
from ..data.eval_set import EvalRow, EvalSet, load_eval_set, read_facts
from .evaluate import DEFAULT_GAIN_DB, evaluate_model, load_model, main, score_samples
from .facts import FactScore, checkable_differences, event_accuracy, fact_accuracy, judge_claim, judge_text
from .generation import ExplainRequest, explain_pairs
from .metrics import METRIC_FAMILIES, METRIC_NAMES, CaptionScores, caption_metrics, spice_unavailable_reason
from .pair_checks import edit_accuracy, hallucination_rate, loudness_direction, tier_agreement
from .report import TARGETS, EvaluationReport

__all__ = [
    "evaluate_model", "main", "load_model", "score_samples", "DEFAULT_GAIN_DB", "EvaluationReport", "TARGETS",
    "caption_metrics", "CaptionScores", "METRIC_NAMES", "METRIC_FAMILIES", "spice_unavailable_reason",
    "Claim", "FACT_TYPES", "extract_claims", "swap_claims", "difference_claims",
    "fact_accuracy", "event_accuracy", "FactScore", "judge_claim", "judge_text", "checkable_differences",
    "BehaviourScore", "swap_consistency", "identity_check", "gain_robustness",
    "edit_accuracy", "loudness_direction", "hallucination_rate", "tier_agreement",
    "ExplainRequest", "explain_pairs", "EvalRow", "EvalSet", "load_eval_set", "read_facts",
]
