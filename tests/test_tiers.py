"""A tier is defined once (prompt and token budget, `configuration_adiff.tiers`); the processor picks a prompt's
budget and is the one place where training paraphrases are drawn."""

import random

import pytest

from configuration_adiff.tiers import DEFAULT_MAX_NEW_TOKENS, TIERS
from modeling_adiff.generation_presets import TIER_MAX_NEW_TOKENS, generation_config_for
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
from processing_adiff.prompts import PROMPT_PARAPHRASES, TIER_PROMPTS
from training.data import AdiffCollator


@pytest.fixture()
def processor(tiny_tokenizer):
    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=128)


def test_prompt_and_budget_come_from_the_one_tier_table():
    assert TIER_PROMPTS == {number: tier.prompt for number, tier in TIERS.items()}
    assert TIER_MAX_NEW_TOKENS == {number: tier.max_new_tokens for number, tier in TIERS.items()}
    assert DEFAULT_MAX_NEW_TOKENS == TIERS[3].max_new_tokens
    assert generation_config_for("greedy", tier=2).max_new_tokens == TIERS[2].max_new_tokens


def test_processor_picks_the_budget_of_a_prompt():
    budget = AdiffProcessor.max_new_tokens_for
    assert [budget(tier=number) for number in (1, 2, 3)] == [96, 160, 320]
    assert budget(text=PROMPT_PARAPHRASES[3][7]) == TIERS[3].max_new_tokens  # a paraphrase given as text
    assert budget(task="caption_first") is None and budget(text="what changed?") is None
    with pytest.raises(ValueError, match=r"Unknown tier 4; valid tiers are \[1, 2, 3\] \(1: a few words"):
        budget(tier=4)


def test_training_collator_draws_paraphrases_through_the_processor(processor, tiny_tokenizer):
    rows = [{"input": TIER_PROMPTS[1]}, {"input": "x", "tier": 3}, {"input": "caption the first audio"},
            {"input": "  free text  "}]
    drawn = [AdiffCollator(processor, training=True).prompt(row, random.Random(9)) for row in rows]
    direct = [processor.prompt_texts(training=True, rng=random.Random(9), **given)[0]
              for given in ({"tier": 1}, {"tier": 3}, {"task": "caption_first"}, {"text": "  free text  "})]
    assert drawn == direct and drawn[3] == "free text"
    calls = []
    processor.prompt_texts = lambda *args, **kwargs: calls.append(kwargs) or ["from the processor"]
    assert AdiffCollator(processor, training=True).prompt(rows[1], random.Random(0)) == "from the processor"
    assert calls[0]["tier"] == 3 and calls[0]["training"] is True
    with pytest.raises(ValueError, match="non-empty string"):
        collator = AdiffCollator(AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer))
        collator.prompt({"input": "   "}, random.Random(0))
