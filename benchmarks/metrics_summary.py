"""One summary line for a training run's metrics.jsonl (steady-state samples/s, peak GPU memory, last loss), or for
an `nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500` log (the share of
samples with the GPU busy). Used by benchmarks/gpu_checks.sh.

    python benchmarks/metrics_summary.py RUN/metrics.jsonl --label stage2
    python benchmarks/metrics_summary.py --gpu-util gpu_util.csv
"""

import argparse
import json
import statistics
from pathlib import Path


def run_summary(metrics: Path, label: str) -> str:
    if not metrics.is_file():
        return f"{label}: no {metrics} (the run failed before its first log; see its log)"
    rows = [row for row in map(json.loads, metrics.read_text(encoding="utf-8").splitlines())
            if "train/samples_per_s" in row]
    if not rows:
        return f"{label}: {metrics} has no training log points"
    steady = [row["train/samples_per_s"] for row in rows[1:]] or [rows[0]["train/samples_per_s"]]  # skip warm-up
    peak = max(row.get("train/peak_gpu_memory_gb", 0.0) for row in rows)
    return (f"{label}: {len(rows)} log points, median samples/s {statistics.median(steady):.1f} (steady state), "
            f"peak GPU memory {peak:.2f} GB, last loss {rows[-1]['train/loss']:.3f}")


def gpu_util_summary(log: Path) -> str:
    util = []
    for line in log.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 2 and fields[1].endswith("%"):
            util.append(float(fields[1].rstrip(" %")))
    if not util:
        return f"GPU utilisation: no samples in {log}"
    busy = [u for u in util if u > 0]
    high = sum(u >= 70 for u in util) / len(util)
    return (f"GPU utilisation over {len(util)} samples (0.5 s): mean {statistics.mean(util):.0f} %, mean while in use "
            f"{statistics.mean(busy) if busy else 0:.0f} %, samples >= 70 %: {high:.0%}")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="?", type=Path, help="a run's metrics.jsonl")
    parser.add_argument("--label", default="run", help="name printed before the figures")
    parser.add_argument("--gpu-util", type=Path, help="an nvidia-smi CSV log instead")
    args = parser.parse_args(argv)
    if (args.metrics is None) == (args.gpu_util is None):
        parser.error("give a metrics.jsonl or --gpu-util CSV (one of them)")
    line = gpu_util_summary(args.gpu_util) if args.gpu_util else run_summary(args.metrics, args.label)
    print(line)
    return line


if __name__ == "__main__":
    main()
