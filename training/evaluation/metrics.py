"""Captioning metrics of generated explanations against reference explanations, through `pycocoevalcap`.

Texts are tokenised with the Stanford PTB tokenizer that `pycocoevalcap` ships (Java; lower-cased, punctuation
removed), then scored as in the COCO caption evaluation the ADIFF paper's numbers come from:

- `BLEU-1` .. `BLEU-4`: corpus-level BLEU (closest reference length for the brevity penalty);
- `METEOR`: METEOR 1.5 (Java), corpus-level;
- `ROUGE-L`: mean sentence ROUGE-L F-measure (beta 1.2);
- `CIDEr-D`: `pycocoevalcap`'s `Cider`, which is CIDEr-D (clipped n-gram counts, Gaussian length penalty with
  sigma 6, x10); document frequencies come from the references of the evaluated set, so CIDEr-D depends on the set
  and is only comparable between runs on the same references;
- `SPICE`: SPICE 1.0 (Java); it needs Stanford CoreNLP 3.6.0, which `pycocoevalcap` downloads on first use. The
  evaluator never downloads: where the two CoreNLP jars are not in `pycocoevalcap/spice/lib`, SPICE is reported as
  not computed, with that reason;
- `SPIDEr`: the mean of CIDEr-D and SPICE;
- `AVG`: the paper's average of the nine metrics above, only when all nine were computed.

A metric that cannot be computed is never dropped or replaced by a number: it is listed in `not_computed` with the
reason.
"""

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

BLEU_ORDERS = (1, 2, 3, 4)
# CIDEr-D weighs an n-gram by log(reference sets / reference sets holding it): with one pair every weight is 0, and
# below about this many pairs most n-grams of a shared vocabulary weigh (near) nothing.
CIDER_MIN_PAIRS = 10
METRIC_NAMES = (*(f"BLEU-{n}" for n in BLEU_ORDERS), "METEOR", "ROUGE-L", "CIDEr-D", "SPICE", "SPIDEr", "AVG")
# Metric families one can ask for; SPIDEr and AVG follow from the others.
METRIC_FAMILIES = ("bleu", "meteor", "rouge", "cider", "spice")
_FAMILY_METRICS = {"bleu": tuple(f"BLEU-{n}" for n in BLEU_ORDERS), "meteor": ("METEOR",), "rouge": ("ROUGE-L",),
                   "cider": ("CIDEr-D",), "spice": ("SPICE",)}
# The paper's AVG column averages these (Table 15).
AVG_OF = METRIC_NAMES[:-1]
# The two Stanford CoreNLP 3.6.0 jars SPICE loads from pycocoevalcap/spice/lib (see its get_stanford_models.py).
SPICE_CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


@dataclass
class CaptionScores:
    """Captioning metrics of one set of candidates.

    Args:
        scores (`dict[str, float]`): computed metrics, keyed by the names of `METRIC_NAMES`.
        not_computed (`dict[str, str]`): metrics that were not computed, with the reason.
        count (`int`): number of candidate/reference pairs scored.
    """

    scores: dict = field(default_factory=dict)
    not_computed: dict = field(default_factory=dict)
    count: int = 0

    def as_dict(self) -> dict:
        return {"count": self.count, "scores": dict(self.scores), "not_computed": dict(self.not_computed)}


def _pycocoevalcap_dir() -> Path | None:
    try:
        import pycocoevalcap
    except ImportError:
        return None
    return Path(next(iter(pycocoevalcap.__path__)))


def spice_unavailable_reason() -> str | None:
    """Why SPICE cannot run here (`None` when it can): a missing Java, package or Stanford CoreNLP jar."""
    root = _pycocoevalcap_dir()
    if root is None:
        return "pycocoevalcap is not installed (pip install pycocoevalcap)"
    if shutil.which("java") is None:
        return "no `java` executable on PATH (SPICE is a Java program; install a JRE, e.g. openjdk-17-jre-headless)"
    if not (root / "spice" / "spice-1.0.jar").is_file():
        return f"the SPICE jar is missing ({root / 'spice' / 'spice-1.0.jar'}); reinstall pycocoevalcap"
    lib = root / "spice" / "lib"
    missing = [jar for jar in SPICE_CORENLP_JARS if not (lib / jar).is_file()]
    if missing:
        return (f"Stanford CoreNLP 3.6.0 is missing ({', '.join(missing)} not in {lib}); pycocoevalcap downloads it "
                "from nlp.stanford.edu on first use, which this evaluator never does. With internet access run "
                "`python -c 'from pycocoevalcap.spice.get_stanford_models import get_stanford_models as g; g()'` once")
    return None


def _clean(text: str) -> str:
    """One line of text: the Java tools read one caption per line."""
    if not isinstance(text, str):
        raise TypeError(f"Captions must be strings, got a {type(text).__name__}: {text!r}.")
    return " ".join(text.split())


def _tokenize(candidates: list, references: list) -> tuple:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    res = tokenizer.tokenize({i: [{"caption": _clean(c)}] for i, c in enumerate(candidates)})
    gts = tokenizer.tokenize({i: [{"caption": _clean(r)} for r in refs] for i, refs in enumerate(references)})
    if len(res) != len(candidates) or len(gts) != len(references):
        raise RuntimeError(f"The PTB tokenizer returned {len(res)} candidates and {len(gts)} reference sets for "
                           f"{len(candidates)} pairs.")
    return gts, res


def _meteor(gts: dict, res: dict) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    meteor = Meteor()
    try:
        score, _ = meteor.compute_score(gts, res)
    finally:
        # Meteor.__del__ takes the lock compute_score holds when the Java process died mid-way: free it first.
        if meteor.lock.locked():
            meteor.lock.release()
        del meteor
    return float(score)


