"""The training run's edges a user meets: Ctrl-C (one line, where to resume), metrics after --resume (each step once),
rerunning a finished output_dir (refused, not overwritten) and a missing previous-stage folder (one line)."""

import pytest
from training_testing import write_recipe

from adiff.cli import main as adiff_main
from reliability.test_training_faults import lm_recipe, workspace  # noqa: F401  (the fixture)
from training.init_sources import check_init_sources
from training.loop import FINAL_DIR, TrainingInterrupted, train
from training.metrics_log import read_metrics
from training.recipe import recipe_from_dict
from training.stages import LanguageModelStage


def interrupt_at_call(monkeypatch, call: int) -> None:
    """Ctrl-C inside the `call`-th micro-batch loss (1-based), as a user's ^C during training would arrive."""
    real, calls = LanguageModelStage.loss, []

    def loss(self, model, batch):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(self, model, batch)

    monkeypatch.setattr(LanguageModelStage, "loss", loss)


def test_ctrl_c_is_one_line_with_a_resume_hint_and_resume_logs_each_step_once(
        workspace, tmp_path, monkeypatch, capsys):  # noqa: F811
    out = tmp_path / "run"
    recipe = lm_recipe(workspace, out, save_every=2, eval_every=None)
    config = write_recipe(tmp_path / "recipe.yaml", recipe)
    interrupt_at_call(monkeypatch, 4)  # during step 4: checkpoint of step 2 written, steps 1-3 logged
    assert adiff_main(["train", "--config", str(config)]) == 130
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == (f"adiff: interrupted: training interrupted at optimizer step 3; the last complete checkpoint "
                         f"is {out / 'checkpoints' / 'step-00000002'}; rerun the same command with --resume to "
                         "continue from it.")
    assert not any("Traceback" in line for line in error)
    assert [r["step"] for r in read_metrics(out) if "train/loss" in r] == [1, 2, 3]

    monkeypatch.undo()
    train(recipe_from_dict(recipe), resume=True)
    steps = [r["step"] for r in read_metrics(out) if "train/loss" in r]
    assert steps == list(range(1, recipe["train"]["max_steps"] + 1))  # step 3 once, not twice


def test_ctrl_c_before_any_checkpoint_says_so(workspace, tmp_path, monkeypatch):  # noqa: F811
    interrupt_at_call(monkeypatch, 1)
    with pytest.raises(TrainingInterrupted, match="step 0; no checkpoint was written yet"):
        train(recipe_from_dict(lm_recipe(workspace, tmp_path / "run", save_every=2)))


def test_a_finished_output_dir_is_not_overwritten_without_resume(workspace, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    recipe = lm_recipe(workspace, out, max_steps=2, save_every=None)
    final = train(recipe_from_dict(recipe))
    before = {path.name: path.stat().st_mtime_ns for path in final.iterdir()}
    capsys.readouterr()  # the first run's progress bar
    config = write_recipe(tmp_path / "recipe.yaml", recipe)
    assert adiff_main(["train", "--config", str(config)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"adiff train: error: {out} already holds a finished run") and "--resume" in error
    assert "\n" not in error
    assert {path.name: path.stat().st_mtime_ns for path in (out / FINAL_DIR).iterdir()} == before
    assert train(recipe_from_dict(recipe), resume=True) == final  # --resume: already done, nothing to do


def test_a_missing_previous_stage_folder_is_one_line(workspace, tmp_path, capsys):  # noqa: F811
    missing = tmp_path / "runs" / "stage1b" / "final"
    recipe = lm_recipe(workspace, tmp_path / "run")
    recipe["init"] = {"tokenizer": str(missing)}
    assert adiff_main(["train", "--config", str(write_recipe(tmp_path / "recipe.yaml", recipe))]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"adiff train: error: Stage 'lm': init.tokenizer is '{missing}', which is no folder")
    assert "Run the previous stage first" in error and "\n" not in error
    for hub_id in ("gpt2", "laion/clap-htsat-unfused"):  # Hub ids pass; loading them is from_pretrained's job
        check_init_sources({"language_model": hub_id}, "grounding")
    with pytest.raises(FileNotFoundError, match=r"init.from_pretrained is './runs/stage2/final'"):
        check_init_sources({"from_pretrained": "./runs/stage2/final"}, "finetune")
