"""Generation: defaults and presets, batching with padding, beam search and sampling, the KV cache against the
official cache-less loop, attention kernels and half precision."""

import json

import numpy as np
import pytest
import torch

from benchmarks.official_reference import OfficialGreedyReference
from conftest import build_tiny_config
from modeling_adiff import AdiffForConditionalGeneration
from modeling_adiff.generation_presets import (
    DEFAULT_MAX_NEW_TOKENS,
    GENERATION_PRESETS,
    TIER_MAX_NEW_TOKENS,
    generation_config_for,
)
from processing_adiff import TIER_PROMPTS, AdiffFeatureExtractor, AdiffProcessor

RATE = 32000


@pytest.fixture(scope="module")
def model(tiny_tokenizer):
    config = build_tiny_config(tiny_tokenizer)
    # A wide GPT-2 init makes greedy tokens change from step to step (the default 0.02 repeats one token), so
    # token-for-token comparisons below are not trivially satisfied.
    config.text_config.initializer_range = 0.5
    torch.manual_seed(0)
    return AdiffForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def processor(tiny_tokenizer, model):
    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=model.config.prompt_length)


@pytest.fixture(scope="module")
def inputs(processor):
    """Three pairs whose audios differ in length (tiled or cropped to 10 s) and whose prompts differ in length."""
    rng = np.random.default_rng(0)
    seconds = [(1.5, 10.0), (4.0, 12.5), (10.0, 0.7)]
    audio = [tuple(rng.standard_normal(int(s * RATE)).astype(np.float32) * 0.1 for s in pair) for pair in seconds]
    texts = [TIER_PROMPTS[1], "caption the first audio", "what changed"]
    return processor(audio=audio, text=texts, sampling_rate=RATE)


def prompt_inputs(inputs, rows):
    return {"input_features": inputs["input_features"][rows], "prompt_input_ids": inputs["prompt_input_ids"][rows]}


# ----------------------------------------------------------------------------------------------- defaults and presets
def test_default_generation_config_is_greedy_with_a_tier_budget(model):
    config = model.generation_config
    text = model.config.text_config
    room = text.n_positions - model.config.total_prefix_length
    assert config.do_sample is False and config.num_beams == 1
    assert config.max_new_tokens == min(DEFAULT_MAX_NEW_TOKENS, room)
    assert config.eos_token_id == text.eos_token_id and config.pad_token_id == text.eos_token_id


def test_base_size_default_budget_covers_the_longest_tier():
    from configuration_adiff import AdiffConfig

    from modeling_adiff.generation_presets import default_generation_config

    config = default_generation_config(AdiffConfig())
    assert config.max_new_tokens == DEFAULT_MAX_NEW_TOKENS == max(TIER_MAX_NEW_TOKENS.values())
    assert config.eos_token_id == 50256 and config.pad_token_id == 0  # finished rows padded with the prompts' "!"


def test_tier_budgets_cover_exactly_the_prompt_tiers():
    assert set(TIER_MAX_NEW_TOKENS) == set(TIER_PROMPTS)
    assert TIER_MAX_NEW_TOKENS[1] < TIER_MAX_NEW_TOKENS[2] < TIER_MAX_NEW_TOKENS[3]


def test_paper_preset_is_top_k_3_top_p_0_8_sampling():
    config = generation_config_for("paper", tier=1)
    assert (config.do_sample, config.top_k, config.top_p, config.num_beams) == (True, 3, 0.8, 1)
    assert config.max_new_tokens == TIER_MAX_NEW_TOKENS[1]


def test_preset_switch_leaves_no_sampling_knobs_behind(model):
    paper = generation_config_for("paper", base=model.generation_config)
    greedy = generation_config_for("greedy", tier=3, base=paper)
    assert greedy.do_sample is False and greedy.top_k is None and greedy.top_p is None
    assert greedy.max_new_tokens == TIER_MAX_NEW_TOKENS[3]
    assert greedy.eos_token_id == model.generation_config.eos_token_id  # the base's special tokens are kept
    assert model.generation_config.do_sample is False  # the base is copied, not modified


def test_unknown_preset_and_tier_are_errors():
    with pytest.raises(ValueError, match=r"Unknown generation preset 'sampling'.*'greedy'"):
        generation_config_for("sampling")
    with pytest.raises(ValueError, match=r"Unknown tier 4; valid tiers are \[1, 2, 3\]"):
        generation_config_for("greedy", tier=4)
    assert set(GENERATION_PRESETS) >= {"greedy", "paper"}


