"""Prompt texts: the canonical prompt per tier and per captioning task (one source of truth)."""

# The prompts of the official ACD/CLD CSVs ("input" column); evaluation uses exactly these.
TIER_PROMPTS = {
    1: "explain the difference in few words",
    2: "explain the difference in a sentence",
    3: "explain the difference in detail",
}

# Position captioning (paper §5.4): caption one or both of the audios.
TASK_PROMPTS = {
    "caption_first": "caption the first audio",
    "caption_second": "caption the second audio",
    "caption_both": "caption both the audios",
}

__all__ = ["TIER_PROMPTS", "TASK_PROMPTS"]
