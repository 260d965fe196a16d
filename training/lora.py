"""LoRA for ADIFF with PEFT: adapters on GPT-2's attention and MLP projections (and optionally on the mappers and the
cross-projection), saved as a PEFT adapter folder and merged into plain weights for export.

The adapter folder is complete relative to its base model: every other module the stage trains (projection,
mappers, cross-projection...) is stored in it as a PEFT `modules_to_save` copy, so
`load_adapter(base_folder, adapter_folder)` reproduces the trained model exactly.
"""

import logging
from pathlib import Path

from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model

from modeling_adiff import AdiffForConditionalGeneration

from .recipe import LoraConfig

logger = logging.getLogger(__name__)

LM_TARGETS = ("c_attn", "c_proj", "c_fc")  # GPT-2's Conv1D projections
MAPPER_TARGETS = ("to_queries", "to_keys_values", "project", "fc1", "fc2")  # AdiffAttention / AdiffMLP linears
MAPPER_MODULES = ("audio_mapper_1", "audio_mapper_2", "prompt_mapper", "cross_projection")


def lora_target_regex(mappers: bool) -> str:
    """Full-name regex of the layers that get adapters."""
    targets = [rf"model\.language_model\..*\.({'|'.join(LM_TARGETS)})"]
    if mappers:
        targets.append(rf"model\.({'|'.join(MAPPER_MODULES)})\..*\.({'|'.join(MAPPER_TARGETS)})")
    return "|".join(f"({t})" for t in targets)


def apply_lora(model: AdiffForConditionalGeneration, config: LoraConfig, trained_modules: list[str] = ()) -> PeftModel:
    """Wrap `model` with LoRA adapters; `trained_modules` (module names such as `"model.audio_projection"`) stay fully
    trainable and are saved with the adapter. Everything else is frozen."""
    if not isinstance(model, AdiffForConditionalGeneration):
        raise TypeError(f"LoRA is for ADIFF stages (grounding, finetune); got a {type(model).__name__}.")
    if config.mappers:
        trained_modules = [m for m in trained_modules if m.split(".")[-1] not in MAPPER_MODULES]
    peft_config = PeftLoraConfig(
        r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=lora_target_regex(config.mappers),
        modules_to_save=[m.split(".")[-1] for m in trained_modules] or None, bias="none")
    wrapped = get_peft_model(model, peft_config)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    logger.info("LoRA r=%d on GPT-2%s: %.3f M trainable parameters", config.r, " and the mappers" if config.mappers
                else "", trainable / 1e6)
    return wrapped


def save_adapter(model: PeftModel, folder: str | Path, is_main_process: bool = True) -> None:
    model.save_pretrained(str(folder), is_main_process=is_main_process)


def load_adapter(base_folder: str | Path, adapter_folder: str | Path, merge: bool = False):
    """The base ADIFF model with the adapter applied (a `PeftModel`), or merged into plain weights with
    `merge=True`."""
    base = AdiffForConditionalGeneration.from_pretrained(str(base_folder))
    model = PeftModel.from_pretrained(base, str(adapter_folder))
    return merge_lora(model) if merge else model


def merge_lora(model: PeftModel) -> AdiffForConditionalGeneration:
    """Fold the adapters into the weights; returns the plain ADIFF model `AutoModel` can load once saved."""
    return model.merge_and_unload()


__all__ = ["LM_TARGETS", "MAPPER_TARGETS", "lora_target_regex", "apply_lora", "save_adapter", "load_adapter",
           "merge_lora"]