def test_generation_config_json_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "generation_config.json").read_text())
    assert saved["do_sample"] is False and saved["max_new_tokens"] == model.generation_config.max_new_tokens
    original = model.generation_config
    model.generation_config = generation_config_for("paper", base=original)
    try:
        model.save_pretrained(tmp_path / "paper")
    finally:
        model.generation_config = original
    reloaded = AdiffForConditionalGeneration.from_pretrained(tmp_path / "paper")
    assert (reloaded.generation_config.do_sample, reloaded.generation_config.top_k) == (True, 3)


def test_tier_sets_the_budget_and_keywords_win(model, inputs):
    pair = prompt_inputs(inputs, [0])
    by_tier = model.generate(**pair, tier=1)
    assert torch.equal(by_tier, model.generate(**pair, max_new_tokens=TIER_MAX_NEW_TOKENS[1]))
    assert model.generate(**pair, tier=1, max_new_tokens=3).shape[1] <= 3


def test_too_many_new_tokens_for_the_context_is_an_error(model, inputs):
    room = model.config.text_config.n_positions - model.config.total_prefix_length
    with pytest.raises(ValueError, match=rf"exceeds the language model's context.*at most {room} new tokens"):
        model.generate(**prompt_inputs(inputs, [0]), max_new_tokens=room + 1)


# ----------------------------------------------------------------------------------------------- greedy decoding
def test_batched_greedy_equals_per_pair_with_padding(model, inputs):
    free = [model.generate(**prompt_inputs(inputs, [i]), max_new_tokens=12, eos_token_id=None)[0] for i in range(3)]
    # Stop token: a token pair 0 produces early and pair 1 never, so the pairs finish at different steps.
    candidates = [int(t) for t in free[0][1:6] if int(t) not in free[1].tolist()]
    assert candidates, f"precondition: pairs 0 and 1 should differ, got {free[0].tolist()} / {free[1].tolist()}"
    stop = candidates[0]
    single = [model.generate(**prompt_inputs(inputs, [i]), max_new_tokens=12, eos_token_id=stop)[0] for i in range(3)]
    batched = model.generate(**inputs, max_new_tokens=12, eos_token_id=stop)
    lengths = {len(row) for row in single}
    assert len(lengths) > 1, "precondition: pairs should stop at different steps"
    pad = model.generation_config.pad_token_id
    expected = torch.full((3, max(lengths)), pad, dtype=torch.long)
    for i, row in enumerate(single):
        expected[i, :len(row)] = row
    assert torch.equal(batched, expected)


def test_default_decoding_uses_a_preallocated_cache_with_the_same_tokens(model, inputs):
    from transformers import DynamicCache, StaticCache

    caches = []
    handle = model.model.language_model.register_forward_hook(
        lambda module, args, kwargs, output: caches.append(type(kwargs["cache"])), with_kwargs=True)
    default = model.generate(**inputs, max_new_tokens=6)
    handle.remove()
    assert set(caches) == {StaticCache}
    growing = model.generate(**inputs, max_new_tokens=6, cache_implementation="dynamic")
    callers = model.generate(**inputs, max_new_tokens=6, cache=DynamicCache())  # the caller's own cache is used
    assert torch.equal(default, growing) and torch.equal(default, callers)


def test_a_tier_keeps_the_preallocated_cache_without_transformers_warning(model, inputs):
    import logging

    from transformers import StaticCache
    from transformers.generation import utils as generation_utils
    from transformers.testing_utils import CaptureLogger

    caches = []
    handle = model.model.language_model.register_forward_hook(
        lambda module, args, kwargs, output: caches.append(type(kwargs["cache"])), with_kwargs=True)
    logging.Logger.warning_once.cache_clear()  # transformers says each message once per process
    with CaptureLogger(generation_utils.logger) as captured:
        model.generate(**inputs, tier=1, max_new_tokens=6)
    handle.remove()
    assert set(caches) == {StaticCache}
    assert "together with generation-related" not in captured.out, captured.out


