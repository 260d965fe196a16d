"""Checks of what a difference explainer gets right about a pair, beyond claim precision (issue 19), judged on the
claims of its explanations (`claims.extract_claims`) against the pair's facts (`<split>_facts.jsonl`):

- **edit accuracy by kind**: pairs are grouped by `edit.kind` (for pairs without an edit: by `pair_type`), whatever
  the kinds are (SynthDiff's edits, a real-source corpus's codec / EQ / pitch edits, its dither and re-encoding
  identity pairs). A pair is *correct* when its explanation states at least one of the differences the facts hold
  (`facts.checkable_differences`; for identical pairs: that the clips sound the same) and contradicts no fact;
  *complete* when it states all of them. Pairs whose facts hold no difference the claims can state (e.g. an order
  change, or an edit the claim vocabulary has no words for) are counted as `uncheckable` and left out.
- **loudness direction**: on pairs whose clips are at least `min_db` apart (measured RMS), whether the text names the
  louder clip: `correct`, `wrong` (names the softer one), `unstated`.
- **hallucination**: a *named source* is a sound event or background the text puts in a clip; it is hallucinated when
  neither clip holds it (`labels` / `background` of the clip facts, whatever the label set). Reported per text (texts
  naming at least one absent source) and per claim.
- **tier agreement**: for pairs explained at several tiers, whether the claims of the tiers never contradict each other
  (`contradictions`), per pair of tiers and over all tiers.
"""

from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import combinations

from .behaviour import MAX_EXAMPLES, BehaviourScore
from .claims import COMPARATIVE_KINDS, GENERIC_SOUND, Claim, difference_claims
from ..synthdiff.interface import clip_sound_names
from .facts import judge_text

DEFAULT_LOUDNESS_GAP_DB = 6.0  # loudness direction is checked on pairs at least this far apart
_SINGLE_VALUED = ("reverb", "timbre", "noisy", "clipped", "background")  # one value per clip


def edit_key(facts: dict) -> str:
    """The group of a pair in the edit table: its `edit.kind` (`kind/property` for an edit of another one, such as a
    level-matched reverb edit), or its `pair_type` when it has no edit."""
    edit = facts.get("edit")
    if not isinstance(edit, dict) or not edit.get("kind"):
        return facts["pair_type"]
    return f"{edit['kind']}/{edit['property']}" if isinstance(edit.get("property"), str) else edit["kind"]


@dataclass
class EditScore:
    """Edit accuracy of one edit kind.

    Args:
        pairs (`int`): explanations of pairs with this kind.
        checkable (`int`): those whose facts hold a difference the claims can state.
        correct (`int`): checkable ones stating at least one difference and contradicting no fact.
        complete (`int`): checkable ones stating every difference and contradicting no fact.
        contradicted (`int`): explanations contradicting at least one fact (checkable or not).
    """

    pairs: int = 0
    checkable: int = 0
    correct: int = 0
    complete: int = 0
    contradicted: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.checkable if self.checkable else None

    def as_dict(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy}


def edit_accuracy(claim_sets, facts_list, key=edit_key) -> dict:
    """`{edit kind: EditScore}` (sorted by kind) of many explanations and the facts of their pairs, in order; `key`
    (a function of the facts) names the group of a pair (default `edit_key`)."""
    scores = {}
    for claims, facts in _paired(claim_sets, facts_list):
        judged, stated = judge_text(claims, facts)
        score = scores.setdefault(key(facts), EditScore())
        score.pairs += 1
        contradicted = any(item.verdict is False for item in judged)
        score.contradicted += int(contradicted)
        if stated:
            score.checkable += 1
            score.correct += int(not contradicted and any(ok for _, ok in stated))
            score.complete += int(not contradicted and all(ok for _, ok in stated))
    return dict(sorted(scores.items()))


@dataclass
class DirectionScore:
    """Loudness direction on pairs at least `min_db` apart.

    Args:
        min_db (`float`): the gap.
        pairs (`int`): pairs that far apart.
        correct (`int`): texts naming the louder clip (and not the softer one).
        wrong (`int`): texts naming the softer clip as louder.
        unstated (`int`): texts saying neither.
    """

    min_db: float
    pairs: int = 0
    correct: int = 0
    wrong: int = 0
    unstated: int = 0

    @property
    def accuracy(self) -> float | None:
        """Of the texts that state a direction, the fraction that state the right one."""
        return self.correct / (self.correct + self.wrong) if self.correct + self.wrong else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.pairs if self.pairs else None

    def as_dict(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy, "recall": self.recall}


