"""Refusing optimizer steps with a non-finite loss or gradient norm, without a host sync per step.

Reading a device scalar on the host (`bool(torch.isfinite(loss))`) waits for every queued kernel, so checking before
each `optimizer.step()` drains the GPU's queue once per step. With torch's fused Adam / AdamW the guard instead hands
the optimizer a device-side `found_inf` flag, as `torch.amp.GradScaler` does: the fused kernel then leaves the weights,
the moments and the step count alone, and the host never looks. The flag is sticky: from the first non-finite step
on, no step changes the weights. The host reads the flag only where the loop waits for the device anyway (logging,
checkpoints, evaluation, the end of the run) and raises `NonFiniteLossError` naming that first step, before anything
is logged or saved. Other optimizers (the foreach AdamW of a resumed older checkpoint, fp16 with its GradScaler, FSDP)
are checked before every step, as before.
"""

from pathlib import Path

import torch

from .checkpointing import latest_checkpoint

# The kind codes of `NonFiniteGuard.first`: what became non-finite, and how.
_KINDS = {1: ("loss", "NaN"), 2: ("loss", "infinite"), 3: ("gradient norm", "NaN"), 4: ("gradient norm", "infinite")}


class NonFiniteLossError(RuntimeError):
    """The loss (or gradient norm) became NaN or infinite; the run stopped without saving the bad weights."""


def skips_on_device(optimizer) -> bool:
    """True when `optimizer` (or the one Accelerate wraps) skips a step itself given a device-side `found_inf`: torch's
    Adam / AdamW with `fused=True` in every group (a checkpoint of an unfused run restores unfused groups), and no fp16
    GradScaler (which sets and deletes `found_inf` itself)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    return (isinstance(inner, torch.optim.Adam) and all(group.get("fused") for group in inner.param_groups)
            and getattr(optimizer, "scaler", None) is None)


def _kind(step_loss: torch.Tensor, grad_norm: torch.Tensor | None) -> torch.Tensor:
    """0-dim int64 on the device: 0 when finite, else the `_KINDS` code (the loss is blamed before the gradient)."""
    kind = torch.where(torch.isnan(step_loss).any(), 1, torch.where(torch.isinf(step_loss).any(), 2, 0))
    if grad_norm is None:
        return kind
    grad = torch.where(torch.isnan(grad_norm), 3, torch.where(torch.isinf(grad_norm), 4, 0))
    return torch.where(kind != 0, kind, grad)


class NonFiniteGuard:
    """Keeps non-finite steps from changing the weights and reports the first one (see the module docstring).

    Args:
        optimizer: the (Accelerate-wrapped) optimizer; checked on the device when `skips_on_device(optimizer)`.
        device (`torch.device`): where the losses and gradients are.
        output_dir (`Path`): the run's folder (its last checkpoint is named in the error).
    """

    def __init__(self, optimizer, device: torch.device, output_dir: Path):
        self.on_device = skips_on_device(optimizer)
        self.output_dir = Path(output_dir)
        # (step, kind) of the first bad step; kind 0: none yet
        self.first = torch.zeros(2, dtype=torch.long, device=device)
        self.positions = {}  # step -> (epoch, batch in epoch), for the steps since the last read
        self.optimizer = getattr(optimizer, "optimizer", optimizer)
        self.found_inf = torch.zeros((), device=device)  # 1.0 from the first bad step on: the fused optimizer skips

    def check(self, step_loss: torch.Tensor, grad_norm: torch.Tensor | None, step: int, epoch: int,
              batch_in_epoch: int) -> None:
        """Before optimizer step `step` (1-based): flag it when its loss or gradient norm is not finite. Raises at once
        when the optimizer cannot skip on the device."""
        kind = _kind(step_loss, grad_norm)
        if not self.on_device:
            code = kind.item()  # one host sync per step
            if code:
                raise self._error(step, code, epoch, batch_in_epoch)
            return
        self.positions[step] = (epoch, batch_in_epoch)
        new = (self.first[1] == 0) & (kind != 0)
        self.first.copy_(torch.where(new, torch.stack((torch.full_like(kind, step), kind)), self.first))
        self.found_inf.copy_(self.first[1] != 0)
        self.optimizer.found_inf = self.found_inf  # read by the fused step (`torch.optim.adam._fused_adam`)

    def raise_if_flagged(self) -> None:
        """Read the flag on the host (one sync); raise `NonFiniteLossError` for the first bad step since the start."""
        if not self.on_device:
            return
        step, kind = self.first.tolist()
        if kind:
            raise self._error(step, kind, *self.positions[step])
        self.positions.clear()

    def _error(self, step: int, kind: int, epoch: int, batch_in_epoch: int) -> NonFiniteLossError:
        what, became = _KINDS[kind]
        return NonFiniteLossError(
            f"The {what} became {became} at optimizer step {step} (epoch {epoch}, batch {batch_in_epoch}); training "
            f"stopped and these weights were not saved. The last good checkpoint is "
            f"{latest_checkpoint(self.output_dir) or 'none (no checkpoint was written yet)'}. Lower optim.lr, enable "
            "gradient clipping (optim.max_grad_norm) or use mixed_precision: bf16 instead of fp16, then rerun with "
            "--resume.")


__all__ = ["NonFiniteGuard", "NonFiniteLossError", "skips_on_device"]
