"""AdamW over the trainable parameters, split into decay / no-decay groups, and the warmup + decay schedule."""

import math

import torch
from torch import nn
from transformers import get_scheduler

from .recipe import OptimConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: matrices (decayed) and biases, norms, embeddings' 1-D vectors and learned
    constants (not decayed), like nanoGPT: a parameter is decayed iff it has >= 2 dimensions and is not a LayerNorm."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))
                   for p in m.parameters()}
    decay, no_decay, seen = [], [], set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:  # tied weights appear once
            continue
        seen.add(id(param))
        is_constant = name.endswith("prefix_const")
        (decay if param.dim() >= 2 and id(param) not in norm_params and not is_constant else no_decay).append(param)
    if not decay and not no_decay:
        raise ValueError("The model has no trainable parameters: check the stage's freezing settings.")
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, config: OptimConfig, fused: bool = False) -> torch.optim.Optimizer:
    """AdamW over `parameter_groups`; `fused=True` takes torch's fused kernel (which can skip a step on the device,
    `training.nonfinite`), else torch's default implementation."""
    return torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr, betas=config.betas,
                             eps=config.eps, fused=True if fused else None)


def warmup_steps(config: OptimConfig, total_steps: int) -> int:
    if config.warmup_steps is not None:
        return config.warmup_steps
    return int(math.ceil(config.warmup_ratio * total_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int):
    """`transformers.get_scheduler(config.schedule)` with warmup from `warmup_steps` or `warmup_ratio`."""
    kwargs = {}
    if config.schedule == "cosine_with_min_lr":
        kwargs["scheduler_specific_kwargs"] = {"min_lr_rate": config.min_lr_ratio}
    return get_scheduler(config.schedule, optimizer, num_warmup_steps=warmup_steps(config, total_steps),
                         num_training_steps=total_steps, **kwargs)


__all__ = ["parameter_groups", "build_optimizer", "build_scheduler", "warmup_steps"]
