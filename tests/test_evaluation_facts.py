"""Fact accuracy (claims judged against SynthDiff facts) and the behavioural checks."""

import copy

import pytest

from training.evaluation.behaviour import gain_robustness, identity_check, swap_consistency
from training.evaluation.claims import Claim, extract_claims
from training.evaluation.facts import checkable_differences, event_accuracy, fact_accuracy, judge_claim


def clip(labels=(), background="rain", reverb="dry", timbre="normal", noisy=False, clipped=False):
    return {"labels": sorted(labels), "background": background, "reverb": reverb, "timbre": timbre, "noisy": noisy,
            "clipped": clipped}


# Audio 2 is louder, more reverberant, muffled and has an extra siren; both have rain and a beep.
FACTS = {
    "identical": False, "near_identical": False, "louder": 2, "loudness_diff_db": 8.0, "more_reverberant": 2,
    "noisier": None, "faster": None, "timbre_differs": True, "clipped_differs": False, "background_differs": False,
    "events_only_in_1": [], "events_only_in_2": ["siren"],
    "clip1": clip(["beep"]), "clip2": clip(["beep", "siren"], reverb="hall", timbre="muffled"),
}


def test_judge_claim():
    assert judge_claim(Claim("louder", 2), FACTS) is True
    assert judge_claim(Claim("louder", 1), FACTS) is False
    assert judge_claim(Claim("timbre", 2, "muffled"), FACTS) is True
    assert judge_claim(Claim("timbre", 1, "muffled"), FACTS) is False
    assert judge_claim(Claim("has_event", 1, "siren"), FACTS) is False
    assert judge_claim(Claim("lacks_event", 1, "siren"), FACTS) is True
    assert judge_claim(Claim("noisier", 1), FACTS) is False  # neither clip is noisy
    assert judge_claim(Claim("identical"), FACTS) is False
    quiet = dict(FACTS, louder=None, loudness_diff_db=1.0)  # audio 2 louder by less than the threshold
    assert judge_claim(Claim("louder", 2), quiet) is None
    assert judge_claim(Claim("louder", 1), quiet) is False


def source_clip(labels=(), tilt=0.0, pitch=0.0, shift=0.0, hum_hz=None, clicks=0, codec=None):
    return {**clip(labels), "eq_tilt_db_per_octave": tilt, "pitch_semitones": pitch, "time_shift_s": shift,
            "hum_hz": hum_hz, "clicks": clicks, "codec": codec}


# A source-corpus pair: Audio 2 is brighter (EQ tilt) and has hum; the other real-world facts hold nothing.
SOURCE = dict(FACTS, louder=None, loudness_diff_db=0.5, more_reverberant=None, timbre_differs=False,
              events_only_in_2=[], order_changed=False, brighter=2, higher_pitched=None, starts_later=None, hummier=2,
              clickier=None, more_compressed=None, clip1=source_clip(["beep"]),
              clip2=source_clip(["beep"], tilt=4.0, hum_hz=50))


def test_judge_real_world_claims():
    assert judge_claim(Claim("brighter", 2), SOURCE) is True and judge_claim(Claim("brighter", 1), SOURCE) is False
    assert judge_claim(Claim("hummier", 2), SOURCE) is True and judge_claim(Claim("hummier", 1), SOURCE) is False
    # the facts hold none of these: neither clip is pitched, delayed, clicky or lossy-coded
    for kind in ("higher_pitched", "starts_later", "clickier", "more_compressed"):
        assert judge_claim(Claim(kind, 1), SOURCE) is False, kind
    slight = dict(SOURCE, higher_pitched=None, clip2=source_clip(["beep"], pitch=0.3))  # under the 0.5 threshold
    assert judge_claim(Claim("higher_pitched", 2), slight) is None
    assert judge_claim(Claim("higher_pitched", 1), slight) is False
    # another difference that changes the same property leaves the claim unjudged
    assert judge_claim(Claim("higher_pitched", 1), dict(SOURCE, faster=1)) is None
    assert judge_claim(Claim("starts_later", 2), dict(SOURCE, events_only_in_2=["siren"])) is None
    both = dict(SOURCE, hummier=None, clip1=source_clip(["beep"], hum_hz=60))
    assert judge_claim(Claim("hummier", 1), both) is None
    assert judge_claim(Claim("brighter", 2), dict(SOURCE, identical=True)) is False
    # a synthesised corpus records no real-world fact: unjudged
    assert judge_claim(Claim("brighter", 2), FACTS) is None and judge_claim(Claim("clickier", 1), FACTS) is None


def test_real_world_differences_are_checkable():
    differences = checkable_differences(SOURCE)
    assert {(d.fact_type, *d.required) for d in differences} >= {("brightness", Claim("brighter", 2)),
                                                                 ("hum", Claim("hummier", 2))}
    text = "Audio 1 sounds darker than Audio 2, and Audio 2 carries a low hum that Audio 1 does not."
    scores = fact_accuracy([extract_claims(text), extract_claims("Audio 1 sounds brighter.")], [SOURCE] * 2)
    assert (scores["brightness"].correct, scores["brightness"].contradicted, scores["brightness"].stated) == (1, 1, 1)
    assert scores["hum"].recall == 0.5 and scores["pitch"].differences == 0
    assert [d.fact_type for d in checkable_differences(FACTS)] == ["loudness", "reverb", "timbre", "events"]


