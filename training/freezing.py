"""Which ADIFF modules a stage trains (the answer loss is in `loss.py`)."""

# Trainable groups of an ADIFF model -> its submodules (the LM head is tied to the LM's input embeddings).
ADIFF_GROUPS = {
    "audio_encoder": ("model.audio_encoder",),
    "event_head": ("model.event_head",),
    "projection": ("model.audio_projection",),
    "mappers": ("model.audio_mapper_1", "model.audio_mapper_2"),
    "prompt_mapper": ("model.prompt_mapper",),
    "cross_projection": ("model.audio_segment_embeddings", "model.cross_projection"),
    "language_model": ("model.language_model", "lm_head"),
}
GROUNDING_TRAINABLE = ("projection", "mappers", "prompt_mapper", "cross_projection")
DEFAULT_TRAINABLE = {"grounding": GROUNDING_TRAINABLE, "finetune": GROUNDING_TRAINABLE + ("language_model",)}


def set_trainable(model, groups) -> list[str]:
    """Train exactly the ADIFF module `groups` (names of `ADIFF_GROUPS`); returns the frozen modules' names."""
    model.requires_grad_(False)
    modules = dict(model.named_modules())
    frozen = []
    for group, names in ADIFF_GROUPS.items():
        for name in names:
            if modules.get(name) is None:
                continue
            if group in groups:
                modules[name].requires_grad_(True)
            else:
                frozen.append(name)
    return frozen


__all__ = ["ADIFF_GROUPS", "GROUNDING_TRAINABLE", "DEFAULT_TRAINABLE", "set_trainable"]
