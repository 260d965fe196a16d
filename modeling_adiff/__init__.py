"""ADIFF models, registered with transformers' Auto classes on import.

`AutoModel` maps to the generating model so `AutoModel.from_pretrained(folder).generate(...)` works.
"""

from transformers import AutoModel, AutoModelForCausalLM

from configuration_adiff import AdiffConfig

from .event_head import AdiffEventHead, AdiffEventHeadOutput
from .modeling_adiff import (
    AdiffCausalLMOutput,
    AdiffForConditionalGeneration,
    AdiffModel,
    AdiffModelOutput,
    AdiffPreTrainedModel,
)

AutoModel.register(AdiffConfig, AdiffForConditionalGeneration, exist_ok=True)
AutoModelForCausalLM.register(AdiffConfig, AdiffForConditionalGeneration, exist_ok=True)
# Saved folders carry the code and `auto_map` for users without this package (see
# AdiffPreTrainedModel.save_pretrained).
AdiffConfig.register_for_auto_class()
AdiffForConditionalGeneration.register_for_auto_class("AutoModel")

__all__ = ["AdiffEventHead", "AdiffEventHeadOutput", "AdiffPreTrainedModel", "AdiffModel",
           "AdiffForConditionalGeneration", "AdiffModelOutput",
           "AdiffCausalLMOutput"]
