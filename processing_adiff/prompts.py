"""Prompt texts: the canonical prompt per tier and per captioning task (one source of truth), their paraphrases for
training (paper App. H, Table 8: a prompt is drawn per example from about 100 paraphrases per tier) and the mapping
from any of those texts back to its tier or task."""

import random
import re

from configuration_adiff.tiers import TIERS

# The prompts of the official ACD/CLD CSVs ("input" column); evaluation uses exactly these. Defined with each tier's
# token budget in `configuration_adiff.tiers`.
TIER_PROMPTS = {number: tier.prompt for number, tier in TIERS.items()}

# Position captioning (paper §5.4): caption one or both of the audios.
TASK_PROMPTS = {
    "caption_first": "caption the first audio",
    "caption_second": "caption the second audio",
    "caption_both": "caption both the audios",
}

# Paraphrases are sentence frames x ways of naming the audio, written so that every combination reads naturally.
_PAIR_NAMES = ("the two audios", "the two audio clips", "the two recordings", "the two audio pieces",
               "the two audio tracks")
_CLIP_NAMES = ("audio", "audio clip", "recording", "sound clip", "audio track")

_TIER_FRAMES = {
    1: (
        "Summarize the differences between {pair} briefly.",
        "Provide a concise comparison of {pair}.",
        "In a few words, how do {pair} differ?",
        "Briefly state how {pair} differ.",
        "Give a short answer: what sets {pair} apart?",
        "Name the main difference between {pair} in a few words.",
        "Describe the difference between {pair} in just a few words.",
        "Quickly point out how {pair} differ.",
        "What is the key difference between {pair}? Keep it short.",
        "Sum up the contrast between {pair} in a few words.",
        "Write a brief note on how {pair} differ.",
        "Give a quick summary of the differences between {pair}.",
        "Tersely describe what distinguishes {pair}.",
        "Compare {pair} in a handful of words.",
        "Using very few words, explain how {pair} differ.",
        "Offer a brief comparison of {pair}.",
        "Keep it short: how are {pair} different?",
        "State the difference between {pair} as briefly as possible.",
        "Describe the differences between {pair} concisely.",
        "Briefly, what distinguishes {pair}?",
    ),
    2: (
        "Explain the contrast between {pair} in one long sentence.",
        "Describe the difference between {pair} in a single sentence.",
        "In one sentence, explain how {pair} differ.",
        "Use one sentence to compare {pair}.",
        "Write a single sentence describing how {pair} differ.",
        "Summarize the differences between {pair} in one complete sentence.",
        "Give a one-sentence explanation of the differences between {pair}.",
        "Compare {pair} in a single sentence.",
        "How do {pair} differ? Answer in one sentence.",
        "Explain, in a single sentence, what distinguishes {pair}.",
        "Write one sentence that captures the contrast between {pair}.",
        "Describe in one sentence how {pair} are different.",
        "Provide a one-sentence comparison of {pair}.",
        "Express the differences between {pair} in a single sentence.",
        "Contrast {pair} in one sentence.",
        "In a single sentence, describe what sets {pair} apart.",
        "Put the difference between {pair} into one sentence.",
        "Tell me in one sentence how {pair} differ.",
        "Sum up how {pair} differ in one long sentence.",
        "Using one sentence, explain the differences between {pair}.",
    ),
    3: (
        "Explain the difference between {pair} in detail.",
        "Could you elaborate on the distinctions between {pair}?",
        "Describe in detail how {pair} differ.",
        "Give a detailed comparison of {pair}.",
        "Provide a thorough explanation of the differences between {pair}.",
        "Analyze the differences between {pair} in depth.",
        "Walk me through the differences between {pair} in detail.",
        "Write a detailed paragraph on how {pair} differ.",
        "Elaborate on how {pair} differ, covering every aspect you notice.",
        "Compare {pair} thoroughly, describing each difference.",
        "Give an in-depth account of what distinguishes {pair}.",
        "Explain at length how {pair} differ.",
        "Describe the contrast between {pair} in full detail.",
        "Discuss the differences between {pair} comprehensively.",
        "Offer a detailed analysis of the differences between {pair}.",
        "What are all the differences between {pair}? Explain in detail.",
        "Break down the differences between {pair} in detail.",
        "Carefully describe every difference between {pair}.",
        "Compare the sound events, acoustics and mood of {pair} in detail.",
        "Thoroughly explain what sets {pair} apart.",
    ),
}

