"""AdiffProcessor: audio pairs, official prompt encoding, labels, argument checking and save/load."""

import random

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoProcessor, AutoTokenizer
from transformers.testing_utils import CaptureLogger

from conftest import FIXTURES
from processing_adiff import (
    PROMPT_PARAPHRASES,
    TASK_PROMPTS,
    TIER_PROMPTS,
    AdiffFeatureExtractor,
    AdiffProcessor,
    tier_from_prompt,
)
from processing_adiff import processing_adiff as processing_module

SR = 32000
GPT2_DIR = FIXTURES / "gpt2_tokenizer"
OFFICIAL = FIXTURES / "official"


@pytest.fixture(scope="module")
def processor(tiny_tokenizer):
    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(SR // 4).astype(np.float32) * scale for scale in (0.1, 0.3, 0.5, 0.7)]


def expected_prompt_ids(tokenizer, prompt, length):
    tokens = tokenizer(f"{prompt} {tokenizer.eos_token}", add_special_tokens=False)["input_ids"]
    return tokens + [tokenizer.pad_token_id] * (length - len(tokens)), len(tokens)


def test_single_pair_gives_a_batch_of_one(processor, clips):
    out = processor(audio=(clips[0], clips[1]), tier=1, sampling_rate=SR)
    assert set(out) == {"input_features", "prompt_input_ids", "prompt_attention_mask"}
    assert out["input_features"].shape == (1, 2, 1001, 64)
    assert out["prompt_input_ids"].shape == out["prompt_attention_mask"].shape == (1, 40)
    assert out["prompt_input_ids"].dtype == torch.long


def test_batch_keeps_pair_order(processor, clips):
    out = processor(audio=[(clips[0], clips[1]), (clips[2], clips[3]), (clips[1], clips[0])], task="caption_first",
                    sampling_rate=SR)
    singles = processor.feature_extractor(clips, sampling_rate=SR)["input_features"]
    assert out["input_features"].shape == (3, 2, 1001, 64)
    torch.testing.assert_close(out["input_features"][0], singles[[0, 1]])
    torch.testing.assert_close(out["input_features"][1], singles[[2, 3]])
    torch.testing.assert_close(out["input_features"][2], singles[[1, 0]])


def test_prompt_encoding_structure(processor, tiny_tokenizer, clips):
    out = processor(audio=(clips[0], clips[1]), tier=2, sampling_rate=SR)
    ids, used = expected_prompt_ids(tiny_tokenizer, TIER_PROMPTS[2], 40)
    assert out["prompt_input_ids"][0].tolist() == ids
    assert out["prompt_attention_mask"][0].tolist() == [1] * used + [0] * (40 - used)
    # the official " <|endoftext|>": a lone space token, then EOS, then pads
    space_id = tiny_tokenizer.convert_tokens_to_ids("Ġ")
    assert ids[used - 2: used] == [space_id, tiny_tokenizer.eos_token_id]


@pytest.mark.skipif(not GPT2_DIR.is_dir(), reason="real GPT-2 vocabulary fixture not built")
def test_real_gpt2_prompt_ids_match_the_official_encoding():
    tokenizer = AutoTokenizer.from_pretrained(GPT2_DIR)
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer)
    reference = torch.load(OFFICIAL / "official_tiny_io.pt")
    ids, mask = processor.encode_prompts([reference["prompt"]])
    expected = [20676, 391, 262, 3580, 1022, 262, 734, 6597, 287, 3703, 220, 50256] + [0] * 28
    assert ids[0].tolist() == expected == reference["input_ids"][0].tolist()
    assert mask.tolist() == reference["attention_mask"].tolist()


@pytest.mark.skipif(not GPT2_DIR.is_dir(), reason="real GPT-2 vocabulary fixture not built")
def test_every_paraphrase_fits_the_default_prompt_length_with_gpt2():
    tokenizer = AutoTokenizer.from_pretrained(GPT2_DIR)
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer)
    texts = [text for texts in PROMPT_PARAPHRASES.values() for text in texts]
    ids, mask = processor.encode_prompts(texts)
    assert int(mask.sum(dim=1).max()) <= processor.prompt_length  # nothing was cut
    assert all(ids[row, int(mask[row].sum()) - 1] == tokenizer.eos_token_id for row in range(len(texts)))


