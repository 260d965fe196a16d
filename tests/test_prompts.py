"""Prompt paraphrases, sampling and the text -> tier / task mapping."""

import random

import pytest

from processing_adiff import (
    PROMPT_PARAPHRASES,
    TASK_PROMPTS,
    TIER_PROMPTS,
    resolve_prompt,
    sample_prompt,
    task_from_prompt,
    tier_from_prompt,
)
from processing_adiff.prompts import normalize_prompt


def test_every_key_has_about_100_distinct_paraphrases_led_by_the_canonical_prompt():
    assert set(PROMPT_PARAPHRASES) == set(TIER_PROMPTS) | set(TASK_PROMPTS)
    canonical = {**TIER_PROMPTS, **TASK_PROMPTS}
    all_normalized = []
    for key, texts in PROMPT_PARAPHRASES.items():
        assert 95 <= len(texts) <= 110, key
        assert texts[0] == canonical[key]
        all_normalized += [normalize_prompt(text) for text in texts]
    assert len(all_normalized) == len(set(all_normalized)), "a paraphrase appears twice (ignoring case/punctuation)"


def test_table_8_examples_are_included():
    assert "Summarize the differences between the two audios briefly." in PROMPT_PARAPHRASES[1]
    assert "Provide a concise comparison of the two audios." in PROMPT_PARAPHRASES[1]
    assert "Explain the contrast between the two audio pieces in one long sentence." in PROMPT_PARAPHRASES[2]
    assert "Could you elaborate on the distinctions between the two audio tracks?" in PROMPT_PARAPHRASES[3]


@pytest.mark.parametrize("key", list(PROMPT_PARAPHRASES))
def test_every_paraphrase_maps_back_to_its_tier_or_task(key):
    for text in PROMPT_PARAPHRASES[key]:
        if isinstance(key, int):
            assert tier_from_prompt(text) == key, text
            assert task_from_prompt(text) is None, text
        else:
            assert tier_from_prompt(text) is None, text
            assert task_from_prompt(text) == key, text


def test_lookup_ignores_case_spacing_and_punctuation():
    assert tier_from_prompt("  EXPLAIN the difference,   in detail!! ") == 3
    assert tier_from_prompt("explain the difference between the two audio in detail") == 3  # official demo prompt
    assert task_from_prompt("Caption both the audios.") == "caption_both"
    assert tier_from_prompt("what is the weather today") is None
    assert task_from_prompt("what is the weather today") is None


def test_sample_prompt_is_seeded_and_covers_the_list():
    draws = [sample_prompt(2, random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1
    rng = random.Random(0)
    seen = {sample_prompt("caption_first", rng) for _ in range(2000)}
    assert seen == set(PROMPT_PARAPHRASES["caption_first"])
    with pytest.raises(ValueError, match="Unknown prompt key 4"):
        sample_prompt(4, rng)


def test_resolve_prompt():
    assert resolve_prompt(tier=1) == TIER_PROMPTS[1]
    assert resolve_prompt(task="caption_second") == TASK_PROMPTS["caption_second"]
    assert resolve_prompt(prompt="  what differs?  ") == "what differs?"
    with pytest.raises(ValueError, match=r"Unknown tier 5; valid tiers are \[1, 2, 3\]"):
        resolve_prompt(tier=5)
    with pytest.raises(ValueError, match="Unknown task 'caption_third'.*caption_both"):
        resolve_prompt(task="caption_third")
    with pytest.raises(ValueError, match="got tier and task"):
        resolve_prompt(tier=1, task="caption_first")
    with pytest.raises(ValueError, match="got none of them"):
        resolve_prompt()
    with pytest.raises(ValueError, match="non-empty string"):
        resolve_prompt(prompt="   ")
