"""Issue 19's evaluation checks on hand-written facts: edit accuracy by kind, loudness direction, hallucinated sources,
tier agreement; the audio variants of the invariance checks; and the reference texts of a generated corpus, which state
the truth and so must score perfectly."""

import numpy as np
import pytest

from training.evaluation import extract_claims, fact_accuracy, load_eval_set
from training.evaluation.claims import Claim
from training.evaluation.pair_checks import (contradictions, edit_accuracy, hallucination_rate, loudness_direction,
                                             pair_checks, tier_agreement)
from training.evaluation.report import EvaluationReport
from training.evaluation.variants import apply_variant, tpdf_dither, vorbis_round_trip
from training.synthdiff import generate_corpus


def clip(labels=(), background="rain", reverb="dry", timbre="normal", noisy=False, clipped=False):
    return {"labels": sorted(labels), "background": background, "reverb": reverb, "timbre": timbre, "noisy": noisy,
            "clipped": clipped}


def pair(pair_type="edited", edit=None, louder=None, diff=0.0, **overrides):
    facts = {"pair_type": pair_type, "edit": edit, "identical": pair_type == "identical", "near_identical": False,
             "louder": louder, "loudness_diff_db": diff, "more_reverberant": None, "noisier": None, "faster": None,
             "timbre_differs": False, "clipped_differs": False, "background_differs": False, "events_only_in_1": [],
             "events_only_in_2": [], "clip1": clip(["beep"]), "clip2": clip(["beep"])}
    return {**facts, **overrides}


GAIN = pair(edit={"kind": "gain", "edited_audio": 2, "gain_db": 9.0}, louder=2, diff=9.0)
REVERB = pair(edit={"kind": "reverb", "edited_audio": 1}, more_reverberant=1,
              clip1=clip(["beep"], reverb="hall"))
DITHER = pair("identical", edit={"kind": "dither", "edited_audio": 2, "lsb": 1.0})
ORDER = pair(edit={"kind": "order_changed", "edited_audio": 2})  # no difference the claims can state


def claims(text):
    return extract_claims(text)


def test_edit_accuracy_groups_by_any_edit_kind():
    texts = ["Audio 2 is louder.", "Audio 1 is louder.", "Audio 1 is more reverberant, and Audio 2 is louder.",
             "Audio 1 is more reverberant than Audio 2.", "The two recordings are identical.", "Audio 2 is louder.",
             "Audio 2 is louder."]
    facts = [GAIN, GAIN, REVERB, REVERB, DITHER, DITHER, ORDER]
    scores = edit_accuracy([claims(t) for t in texts], facts)
    assert list(scores) == ["dither", "gain", "order_changed", "reverb"]
    assert (scores["gain"].correct, scores["gain"].checkable, scores["gain"].contradicted) == (1, 2, 1)
    # the reverb pair is not louder on either side: "Audio 2 is louder" contradicts it even though the edit is stated
    assert (scores["reverb"].correct, scores["reverb"].complete) == (1, 1)
    assert scores["dither"].accuracy == 0.5  # an identity pair called different is wrong
    assert scores["order_changed"].checkable == 0 and scores["order_changed"].accuracy is None
    plain = edit_accuracy([claims("Audio 2 has a beep.")], [pair("unrelated")])
    assert list(plain) == ["unrelated"]
    matched = dict(REVERB, edit={"kind": "level_matched", "property": "reverb", "edited_audio": 1})
    assert list(edit_accuracy([claims("Audio 1 is more reverberant.")], [matched])) == ["level_matched/reverb"]


def test_loudness_direction_counts_right_wrong_and_unstated():
    far = pair(louder=2, diff=7.5)
    near = pair(louder=2, diff=4.0)  # under the 6 dB gap: not checked
    texts = ["Audio 2 is louder.", "Audio 1 is louder.", "Audio 2 sounds muffled.", "Audio 1 is quieter.",
             "Audio 1 is louder."]
    score = loudness_direction([claims(t) for t in texts], [far, far, far, far, near])
    assert (score.pairs, score.correct, score.wrong, score.unstated) == (4, 2, 1, 1)
    assert score.accuracy == pytest.approx(2 / 3) and score.recall == 0.5
    assert loudness_direction([claims("Audio 1 is louder.")], [near], min_db=3.0).wrong == 1
    with pytest.raises(ValueError, match="min_db must be > 0"):
        loudness_direction([], [], min_db=0)


