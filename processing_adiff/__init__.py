"""ADIFF preprocessing: audio loading, the log-mel feature extractor, prompts and the processor.

Importing this package registers the feature extractor and the processor with `AutoFeatureExtractor` and
`AutoProcessor` for `AdiffConfig`."""

from transformers import AutoFeatureExtractor, AutoProcessor

from configuration_adiff.configuration_adiff import AdiffConfig

from .audio_io import load_audio
from .feature_extraction_adiff import AdiffFeatureExtractor
from .processing_adiff import AdiffProcessor
from .prompts import (
    PROMPT_PARAPHRASES,
    TASK_PROMPTS,
    TIER_PROMPTS,
    resolve_prompt,
    sample_prompt,
    task_from_prompt,
    tier_from_prompt,
)

AutoFeatureExtractor.register(AdiffConfig, AdiffFeatureExtractor, exist_ok=True)
AutoProcessor.register(AdiffConfig, AdiffProcessor, exist_ok=True)
# Saved folders carry the code and `auto_map` for users without this package (see AdiffProcessor.save_pretrained).
AdiffFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
AdiffProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "AdiffFeatureExtractor",
    "AdiffProcessor",
    "load_audio",
    "PROMPT_PARAPHRASES",
    "TASK_PROMPTS",
    "TIER_PROMPTS",
    "resolve_prompt",
    "sample_prompt",
    "task_from_prompt",
    "tier_from_prompt",
]
