"""The evaluator on a real-source corpus (`adiff synth --sources`): the claim parser reads the source labels and the
real-world property words, so the reference texts score perfectly on every pair check and fact type, and each new
edit kind's texts state its claim."""

import pytest
from test_synthdiff_sources import write_library

from adiff.cli import main as adiff_main
from training.data import load_csv
from training.evaluation import extract_claims, fact_accuracy, load_eval_set, score_samples, swap_claims
from training.evaluation.claims import REALWORLD_FACT_TYPES, Claim
from training.data.eval_set import synthdiff_facts_for
from training.evaluation.pair_checks import hallucinated_sources, pair_checks
from training.evaluation.report import EvaluationReport
from training.synthdiff.realworld_pairs import IDENTITY_KINDS, REALWORLD_EDITS

# Labels that test the lexicon: a catalogue word inside a label ("alarm clock"), the generic classes (music, speech,
# an unlabelled "sound"), a multi-word label, and a train-only label that is a catalogue synonym of the bell.
_RECORDINGS = [(label, f"{stem}{k}.wav", 16000, 1, "WAV") for label, stem in
               (("alarm clock", "clock"), ("music", "music"), ("speech", "talk"), ("french horn", "horn"),
                (None, "thing")) for k in range(3)] + [("chime", "chime0.wav", 16000, 1, "WAV")]
# The pair fact each real-world edit (and level-matched property) sets, which its texts must state.
_EDIT_FACT = {"eq_tilt": "brighter", "pitch": "higher_pitched", "time_shift": "starts_later", "hum": "hummier",
              "clicks": "clickier", "codec": "more_compressed"}
SPLITS = ("test", "test_reversed")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("source_eval")
    library = write_library(root / "library", _RECORDINGS)
    out = root / "corpus"
    assert adiff_main(["synth", "--out", str(out), "--splits", "train=60,test=50", "--seed", "3", "--sources",
                       str(library), "--sample-rate", "8000", "--seconds", "2", "--caption-rows", "0"]) == 0
    return out


@pytest.fixture(scope="module")
def corpus(corpus_dir):
    return {split: load_eval_set(corpus_dir, split=split) for split in SPLITS}


def _claims(eval_set):
    return [extract_claims(row.reference, eval_set.sound_classes) for row in eval_set.rows]


def test_eval_set_knows_the_corpus_sound_classes(corpus):
    classes = corpus["test"].sound_classes
    assert set(classes) == {"alarm_clock", "music", "speech", "french_horn", "sound", "chime"}
    heard = {label for row in corpus["test"].rows for a in (1, 2) for label in row.facts[f"clip{a}"]["labels"]}
    assert "chime" not in heard  # one recording: train only, yet read (from corpus.json) when a test text names it