def test_hallucinated_sources_are_names_neither_clip_holds():
    facts = pair("unrelated", clip1=clip(["beep"]), clip2=clip(["dog_bark"], background="wind"))
    texts = ["Audio 1 has a beep and Audio 2 has a dog barking over wind.",  # all there
             "Audio 2 has a beep.",  # misattributed, but the beep is in the pair: not a hallucination
             "Audio 1 has a siren over rain, and Audio 2 has a dog barking.",  # the siren is in neither clip
             "Audio 1 has traffic noise."]  # a background neither clip has
    score = hallucination_rate([claims(t) for t in texts], [facts] * 4)
    assert (score.texts, score.texts_hallucinating) == (4, 2)
    assert score.rate == 0.5 and score.hallucinated_claims == 2
    assert score.examples[0] == {"index": 2, "absent": ["has_event(audio 1, siren)"]}
    assert score.by_name == {"siren": 1, "traffic (background)": 1}  # audio 1 is over rain: not absent
    # real-source labels holding a catalogue word: "alarm clock" and "steel drums" are read as alarm and drum
    source = pair("unrelated", clip1=clip(["alarm_clock"]), clip2=clip(["steel_drums"]))
    texts = ["Audio 1 has an alarm clock ringing and Audio 2 has steel drums.", "Audio 2 has a siren."]
    assert hallucination_rate([claims(t) for t in texts], [source] * 2).examples == [
        {"index": 1, "absent": ["has_event(audio 2, siren)"]}]
    # read with the corpus's classes, a source label is its class; the generic "a sound" names no source, so it is
    # absent only from a pair without any sound
    classes = ("alarm_clock", "steel_drums", "sound", "organ")
    texts = ["Audio 1 has an alarm clock, and Audio 2 has a sound.", "Audio 2 has an organ."]
    score = hallucination_rate([extract_claims(t, classes) for t in texts], [source] * 2)
    assert score.examples == [{"index": 1, "absent": ["has_event(audio 2, organ)"]}] and score.source_claims == 3
    empty = pair("unrelated", clip1=clip(), clip2=clip())
    assert hallucination_rate([extract_claims("Audio 1 has a sound.", classes)], [empty]).texts_hallucinating == 1


def test_a_recordings_category_counts_as_present_and_true():
    """A model trained to name an instrument's category says "music" for a clarinet: that is neither hallucinated
    nor false; "no music" is judged by class (a corpus may label a recording "music" beside a clarinet)."""
    event = {"class": "clarinet", "source_label": "clarinet", "category": "music"}
    clarinet = {**clip(["clarinet"]), "events": [event]}
    facts = pair("unrelated", clip1=clarinet, clip2=clip(["speech"]))
    classes = ("clarinet", "music", "speech", "organ")
    said = [extract_claims(t, classes) for t in ("Audio 1 has music, Audio 2 has speech.", "Audio 2 has music.")]
    score = hallucination_rate(said, [facts] * 2)
    assert score.texts_hallucinating == 0
    judged = fact_accuracy(said, [facts] * 2)["all"]
    assert (judged.correct, judged.claims) == (2, 3)  # "Audio 2 has music" is false: the clarinet is in audio 1


def test_contradictions_between_tiers():
    assert contradictions(claims("Audio 1 is louder."), claims("Audio 2 is louder than Audio 1.")) == [
        (Claim("louder", 1), Claim("louder", 2))]
    assert contradictions(claims("The clips are identical."), claims("Audio 2 is louder.")) == [
        (Claim("identical"), Claim("louder", 2))]
    assert contradictions(claims("Audio 1 sounds muffled."), claims("Audio 1 sounds thin and tinny."))
    assert contradictions(claims("Audio 1 has a beep."), claims("Audio 1 has no beep."))
    assert not contradictions(claims("Audio 1 is louder."), claims("Audio 1 is louder and sounds muffled."))
    assert not contradictions(claims("Audio 1 has a beep."), claims("Audio 2 has no beep."))
    # the real-world comparatives of a source corpus
    for one, other in (("Audio 1 sounds brighter.", "Audio 2 sounds brighter than Audio 1."),
                       ("Audio 1 sounds brighter than Audio 2.", "Audio 1 sounds duller than Audio 2."),
                       ("Audio 2 is pitched up.", "Audio 2 is lower-pitched compared with Audio 1."),
                       ("Audio 1 starts later than Audio 2.", "Audio 2 starts later than Audio 1."),
                       ("Audio 1 carries a low hum that Audio 2 does not.", "Audio 2 has mains hum."),
                       ("Audio 1 has clicks.", "Audio 2 has crackles that Audio 1 does not."),
                       ("Audio 1 sounds lossy-coded.", "Audio 2 has compression artefacts that Audio 1 lacks.")):
        assert len(contradictions(claims(one), claims(other))) == 1, (one, other)
        assert not contradictions(claims(one), claims(one))
    assert contradictions(claims("They are identical."), claims("Audio 2 has clicks.")) == [
        (Claim("identical"), Claim("clickier", 2))]


def test_tier_agreement_per_tier_pair_and_overall():
    claims_by_pair = [{1: claims("Audio 1 is louder."), 2: claims("Audio 1 is louder."),
                       3: claims("Audio 2 is louder.")},
                      {1: claims("Audio 2 has a beep."), 3: claims("Audio 2 has a beep.")},
                      {2: claims("Audio 1 is louder.")}]  # one tier only: nothing to agree with
    texts_by_pair = [{t: str(t) for t in c} for c in claims_by_pair]
    scores = tier_agreement(claims_by_pair, texts_by_pair)
    assert {k: (s.passed, s.total) for k, s in scores.items()} == {"1-2": (1, 1), "1-3": (1, 2), "2-3": (0, 1),
                                                                  "all": (1, 2)}
    assert scores["all"].failures[0]["contradictions"] == {
        "1-3": ["louder(audio 1) vs louder(audio 2)"], "2-3": ["louder(audio 1) vs louder(audio 2)"]}


