"""Behavioural checks of a difference explainer, judged on the claims of its explanations (`claims.extract_claims`).

- **swap consistency**: the fraction of pairs whose explanation of (B, A) makes exactly the claims of the explanation
  of (A, B) with Audio 1 and Audio 2 exchanged (`claims(explain(B, A)) == swap(claims(explain(A, B)))`).
- **identity**: the fraction of pairs (A, A) -- a clip compared with itself -- whose explanation states that the clips
  are the same (a `Claim("identical")`: "identical", "practically the same", "no audible difference") and makes no
  claim that they differ (`claims.difference_claims`).
- **gain robustness**: the fraction of pairs whose explanation makes the same claims after both clips are scaled by
  the same gain (a change of playback volume, which changes no fact of the pair).

Pairs on which both explanations make no claim at all agree vacuously; they count as consistent and are reported as
`vacuous`, so that a model that never states anything checkable is visible.
"""

from dataclasses import dataclass, field

from .claims import Claim, difference_claims, swap_claims

MAX_EXAMPLES = 5  # failing cases kept in a report, for reading


@dataclass
class BehaviourScore:
    """Result of one behavioural check.

    Args:
        name (`str`): `"swap_consistency"`, `"identity"` or `"gain_robustness"`.
        passed (`int`): pairs that pass.
        total (`int`): pairs checked.
        vacuous (`int`): passing pairs whose explanations make no claim.
        mean_jaccard (`float`, *optional*): mean Jaccard similarity of the two compared claim sets (1 for two empty
            sets); `None` for the identity check.
        failures (`list[dict]`): up to `MAX_EXAMPLES` failing cases with their texts and claims.
    """

    name: str
    passed: int = 0
    total: int = 0
    vacuous: int = 0
    mean_jaccard: float | None = None
    failures: list = field(default_factory=list)

    @property
    def score(self) -> float | None:
        return self.passed / self.total if self.total else None

    def as_dict(self) -> dict:
        return {"name": self.name, "score": self.score, "passed": self.passed, "total": self.total,
                "vacuous": self.vacuous, "mean_jaccard": self.mean_jaccard, "failures": list(self.failures)}


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _names(claims) -> list:
    return [str(c) for c in sorted(claims)]


def _compare(name: str, expected: list, observed: list, texts: list) -> BehaviourScore:
    if len(expected) != len(observed) or len(texts) != len(expected):
        raise ValueError(f"{name}: got {len(expected)} reference claim sets, {len(observed)} compared claim sets and "
                         f"{len(texts)} text pairs; give one of each per pair.")
    result = BehaviourScore(name, total=len(expected))
    similarity = 0.0
    for index, (want, got, (text_a, text_b)) in enumerate(zip(expected, observed, texts)):
        similarity += _jaccard(want, got)
        if want == got:
            result.passed += 1
            result.vacuous += int(not want)
        elif len(result.failures) < MAX_EXAMPLES:
            result.failures.append({"index": index, "text": text_a, "compared_text": text_b,
                                    "expected_claims": _names(want), "claims": _names(got)})
    result.mean_jaccard = similarity / len(expected) if expected else None
    return result


def swap_consistency(claims_ab, claims_ba, texts_ab, texts_ba) -> BehaviourScore:
    """Swap consistency of explanations of (A, B) and of (B, A), pair by pair (see the module docstring).

    Args:
        claims_ab, claims_ba (lists of `frozenset[Claim]`): claims of explain(A, B) and of explain(B, A).
        texts_ab, texts_ba (lists of `str`): the explanations, kept for the failure examples.
    """
    expected = [swap_claims(c) for c in claims_ab]
    return _compare("swap_consistency", expected, list(claims_ba), list(zip(texts_ab, texts_ba)))


def gain_robustness(claims, claims_gain, texts, texts_gain) -> BehaviourScore:
    """Agreement of explanations before and after the same gain change on both clips (see the module docstring)."""
    return _compare("gain_robustness", list(claims), list(claims_gain), list(zip(texts, texts_gain)))


def identity_check(claims_same, texts_same) -> BehaviourScore:
    """The identity check on explanations of (A, A) pairs (see the module docstring).

    Args:
        claims_same (list of `frozenset[Claim]`): claims of explain(A, A) for each clip A.
        texts_same (list of `str`): the explanations.
    """
    claims_same, texts_same = list(claims_same), list(texts_same)
    if len(claims_same) != len(texts_same):
        raise ValueError(f"identity: got {len(claims_same)} claim sets for {len(texts_same)} texts.")
    result = BehaviourScore("identity", total=len(claims_same))
    for index, (claims, text) in enumerate(zip(claims_same, texts_same)):
        differences = difference_claims(claims)
        if Claim("identical") in claims and not differences:
            result.passed += 1
        elif len(result.failures) < MAX_EXAMPLES:
            result.failures.append({"index": index, "text": text, "claims": _names(claims),
                                    "difference_claims": _names(differences)})
    return result


__all__ = ["BehaviourScore", "MAX_EXAMPLES", "swap_consistency", "gain_robustness", "identity_check"]
