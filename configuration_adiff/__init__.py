"""ADIFF configuration (registered with `AutoConfig` on import)."""

from transformers import AutoConfig

from .configuration_adiff import AdiffConfig

AutoConfig.register(AdiffConfig.model_type, AdiffConfig, exist_ok=True)

__all__ = ["AdiffConfig"]