# Extra tier texts that no frame produces: the official README's demo prompt.
_TIER_EXTRAS = {1: (), 2: (), 3: ("explain the difference between the two audio in detail",)}

# Captioning one audio: {which} is "first"/"second", {other} the remaining one, {clip} a name for one audio.
_SINGLE_CAPTION_FRAMES = (
    "Caption the {which} {clip}.",
    "Describe the {which} {clip}.",
    "Write a caption for the {which} {clip}.",
    "What can be heard in the {which} {clip}?",
    "Describe what happens in the {which} {clip}.",
    "Give a caption for the {which} {clip}.",
    "Generate a caption for the {which} {clip}.",
    "Summarize the content of the {which} {clip}.",
    "What sounds does the {which} {clip} contain?",
    "Describe the sounds in the {which} {clip}.",
    "Provide a short description of the {which} {clip}.",
    "Tell me what is happening in the {which} {clip}.",
    "Write a description of the {which} {clip}.",
    "What is going on in the {which} {clip}?",
    "Briefly describe the {which} {clip}.",
    "Caption only the {which} {clip}.",
    "Describe the {which} {clip} in one sentence.",
    "Ignore the {other} {clip} and caption the {which} one.",
    "Explain what the {which} {clip} contains.",
    "Identify the sound events in the {which} {clip}.",
)

_BOTH_CAPTION_FRAMES = (
    "Caption {pair}.",
    "Write a caption for each of {pair}.",
    "Describe each of {pair}.",
    "Describe {pair} one after the other.",
    "Give a caption for each of {pair}.",
    "What can be heard in each of {pair}?",
    "Caption each of {pair} separately.",
    "Describe what happens in each of {pair}.",
    "Summarize the content of {pair}, one at a time.",
    "Generate captions for {pair}.",
    "Provide a short description of each of {pair}.",
    "Describe the sounds in each of {pair}.",
    "Tell me what is happening in each of {pair}.",
    "Write a description of each of {pair}.",
    "Describe {pair}, starting with the first.",
    "Identify the sound events in each of {pair}.",
    "What sounds do {pair} contain? Describe each.",
    "Write separate captions for {pair}.",
    "Explain what each of {pair} contains.",
    "List what is heard in each of {pair}.",
)


