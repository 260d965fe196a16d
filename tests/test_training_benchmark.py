"""`benchmarks/training.py --smoke --json`: every mode runs on a tiny model and the last output line is the JSON
summary. Only behaviour is asserted, never timings (the machine is shared)."""

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def test_training_benchmark_smoke_reports_every_figure():
    # bf16 autocast on the CPU, as `--device cuda --dtype bf16` runs on a GPU; a given peak turns on the MFU.
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "training.py"), "--smoke", "--json", "--threads", "1",
         "--dtype", "bf16", "--peak-tflops", "0.5"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    modes = ("stage1a_tagger", "stage1a_on_device", "stage1b_lm", "stage2_recompute", "stage2_cached", "stage3_cached")
    assert [(r["size"], r["mode"]) for r in results["runs"]] == [("tiny", mode) for mode in modes]
    for run in results["runs"]:
        assert run["dtype"] == "bf16" and run["samples_per_s"] > 0 and run["peak_memory_mb"] > 0
        assert 0 < run["busy_share"] <= 1.0 and run["gflops_per_step"] > 0
        assert run["mfu"] == pytest.approx(run["model_tflops"] / 0.5)
    for mode in modes:
        assert results[f"tiny_{mode}_samples_per_s"] > 0 and results[f"tiny_{mode}_peak_memory_mb"] > 0
    assert results["tiny_stage2_cache_speedup"] > 0 and results["tiny_cache_fill_s_per_clip"] > 0
    assert results["tiny_embedding_speedup"] > 0 and results["tiny_stage1a_on_device_speedup"] > 0
    by_mode = {r["mode"]: r for r in results["runs"]}
    assert by_mode["stage3_cached"]["trainable_m"] > by_mode["stage2_cached"]["trainable_m"]  # stage 3 trains the LM
    # The recomputing step also runs the frozen encoder, so it counts more FLOPs than the cached one.
    assert by_mode["stage2_recompute"]["gflops_per_step"] > by_mode["stage2_cached"]["gflops_per_step"]


def test_training_benchmark_names_an_unknown_mode():
    completed = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "training.py"), "--modes", "stage9"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "unknown mode(s) ['stage9']; choose from" in completed.stderr


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
