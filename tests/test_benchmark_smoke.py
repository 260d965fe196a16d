"""`benchmarks/inference.py --smoke`: the benchmark runs end to end on a tiny model and all its paths (reference,
batch sizes, a separate from_pretrained inference process) agree.

Only behaviour is asserted, never timings (this machine is shared)."""

import json
import subprocess
import sys

from conftest import REPO_ROOT

REQUIRED_KEYS = {"reference_pairs_per_s", "batch1_pairs_per_s", "tokens_equal", "peak_rss_mb", "encode_s", "decode_s"}


def test_benchmark_smoke_runs_and_paths_agree():
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "inference.py"), "--smoke", "--json", "--threads", "1",
         "--inference-rss"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert REQUIRED_KEYS <= set(results)
    assert results["tokens_equal"] is True
    assert [run["batch_size"] for run in results["runs"]] == [1, 2]
    assert all(run["pairs_per_s"] > 0 and run["decode_s"] > 0 for run in results["runs"])
    # The separate inference process (from_pretrained + processor + generate) reproduces the tokens.
    assert results["peak_rss_source"] == "inference_process" and results["inference_process_tokens_equal"] is True
    assert results["peak_rss_mb"] > 0 and results["benchmark_peak_rss_mb"] >= results["rss_after_build_mb"] > 0