@pytest.mark.parametrize("split", SPLITS)
def test_reference_texts_of_a_source_corpus_score_perfectly(corpus, split):
    eval_set = corpus[split]
    rows, claims = eval_set.rows, _claims(eval_set)
    texts, facts = [r.reference for r in rows], [r.facts for r in rows]
    by_tier, agreement = pair_checks(claims, facts, [r.tier for r in rows], [r.pair for r in rows], texts)
    for tier, checks in by_tier.items():
        edits = checks["edits"]
        assert all(s["correct"] == s["checkable"] and s["contradicted"] == 0 for s in edits.values()), edits
        checkable = {kind for kind, s in edits.items() if s["checkable"]}
        # every real-world edit and identity pair is checkable now (order_changed alone states nothing checkable)
        assert {k for k in REALWORLD_EDITS if k != "level_matched"} | set(IDENTITY_KINDS) <= checkable
        assert any(kind.startswith("level_matched/") for kind in checkable)
        assert checks["edited_pairs"]["accuracy"] == 1.0
        direction = checks["loudness_direction"]
        assert direction["pairs"] > 0 and direction["wrong"] == 0
        # tier 1 states one difference besides the content, which may be the order of two shared sounds
        assert direction["unstated"] == 0 or tier in ("1", "all"), (tier, direction)
        assert checks["hallucination"]["texts_hallucinating"] == 0 and checks["hallucination"]["source_claims"] > 0
    assert agreement["all"]["score"] == 1.0 and agreement["all"]["total"] == 50
    scores = fact_accuracy(claims, facts)
    for fact_type, score in scores.items():
        assert score.contradicted == 0 and score.unjudged == 0, (fact_type, score)
    for fact_type in REALWORLD_FACT_TYPES:
        assert scores[fact_type].differences > 0 and scores[fact_type].recall == 1.0, fact_type
    for tier in (2, 3):  # tiers 2 and 3 state every difference
        tier_rows = [i for i, r in enumerate(rows) if r.tier == tier]
        assert fact_accuracy([claims[i] for i in tier_rows], [facts[i] for i in tier_rows])["all"].recall == 1.0
    report = EvaluationReport(model="m", dataset=split, facts={"all": {k: v.as_dict() for k, v in scores.items()}})
    header = next(line for line in report.to_markdown().splitlines() if line.startswith("| tier | loudness"))
    assert header.endswith("| identity | brightness | pitch | timing | hum | clicks | codec | all |")
    named = {c.value for c in set().union(*claims) if c.kind == "has_event"}
    assert {"alarm_clock", "music", "speech", "french_horn", "sound"} <= named and "alarm" not in named


def test_texts_of_each_new_edit_kind_state_its_claim_and_mirror(corpus):
    eval_set = corpus["test"]
    seen = set()
    for row, claims in zip(eval_set.rows, _claims(eval_set)):
        edit = row.facts["edit"]
        if row.facts["pair_type"] != "edited" or edit.get("property", edit["kind"]) not in _EDIT_FACT:
            continue
        kind = _EDIT_FACT[edit.get("property", edit["kind"])]
        assert row.facts[kind] == edit["edited_audio"] or kind == "brighter", edit  # darker edits: the other clip
        if row.tier > 1 or not row.facts["louder"]:  # tier 1 states only the first property: the level, if louder
            assert Claim(kind, row.facts[kind]) in claims, (row.reference, sorted(map(str, claims)))
            seen.add(edit["kind"] if edit["kind"] != "level_matched" else f"level_matched/{edit['property']}")
        swapped = row.reference.replace("Audio 1", "@").replace("Audio 2", "Audio 1").replace("@", "Audio 2")
        assert extract_claims(swapped, eval_set.sound_classes) == swap_claims(claims)
    assert set(_EDIT_FACT) <= seen


def test_source_labels_are_read_before_catalogue_words(corpus):
    eval_set = corpus["test"]
    row = next(r for r in eval_set.rows if r.facts["clip1"]["labels"] and "chime" not in r.facts["clip1"]["labels"])
    text = "Audio 1 has an alarm clock and a chime, while Audio 2 has a sound and a piece of music."
    claims = extract_claims(text, eval_set.sound_classes)
    assert {Claim("has_event", 1, "alarm_clock"), Claim("has_event", 1, "chime"), Claim("has_event", 2, "sound"),
            Claim("has_event", 2, "music")} <= claims
    assert Claim("has_event", 1, "chime") in hallucinated_sources(claims, row.facts)  # a train-only class
    assert Claim("has_event", 1, "bell") in extract_claims(text)  # no classes given: the catalogue's reading


def test_training_time_scores_read_the_source_classes(corpus_dir):
    """`score_samples` (the periodic evaluator of a training run) finds the facts and their classes from the rows."""
    rows = [r for r in load_csv(corpus_dir / "test.csv") if r["tier"] == 3]
    scores = score_samples([r["answer"] for r in rows], [r["answer"] for r in rows], rows)
    assert scores["fact_accuracy"] == 1.0 and scores["fact_recall"] == 1.0
    # read without the corpus's classes, "alarm clock" is the catalogue's alarm, absent from the clip
    blind = fact_accuracy([extract_claims(r["answer"]) for r in rows], synthdiff_facts_for(rows))["all"]
    assert blind.contradicted > 0
