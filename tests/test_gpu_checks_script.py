"""benchmarks/gpu_checks.sh and its summary helper: the script parses, names files that exist, and its summaries
read the metrics a run writes and nvidia-smi's log. (The whole script runs on the CPU with SMOKE=1, a few minutes:
too long for the suite; its parts are tested in test_training_paper_recipes.py and test_training_benchmark.py.)"""

import json
import re
import subprocess

from conftest import REPO_ROOT

from benchmarks.metrics_summary import gpu_util_summary, run_summary

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_checks.sh"


def test_script_parses_and_names_files_that_exist():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    text = SCRIPT.read_text(encoding="utf-8")
    named = set(re.findall(r"(?:training|benchmarks|tests)/[\w/]+\.(?:yaml|py)", text))
    named |= {f"training/recipes/paper_base/{name}" for name in re.findall(r"(stage[\w]+\.yaml)", text)}
    assert "training/accelerate_configs/fsdp.yaml" in named and "benchmarks/training.py" in named
    missing = sorted(path for path in named if not (REPO_ROOT / path).exists())
    assert not missing, f"gpu_checks.sh names files that do not exist: {missing}"
    assert (REPO_ROOT / "tests" / "fixtures" / "gpt2_tokenizer" / "vocab.json").is_file()


def test_run_summary_skips_the_warm_up_point_and_reports_the_peak(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": 10, "train/loss": 3.0, "train/samples_per_s": 5.0, "train/peak_gpu_memory_gb": 2.0},
            {"step": 20, "train/loss": 2.5, "train/samples_per_s": 100.0, "train/peak_gpu_memory_gb": 2.5},
            {"step": 20, "eval/loss": 2.4},
            {"step": 30, "train/loss": 2.0, "train/samples_per_s": 120.0, "train/peak_gpu_memory_gb": 2.5}]
    metrics.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert run_summary(metrics, "stage2") == ("stage2: 3 log points, median samples/s 110.0 (steady state), peak GPU "
                                              "memory 2.50 GB, last loss 2.000")
    assert "the run failed before its first log" in run_summary(tmp_path / "none.jsonl", "stage3")


def test_gpu_util_summary_reads_nvidia_smi_csv(tmp_path):
    log = tmp_path / "gpu_util.csv"
    log.write_text("2026/12/04 10:00:00.000, 0 %, 500 MiB\n2026/12/04 10:00:00.500, 80 %, 900 MiB\n"
                   "2026/12/04 10:00:01.000, 90 %, 900 MiB\n2026/12/04 10:00:01.500, 40 %, 900 MiB\n")
    assert gpu_util_summary(log) == ("GPU utilisation over 4 samples (0.5 s): mean 52 %, mean while in use 70 %, "
                                     "samples >= 70 %: 50%")