def test_fact_accuracy_precision_and_recall():
    correct = "Audio 2 adds a siren that Audio 1 lacks; Audio 2 is louder, more reverberant and muffled."
    wrong = "Audio 1 is louder and Audio 1 sounds muffled."
    scores = fact_accuracy([extract_claims(correct), extract_claims(wrong)], [FACTS, FACTS])
    # correct: has_event(2, siren), lacks_event(1, siren), louder(2), more_reverberant(2), timbre(2) -> 5 correct;
    # wrong: louder(1), timbre(1, muffled) -> 2 contradicted.
    assert (scores["all"].correct, scores["all"].contradicted) == (5, 2)
    assert scores["all"].precision == pytest.approx(5 / 7)
    assert scores["loudness"].precision == 0.5
    # Each text faces 4 differences (louder, reverb, muffled, siren): the first states all, the second none.
    assert (scores["all"].differences, scores["all"].stated) == (8, 4)
    assert scores["events"].recall == 0.5
    assert scores["speed"].precision is None and scores["speed"].recall is None


def test_event_accuracy_splits_the_events_fact_type_by_sound_class():
    texts = ["Audio 2 adds a siren that Audio 1 lacks; both have a beep.",  # siren: has(2) + lacks(1); beep x2
             "Audio 1 has a siren and a dog bark.",  # siren in the wrong clip; "dog bark" is no SynthDiff sound
             "Audio 2 has a bell."]  # a sound neither clip has
    claim_sets = [extract_claims(t) for t in texts]
    events = event_accuracy(claim_sets, [FACTS] * 3)
    assert list(events) == ["beep", "bell", "siren"]  # claimed or differing classes, by name
    assert (events["siren"].correct, events["siren"].contradicted) == (2, 1)
    assert (events["beep"].correct, events["beep"].contradicted) == (2, 0)
    assert events["bell"].precision == 0.0 and events["bell"].differences == 0
    # The siren is the one sound only one clip has: stated in the right clip by the first text only.
    siren = events["siren"]
    assert (siren.differences, siren.stated, siren.recall) == (3, 1, pytest.approx(1 / 3))
    # The classes add up to the `events` fact type.
    overall = fact_accuracy(claim_sets, [FACTS] * 3)["events"]
    for field in ("claims", "correct", "contradicted", "differences", "stated"):
        assert sum(getattr(s, field) for s in events.values()) == getattr(overall, field)
    assert event_accuracy([extract_claims("Audio 2 is louder.")], [FACTS])["siren"].stated == 0


def test_identical_pair_facts():
    same = copy.deepcopy(FACTS)
    same.update(identical=True, louder=None, loudness_diff_db=0.0, more_reverberant=None, timbre_differs=False,
                events_only_in_2=[], clip2=same["clip1"])
    assert [d.fact_type for d in checkable_differences(same)] == ["identity"]
    scores = fact_accuracy([extract_claims("The two audios are practically the same; Audio 2 is louder.")], [same])
    assert (scores["identity"].correct, scores["loudness"].contradicted, scores["identity"].recall) == (1, 1, 1.0)
    with pytest.raises(ValueError, match="lack"):
        fact_accuracy([frozenset()], [{"identical": True}])


def test_swap_consistency():
    ab = ["Audio 1 is louder; Audio 2 sounds muffled.", "Audio 1 has a siren.", "Hello."]
    ba = ["Audio 2 is louder and Audio 1 sounds muffled.", "Audio 1 has a siren.", "Nothing to say."]
    result = swap_consistency([extract_claims(t) for t in ab], [extract_claims(t) for t in ba], ab, ba)
    assert (result.passed, result.total, result.vacuous) == (2, 3, 1)
    assert result.failures[0]["index"] == 1 and result.failures[0]["expected_claims"] == ["has_event(audio 2, siren)"]


def test_identity_check():
    texts = ["Audio 1 and Audio 2 are identical.", "They are identical, but Audio 2 is louder.",
             "Audio 1 has a siren.", "Both audios contain rain; there is no audible difference."]
    result = identity_check([extract_claims(t) for t in texts], texts)
    assert (result.passed, result.total, result.score) == (2, 4, 0.5)
    assert result.failures[0]["difference_claims"] == ["louder(audio 2)"]


def test_gain_robustness():
    before = ["Audio 1 is louder.", "Audio 2 is muffled."]
    after = ["Audio 1 is louder.", "Audio 2 is thin."]
    result = gain_robustness([extract_claims(t) for t in before], [extract_claims(t) for t in after], before, after)
    assert (result.passed, result.total) == (1, 2) and result.mean_jaccard == 0.5
    with pytest.raises(ValueError, match="one of each per pair"):
        gain_robustness([frozenset()], [], ["a"], [])
