"""SynthDiff: determinism, balance of pair types / edits / tiers, and facts that agree with the audio and the text."""

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf

from processing_adiff.prompts import task_from_prompt, tier_from_prompt
from training.synthdiff import (CLASS_NAMES, CSV_COLUMNS, EDITS, EVENT_SYNONYMS, PAIR_TYPES, ClipSpec, EventSpec,
                                generate_corpus, render_clip, resolve_splits)
from training.synthdiff.__main__ import parse_splits

SR, SECONDS = 16000, 4.0  # short clips keep the tests fast; the catalogue is clamped to fit


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthdiff")
    info = generate_corpus(out, seed=7, splits={"train": 40, "test": 4}, sample_rate=SR, seconds=SECONDS)
    records = [json.loads(line) for line in open(out / "train_facts.jsonl")]
    return out, info, records


def _read(out, rel):
    audio, sr = sf.read(out / rel, dtype="float64")
    assert sr == SR
    return audio


def test_same_seed_gives_identical_bytes_for_any_worker_count(corpus, tmp_path):
    out, _, _ = corpus
    generate_corpus(tmp_path, seed=7, splits={"train": 40, "test": 4}, sample_rate=SR, seconds=SECONDS, workers=2,
                    chunk_size=7)
    for name in ("train.csv", "test.csv", "train_facts.jsonl", "train_clips.csv", "audio/train/train_000013_2.wav",
                 "audio/test/test_000003_1.wav"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_pairs_depend_on_seed_and_split_only(corpus, tmp_path):
    out, _, _ = corpus
    # A subset regenerates identically: pair i of a split depends only on (seed, split, i).
    generate_corpus(tmp_path / "sub", seed=7, splits={"train": 5}, sample_rate=SR, seconds=SECONDS)
    assert (out / "audio/train/train_000004_1.wav").read_bytes() == \
        (tmp_path / "sub/audio/train/train_000004_1.wav").read_bytes()
    generate_corpus(tmp_path / "other", seed=8, splits={"train": 5}, sample_rate=SR, seconds=SECONDS)
    assert (out / "audio/train/train_000000_1.wav").read_bytes() != \
        (tmp_path / "other/audio/train/train_000000_1.wav").read_bytes()
    # The test split is not a copy of the train split.
    assert not np.array_equal(_read(out, "audio/test/test_000000_1.wav"), _read(out, "audio/train/train_000000_1.wav"))


def test_layout_columns_tiers_and_balance(corpus):
    out, info, records = corpus
    with open(out / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 40 * 4 == info["counts"]["train"]["rows"]
    tiers = [tier_from_prompt(r["input"]) for r in rows]
    tasks = [task_from_prompt(r["input"]) for r in rows]
    assert {t: tiers.count(t) for t in (1, 2, 3)} == {1: 40, 2: 40, 3: 40}
    assert set(tasks) - {None} == {"caption_first", "caption_second", "caption_both"}
    assert all((t is None) != (k is None) for t, k in zip(tiers, tasks))
    for row in rows:
        assert (out / row["filepath1"]).is_file() and (out / row["filepath2"]).is_file()
    types = [r["pair_type"] for r in records]
    assert set(types) == set(PAIR_TYPES)
    assert types.count("unrelated") == types.count("edited") == 16
    assert {r["edit"]["kind"] for r in records if r["pair_type"] == "edited"} == set(EDITS)
    with open(out / "train_clips.csv", newline="") as f:
        clips = list(csv.DictReader(f))
    assert len(clips) == 80
    assert all(label in CLASS_NAMES for c in clips for label in filter(None, c["labels"].split(";")))
    # The tagging index carries each clip's event times (frame-level targets for stage 1a), from the same facts.
    by_path = {r[f"filepath{k}"]: r[f"clip{k}"] for r in records for k in (1, 2)}
    for c in clips:
        facts = by_path[c["filepath"]]
        assert c["background"] == facts["background"]
        assert [e.split("@")[0] for e in filter(None, c["events"].split(";"))] == [e["class"] for e in facts["events"]]


def test_clip_facts_match_the_audio_files(corpus):
    out, _, records = corpus
    for record in records:
        for k in (1, 2):
            audio = _read(out, record[f"filepath{k}"])
            facts = record[f"clip{k}"]
            assert len(audio) == int(SR * SECONDS)
            assert np.sqrt(np.mean(audio ** 2)) == pytest.approx(facts["rms"], rel=1e-3, abs=1e-5)
        same = np.array_equal(_read(out, record["filepath1"]), _read(out, record["filepath2"]))
        assert same == record["identical"] == (record["pair_type"] == "identical")


def test_louder_clip_has_higher_rms(corpus):
    out, _, records = corpus
    gain_pairs = [r for r in records if r["edit"] and r["edit"].get("kind") == "gain"]
    assert gain_pairs
    for record in records:
        if record["louder"] is None:
            continue
        rms = [np.sqrt(np.mean(_read(out, record[f"filepath{k}"]) ** 2)) for k in (1, 2)]
        louder, quieter = rms[record["louder"] - 1], rms[2 - record["louder"]]
        assert 20 * np.log10(louder / quieter) >= 3.0


def test_added_event_adds_energy_at_its_onset(corpus):
    out, _, records = corpus
    checked = 0
    for record in records:
        edit = record["edit"] or {}
        if edit.get("kind") not in ("event_added", "event_removed"):
            continue
        with_event = 2 if record["events_only_in_2"] else 1
        event = next(e for e in record[f"clip{with_event}"]["events"] if e["class"] == edit["class"])
        start, stop = int(event["onset_s"] * SR), int((event["onset_s"] + event["duration_s"]) * SR)
        energy = {k: np.mean(_read(out, record[f"filepath{k}"])[start:stop] ** 2) for k in (1, 2)}
        assert energy[with_event] > 2.0 * energy[3 - with_event]
        checked += 1
    assert checked >= 2


def test_clipped_and_noisy_facts_match_the_signal(corpus):
    out, _, records = corpus
    for record in records:
        edit = record["edit"] or {}
        if edit.get("kind") == "clipping":
            k = 1 if record["clip1"]["clipped"] else 2
            audio = np.abs(_read(out, record[f"filepath{k}"]))
            clean = np.abs(_read(out, record[f"filepath{3 - k}"]))
            assert np.mean(audio >= audio.max() - 1e-4) >= 0.005 > np.mean(clean >= clean.max() - 1e-4)
        if edit.get("kind") == "noise":
            k = record["noisier"]
            noisy, clean = _read(out, record[f"filepath{k}"]), _read(out, record[f"filepath{3 - k}"])
            snr = record[f"clip{k}"]["snr_db"]
            ratio_db = 20 * np.log10(np.sqrt(np.mean((noisy - clean) ** 2)) / np.sqrt(np.mean(clean ** 2)))
            assert ratio_db == pytest.approx(-snr, abs=2.0)


def test_hall_reverb_leaves_a_longer_tail_than_dry():
    event = EventSpec("beep", "beginning", 0.1, 0.5, -20.0, "mid", 1, seed=1)
    spec = ClipSpec(background="silence", background_db=-80.0, background_seed=2, events=[event], effect_seed=3)
    tails = {}
    for reverb in ("dry", "room", "hall"):
        audio, facts = render_clip(spec.replace(reverb=reverb), SR, SECONDS)
        end = int((facts["events"][0]["onset_s"] + facts["events"][0]["duration_s"]) * SR)
        tails[reverb] = np.mean(audio[end + SR // 20:end + SR // 2] ** 2)
    assert tails["hall"] > 10 * tails["room"] > 100 * tails["dry"]


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def _assert_texts_match_facts(record: dict) -> None:
    texts = list(record["explanations"].values())
    everything = " ".join(texts + record["captions"])
    present = set(record["clip1"]["labels"]) | set(record["clip2"]["labels"])
    for name in CLASS_NAMES:
        if name not in present:
            assert not any(_mentions(everything, s) for s in EVENT_SYNONYMS[name]), (name, everything)
    assert not re.search(r"\b(?:the|an?) (?:a|an) ", everything), everything  # "the a voice speaking"
    for text in texts:
        assert re.findall(r"Audio (\d)", text), text
        assert set(re.findall(r"Audio (\d)", text)) <= {"1", "2"}
        louder = re.findall(r"Audio (\d) is louder", text)
        assert all(int(a) == record["louder"] for a in louder), text
        if record["louder"] is None:
            assert "louder" not in text and "quieter" not in text and "softer" not in text
        assert ("identical" in text) == record["identical"]
        for audio in re.findall(r"Audio (\d) is more reverberant", text):
            assert int(audio) == record["more_reverberant"]
        for audio in re.findall(r"Audio (\d) (?:is noisy|is noisier|has more hiss)", text):
            assert int(audio) == record["noisier"]
        for audio in re.findall(r"Audio (\d) (?:adds|also contains)", text):
            assert record[f"events_only_in_{audio}"], text
        if "muffled" in text:
            assert "muffled" in (record["clip1"]["timbre"], record["clip2"]["timbre"])
        if "distorted" in text or "clipped" in text:
            assert record["clip1"]["clipped"] or record["clip2"]["clipped"]
    # Tier 1 is the shortest and tier 3 the longest explanation.
    lengths = [len(record["explanations"][t].split()) for t in "123"]
    assert lengths[0] <= lengths[1] < lengths[2]


def test_explanations_claim_only_what_the_facts_say(corpus):
    _, _, records = corpus
    for record in records:
        _assert_texts_match_facts(record)


_SLOT_FACTS = ("louder", "more_reverberant", "noisier", "faster")  # 1, 2 or None: which clip has more of it


def test_reversed_split_is_each_pair_the_other_way_round(corpus, tmp_path):
    _, _, records = corpus
    info = generate_corpus(tmp_path, seed=7, splits={"train": 20}, sample_rate=SR, seconds=SECONDS,
                           reversed_splits=["train"])
    pairs = [json.loads(line) for line in open(tmp_path / "train_facts.jsonl")]
    reversed_pairs = [json.loads(line) for line in open(tmp_path / "train_reversed_facts.jsonl")]
    assert pairs == records[:20]  # the original pairs do not change
    assert info["counts"]["train_reversed"]["pairs"] == 20 and info["parameters"]["reversed_splits"] == ["train"]
    assert not (tmp_path / "train_reversed_clips.csv").exists()  # same clips: no second tagging index
    for pair, back in zip(pairs, reversed_pairs):
        assert (back["filepath1"], back["filepath2"]) == (pair["filepath2"], pair["filepath1"])
        assert (back["clip1"], back["clip2"]) == (pair["clip2"], pair["clip1"])
        for key in _SLOT_FACTS:
            assert back[key] == (None if pair[key] is None else 3 - pair[key]), key
        assert back["events_only_in_1"] == pair["events_only_in_2"] and back["shared_events"] == pair["shared_events"]
        assert back["loudness_diff_db"] == -pair["loudness_diff_db"]
        assert (back["identical"], back["pair_type"]) == (pair["identical"], pair["pair_type"])
        if pair["pair_type"] == "edited":
            assert back["edit"]["edited_audio"] == 3 - pair["edit"]["edited_audio"]
        _assert_texts_match_facts(back)
    # Unlike a name swap inside the text, the reversed explanations are written for their order: "Audio 1" first.
    two_scenes = [b for b in reversed_pairs if b["pair_type"] == "unrelated" and b["background_differs"]]
    assert two_scenes and all(b["explanations"]["1"].index("Audio 1") < b["explanations"]["1"].index("Audio 2")
                              for b in two_scenes)
    rows = list(csv.DictReader(open(tmp_path / "train_reversed.csv", newline="")))
    assert len(rows) == 20 * 4 and {r["filepath1"] for r in rows} <= {p["filepath2"] for p in pairs}


def test_a_split_added_to_a_corpus_keeps_its_other_splits(tmp_path):
    generate_corpus(tmp_path, seed=3, splits={"train": 4, "test": 2}, sample_rate=SR, seconds=SECONDS,
                    reversed_splits=["train"])
    before = (tmp_path / "train.csv").read_bytes()
    info = generate_corpus(tmp_path, seed=3, splits={"train_extra": 3}, sample_rate=SR, seconds=SECONDS)
    assert info["parameters"]["splits"] == {"train": 4, "test": 2, "train_extra": 3}
    assert set(info["counts"]) == {"train", "test", "train_reversed", "train_extra"}
    assert info["parameters"]["reversed_splits"] == ["train"] and (tmp_path / "train.csv").read_bytes() == before
    assert len(list((tmp_path / "audio" / "train_extra").glob("*.wav"))) == 6
    with pytest.raises(ValueError, match=r"already holds a SynthDiff corpus \(splits \['test', 'train', "
                                         r"'train_extra'\]\) made with .*'seed': 3.* got .*'seed': 4"):
        generate_corpus(tmp_path, seed=4, splits={"more": 1}, sample_rate=SR, seconds=SECONDS)
    generate_corpus(tmp_path / "fresh", seed=4, splits={"a": 1}, sample_rate=SR, seconds=SECONDS)
    info = generate_corpus(tmp_path / "fresh", seed=5, splits={"a": 1}, sample_rate=SR, seconds=SECONDS)
    assert info["seed"] == 5  # every split regenerated: nothing to keep, any settings


def test_reversed_split_extends_an_existing_corpus_identically(tmp_path):
    from training.synthdiff import add_reversed_splits

    generate_corpus(tmp_path / "a", seed=3, splits={"train": 6, "test": 2}, sample_rate=SR, seconds=SECONDS,
                    reversed_splits=["train"])
    generate_corpus(tmp_path / "b", seed=3, splits={"train": 6, "test": 2}, sample_rate=SR, seconds=SECONDS)
    add_reversed_splits(tmp_path / "b", ["train"])
    for name in ("train_reversed.csv", "train_reversed_facts.jsonl", "corpus.json"):
        if name == "corpus.json":  # equal but for the time it took
            a, b = (json.loads((tmp_path / d / name).read_text()) for d in "ab")
            assert {**a, "seconds_elapsed": 0} == {**b, "seconds_elapsed": 0}
        else:
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    with pytest.raises(ValueError, match=r"'validation' is not in the corpus .* it has \['test', 'train'\]"):
        add_reversed_splits(tmp_path / "b", ["validation"])
    with pytest.raises(FileNotFoundError, match="corpus.json does not exist"):
        add_reversed_splits(tmp_path / "missing", ["train"])


def test_event_names_take_one_article():
    """Event names take at most one article: "the voice speaking", "a voice speaking", never "the a voice speaking"."""
    from training.synthdiff.grammar import _Writer

    writer = _Writer(np.random.default_rng(0))
    for cls in EVENT_SYNONYMS:
        for _ in range(20):
            assert not re.match(r"(?:a|an) ", writer.event(cls, article=False)), cls
            assert not re.match(r"(?:a|an) (?:a|an) ", writer.event(cls)), cls
            event = {"class": cls, "register": "mid", "repetitions": 2, "onset": "middle"}
            assert not re.search(r"\b(?:a|an) \S+ (?:a|an) ", writer.detailed_event(event, 3)), cls


def test_split_arguments_are_validated():
    assert resolve_splits(10, {"train": 0.8, "test": 0.2}) == {"train": 8, "test": 2}
    assert resolve_splits(None, {"train": 3}) == {"train": 3}
    assert parse_splits("train=0.5,validation=0.5") == {"train": 0.5, "validation": 0.5}
    with pytest.raises(ValueError, match="sum to 1"):
        resolve_splits(10, {"train": 0.5, "test": 0.2})
    with pytest.raises(ValueError, match="`pairs`"):
        resolve_splits(None, {"train": 0.5, "test": 0.5})
    with pytest.raises(ValueError, match="caption_rows"):
        generate_corpus("unused", pairs=1, caption_rows=4)
