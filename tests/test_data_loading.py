"""Loaders (CSV, JSONL, Hugging Face datasets) with missing / corrupt audio, and the training collator."""

import csv
import json
import logging
import random

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Audio, Dataset

from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
from processing_adiff.prompts import PROMPT_PARAPHRASES, TASK_PROMPTS, TIER_PROMPTS, tier_from_prompt
from training.data import AdiffCollator, AudioFilesError, from_hf_dataset, load_csv, load_jsonl

SR = 16000
ANSWERS = {1: "Audio 1 has a loud siren.", 2: "Audio 2 is a calm room with soft rain.",
           3: "Both audios contain birds."}


def _row(f1, f2, prompt, answer):
    return {"taskname": "test", "filepath1": f1, "filepath2": f2, "caption1": "a siren", "caption2": "rain",
            "input": prompt, "answer": answer}


@pytest.fixture()
def folder(tmp_path):
    audio = tmp_path / "clips"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        sf.write(audio / f"{name}.wav", (0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
    (audio / "corrupt.wav").write_bytes(b"RIFF....this is not a wav file at all")
    rows = [_row("clips/a.wav", "clips/b.wav", TIER_PROMPTS[t], ANSWERS[t]) for t in (1, 2, 3)]
    rows.append(_row("clips/b.wav", "clips/c.wav", TASK_PROMPTS["caption_first"], "a siren"))
    rows.append(_row("clips/a.wav", "clips/missing.wav", TIER_PROMPTS[1], ANSWERS[1]))
    rows.append(_row("clips/corrupt.wav", "clips/c.wav", TIER_PROMPTS[2], ANSWERS[2]))
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(tmp_path / "data.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return tmp_path


@pytest.fixture()
def processor(tiny_tokenizer):
    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=24, max_answer_length=64)


def test_missing_and_corrupt_audio_fail_fast_with_a_report(folder):
    with pytest.raises(AudioFilesError, match=r"1 missing and 1 unreadable of 5 audio files") as caught:
        load_csv(folder / "data.csv")
    message = str(caught.value)
    assert "missing.wav" in message and "corrupt.wav" in message and "on_missing='skip'" in message
    assert [p.endswith("missing.wav") for p in caught.value.report.missing] == [True]
    assert isinstance(caught.value, FileNotFoundError)


def test_skipping_counts_the_dropped_rows(folder, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_csv(folder / "data.csv", on_missing="skip")
    assert len(ds) == 4
    assert "skipped 2 of 6 rows" in caplog.text and "missing.wav" in caplog.text and "corrupt.wav" in caplog.text
    assert ds["tier"] == [1, 2, 3, None] and ds["task"] == [None, None, None, "caption_first"]
    assert ds[0]["filepath1"] == str(folder / "clips" / "a.wav")  # relative to the CSV's folder by default


def test_audio_root_jsonl_and_bad_input(folder, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    ds = load_jsonl(folder / "data.jsonl", audio_root=folder, on_missing="skip")
    assert len(ds) == 4 and ds[0]["filepath2"] == str(folder / "clips" / "b.wav")
    with pytest.raises(AudioFilesError, match="5 missing"):
        load_csv(folder / "data.csv", audio_root=other)
    with pytest.raises(ValueError, match="on_missing must be one of"):
        load_csv(folder / "data.csv", on_missing="ignore")
    (other / "bad.csv").write_text("filepath1,answer\nx.wav,hello\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['filepath2', 'input'\]"):
        load_csv(other / "bad.csv")


def test_hf_dataset_with_audio_columns(folder, processor):
    clips = folder / "clips"
    ds = Dataset.from_dict({"audio1": [str(clips / "a.wav"), str(clips / "corrupt.wav")],
                            "audio2": [str(clips / "b.wav"), str(clips / "c.wav")],
                            "input": [TIER_PROMPTS[3], TIER_PROMPTS[1]], "answer": [ANSWERS[3], ANSWERS[1]]})
    ds = ds.cast_column("audio1", Audio()).cast_column("audio2", Audio())
    with pytest.raises(AudioFilesError, match="1 unreadable"):
        from_hf_dataset(ds)
    kept = from_hf_dataset(ds, on_missing="skip")
    assert len(kept) == 1 and kept[0]["tier"] == 3
    batch = AdiffCollator(processor)([kept[0]])
    assert batch["input_features"].shape == (1, 2, 1001, 64)


def test_collator_shapes_and_label_masking(folder, processor, tiny_tokenizer):
    ds = load_csv(folder / "data.csv", on_missing="skip")
    rows = [ds[i] for i in range(len(ds))]
    batch = AdiffCollator(processor, training=False)(rows)
    assert batch["input_features"].shape == (4, 2, 1001, 64)
    assert batch["prompt_input_ids"].shape == batch["prompt_attention_mask"].shape == (4, 24)
    labels = batch["labels"]
    for row, label in zip(rows, labels):
        expected = tiny_tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
        kept = label[label != -100].tolist()
        assert kept == expected
        assert (label[len(expected):] == -100).all()
    # Evaluation uses the canonical prompts, exactly as the processor encodes them.
    canonical, _ = processor.encode_prompts([r["input"] for r in rows])
    assert torch.equal(batch["prompt_input_ids"], canonical)


def test_training_prompts_are_seeded_paraphrases_of_the_right_tier(folder, processor, tiny_tokenizer):
    ds = load_csv(folder / "data.csv", on_missing="skip")
    rows = [ds[i] for i in range(3)] * 6
    collator = AdiffCollator(processor, training=True, seed=3)
    rng = random.Random(3)
    prompts = [collator.prompt(row, rng) for row in rows]
    assert [tier_from_prompt(p) for p in prompts] == [r["tier"] for r in rows]
    assert all(p in PROMPT_PARAPHRASES[r["tier"]] for p, r in zip(prompts, rows))
    assert len(set(prompts)) > 3  # paraphrases, not the canonical prompt every time
    first = AdiffCollator(processor, training=True, seed=3)(rows[:4])
    again = AdiffCollator(processor, training=True, seed=3)(rows[:4])
    assert torch.equal(first["prompt_input_ids"], again["prompt_input_ids"])
    assert torch.equal(first["input_features"], again["input_features"])


def test_collator_inputs_and_errors(processor):
    wave = np.zeros(SR, dtype=np.float32)
    row = {"audio1": wave, "audio2": {"array": wave, "sampling_rate": SR}, "input": "what is different?"}
    with pytest.raises(ValueError, match="raw array without a rate"):
        AdiffCollator(processor)([row])
    batch = AdiffCollator(processor, sampling_rate=SR)([row])  # free prompt, no answer: inference batch
    assert "labels" not in batch and batch["input_features"].shape == (1, 2, 1001, 64)
    with pytest.raises(ValueError, match="1 of 2 rows have no answer"):
        AdiffCollator(processor, sampling_rate=SR)([row, {**row, "answer": "x"}])
    with pytest.raises(ValueError, match="empty batch"):
        AdiffCollator(processor)([])
