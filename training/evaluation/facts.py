"""Fact accuracy: judging an explanation's claims against a SynthDiff pair's ground-truth facts.

For every pair the generator writes exact facts (`<split>_facts.jsonl`): which clip is louder, more reverberant,
noisier, faster (and, in a source corpus, brighter, higher-pitched, later, hummier, clickier, lossy-coded); each clip's
timbre, reverberation, noise, clipping, background and sound events; whether the clips are identical. Two numbers are
computed per fact type (`claims.FACT_TYPES`) and over all types:

- **precision** (the *fact accuracy*): of the claims the texts make that the facts can judge, the fraction that are
  correct: `correct / (correct + contradicted)`. A claim the facts cannot decide (a louder claim on two unrelated clips
  whose levels differ by less than the generator's loudness threshold, in the claimed direction; a noisier claim on two
  noisy clips of similar SNR) is counted as `unjudged` and left out.
- **recall**: of the differences the facts hold (`checkable_differences`), the fraction the texts state correctly:
  the claim that states it is present and no claim contradicting it is.

`None` stands for a ratio with a zero denominator (no judged claim, no checkable difference).
"""

from dataclasses import asdict, dataclass

from ..synthdiff.interface import TIMBRES, check_facts, clip_sound_names

from .claims import COMPARATIVE_KINDS, FACT_TYPE_OF_KIND, FACT_TYPES, Claim

NEUTRAL_TIMBRE = TIMBRES[0]  # the unfiltered timbre, which the grammar never names
_CONTENT = ("events_only_in_1", "events_only_in_2", "background_differs")
# Comparatives of a source corpus's real-world edits (pair facts of the same name, 1 | 2 | None): the clip fact they
# compare, and the pair facts of other differences that change the same property (a filtered, sped-up or unrelated
# clip may well sound brighter, higher or later), which leave a claim the real-world fact does not hold unjudged.
_REALWORLD = {"brighter": ("eq_tilt_db_per_octave", ("timbre_differs", *_CONTENT)),
              "higher_pitched": ("pitch_semitones", ("faster", *_CONTENT)),
              "starts_later": ("time_shift_s", ("faster", "order_changed", *_CONTENT)),
              "hummier": ("hum_hz", ()), "clickier": ("clicks", ()), "more_compressed": ("codec", ())}


def judge_claim(claim: Claim, facts: dict) -> bool | None:
    """`True` if the facts confirm `claim`, `False` if they contradict it, `None` if they cannot decide it."""
    same = facts["identical"] or facts["near_identical"]
    kind, audio = claim.kind, claim.audio
    if kind == "identical":
        return same
    if kind == "louder":
        if facts["louder"] is not None:
            return facts["louder"] == audio
        diff = facts["loudness_diff_db"]  # clip 2 minus clip 1, in dB
        if same or diff == 0 or (diff > 0) != (audio == 2):
            return False
        return None  # the claimed clip is louder, but by less than the generator's audibility threshold
    if kind in ("more_reverberant", "faster"):
        return facts[kind] == audio
    if kind == "noisier":
        if facts["noisier"] is not None:
            return facts["noisier"] == audio
        return None if facts["clip1"]["noisy"] and facts["clip2"]["noisy"] else False
    if kind in _REALWORLD:
        return _judge_realworld(kind, audio, facts, same)
    clip = facts[f"clip{audio}"]
    if kind in ("reverb", "timbre", "noisy", "clipped", "background"):
        return clip[kind] == claim.value
    if kind == "has_event":
        return claim.value in clip_sound_names(clip)
    if kind == "lacks_event":  # by class: a corpus that names a "music" recording and a horn may say one lacks music
        return claim.value not in clip["labels"]
    if kind == "no_events":
        return not clip["labels"]
    raise ValueError(f"Unknown claim kind {kind!r}; expected one of {sorted(FACT_TYPE_OF_KIND)}.")


def _judge_realworld(kind: str, audio: int, facts: dict, same: bool) -> bool | None:
    """A real-world comparative (`brighter(audio)`, ...): judged by its pair fact where it names a clip; else false
    when the clips do not differ in the compared direction, unjudged when they differ by less than the generator's
    threshold or another difference may cause it. A synthesised corpus records none of these facts: unjudged."""
    if same:
        return False
    if kind not in facts:
        return None
    if facts[kind] is not None:
        return facts[kind] == audio
    key, causes = _REALWORLD[kind]
    if any(facts.get(cause) for cause in causes):
        return None
    value1, value2 = facts["clip1"][key], facts["clip2"][key]
    if kind in ("hummier", "clickier", "more_compressed"):  # both clips have it (more in one?) or neither has
        return None if value1 and value2 else False
    diff = value2 - value1
    return None if diff and (diff > 0) == (audio == 2) else False


@dataclass(frozen=True)
class Difference:
    """One difference the facts hold, and how a text states it.

    Args:
        fact_type (`str`): key of `claims.FACT_TYPES`.
        required (`frozenset[Claim]`): claims that together state the difference.
        forbidden (`frozenset[Claim]`): claims that contradict it (a text stating both is not counted as stating it).
    """

    fact_type: str
    required: frozenset
    forbidden: frozenset = frozenset()

    def stated_by(self, claims) -> bool:
        return self.required <= claims and not (self.forbidden & claims)


