"""SynthDiff from a sound library (`adiff synth --sources`): labels, split by recording, real-world edits, identity
pairs, both orders, and facts that still carry every property."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from test_synthdiff import _assert_texts_match_facts

from processing_adiff import load_audio
from training.synthdiff import generate_corpus
from training.synthdiff.__main__ import main as synth_main
from training.synthdiff.realworld import add_clicks, add_hum, codec_round_trip, eq_tilt, pitch_shift, time_shift
from training.synthdiff.realworld_pairs import IDENTITY_KINDS
from training.synthdiff.source_pairs import SOURCE_EDITS
from training.synthdiff.source_scene import SourcePalette
from training.synthdiff.sources import Recording, load_library, normalise_label, split_recordings

SR, SECONDS = 16000, 3.0
PROPERTY_KEYS = ("background", "events", "labels", "rms", "loudness_db", "peak", "reverb", "timbre", "snr_db", "noisy",
                 "clipped", "clip_fraction", "speed", "impression")
SOURCE_KEYS = ("eq_tilt_db_per_octave", "pitch_semitones", "time_shift_s", "hum_hz", "hum_db", "clicks", "codec",
               "file_format", "file_sample_rate", "channels", "dither_lsb", "recording_ids", "source_labels")
# How each test recording is written: (folder label, file name, rate, channels, format)
_LIBRARY = [("temple gong", f"gong{k}.ogg", 44100, 2, "OGG") for k in range(4)] + \
           [("speech", f"talk{k}.flac", 8000, 1, "FLAC") for k in range(4)] + \
           [("organ", f"organ{k}.wav", 22050, 1, "WAV") for k in range(4)] + \
           [(None, f"thing{k}.wav", 48000, 2, "WAV") for k in range(4)]


def _recording(rng, label, rate, seconds=2.5):
    t = np.arange(int(seconds * rate)) / rate
    if label == "speech":  # noise bursts at a syllable rate
        audio = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 4 * t) > 0)
    elif label is None:
        audio = rng.standard_normal(len(t))
    else:
        audio = np.sin(2 * np.pi * rng.uniform(200, 900) * t) * np.exp(-t * (3 if label == "temple gong" else 0.2))
    return (0.3 * audio / np.abs(audio).max()).astype(np.float32)


def write_library(root, recordings=_LIBRARY):
    """Write `recordings` ((label, file name, rate, channels, format) each) under `root`, a sub-folder per label."""
    rng = np.random.default_rng(0)
    for label, name, rate, channels, fmt in recordings:
        folder = root / label if label else root
        folder.mkdir(parents=True, exist_ok=True)
        audio = _recording(rng, label, rate)
        sf.write(folder / name, np.repeat(audio[:, None], channels, axis=1), rate, format=fmt)
    return root


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return write_library(tmp_path_factory.mktemp("library"))


@pytest.fixture(scope="module")
def corpus(library, tmp_path_factory):
    out = tmp_path_factory.mktemp("source_corpus")
    info = generate_corpus(out, seed=3, splits={"train": 50, "validation": 10, "test": 10}, sample_rate=SR,
                           seconds=SECONDS, sources=library)
    records = {split: [json.loads(line) for line in open(out / f"{split}_facts.jsonl")]
               for split in ("train", "validation", "test", "train_reversed")}
    return out, info, records


def test_labels_come_from_folders_and_unusable_labels_are_generic(library):
    recordings = load_library(str(library))
    classes = {r.recording_id: (r.sound_class, r.generic) for r in recordings}
    assert classes["temple gong/gong0.ogg"] == ("temple_gong", False)
    assert classes["speech/talk0.flac"] == ("speech", True)
    assert classes["thing0.wav"] == ("sound", True)  # no folder: no label
    assert [normalise_label(x) for x in ("Grand Piano", "unknown", "", "042")] == ["grand_piano", "sound", "sound",
                                                                                   "sound"]


def test_csv_library_reads_labels_licences_and_rejects_bad_rows(library, tmp_path):
    table = tmp_path / "lib.csv"
    table.write_text(f"path,label,license,source\n{library}/organ/organ0.wav,organ,CC0,pkg\n"
                     f"{library}/thing0.wav,,MIT,other\n")
    organ, thing = load_library(str(table))
    assert (organ.sound_class, organ.license, organ.package) == ("organ", "CC0", "pkg")
    assert (thing.sound_class, thing.label) == ("sound", None)
    assert (organ.category, thing.category) == ("music", "sound")  # an instrument's category is music by default
    given = tmp_path / "categories.csv"
    given.write_text(f"path,label,category\n{library}/organ/organ0.wav,organ,Church Sounds\n")
    assert load_library(str(given))[0].category == "church_sounds"
    bad = tmp_path / "bad.csv"
    bad.write_text("file,name\nx.wav,y\n")
    with pytest.raises(ValueError, match=r"columns path,label\[,license,source,category\]; got \['file', 'name'\]"):
        load_library(str(bad))
    missing = tmp_path / "missing.csv"
    missing.write_text("path,label\nnowhere.wav,organ\n")
    with pytest.raises(FileNotFoundError, match=r"1 files listed in .* do not exist .*\['nowhere.wav'\]"):
        load_library(str(missing))
    short = tmp_path / "short"
    short.mkdir()
    sf.write(short / "blip.wav", np.zeros(100, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="last less than 0.2 s .*blip.wav"):
        load_library(str(short))


def test_every_recording_goes_to_exactly_one_split(library):
    recordings = load_library(str(library))
    splits = split_recordings(recordings, {"train": 80, "validation": 10, "test": 10}, seed=3)
    ids = [r.recording_id for members in splits.values() for r in members]
    assert sorted(ids) == sorted(r.recording_id for r in recordings)  # none lost, none twice
    for name in ("validation", "test"):  # each class with more recordings than splits reaches every split
        assert {r.sound_class for r in splits[name]} == {"temple_gong", "speech", "organ", "sound"}
    assert splits == split_recordings(recordings, {"train": 80, "validation": 10, "test": 10}, seed=3)


def test_no_source_recording_of_validation_or_test_is_heard_in_training(corpus):
    _, info, records = corpus
    heard = {split: {i for r in records[split] for k in (1, 2) for i in r[f"clip{k}"]["recording_ids"]}
             for split in ("train", "validation", "test")}
    assert heard["train"] and heard["validation"] and heard["test"]
    assert not heard["train"] & heard["validation"] and not heard["train"] & heard["test"]
    assert not heard["validation"] & heard["test"]
    assert info["sources"]["splits"]["test"]["recordings"] >= 4 and info["sources"]["recordings"] == len(_LIBRARY)


def test_clips_keep_every_property_fact_and_add_the_source_facts(corpus):
    _, _, records = corpus
    for record in records["train"]:
        for k in (1, 2):
            clip = record[f"clip{k}"]
            assert all(key in clip for key in PROPERTY_KEYS + SOURCE_KEYS), sorted(clip)
            for event in clip["events"]:
                assert {"recording_id", "source_label", "generic", "license", "package"} <= set(event)
                assert event["generic"] == (event["class"] in ("speech", "music", "sound"))


def test_all_edits_and_identity_kinds_occur_and_texts_match_the_facts(corpus):
    _, _, records = corpus
    train = records["train"]
    assert {r["edit"]["kind"] for r in train if r["pair_type"] == "edited"} == set(SOURCE_EDITS)
    assert {r["edit"]["kind"] for r in train if r["pair_type"] == "identical" and r["edit"]} == set(IDENTITY_KINDS)
    for record in train + records["train_reversed"]:
        _assert_texts_match_facts(record)
        everything = " ".join(list(record["explanations"].values()) + record["captions"])
        labels = set(record["clip1"]["labels"]) | set(record["clip2"]["labels"])
        assert ("temple gong" in everything) == ("temple_gong" in labels)
        assert "mid-pitched" not in everything  # a recording's register is unknown: never claimed
    hum = [r for r in train if r["pair_type"] == "edited" and r["edit"]["kind"] == "hum"]
    assert all("hum" in r["explanations"]["1"] and r["hummier"] == r["edit"]["edited_audio"] for r in hum)


def _decoded(out, rel):
    audio, _ = load_audio(out / rel, sampling_rate=SR)  # what the feature extractor reads: mono at the model's rate
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def test_identity_pairs_decode_to_the_same_sound_and_say_identical(corpus):
    out, _, records = corpus
    identity = [r for r in records["train"] if r["pair_type"] == "identical" and r["edit"]]
    for record in identity:
        assert record["identical"] and record["louder"] is None
        kind, clip2 = record["edit"]["kind"], record["clip2"]
        info = sf.info(str(out / record["filepath2"]))
        assert (info.samplerate, info.channels) == (clip2["file_sample_rate"], clip2["channels"])
        assert record["filepath2"].endswith("." + clip2["file_format"])
        audio1, audio2 = _decoded(out, record["filepath1"]), _decoded(out, record["filepath2"])
        # Resamplers roll off the last few percent below Nyquist (above the extractor's f_max at 32 kHz): compare
        # below that.
        spectrum1, spectrum2 = np.fft.rfft(audio1), np.fft.rfft(audio2)
        heard = np.fft.rfftfreq(len(audio1), 1 / SR) < 0.85 * SR / 2
        residual = np.sum(np.abs(spectrum1 - spectrum2)[heard] ** 2) / np.sum(np.abs(spectrum1)[heard] ** 2)
        assert 10 * np.log10(residual + 1e-20) < -25.0, (kind, residual)
        if kind == "dither":  # at most `lsb` (plus rounding) apart, sample by sample
            assert np.abs(audio1 - audio2).max() * 32767 <= record["edit"]["lsb"] + 1.01
        if kind == "reencode" and clip2["file_format"] == "flac":
            assert np.array_equal(audio1, audio2)


def test_gain_changes_only_level_facts_and_level_matched_pairs_match_levels(corpus):
    _, _, records = corpus
    level_keys = {"rms", "loudness_db", "peak", "clip_fraction"}
    gain = [r for r in records["train"] if r["pair_type"] == "edited" and r["edit"]["kind"] == "gain"]
    assert gain
    for record in gain:
        clip1, clip2 = record["clip1"], record["clip2"]
        assert {k: v for k, v in clip1.items() if k not in level_keys} == \
               {k: v for k, v in clip2.items() if k not in level_keys}
        edited = record["edit"]["edited_audio"]  # the level change is heard: not flattened by the peak limiter
        assert record["louder"] == (edited if record["edit"]["gain_db"] > 0 else 3 - edited)
    matched = [r for r in records["train"] if r["pair_type"] == "edited" and r["edit"]["kind"] == "level_matched"]
    assert matched
    for record in matched:
        assert abs(record["loudness_diff_db"]) < 0.1 and record["louder"] is None


def test_every_split_is_written_in_both_orders(corpus):
    out, info, records = corpus
    assert info["parameters"]["reversed_splits"] == ["test", "train", "validation"]
    for pair, back in zip(records["train"], records["train_reversed"]):
        assert (back["clip1"], back["clip2"]) == (pair["clip2"], pair["clip1"])
        for key in ("brighter", "higher_pitched", "starts_later", "hummier", "clickier", "more_compressed", "louder"):
            assert back[key] == (None if pair[key] is None else 3 - pair[key]), key
        if pair["edit"] and "edited_audio" in pair["edit"]:
            assert back["edit"]["edited_audio"] == 3 - pair["edit"]["edited_audio"]


def test_source_corpus_is_reproducible_and_cli_checks_the_library(corpus, library, tmp_path):
    out, _, records = corpus
    # Same split shares (5:1:1), so the same recordings per split; two worker processes change nothing.
    synth_main(["--out", str(tmp_path), "--splits", "train=10,validation=2,test=2", "--seed", "3", "--sources",
                str(library), "--sample-rate", str(SR), "--seconds", str(SECONDS), "--workers", "2"])
    again = [json.loads(line) for line in open(tmp_path / "validation_facts.jsonl")]
    first = [json.loads(line) for line in open(out / "validation_facts.jsonl")]
    assert again == first[:2]
    assert (tmp_path / again[1]["filepath2"]).read_bytes() == (out / first[1]["filepath2"]).read_bytes()
    rows = list(csv.DictReader(open(tmp_path / "train.csv", newline="")))
    assert all((tmp_path / r["filepath1"]).is_file() and (tmp_path / r["filepath2"]).is_file() for r in rows)
    with pytest.raises(ValueError, match="Split .train. has recordings of 1 sound classes"):
        generate_corpus(tmp_path / "small", splits={"train": 4, "test": 4}, sample_rate=SR, seconds=SECONDS,
                        sources=library / "speech")


def test_realworld_edits_change_the_signal_as_their_facts_say():
    sr = SR
    t = np.arange(sr * 2) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(sr * 2).astype(np.float32) * 0.1

    def band(x, low, high):
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / sr)
        return spectrum[(freqs >= low) & (freqs < high)].sum()

    assert band(eq_tilt(noise, sr, 4.0), 4000, 8000) > 4 * band(noise, 4000, 8000)
    assert band(eq_tilt(noise, sr, -4.0), 4000, 8000) < band(noise, 4000, 8000) / 4
    shifted = pitch_shift(tone, sr, 12.0)
    assert len(shifted) == len(tone) and abs(np.argmax(np.abs(np.fft.rfft(shifted))) / 2 - 880) < 30  # 0.5 Hz bins
    delayed = time_shift(tone, sr, 0.5)
    assert np.all(delayed[:sr // 2] == 0) and np.array_equal(delayed[sr // 2:], tone[:-sr // 2])
    hummed = add_hum(np.random.default_rng(0), tone, sr, 50, -10.0)
    assert band(hummed, 45, 55) > 100 * band(tone, 45, 55)
    clicked = add_clicks(np.random.default_rng(0), np.zeros(sr, dtype=np.float32), sr, 5)
    assert np.sum(np.diff((np.abs(clicked) > 0.1).astype(int)) == 1) == 5
    for codec in ("ogg_vorbis", "mp3", "flac_8bit"):
        for quality in (0.9, 1.0):  # 1.0 is drawn (rounded uniform(0.85, 1)); libsndfile's MP3 writer refuses it
            decoded = codec_round_trip(tone, sr, codec, quality)
            assert len(decoded) == len(tone) and np.corrcoef(decoded, tone)[0, 1] > 0.99
            assert not np.array_equal(decoded, tone)


def test_classes_with_more_recordings_are_heard_more_often_but_not_in_proportion():
    recordings = [Recording(f"speech/{k}.wav", "", "speech", "speech") for k in range(16)]
    recordings.append(Recording("gong.wav", "", "gong", "gong"))
    palette = SourcePalette(recordings)
    rng = np.random.default_rng(0)
    picks = [palette.pick_class(rng) for _ in range(2000)]
    assert 0.75 < picks.count("speech") / len(picks) < 0.85  # sqrt(16) : sqrt(1) = 4 : 1, not 16 : 1
    assert {palette.pick_class(rng, exclude=["speech"]) for _ in range(20)} == {"gong"}


def test_a_category_named_corpus_says_music_for_instruments_and_keeps_the_label_in_its_facts(library, tmp_path):
    info = generate_corpus(tmp_path, seed=3, splits={"train": 20, "test": 10}, sample_rate=SR, seconds=SECONDS,
                           sources=library, source_names="category")
    assert info["sources"]["source_names"] == "category"
    assert set(info["sources"]["splits"]["train"]["classes"]) == {"temple_gong", "speech", "music", "sound"}
    records = [json.loads(line) for line in open(tmp_path / "train_facts.jsonl")]
    events = [e for r in records for a in (1, 2) for e in r[f"clip{a}"]["events"]]
    organ_events = [e for e in events if e["source_label"] == "organ"]
    assert organ_events and all(e["class"] == "music" and e["category"] == "music" for e in organ_events)
    texts = " ".join(text for r in records for text in r["explanations"].values())
    assert "music" in texts and "organ" not in texts
    with pytest.raises(ValueError, match="source_names must be one of .*got 'family'"):
        generate_corpus(tmp_path / "bad", pairs=10, sources=library, source_names="family")


def test_a_category_weighs_as_its_labels_together():
    recordings = [Recording(f"speech/{k}.wav", "", "speech", "speech") for k in range(4)]
    recordings += [Recording(f"{label}/{k}.wav", "", label, label) for label in ("violin", "organ") for k in range(4)]
    by_label, by_category = SourcePalette(recordings), SourcePalette(recordings, "category")
    assert by_category.class_names == ("music", "speech")
    assert by_category.weights["music"] == by_label.weights["violin"] + by_label.weights["organ"] == 4.0


def _instrument_recordings(folder) -> list:
    """Two recordings each of a violin, an organ (both "music") and speech, 2 s of noise at 16 kHz."""
    recordings = []
    for label in ("violin", "organ", "speech"):
        for k in range(2):
            path = folder / f"{label}{k}.wav"
            sf.write(path, np.random.default_rng(k).uniform(-0.5, 0.5, 2 * SR).astype(np.float32), SR)
            recordings.append(Recording(f"{label}/{k}.wav", str(path), label, label))
    return recordings


def test_a_category_named_scene_may_hold_two_instruments_but_an_event_edit_scene_holds_distinct_classes(tmp_path):
    # A corpus that never puts two instruments in one clip teaches a model that the second sound is speech.
    recordings = _instrument_recordings(tmp_path)
    by_category, by_label = SourcePalette(recordings, "category"), SourcePalette(recordings)
    rng = np.random.default_rng(0)
    free = [by_category.sample_clip(rng) for _ in range(60)]
    two_music = [c for c in free if [e.name for e in c.events] == ["music", "music"]]
    assert two_music and all(len({e.label for e in c.events}) == 2 for c in two_music)  # violin and organ
    for clip in free + [by_label.sample_clip(rng) for _ in range(30)]:
        assert len({e.label for e in clip.events}) == len(clip.events)  # never one label twice
    for _ in range(30):  # the scenes pairs.py draws for order changes and replaced events
        assert sorted(e.name for e in by_category.sample_clip(rng, num_events=2).events) == ["music", "speech"]
    assert by_category.sample_event(rng, "music", "middle", label="organ").label == "organ"
    with pytest.raises(ValueError, match="The class 'music' has no recordings labelled 'speech'; its labels are"):
        by_category.sample_event(rng, "music", "middle", label="speech")


def test_two_recordings_of_one_class_in_a_clip_are_no_order_change():
    from training.synthdiff.pairs import compare_clips

    def clip(order):
        return {"order": order, "labels": sorted(order), "noisy": False, "snr_db": None, "loudness_db": -20.0,
                "reverb": "dry", "timbre": "normal", "clipped": False, "speed": 1.0, "background": "silence"}

    def order_changed(order1, order2):
        return compare_clips(clip(order1), clip(order2), {"pair_type": "unrelated", "edit": None}, False)[
            "order_changed"]

    assert not order_changed(["music", "music"], ["music"])  # a violin then an organ against an organ alone
    assert not order_changed(["music", "music"], ["music", "music"])
    assert not order_changed(["music", "speech", "music"], ["music", "speech"])
    assert order_changed(["music", "speech", "music"], ["speech", "music"])
    assert order_changed(["speech", "music"], ["music", "speech"])
