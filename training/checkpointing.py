"""Atomic training checkpoints: `accelerator.save_state` into a temporary folder that is renamed into place only when
complete, so a crash, a full disk or a kill mid-save never leaves a half-written checkpoint where `--resume` looks.

Layout: `<output_dir>/checkpoints/step-00000100/` (Accelerate state + `trainer_state.json` + `COMPLETE`).
"""

import errno
import json
import logging
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

COMPLETE_MARKER = "COMPLETE"
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the folder, the cause and the fix."""


@dataclass
class TrainerState:
    """Where the loop stands: enough to continue exactly (the data order is a function of seed and epoch).

    Args:
        global_step (`int`): optimizer steps done.
        epoch (`int`): current epoch.
        batch_in_epoch (`int`): global micro-batches of `epoch` already consumed.
        best_eval_loss (`float`, *optional*): lowest evaluation loss so far.
    """

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_eval_loss: float | None = None

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (folders without the COMPLETE marker are ignored)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / COMPLETE_MARKER).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def _explain_os_error(error: OSError, folder: Path, last_good: Path | None) -> str:
    keep = f"The last good checkpoint, {last_good}, is kept." if last_good else "No earlier checkpoint exists."
    if error.errno == errno.ENOSPC:
        cause = "the disk is full"
        fix = "free disk space or point output_dir at a larger disk, then rerun with --resume"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = "permission denied (or a read-only file system)"
        fix = "make output_dir writable or choose another output_dir, then rerun with --resume"
    else:
        cause = f"an OS error ({error.strerror or error})"
        fix = "fix the cause, then rerun with --resume"
    return f"Could not write the checkpoint {folder}: {cause} [{error}]. {keep} To continue: {fix}."


def save_checkpoint(accelerator, state: TrainerState, output_dir: str | Path, keep: int = 2) -> Path:
    """Write `accelerator.save_state` + `state` atomically as `checkpoints/step-<global_step>`; keep the newest `keep`.

    Raises `CheckpointError` (all processes) when writing fails; earlier checkpoints are left untouched.
    """
    root = checkpoint_root(output_dir)
    final = root / f"step-{state.global_step:08d}"
    temp = root / f".tmp-{final.name}"
    last_good = latest_checkpoint(output_dir)
    failure = None
    if accelerator.is_main_process:
        try:
            root.mkdir(parents=True, exist_ok=True)
            if temp.exists():
                shutil.rmtree(temp)
            temp.mkdir()
        except OSError as error:
            failure = _explain_os_error(error, final, last_good)
    failure = _broadcast_failure(accelerator, failure)
    if failure is None:
        try:
            accelerator.save_state(str(temp))  # every process writes its RNG state; main writes the rest
        except OSError as error:
            failure = _explain_os_error(error, final, last_good)
        failure = _broadcast_failure(accelerator, failure)
    if failure is None and accelerator.is_main_process:
        try:
            (temp / STATE_FILE).write_text(json.dumps(state.state_dict(), indent=2), encoding="utf-8")
            (temp / COMPLETE_MARKER).write_text("ok\n", encoding="utf-8")
            if final.exists():  # a previous run reached this step; replace it
                shutil.rmtree(final)
            os.replace(temp, final)
        except OSError as error:
            failure = _explain_os_error(error, final, last_good)
    failure = _broadcast_failure(accelerator, failure)
    if failure is not None:
        if accelerator.is_main_process:
            shutil.rmtree(temp, ignore_errors=True)
        raise CheckpointError(failure)
    if accelerator.is_main_process:
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("Saved checkpoint %s", final)
    return final


def load_checkpoint(accelerator, folder: str | Path, state: TrainerState) -> None:
    """Restore `accelerator.load_state` and the trainer state from a complete checkpoint folder."""
    folder = Path(folder)
    if not (folder / COMPLETE_MARKER).is_file():
        raise CheckpointError(f"{folder} is not a complete checkpoint (no {COMPLETE_MARKER} marker); pass a "
                              f"checkpoints/step-* folder or just --resume to pick the latest complete one.")
    accelerator.load_state(str(folder))
    state.load_state_dict(json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
    logger.info("Resumed from %s (step %d, epoch %d, batch %d)", folder, state.global_step, state.epoch,
                state.batch_in_epoch)


def _broadcast_failure(accelerator, failure: str | None) -> str | None:
    """Every process learns whether any process failed, so all of them raise together instead of hanging."""
    if accelerator.num_processes == 1:
        return failure
    from accelerate.utils import gather_object

    failures = [f for f in gather_object([failure]) if f]
    return failures[0] if failures else None


__all__ = ["CheckpointError", "TrainerState", "COMPLETE_MARKER", "checkpoint_root", "list_checkpoints",
           "latest_checkpoint", "save_checkpoint", "load_checkpoint"]