def test_long_prompt_is_cut_keeping_eos(tiny_tokenizer, clips):
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=8)
    logger = processing_module.logger
    with CaptureLogger(logger) as captured:
        out = processor(audio=(clips[0], clips[1]), text="explain the difference " * 5, sampling_rate=SR)
    assert "more than prompt_length=8" in captured.out
    assert out["prompt_input_ids"].shape == (1, 8)
    assert out["prompt_input_ids"][0, -1] == tiny_tokenizer.eos_token_id
    assert out["prompt_attention_mask"][0].tolist() == [1] * 8


def test_text_tier_and_task_resolution(processor, tiny_tokenizer, clips):
    pairs = [(clips[0], clips[1]), (clips[2], clips[3])]
    by_tier = processor(audio=pairs, tier=[1, 3], sampling_rate=SR)
    by_text = processor(audio=pairs, text=[TIER_PROMPTS[1], TIER_PROMPTS[3]], sampling_rate=SR)
    torch.testing.assert_close(by_tier["prompt_input_ids"], by_text["prompt_input_ids"])
    by_task = processor(audio=pairs, task="caption_both", sampling_rate=SR)
    assert processor.batch_decode(by_task["prompt_input_ids"]) == [TASK_PROMPTS["caption_both"]] * 2
    one_text = processor(audio=pairs, text="what changed?", sampling_rate=SR)
    assert processor.batch_decode(one_text["prompt_input_ids"]) == ["what changed?"] * 2
    with pytest.raises(ValueError, match="Give exactly one of text=.*got none of them"):
        processor(audio=pairs, sampling_rate=SR)
    with pytest.raises(ValueError, match="got text and tier"):
        processor(audio=pairs, text="hi", tier=1, sampling_rate=SR)
    with pytest.raises(ValueError, match=r"Unknown tier 4; valid tiers are \[1, 2, 3\]"):
        processor(audio=pairs, tier=4, sampling_rate=SR)
    with pytest.raises(ValueError, match="Unknown task 'caption'"):
        processor(audio=pairs, task="caption", sampling_rate=SR)


def test_unknown_kwarg_names_the_closest_valid_one(processor, clips):
    with pytest.raises(TypeError, match=r"audios= \(did you mean audio=\?\)"):
        processor(audios=(clips[0], clips[1]), tier=1, sampling_rate=SR)
    with pytest.raises(TypeError, match=r"sample_rate= \(did you mean sampling_rate=\?\)"):
        processor(audio=(clips[0], clips[1]), tier=1, sample_rate=SR)


def test_labels_are_answer_ids_plus_eos_padded_with_minus_100(processor, tiny_tokenizer, clips):
    answers = ["Audio 1 has a loud siren while Audio 2 is calm.", "Both are quiet."]
    pairs = [(clips[0], clips[1]), (clips[2], clips[3])]
    out = processor(audio=pairs, tier=1, answers=answers, sampling_rate=SR)
    alias = processor(audio=pairs, tier=1, text_target=answers, sampling_rate=SR)
    torch.testing.assert_close(out["labels"], alias["labels"])
    rows = [tiny_tokenizer(a, add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id] for a in answers]
    assert out["labels"].shape == (2, max(map(len, rows)))
    for row, tokens in zip(out["labels"].tolist(), rows):
        assert row == tokens + [-100] * (len(row) - len(tokens))
    labels = out["labels"].masked_fill(out["labels"] == -100, tiny_tokenizer.eos_token_id)
    assert processor.batch_decode(labels) == answers


def test_answers_are_capped_keeping_eos(tiny_tokenizer, clips):
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, max_answer_length=6)
    with CaptureLogger(processing_module.logger) as captured:
        out = processor(audio=(clips[0], clips[1]), tier=3, answers="Audio 1 has a loud siren while Audio 2 is calm.",
                        sampling_rate=SR)
    assert "more than max_answer_length=6" in captured.out
    assert out["labels"].shape == (1, 6) and out["labels"][0, -1] == tiny_tokenizer.eos_token_id