def loudness_direction(claim_sets, facts_list, min_db: float = DEFAULT_LOUDNESS_GAP_DB) -> DirectionScore:
    """Whether the texts name the louder clip of pairs whose measured levels differ by `min_db` or more."""
    if not min_db > 0:
        raise ValueError(f"min_db must be > 0 dB, got {min_db!r}.")
    score = DirectionScore(min_db)
    for claims, facts in _paired(claim_sets, facts_list):
        diff = facts["loudness_diff_db"]  # clip 2 minus clip 1
        if facts["identical"] or abs(diff) < min_db:
            continue
        louder = 2 if diff > 0 else 1
        score.pairs += 1
        if Claim("louder", 3 - louder) in claims:
            score.wrong += 1
        elif Claim("louder", louder) in claims:
            score.correct += 1
        else:
            score.unstated += 1
    return score


def _label_words(label: str) -> set:
    """A class label and its words, singular too: `"steel_drums"` -> {"steel_drums", "steel", "drums", "drum"}."""
    words = {label.lower(), *label.lower().replace("-", "_").replace(" ", "_").split("_")}
    return words | {w[:-1] for w in words if w.endswith("s")}


def hallucinated_sources(claims, facts: dict) -> list:
    """The claims of `claims` that put a sound event or background in a clip when neither clip has it. A sound counts
    as present when it is a clip's class or a word of one: a real recording labelled "alarm_clock" is named "alarm
    clock", which a parser not told the corpus's classes reads as the catalogue's "alarm". The generic "a sound"
    names no source: it is absent only when neither clip has any sound event. A category of a clip's recording
    ("music" for a clarinet) is present too."""
    present = set().union(*(_label_words(name) for a in (1, 2) for name in clip_sound_names(facts[f"clip{a}"])))
    if present:
        present.add(GENERIC_SOUND)
    backgrounds = {facts[f"clip{a}"]["background"] for a in (1, 2)}
    return sorted(c for c in claims if (c.kind == "has_event" and c.value.lower() not in present)
                  or (c.kind == "background" and c.value not in backgrounds))


@dataclass
class HallucinationScore:
    """Named sources absent from both clips.

    Args:
        texts (`int`): explanations.
        texts_hallucinating (`int`): explanations naming at least one absent source.
        source_claims (`int`): claims naming a sound event or background in a clip.
        hallucinated_claims (`int`): those naming one neither clip holds.
        examples (`list[dict]`): up to `MAX_EXAMPLES` hallucinated names with their texts' indices.
        by_name (`dict[str, int]`): how many hallucinated claims name each source, commonest first (a background is
            "rain (background)"): which sounds the model makes up, not only how often.
    """

    texts: int = 0
    texts_hallucinating: int = 0
    source_claims: int = 0
    hallucinated_claims: int = 0
    examples: list = field(default_factory=list)
    by_name: dict = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.texts_hallucinating / self.texts if self.texts else None

    @property
    def claim_rate(self) -> float | None:
        return self.hallucinated_claims / self.source_claims if self.source_claims else None

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate, "claim_rate": self.claim_rate}


def hallucination_rate(claim_sets, facts_list) -> HallucinationScore:
    """How often the texts name sounds or backgrounds that neither clip of their pair holds."""
    score, names = HallucinationScore(), Counter()
    for index, (claims, facts) in enumerate(_paired(claim_sets, facts_list)):
        absent = hallucinated_sources(claims, facts)
        score.texts += 1
        score.texts_hallucinating += int(bool(absent))
        score.source_claims += sum(c.kind in ("has_event", "background") for c in claims)
        score.hallucinated_claims += len(absent)
        names.update(f"{c.value} (background)" if c.kind == "background" else c.value for c in absent)
        if absent and len(score.examples) < MAX_EXAMPLES:
            score.examples.append({"index": index, "absent": [str(c) for c in absent]})
    score.by_name = dict(names.most_common())
    return score


def contradictions(a, b) -> list:
    """`(claim of a, claim of b)` pairs that cannot both hold for one pair of clips: opposite comparatives, two values
    of a one-valued clip property, a sound present and absent (or a clip without sounds), and "identical" against any
    claim of a difference."""
    out = []
    for x in a:
        for y in b:
            if x.kind in COMPARATIVE_KINDS and y.kind == x.kind and x.audio != y.audio:
                out.append((x, y))
            elif x.kind in _SINGLE_VALUED and y.kind == x.kind and x.audio == y.audio and x.value != y.value:
                out.append((x, y))
            elif x.audio == y.audio and (_event_conflict(x, y) or _event_conflict(y, x)):
                out.append((x, y))
    for same, other, flip in ((a, b, False), (b, a, True)):
        if Claim("identical") in same:
            out += [(c, Claim("identical")) if flip else (Claim("identical"), c)
                    for c in sorted(difference_claims(other))]
    return sorted(set(out))


def _event_conflict(x: Claim, y: Claim) -> bool:
    """`x` says a sound is in the clip, `y` that it is not (or that the clip has no sounds)."""
    return x.kind == "has_event" and ((y.kind == "lacks_event" and y.value == x.value) or y.kind == "no_events")


