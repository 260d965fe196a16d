"""The explanation tiers of ADIFF in one place: each tier's canonical prompt and its new-token budget.

A tier is a prompt concept (paper §3.1: 1 "a few words", 2 "a sentence", 3 "in detail"). The processor encodes its
prompt (`processing_adiff.prompts`) and tells the pipeline its budget (`AdiffProcessor.max_new_tokens_for`);
`modeling_adiff.generation_presets` reads the same budgets. Both depend on this module, never on each other.

```python
>>> from configuration_adiff.tiers import TIERS
>>> TIERS[1].prompt, TIERS[1].max_new_tokens
('explain the difference in few words', 96)
```
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    """One explanation tier.

    Args:
        prompt (`str`): the canonical prompt, as in the official ACD/CLD CSVs ("input" column); evaluation uses it.
        max_new_tokens (`int`): the new-token budget of an answer at this tier.
        length (`str`): how long an answer is, in words, for help texts and errors.
    """

    prompt: str
    max_new_tokens: int
    length: str


# The budgets: the longest reference answers of the released ACD/CLD splits are 82, 125 and 277 GPT-2 tokens (with
# <|endoftext|>; 99th percentiles 59, 95, 256): each budget leaves room above the longest one, so a trained model is
# cut off only when it fails to stop.
TIERS = {
    1: Tier(prompt="explain the difference in few words", max_new_tokens=96, length="a few words"),
    2: Tier(prompt="explain the difference in a sentence", max_new_tokens=160, length="a sentence"),
    3: Tier(prompt="explain the difference in detail", max_new_tokens=320, length="in detail"),
}

# The budget when the tier is unknown (free-text prompts, captioning tasks): enough for the longest tier.
DEFAULT_MAX_NEW_TOKENS = max(tier.max_new_tokens for tier in TIERS.values())


def check_tier(tier) -> int:
    """`tier` itself when it is 1, 2 or 3 (not a bool); a `ValueError` naming the valid tiers otherwise."""
    if isinstance(tier, bool) or tier not in TIERS:
        lengths = ", ".join(f"{number}: {spec.length}" for number, spec in TIERS.items())
        raise ValueError(f"Unknown tier {tier!r}; valid tiers are {sorted(TIERS)} ({lengths}).")
    return tier


__all__ = ["Tier", "TIERS", "DEFAULT_MAX_NEW_TOKENS", "check_tier"]
