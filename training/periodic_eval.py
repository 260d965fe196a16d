"""Periodic evaluation during training: token-weighted loss over validation batches (all processes), the stage's
extras (generated samples, tagger mAP) and, when configured, an external evaluator's scores on the samples."""

import importlib
import logging
import math

import torch
from accelerate.utils import send_to_device

from .sampler import ResumableBatchSampler

logger = logging.getLogger(__name__)


def run_evaluator(spec: str, predictions: list[str], references: list[str], rows: list[dict]) -> dict:
    """Call `"package.module:function"` with `(predictions=, references=, rows=)`; it returns `{name: float}`.

    The result is prefixed with `eval/`. A missing module is reported once in the log and skipped, so a recipe that
    names an evaluator still trains where that evaluator is not installed.
    """
    module_name, sep, function_name = spec.partition(":")
    if not sep:
        raise ValueError(f"eval.evaluator must look like 'package.module:function', got {spec!r}.")
    package = __package__.split(".")[0]  # `training` in a checkout, `adiff_training` when pip-installed
    if module_name.split(".")[0] == "training":
        module_name = package + module_name[len("training"):]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        logger.warning("Evaluator %s is not available (%s); skipping it.", spec, error)
        return {}
    scores = function(predictions=predictions, references=references, rows=rows)
    return {f"eval/{name}": float(value) for name, value in scores.items()}


@torch.no_grad()
def evaluate(stage, model, eval_data, accelerator, recipe) -> dict:
    """`{"eval/loss": ..., **extras}`; the loss is the token-weighted mean over up to `eval.max_batches` batches."""
    if eval_data is None:
        return {}
    was_training = model.training
    model.eval()
    size = recipe.train.eval_batch_size or recipe.train.batch_size
    size = max(accelerator.num_processes, size - size % accelerator.num_processes)
    sampler = ResumableBatchSampler(len(eval_data), size, shuffle=False, drop_last=False,
                                    rank=accelerator.process_index, world_size=accelerator.num_processes)
    total = torch.zeros(2, device=accelerator.device)  # (sum of losses, count)
    for number, items in enumerate(sampler):
        if recipe.eval.max_batches is not None and number >= recipe.eval.max_batches:
            break
        if not items:
            continue
        batch = send_to_device(eval_data.collate([(eval_data.items[i], seed) for i, seed in items]),
                               accelerator.device)
        with accelerator.autocast():
            loss, count = stage.loss(model, batch)
        total += torch.stack((loss.detach().float() * count, count.float()))
    total = accelerator.reduce(total, reduction="sum")
    metrics = {"eval/loss": float(total[0] / total[1]) if total[1] > 0 else math.nan}
    metrics.update(stage.eval_extras(model, eval_data, accelerator))
    if was_training:
        stage.set_train_mode(model)
    return metrics


__all__ = ["evaluate", "run_evaluator"]
