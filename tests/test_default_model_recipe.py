"""scripts/train_default_model.sh end to end at toy size (the tiny recipes, 24 pairs): every step runs, stage 3b
continues stage 3, the result loads, a rerun skips what is done, and STAGE3B=0 stops after stage 3."""

import json
import shutil
import subprocess

from training_testing import PYTHON, REPO_ROOT, subprocess_env

from modeling_adiff import AdiffForConditionalGeneration


def run_recipe(run_dir, **env):
    completed = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "train_default_model.sh")], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=600, env={**subprocess_env(), "RUN_DIR": str(run_dir), "RECIPES": "training/recipes/tiny",
                          "PAIRS": "24", "THREADS": "1", "PYTHON": PYTHON, **env})
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def test_recipe_runs_stage_3b_after_stage_3_resumes_and_can_skip_it(tmp_path):
    run_dir = tmp_path / "run"
    log = run_recipe(run_dir)
    assert "stage3b: done" in log and "model ready" in log
    recipe = json.loads((run_dir / "stage3b" / "final" / "training_recipe.json").read_text())
    assert recipe["init"]["from_pretrained"] == str(run_dir / "stage3" / "final")
    assert (recipe["train"]["epochs"], recipe["train"]["seed"], recipe["optim"]["lr"]) == (2, 1, 2.0e-4)
    # The model folder is stage 3b's final folder, and it loads.
    assert (run_dir / "model" / "model.safetensors").read_bytes() == \
        (run_dir / "stage3b" / "final" / "model.safetensors").read_bytes()
    AdiffForConditionalGeneration.from_pretrained(run_dir / "model")

    rerun = run_recipe(run_dir)
    for step in ("corpus", "tokenizer", "stage3_data"):
        assert f"{step}: exists, skipped" in rerun
    for stage in ("stage1_encoder", "stage1_lm", "stage2", "stage3", "stage3b"):
        assert f"{stage}: final folder exists, skipped" in rerun

    # STAGE3B=0 (the two-hour recipe) ships stage 3's final folder and leaves stage 3b alone.
    shutil.rmtree(run_dir / "stage3b")
    log = run_recipe(run_dir, STAGE3B="0")
    assert "stage3b" not in log and not (run_dir / "stage3b").exists()
    assert (run_dir / "model" / "model.safetensors").read_bytes() == \
        (run_dir / "stage3" / "final" / "model.safetensors").read_bytes()
