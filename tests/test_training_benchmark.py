"""`benchmarks/training.py --smoke --json`: every mode runs on a tiny model and the last output line is the JSON
summary. Only behaviour is asserted, never timings (the machine is shared)."""

import json
import subprocess
import sys

from conftest import REPO_ROOT


def test_training_benchmark_smoke_reports_every_figure():
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "training.py"), "--smoke", "--json", "--threads", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert [(r["size"], r["mode"]) for r in results["runs"]] == [
        ("tiny", "stage2_recompute"), ("tiny", "stage2_cached"), ("tiny", "stage3_cached")]
    for mode in ("stage2_recompute", "stage2_cached", "stage3_cached"):
        assert results[f"tiny_{mode}_samples_per_s"] > 0 and results[f"tiny_{mode}_peak_memory_mb"] > 0
    assert results["tiny_stage2_cache_speedup"] > 0 and results["tiny_cache_fill_s_per_clip"] > 0
    assert results["tiny_embedding_speedup"] > 0
    stage2, stage3 = results["runs"][1], results["runs"][2]
    assert stage3["trainable_m"] > stage2["trainable_m"]  # stage 3 also trains the LM


def test_length_grouping_benchmark_reports_less_padding_on_mixed_lengths(tmp_path):
    csv_path = tmp_path / "answers.csv"
    lines = ["taskname,filepath1,filepath2,caption1,caption2,input,answer"]
    for row in range(48):  # tier-1-like short answers and tier-3-like long ones, interleaved
        words = " ".join(["louder"] * (3 if row % 2 else 60))
        lines.append(f"synthdiff,a.wav,b.wav,,,explain the difference in few words,Audio 1 is {words}.")
    csv_path.write_text("\n".join(lines) + "\n")
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "length_grouping.py"), "--csv", str(csv_path), "--json",
         "--threads", "1", "--batch-size", "4", "--batches", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["rows"] == 48 and results["plain_samples_per_s"] > 0 and results["grouped_samples_per_s"] > 0
    # random batches of 4 almost always hold a long answer; grouped ones are all short or all long
    assert results["padding_ratio"] < 0.75
