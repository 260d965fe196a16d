"""Decoding settings for ADIFF: named presets (greedy, the paper's sampling, beam search), the length budget of each
explanation tier, and the model's default `GenerationConfig` (what `save_pretrained` writes to generation_config.json).

```python
>>> from modeling_adiff.generation_presets import generation_config_for
>>> config = generation_config_for("paper", tier=1)
>>> config.do_sample, config.top_k, config.top_p, config.max_new_tokens
(True, 3, 0.8, 96)
```
"""

import copy

from transformers import GenerationConfig

from configuration_adiff.tiers import DEFAULT_MAX_NEW_TOKENS, TIERS, check_tier

# New-token budget per explanation tier, defined with each tier's prompt in `configuration_adiff.tiers`.
TIER_MAX_NEW_TOKENS = {number: tier.max_new_tokens for number, tier in TIERS.items()}

# Sampling knobs a preset resets, so that switching from sampling to greedy or beam search leaves none behind.
_SAMPLING_KEYS = ("top_k", "top_p", "temperature")

GENERATION_PRESETS = {
    # Deterministic argmax decoding: the default, and what the official code effectively does (its top-p filter
    # never removes the top-1 token and it ends in an argmax).
    "greedy": {"do_sample": False, "num_beams": 1},
    # The decoding behind the paper's reported scores (paper §3.4, App. N, Table 25): top-k 3 with top-p 0.8.
    "paper": {"do_sample": True, "num_beams": 1, "top_k": 3, "top_p": 0.8, "temperature": 1.0},
    # Deterministic beam search, for users who want a less repetitive deterministic output than greedy.
    "beam": {"do_sample": False, "num_beams": 4, "early_stopping": True},
}


def generation_config_for(preset: str | None = "greedy", tier: int | None = None,
                          base: GenerationConfig | None = None) -> GenerationConfig:
    """A `GenerationConfig` for a named decoding preset and an explanation tier.

    Args:
        preset (`str`, *optional*, defaults to `"greedy"`): one of `GENERATION_PRESETS` (`"greedy"`, `"paper"`,
            `"beam"`); `None` keeps the decoding strategy of `base`.
        tier (`int`, *optional*): 1, 2 or 3; sets `max_new_tokens` to that tier's budget (`TIER_MAX_NEW_TOKENS`).
            `None` keeps the budget of `base`.
        base (`GenerationConfig`, *optional*): the config to start from, typically `model.generation_config` (it
            holds the model's end-of-text and padding ids). It is copied, never modified.

    Returns: a new, validated `GenerationConfig`.
    """
    config = copy.deepcopy(base) if base is not None else GenerationConfig()
    if preset is not None:
        if preset not in GENERATION_PRESETS:
            raise ValueError(f"Unknown generation preset {preset!r}; expected one of {sorted(GENERATION_PRESETS)}, "
                             "or pass the decoding keywords (do_sample=, top_k=, num_beams=, ...) yourself.")
        settings = dict.fromkeys(_SAMPLING_KEYS)  # unset, unless the preset gives them
        settings.update(GENERATION_PRESETS[preset])
        for key, value in settings.items():
            setattr(config, key, value)
    if tier is not None:
        config.max_new_tokens = TIER_MAX_NEW_TOKENS[check_tier(tier)]
    config.validate()
    return config


def default_generation_config(model_config) -> GenerationConfig:
    """The generation defaults of an ADIFF model: greedy, stopping at the language model's end-of-text token, finished
    sequences of a batch padded with that token (GPT-2 has no padding token), and `DEFAULT_MAX_NEW_TOKENS` new tokens
    (fewer if the language model's context cannot hold the prefix plus that many).

    Args:
        model_config (`AdiffConfig`): the model's configuration.
    """
    text_config = model_config.text_config
    eos_token_id = text_config.eos_token_id
    pad_token_id = text_config.pad_token_id if text_config.pad_token_id is not None else eos_token_id
    room = text_config.n_positions - model_config.total_prefix_length
    if room < 1:
        raise ValueError(f"text_config.n_positions ({text_config.n_positions}) leaves no room for new tokens after "
                         f"the {model_config.total_prefix_length}-token prefix; raise n_positions or shorten the "
                         "prefix.")
    base = GenerationConfig(bos_token_id=text_config.bos_token_id, eos_token_id=eos_token_id,
                            pad_token_id=pad_token_id, max_new_tokens=min(DEFAULT_MAX_NEW_TOKENS, room))
    return generation_config_for("greedy", base=base)


__all__ = ["GENERATION_PRESETS", "TIER_MAX_NEW_TOKENS", "DEFAULT_MAX_NEW_TOKENS", "generation_config_for",
           "default_generation_config"]