def tier_agreement(claims_by_pair: list, texts_by_pair: list) -> dict:
    """`{"1-2": BehaviourScore, ..., "all": BehaviourScore}`: for each pair of tiers, the fraction of audio pairs
    explained at both whose claims do not contradict each other; `"all"`: pairs explained at two or more tiers whose
    tiers never contradict each other.

    Args:
        claims_by_pair (list of `dict[int, frozenset[Claim]]`): per audio pair, the claims of each tier's text.
        texts_by_pair (list of `dict[int, str]`): the texts, for the failure examples.
    """
    if len(claims_by_pair) != len(texts_by_pair):
        raise ValueError(f"tier_agreement: got {len(claims_by_pair)} claim maps for {len(texts_by_pair)} text maps.")
    scores = {}
    for index, (claims, texts) in enumerate(zip(claims_by_pair, texts_by_pair)):
        tiers = sorted(claims)
        if len(tiers) < 2:
            continue
        conflicts = {}
        for t1, t2 in combinations(tiers, 2):
            found = contradictions(claims[t1], claims[t2])
            _count(scores.setdefault(f"{t1}-{t2}", BehaviourScore(f"tier_agreement_{t1}_{t2}")), not found,
                   {"index": index, "texts": {t1: texts[t1], t2: texts[t2]},
                    "contradictions": [f"{x} vs {y}" for x, y in found]})
            if found:
                conflicts[f"{t1}-{t2}"] = [f"{x} vs {y}" for x, y in found]
        _count(scores.setdefault("all", BehaviourScore("tier_agreement")), not conflicts,
               {"index": index, "texts": texts, "contradictions": conflicts})
    return dict(sorted(scores.items()))


def pair_checks(claims: list, facts: list, tiers: list, pairs: list, texts: list,
                min_db: float = DEFAULT_LOUDNESS_GAP_DB) -> tuple:
    """All checks of this module over the rows of an evaluation, in one call.

    Args:
        claims, facts, tiers, pairs, texts (lists, one entry per evaluated row): the claims of its text, the facts of
            its pair, its tier (`int`), a key of its audio pair (rows of one pair at several tiers share it) and the
            text.
        min_db (`float`): the gap of the loudness-direction check.

    Returns: `(by_tier, agreement)`: `by_tier` maps each tier (`"1"`, ...) and `"all"` to `{"edits": {kind:
    EditScore dict}, "edited_pairs": EditScore dict over all pairs of type "edited", "loudness_direction":
    DirectionScore dict, "hallucination": HallucinationScore dict}`;
    `agreement` is `tier_agreement` as dicts.
    """
    if not len(claims) == len(facts) == len(tiers) == len(pairs) == len(texts):
        raise ValueError(f"pair_checks needs one entry per row in each list, got {len(claims)} claim sets, "
                         f"{len(facts)} facts, {len(tiers)} tiers, {len(pairs)} pair keys and {len(texts)} texts.")
    groups = {str(t): [i for i, tier in enumerate(tiers) if tier == t] for t in sorted(set(tiers))}
    groups["all"] = list(range(len(tiers)))
    by_tier = {}
    for key, rows in groups.items():
        row_claims, row_facts = [claims[i] for i in rows], [facts[i] for i in rows]
        edited = [i for i, f in enumerate(row_facts) if f["pair_type"] == "edited"]
        overall = edit_accuracy([row_claims[i] for i in edited], [row_facts[i] for i in edited],
                                key=lambda f: "edited")
        by_kind = edit_accuracy(row_claims, row_facts)
        by_tier[key] = {"edits": {kind: score.as_dict() for kind, score in by_kind.items()},
                        "edited_pairs": overall.get("edited", EditScore()).as_dict(),
                        "loudness_direction": loudness_direction(row_claims, row_facts, min_db).as_dict(),
                        "hallucination": hallucination_rate(row_claims, row_facts).as_dict()}
    per_pair = {}
    for i, pair in enumerate(pairs):
        pair_claims, pair_texts = per_pair.setdefault(pair, ({}, {}))
        pair_claims[tiers[i]], pair_texts[tiers[i]] = claims[i], texts[i]
    agreement = tier_agreement([c for c, _ in per_pair.values()], [t for _, t in per_pair.values()])
    return by_tier, {key: score.as_dict() for key, score in agreement.items()}


def _count(score: BehaviourScore, passed: bool, failure: dict) -> None:
    score.total += 1
    if passed:
        score.passed += 1
    elif len(score.failures) < MAX_EXAMPLES:
        score.failures.append(failure)


def _paired(claim_sets, facts_list) -> list:
    claim_sets, facts_list = list(claim_sets), list(facts_list)
    if len(claim_sets) != len(facts_list):
        raise ValueError(f"Got {len(claim_sets)} claim sets for {len(facts_list)} fact records; give one per text.")
    return list(zip(claim_sets, facts_list))


__all__ = ["DEFAULT_LOUDNESS_GAP_DB", "edit_key", "EditScore", "edit_accuracy", "DirectionScore", "loudness_direction",
           "hallucinated_sources", "HallucinationScore", "hallucination_rate", "contradictions", "tier_agreement",
           "pair_checks"]