def test_mismatched_counts_are_errors(processor, clips):
    a, b = clips[0], clips[1]
    with pytest.raises(ValueError, match=r"audio\[2\] holds 1 audio\(s\); every item .* Got 3 items"):
        processor(audio=[(a, b), (a, b), (a,)], tier=1, sampling_rate=SR)
    with pytest.raises(ValueError, match="Got 2 text values for 3 audio pairs"):
        processor(audio=[(a, b)] * 3, text=["x", "y"], sampling_rate=SR)
    with pytest.raises(ValueError, match="Got 1 answers for 2 audio pairs"):
        processor(audio=[(a, b)] * 2, tier=1, answers="one", sampling_rate=SR)


def test_raw_arrays_need_a_sampling_rate_but_files_and_dicts_carry_theirs(processor, clips, tmp_path):
    with pytest.raises(ValueError, match="first audio of pair 0 is a raw array.*sampling_rate="):
        processor(audio=(clips[0], clips[1]), tier=1)
    path = tmp_path / "b.wav"
    sf.write(path, clips[1], SR, subtype="FLOAT")
    mixed = processor(audio=[({"array": clips[0], "sampling_rate": SR}, str(path)), (clips[0], path.read_bytes())],
                      tier=1, sampling_rate=SR)
    arrays = processor(audio=[(clips[0], clips[1])] * 2, tier=1, sampling_rate=SR)
    torch.testing.assert_close(mixed["input_features"], arrays["input_features"])


def test_training_draws_seeded_paraphrases_inference_is_canonical(tiny_tokenizer, clips):
    # the tiny tokenizer splits unseen words into many tokens: give the paraphrases room
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=128)
    pairs = [(clips[0], clips[1])] * 6
    long = np.random.default_rng(1).standard_normal(SR * 12).astype(np.float32)

    def run(**kwargs):
        return processor(audio=pairs[:5] + [(long, long)], tier=[1, 2, 3, 1, 2, 3], sampling_rate=SR, **kwargs)

    first, again = run(training=True, rng=random.Random(5)), run(training=True, rng=random.Random(5))
    torch.testing.assert_close(first["prompt_input_ids"], again["prompt_input_ids"])
    torch.testing.assert_close(first["input_features"], again["input_features"])
    texts = processor.batch_decode(first["prompt_input_ids"])
    assert [tier_from_prompt(t) for t in texts] == [1, 2, 3, 1, 2, 3]
    assert any(t not in TIER_PROMPTS.values() for t in texts)
    inference = run()
    assert processor.batch_decode(inference["prompt_input_ids"]) == [TIER_PROMPTS[t] for t in (1, 2, 3, 1, 2, 3)]
    torch.testing.assert_close(inference["input_features"], run()["input_features"], atol=0, rtol=0)


def test_decode_strips_special_tokens_and_the_stop_space(processor, tiny_tokenizer):
    ids = tiny_tokenizer(" Both audios are quiet", add_special_tokens=False)["input_ids"]
    ids += [tiny_tokenizer.convert_tokens_to_ids("Ġ"), tiny_tokenizer.eos_token_id]
    assert processor.decode(ids) == "Both audios are quiet"
    assert processor.batch_decode([ids, ids]) == ["Both audios are quiet"] * 2


def test_save_load_round_trip(tiny_tokenizer, clips, tmp_path):
    processor = AdiffProcessor(AdiffFeatureExtractor(f_max=12000.0), tiny_tokenizer, prompt_length=12,
                               max_answer_length=32)
    processor.save_pretrained(tmp_path)
    for loaded in (AdiffProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, AdiffProcessor)
        assert (loaded.prompt_length, loaded.max_answer_length) == (12, 32)
        assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
        kwargs = dict(audio=(clips[0], clips[1]), tier=3, answers="Both are quiet.", sampling_rate=SR)
        expected, got = processor(**kwargs), loaded(**kwargs)
        for key in expected:
            torch.testing.assert_close(got[key], expected[key])
