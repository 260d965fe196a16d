"""ADIFF configuration (registered with `AutoConfig` on import)."""

import transformers
from transformers import AutoConfig

from .dependency_range import check_transformers_version

check_transformers_version(transformers.__version__)

from .configuration_adiff import AdiffConfig  # noqa: E402 (after the version check: older releases fail inside)

AutoConfig.register(AdiffConfig.model_type, AdiffConfig, exist_ok=True)

__all__ = ["AdiffConfig"]
