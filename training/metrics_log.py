"""The metrics log: one JSON object per line in `<output_dir>/metrics.jsonl`, mirrored to TensorBoard when the
`tensorboard` package is installed. Only the main process writes."""

import json
import logging
import math
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class MetricsLogger:
    """Appends `{"step": ..., "time": ..., **metrics}` records; a resumed run appends to the same file.

    Args:
        output_dir (`str` or `Path`): the run folder.
        enabled (`bool`): False on non-main processes (writes nothing).
        tensorboard (`bool`): also write TensorBoard scalars under `<output_dir>/tensorboard` when available.
    """

    def __init__(self, output_dir: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.path = Path(output_dir) / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.info("tensorboard is not installed; metrics go to %s only", self.path)
            else:
                self.writer = SummaryWriter(str(Path(output_dir) / "tensorboard"))

    def drop_after(self, step: int) -> None:
        """Removes the records of steps after `step`: a run resumed from the checkpoint of `step` (or started afresh,
        step 0) writes them again, so `metrics.jsonl` holds each step once."""
        if not self.enabled or not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            self.path.write_text("".join(kept), encoding="utf-8")
            logger.info("metrics.jsonl: dropped %d record(s) after step %d, which this run writes again",
                        len(lines) - len(kept), step)

    def log(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")
        if self.writer is not None:
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(output_dir: str | Path) -> list[dict]:
    """All records of a run's `metrics.jsonl`."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["MetricsLogger", "read_metrics"]