def test_report_sections_and_targets_from_hand_written_results():
    texts = ["Audio 2 is louder.", "Audio 1 is louder.", "Audio 2 is louder.", "Audio 2 is louder."]
    facts, tiers, pairs = [GAIN, GAIN, GAIN, GAIN], [1, 2, 1, 2], ["a", "a", "b", "b"]
    by_tier, agreement = pair_checks([claims(t) for t in texts], facts, tiers, pairs, texts)
    report = EvaluationReport(model="m", dataset="d", pair_checks=by_tier, tier_agreement=agreement,
                              behaviour={"1": {"identity_dither": {"score": 1.0, "total": 1, "vacuous": 0}},
                                         "2": {"identity_dither": {"score": 0.0, "total": 1, "vacuous": 0}}})
    targets = report.targets()
    assert targets["tier-1 edit accuracy"]["value"] == 1.0 and targets["tier-1 edit accuracy"]["met"]
    assert targets["loudness direction"]["value"] == 0.75 and targets["loudness direction"]["met"] is False
    assert targets["tier agreement"]["value"] == 0.5
    assert targets["identity under dither"]["value"] == 0.0  # the lowest tier
    assert targets["hallucinated-source rate"] == {"value": 0.0, "threshold": 0.15, "at_most": True, "met": True,
                                                   "note": None}
    assert targets["same claims under dither"]["met"] is None
    report.facts = {"all": {k: v.as_dict() for k, v in fact_accuracy([claims(t) for t in texts], facts).items()}}
    markdown = report.to_markdown()
    assert "| identity | all |" in markdown  # no real-world fact type measured: no column for it
    assert "| gain | 1.000 (2/2) | 0.500 (1/2) | 0.750 (3/4) |" in markdown
    assert "| all | 0.750 (right 3, wrong 1, unstated 0) |" in markdown
    assert "| 1-2 | 0.500 (1/2) |" in markdown and "| hallucinated-source rate | 0.000 | <= 0.15 | yes |" in markdown
    assert "Absent sources named most often" not in markdown
    texts[3] = "Audio 2 is louder and has a siren over traffic; Audio 1 has a siren."  # two made-up sirens at tier 2
    report.pair_checks, _ = pair_checks([claims(t) for t in texts], facts, tiers, pairs, texts)
    assert "- tier 2: siren 2, traffic (background) 1" in report.to_markdown()
    with pytest.raises(ValueError, match="one entry per row"):
        pair_checks([], facts, tiers, pairs, texts)


def test_reference_texts_of_a_generated_corpus_score_perfectly(tmp_path):
    generate_corpus(tmp_path, splits={"test": 30}, seed=0, sample_rate=8000, seconds=2.0, caption_rows=0)
    rows = load_eval_set(tmp_path, split="test").rows
    texts = [r.reference for r in rows]
    by_tier, agreement = pair_checks([claims(t) for t in texts], [r.facts for r in rows], [r.tier for r in rows],
                                     [r.pair for r in rows], texts)
    for checks in by_tier.values():
        assert all(s["correct"] == s["checkable"] for s in checks["edits"].values())
        assert checks["edited_pairs"]["accuracy"] == 1.0 and checks["edited_pairs"]["checkable"] >= 5
        assert checks["loudness_direction"]["wrong"] == checks["loudness_direction"]["unstated"] == 0
        assert checks["loudness_direction"]["pairs"] > 0 and checks["hallucination"]["texts_hallucinating"] == 0
    assert agreement["all"]["score"] == 1.0 and agreement["all"]["total"] == 30


def test_audio_variants_are_inaudible_deterministic_and_checked(tmp_path):
    t = np.arange(16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    dithered = tpdf_dither(audio, seed=3)
    assert np.array_equal(dithered, tpdf_dither(audio, seed=3)) and not np.array_equal(dithered, audio)
    assert np.abs(dithered - audio).max() <= 1.5 / 32767  # within one LSB plus the rounding
    decoded = vorbis_round_trip(audio, 16000)
    assert decoded.shape == audio.shape and np.abs(decoded - audio).max() < 0.05
    stereo = vorbis_round_trip(np.stack([audio, audio]), 16000)
    assert stereo.shape == (2, 16000)
    source = {"array": audio, "sampling_rate": 16000}
    assert apply_variant(source, None) is source
    softer = apply_variant(source, "dither", gain_db=-6.0)
    assert softer["sampling_rate"] == 16000 and np.abs(softer["array"]).max() < 0.16
    with pytest.raises(ValueError, match="Unknown audio variant 'mp3'"):
        apply_variant(source, "mp3")
