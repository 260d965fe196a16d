"""The ADIFF answer loss the stages and the benchmarks share (cross-entropy over the answer tokens)."""

import torch


def adiff_forward(model, batch: dict):
    """The model's outputs on `batch` (answer loss, prefix) and the batch's answer-token count. Only the logits that
    predict answer tokens are computed (`logits_to_keep`): the LM head never runs over the prefix, which saves a
    vocabulary-sized matmul per prefix token."""
    return model(**batch, logits_to_keep=batch["labels"].shape[1] + 1), (batch["labels"] != -100).sum()


def adiff_loss(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """ADIFF's answer loss and its token count."""
    outputs, count = adiff_forward(model, batch)
    return outputs.loss, count


__all__ = ["adiff_forward", "adiff_loss"]