def _spice(gts: dict, res: dict) -> float:
    from pycocoevalcap.spice.spice import Spice

    score, _ = Spice().compute_score(gts, res)
    return float(score)


def _family_scores(family: str, gts: dict, res: dict) -> dict:
    if family == "bleu":
        from pycocoevalcap.bleu.bleu import Bleu

        scores, _ = Bleu(len(BLEU_ORDERS)).compute_score(gts, res, verbose=0)
        return {f"BLEU-{n}": float(s) for n, s in zip(BLEU_ORDERS, scores)}
    if family == "meteor":
        return {"METEOR": _meteor(gts, res)}
    if family == "rouge":
        from pycocoevalcap.rouge.rouge import Rouge

        return {"ROUGE-L": float(Rouge().compute_score(gts, res)[0])}
    if family == "cider":
        from pycocoevalcap.cider.cider import Cider

        return {"CIDEr-D": float(Cider().compute_score(gts, res)[0])}
    if family == "spice":
        return {"SPICE": _spice(gts, res)}
    raise ValueError(f"Unknown metric family {family!r}; expected some of {METRIC_FAMILIES}.")


def _failure(error: Exception) -> str:
    detail = str(error).strip().splitlines()
    return f"{type(error).__name__}: {detail[-1][:300] if detail else 'no message'}"


def caption_metrics(candidates, references, metrics=METRIC_FAMILIES) -> CaptionScores:
    """Score generated texts against references.

    Args:
        candidates (list of `str`): one generated text per pair.
        references (list of `str` or list of list of `str`): the reference(s) of each pair.
        metrics (iterable of `str`, defaults to all of `METRIC_FAMILIES`): families to compute (`"bleu"`,
            `"meteor"`, `"rouge"`, `"cider"`, `"spice"`); the others are reported as not requested.

    Returns: `CaptionScores`.

    Example:

    ```python
    >>> caption_metrics(["Audio 1 is louder."], ["Audio 1 is louder."], metrics=("bleu",)).scores["BLEU-1"]
    1.0
    ```
    """
    candidates = list(candidates)
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    if not candidates or len(candidates) != len(references):
        raise ValueError(f"Need one or more candidates and one reference set per candidate; got {len(candidates)} "
                         f"candidates and {len(references)} reference sets.")
    if any(not refs for refs in references):
        raise ValueError("Every candidate needs at least one reference text; found an empty reference list.")
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRIC_FAMILIES]
    if unknown:
        raise ValueError(f"Unknown metric families {unknown}; expected some of {METRIC_FAMILIES}.")
    out = CaptionScores(count=len(candidates))
    for family in METRIC_FAMILIES:
        if family not in metrics:
            out.not_computed.update(dict.fromkeys(_FAMILY_METRICS[family], "not requested"))
    blocked = None
    if _pycocoevalcap_dir() is None:
        blocked = "pycocoevalcap is not installed (pip install pycocoevalcap)"
    elif shutil.which("java") is None:
        blocked = ("no `java` executable on PATH: pycocoevalcap's PTB tokenizer, METEOR and SPICE are Java programs; "
                   "install a JRE (e.g. apt-get install openjdk-17-jre-headless)")
    gts = res = None
    if blocked is None and metrics:
        try:
            gts, res = _tokenize(candidates, references)
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            blocked = f"the PTB tokenizer failed ({_failure(error)})"
    for family in metrics:
        if blocked is not None:
            out.not_computed.update(dict.fromkeys(_FAMILY_METRICS[family], blocked))
            continue
        if family == "spice" and (reason := spice_unavailable_reason()) is not None:
            out.not_computed["SPICE"] = reason
            continue
        if family == "cider" and len(candidates) < CIDER_MIN_PAIRS:
            logger.warning("CIDEr-D on %d pair(s) is not meaningful: it weighs n-grams by their rarity among the "
                           "references of the evaluated set and needs at least %d pairs (with one pair it is 0 "
                           "whatever the text). Evaluate more pairs to compare CIDEr-D.", len(candidates),
                           CIDER_MIN_PAIRS)
        try:
            out.scores.update(_family_scores(family, gts, res))
        except (OSError, RuntimeError, ValueError, AssertionError, subprocess.SubprocessError) as error:
            reason = f"{family} scorer failed ({_failure(error)})"
            logger.warning("Captioning metric not computed: %s", reason)
            out.not_computed.update(dict.fromkeys(_FAMILY_METRICS[family], reason))
    if "CIDEr-D" in out.scores and "SPICE" in out.scores:
        out.scores["SPIDEr"] = (out.scores["CIDEr-D"] + out.scores["SPICE"]) / 2
    else:
        missing = [m for m in ("CIDEr-D", "SPICE") if m not in out.scores]
        out.not_computed["SPIDEr"] = f"the mean of CIDEr-D and SPICE; not computed: {', '.join(missing)}"
    if all(m in out.scores for m in AVG_OF):
        out.scores["AVG"] = sum(out.scores[m] for m in AVG_OF) / len(AVG_OF)
    else:
        out.not_computed["AVG"] = ("the paper's average of all nine metrics; not computed: "
                                   + ", ".join(m for m in AVG_OF if m not in out.scores))
    return out


__all__ = ["METRIC_NAMES", "METRIC_FAMILIES", "AVG_OF", "CIDER_MIN_PAIRS", "SPICE_CORENLP_JARS", "CaptionScores",
           "caption_metrics", "spice_unavailable_reason"]