def normalize_prompt(text: str) -> str:
    """Lower-case, drop punctuation and collapse whitespace: the key prompt lookups compare."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _unique(canonical: str, candidates) -> list[str]:
    """The canonical prompt first, then every candidate whose normalised form is new."""
    texts, seen = [canonical], {normalize_prompt(canonical)}
    for text in candidates:
        if normalize_prompt(text) not in seen:
            seen.add(normalize_prompt(text))
            texts.append(text)
    return texts


def _build_paraphrases() -> dict:
    table = {}
    for tier, frames in _TIER_FRAMES.items():
        table[tier] = _unique(TIER_PROMPTS[tier], [f.format(pair=p) for f in frames for p in _PAIR_NAMES]
                              + list(_TIER_EXTRAS[tier]))
    for task, which, other in (("caption_first", "first", "second"), ("caption_second", "second", "first")):
        table[task] = _unique(TASK_PROMPTS[task], [f.format(which=which, other=other, clip=c)
                                                   for f in _SINGLE_CAPTION_FRAMES for c in _CLIP_NAMES])
    table["caption_both"] = _unique(TASK_PROMPTS["caption_both"],
                                    [f.format(pair=p) for f in _BOTH_CAPTION_FRAMES for p in _PAIR_NAMES])
    return table


# Key (tier 1/2/3 or task name) -> list of prompt texts; element 0 is the canonical prompt.
PROMPT_PARAPHRASES = _build_paraphrases()


def _build_lookup() -> dict:
    lookup = {}
    for key, texts in PROMPT_PARAPHRASES.items():
        for text in texts:
            norm = normalize_prompt(text)
            if lookup.setdefault(norm, key) != key:
                raise RuntimeError(f"Prompt {text!r} belongs to both {lookup[norm]!r} and {key!r}; reword one.")
    return lookup


_PROMPT_TO_KEY = _build_lookup()


def _valid_keys() -> str:
    return f"tiers {sorted(TIER_PROMPTS)} or tasks {sorted(TASK_PROMPTS)}"


def sample_prompt(key, rng: random.Random) -> str:
    """Draw one paraphrase of tier `key` (1, 2, 3) or task `key` (e.g. "caption_first") with `rng`."""
    if isinstance(key, bool) or key not in PROMPT_PARAPHRASES:
        raise ValueError(f"Unknown prompt key {key!r}; expected one of {_valid_keys()}.")
    return rng.choice(PROMPT_PARAPHRASES[key])


def resolve_prompt(tier: int | None = None, task: str | None = None, prompt: str | None = None) -> str:
    """
    Return the prompt text for exactly one of `tier` (1, 2, 3: canonical tier prompt), `task` (a captioning task:
    its canonical prompt) or `prompt` (free text, returned stripped).
    """
    given = [name for name, value in (("tier", tier), ("task", task), ("prompt", prompt)) if value is not None]
    if len(given) != 1:
        raise ValueError(
            f"Give exactly one of tier= (1, 2 or 3), task= ({', '.join(sorted(TASK_PROMPTS))}) or a prompt text; got "
            f"{' and '.join(given) if given else 'none of them'}.")
    if tier is not None:
        tier = normalize_tier(tier)
        if isinstance(tier, bool) or tier not in TIER_PROMPTS:
            raise ValueError(f"Unknown tier {tier!r}; valid tiers are {sorted(TIER_PROMPTS)} (1: a few words, 2: a "
                             "sentence, 3: in detail).")
        return TIER_PROMPTS[tier]
    if task is not None:
        if task not in TASK_PROMPTS:
            raise ValueError(f"Unknown task {task!r}; valid tasks are {sorted(TASK_PROMPTS)}.")
        return TASK_PROMPTS[task]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"The prompt must be a non-empty string, got {prompt!r}.")
    return prompt.strip()


def normalize_tier(tier):
    """`tier` as the int key of `TIER_PROMPTS`: 1, 2, 3 or their numeric strings ("2", as a CSV column or a command
    line gives them); `None` stays `None`. Anything else is left for `resolve_prompt` (which calls this) to reject."""
    if isinstance(tier, str) and tier.strip().isdigit() and int(tier) in TIER_PROMPTS:
        return int(tier)
    return tier


def tier_from_prompt(text: str) -> int | None:
    """The tier (1, 2, 3) of a canonical or paraphrased tier prompt; `None` for captioning or unknown prompts.

    Matching ignores case, punctuation and spacing."""
    key = _PROMPT_TO_KEY.get(normalize_prompt(text))
    return key if isinstance(key, int) else None


def task_from_prompt(text: str) -> str | None:
    """The captioning task of a canonical or paraphrased captioning prompt; `None` otherwise."""
    key = _PROMPT_TO_KEY.get(normalize_prompt(text))
    return key if isinstance(key, str) else None


__all__ = ["TIER_PROMPTS", "TASK_PROMPTS", "PROMPT_PARAPHRASES", "normalize_prompt", "sample_prompt", "resolve_prompt",
           "normalize_tier", "tier_from_prompt", "task_from_prompt"]