def test_generation_stops_at_the_configured_end_of_text(model, inputs):
    pair = prompt_inputs(inputs, [0])
    free = model.generate(**pair, max_new_tokens=8, eos_token_id=None)[0]
    stop = int(free[2])
    original = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = stop  # what a checkpoint's generation_config.json would say
    try:
        stopped = model.generate(**pair, max_new_tokens=8)[0]
    finally:
        model.generation_config.eos_token_id = original
    first = free.tolist().index(stop)
    assert stopped.tolist() == free[:first + 1].tolist()


def test_kv_cache_equals_the_official_cacheless_loop(model, inputs, processor):
    reference = OfficialGreedyReference(model, processor.feature_extractor)
    prefix = model.get_prefix_embeddings(**prompt_inputs(inputs, [0, 1, 2]))
    cached = model.generate(inputs_embeds=prefix, max_new_tokens=16, eos_token_id=None)
    for i in range(3):
        uncached = reference.decode(prefix[i:i + 1], max_new_tokens=16, stop_token_id=None)
        assert torch.equal(cached[i], uncached)
    assert len(set(cached.flatten().tolist())) > 3  # the tokens vary: the comparison is not trivial


def test_reference_encodes_each_audio_like_the_batched_encoder(model, processor):
    rng = np.random.default_rng(1)
    first, second = (rng.standard_normal(RATE * 10).astype(np.float32) * 0.1 for _ in range(2))
    reference = OfficialGreedyReference(model, processor.feature_extractor)
    features = processor(audio=(first, second), text="x", sampling_rate=RATE)["input_features"]
    batched = model.model.encode_audio(features)
    torch.testing.assert_close(reference.encode_pair(first, second, RATE), batched, atol=1e-5, rtol=1e-5)


def test_reference_stops_at_its_stop_token(model, inputs, processor):
    reference = OfficialGreedyReference(model, processor.feature_extractor)
    prefix = model.get_prefix_embeddings(**prompt_inputs(inputs, [0]))
    free = reference.decode(prefix, max_new_tokens=8, stop_token_id=None)
    stopped = reference.decode(prefix, max_new_tokens=8, stop_token_id=int(free[2]))
    assert torch.equal(stopped, free[:len(stopped)]) and len(stopped) <= 3


# ----------------------------------------------------------------------------------------------- beam search, sampling
def test_beam_search_runs_and_is_deterministic(model, inputs):
    first = model.generate(**inputs, num_beams=3, num_return_sequences=2, max_new_tokens=6)
    second = model.generate(**inputs, preset="beam", num_beams=3, num_return_sequences=2, max_new_tokens=6)
    assert first.shape[0] == 6 and first.shape[1] <= 6
    assert torch.equal(first, second)


def test_sampling_is_reproducible_with_a_seed(model, inputs):
    def sample(seed):
        torch.manual_seed(seed)
        return model.generate(**inputs, preset="paper", num_return_sequences=2, max_new_tokens=8)

    first, again, other = sample(0), sample(0), sample(1)
    assert first.shape[0] == 6
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_sampling_with_top_k_1_is_greedy(model, inputs):
    greedy = model.generate(**inputs, max_new_tokens=8)
    torch.manual_seed(0)
    assert torch.equal(model.generate(**inputs, do_sample=True, top_k=1, max_new_tokens=8), greedy)


# ----------------------------------------------------------------------------------------------- kernels and dtypes
def test_eager_and_sdpa_gpt2_agree(model, inputs):
    assert model.config.text_config._attn_implementation == "sdpa"
    sdpa_logits = model(**inputs).logits
    sdpa_tokens = model.generate(**inputs, max_new_tokens=10)
    model.set_attn_implementation({"text_config": "eager"})
    try:
        eager_logits = model(**inputs).logits
        eager_tokens = model.generate(**inputs, max_new_tokens=10)
    finally:
        model.set_attn_implementation({"text_config": "sdpa"})
    torch.testing.assert_close(eager_logits, sdpa_logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(eager_tokens, sdpa_tokens)


def test_bfloat16_loading_generates(model, inputs, tmp_path):
    model.save_pretrained(tmp_path)
    half = AdiffForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert half.model.audio_encoder.dtype == half.lm_head.weight.dtype == torch.bfloat16
    tokens = half.generate(**inputs, max_new_tokens=4)  # fp32 features are cast by the model
    assert tokens.shape[0] == 3 and tokens.dtype == torch.long