def checkable_differences(facts: dict) -> list:
    """The differences of a pair a correct explanation can state, as `Difference`s (see the module docstring).

    Identical and practically identical pairs have one: that the clips sound the same."""
    if facts["identical"] or facts["near_identical"]:
        return [Difference("identity", frozenset({Claim("identical")}))]
    out = []
    for kind in COMPARATIVE_KINDS:  # the real-world ones only in a source corpus's facts
        audio = facts.get(kind)
        if audio is not None:
            out.append(Difference(FACT_TYPE_OF_KIND[kind], frozenset({Claim(kind, audio)}),
                                  frozenset({Claim(kind, 3 - audio)})))
    for audio in (1, 2):
        clip = facts[f"clip{audio}"]
        if facts["timbre_differs"] and clip["timbre"] != NEUTRAL_TIMBRE:
            out.append(Difference("timbre", frozenset({Claim("timbre", audio, clip["timbre"])})))
        if facts["clipped_differs"] and clip["clipped"]:
            out.append(Difference("clipping", frozenset({Claim("clipped", audio, True)}),
                                  frozenset({Claim("clipped", audio, False)})))
        if facts["background_differs"]:
            out.append(Difference("background", frozenset({Claim("background", audio, clip["background"])})))
        for cls in facts[f"events_only_in_{audio}"]:
            out.append(Difference("events", frozenset({Claim("has_event", audio, cls)}),
                                  frozenset({Claim("has_event", 3 - audio, cls), Claim("lacks_event", audio, cls)})))
    return out


@dataclass
class FactScore:
    """Counts behind the fact accuracy of one fact type (or of all types).

    Args:
        claims (`int`): claims made.
        correct (`int`): claims the facts confirm.
        contradicted (`int`): claims the facts contradict.
        unjudged (`int`): claims the facts cannot decide.
        differences (`int`): checkable differences in the facts.
        stated (`int`): differences the texts state correctly.
    """

    claims: int = 0
    correct: int = 0
    contradicted: int = 0
    unjudged: int = 0
    differences: int = 0
    stated: int = 0

    @property
    def precision(self) -> float | None:
        judged = self.correct + self.contradicted
        return self.correct / judged if judged else None

    @property
    def recall(self) -> float | None:
        return self.stated / self.differences if self.differences else None

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class JudgedClaim:
    """A claim and its verdict (`True` correct, `False` contradicted, `None` unjudged)."""

    claim: Claim
    verdict: bool | None


def judge_text(claims, facts: dict) -> tuple:
    """`(judged_claims, differences_stated)` of one explanation: every claim with its verdict, and for every checkable
    difference of the pair whether the claims state it."""
    check_facts(facts)
    claims = frozenset(claims)
    judged = [JudgedClaim(c, judge_claim(c, facts)) for c in sorted(claims)]
    stated = [(d, d.stated_by(claims)) for d in checkable_differences(facts)]
    return judged, stated


def _tally(claim_sets, facts_list, claim_keys, difference_keys) -> dict:
    """`FactScore`s keyed by what `claim_keys(claim)` and `difference_keys(difference)` name (lists of keys)."""
    scores = {}
    claim_sets, facts_list = list(claim_sets), list(facts_list)
    if len(claim_sets) != len(facts_list):
        raise ValueError(f"Got {len(claim_sets)} claim sets for {len(facts_list)} fact records; give one per text.")
    for claims, facts in zip(claim_sets, facts_list):
        judged, stated = judge_text(claims, facts)
        for item in judged:
            for key in claim_keys(item.claim):
                score = scores.setdefault(key, FactScore())
                score.claims += 1
                if item.verdict is None:
                    score.unjudged += 1
                elif item.verdict:
                    score.correct += 1
                else:
                    score.contradicted += 1
        for difference, ok in stated:
            for key in difference_keys(difference):
                score = scores.setdefault(key, FactScore())
                score.differences += 1
                score.stated += int(ok)
    return scores


def fact_accuracy(claim_sets, facts_list) -> dict:
    """Per-fact-type and overall (`"all"`) `FactScore`s of many explanations.

    Args:
        claim_sets (iterable of `frozenset[Claim]`): the claims of each explanation (`claims.extract_claims`).
        facts_list (iterable of `dict`): the facts of the pair each explanation is about, in the same order.

    Returns: `dict` mapping each key of `FACT_TYPES` and `"all"` to a `FactScore`.
    """
    tallied = _tally(claim_sets, facts_list, lambda claim: (FACT_TYPE_OF_KIND[claim.kind], "all"),
                     lambda difference: (difference.fact_type, "all"))
    return {fact_type: tallied.get(fact_type, FactScore()) for fact_type in (*FACT_TYPES, "all")}


EVENT_CLAIM_KINDS = ("has_event", "lacks_event")


def event_accuracy(claim_sets, facts_list) -> dict:
    """The `events` fact type split by sound class: which sounds a model names wrongly or misses.

    A claim that clip N has or lacks sound X counts for X; a sound only one clip has is a difference of its class.
    Arguments as for `fact_accuracy`.

    Returns: `dict` mapping each sound class that was claimed or that differed, sorted by name, to a `FactScore`.
    """
    tallied = _tally(claim_sets, facts_list,
                     lambda claim: (claim.value,) if claim.kind in EVENT_CLAIM_KINDS else (),
                     lambda difference: ([claim.value for claim in difference.required]
                                         if difference.fact_type == "events" else ()))
    return dict(sorted(tallied.items()))


__all__ = ["NEUTRAL_TIMBRE", "check_facts", "judge_claim", "Difference", "checkable_differences", "FactScore",
           "JudgedClaim", "judge_text", "fact_accuracy", "event_accuracy"]
