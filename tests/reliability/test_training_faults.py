"""Faults during training must never lose a user's run: a SIGKILL in the middle of a checkpoint write, a read-only
disk while saving, a failed final export, a non-finite loss or gradient, and a dataset row whose audio file is missing.

tests/test_training_resume.py (the training helper's) covers the neighbouring cases, which are not repeated here:
SIGKILL between steps + exact resume, a NaN loss, and ENOSPC / EACCES while writing a checkpoint.

The runs are stage-1b (`lm`) runs of a 1-layer, 16-wide GPT-2 on a few sentences: seconds on a CPU, yet the real loop
(`training.loop.train`), the real atomic checkpointing and the real `--resume`.

Tests run as root in CI, where `chmod` does not stop writes: OS errors are injected by monkeypatching the save
function to raise the `OSError` the OS would raise.
"""

import csv
import errno
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from accelerate import Accelerator
from safetensors.torch import load_file

from conftest import _CORPUS, REPO_ROOT
from training import checkpointing
from training.checkpointing import COMPLETE_MARKER, CheckpointError, latest_checkpoint, list_checkpoints
from training.data import AudioFilesError
from training.loop import FINAL_DIR, NonFiniteLossError, train
from training.recipe import recipe_from_dict
from training.stages import LanguageModelStage

STEPS = 6  # 18 training texts in batches of 4: 4 steps per epoch, so the runs cross an epoch boundary


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_tokenizer):
    """A tokenizer folder and a text corpus (train / validation CSVs with an `answer` column)."""
    root = tmp_path_factory.mktemp("training_faults")
    tiny_tokenizer.save_pretrained(root / "tokenizer")
    (root / "corpus").mkdir()
    for split, texts in (("train", _CORPUS * 2), ("validation", _CORPUS[:4])):
        with open(root / "corpus" / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["answer"])
            writer.writerows([f"{text} ({index})"] for index, text in enumerate(texts))
    return root


def lm_recipe(workspace: Path, output_dir: Path, **train) -> dict:
    return {
        "stage": "lm", "output_dir": str(output_dir), "init": {"tokenizer": str(workspace / "tokenizer")},
        "model": {"text_config": {"n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 64}},
        "data": {"corpus": str(workspace / "corpus")},
        "train": {"max_steps": STEPS, "batch_size": 4, "log_every": 1, "save_every": 1, "keep_checkpoints": 2,
                  "tensorboard": False, **train},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "eval": {"max_batches": 1, "num_samples": 0},
    }


def weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def assert_complete_checkpoint(folder: Path, step: int) -> None:
    assert folder.name == f"step-{step:08d}" and (folder / COMPLETE_MARKER).is_file()
    assert yaml.safe_load((folder / checkpointing.STATE_FILE).read_text())["global_step"] == step
    assert all(torch.isfinite(tensor).all() for tensor in weights(folder).values())


def fail_save_state_at(monkeypatch, step: int, error: OSError):
    """Make `Accelerator.save_state` raise `error` when it writes the checkpoint of `step`, after writing part of
    it."""
    real = Accelerator.save_state

    def save_state(self, output_dir=None, **kwargs):
        if Path(output_dir).name == f".tmp-step-{step:08d}":
            (Path(output_dir) / "model.safetensors").write_bytes(b"partial")
            raise error
        return real(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state)


# ----------------------------------------------------------------------------------------------- SIGKILL + resume
_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
import torch
torch.set_num_threads(1)
from accelerate import Accelerator
from training.loop import train
from training.recipe import recipe_from_dict

real = Accelerator.save_state
def save_state(self, output_dir=None, **kwargs):
    result = real(self, output_dir, **kwargs)
    if Path(output_dir).name == ".tmp-step-{kill_at:08d}":  # files written, not yet marked complete nor renamed
        weights = Path(output_dir) / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a half-written file
        os.kill(os.getpid(), signal.SIGKILL)
    return result
Accelerator.save_state = save_state
train(recipe_from_dict({recipe!r}))
"""


def test_sigkill_during_a_checkpoint_write_keeps_the_last_one_and_resume_matches_an_uninterrupted_run(
        workspace, tmp_path):
    killed_dir, kill_at = tmp_path / "killed", 3
    recipe = lm_recipe(workspace, killed_dir, eval_every=2)  # an evaluation right after the last good checkpoint
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", _KILLED_RUN.format(repo=str(REPO_ROOT), kill_at=kill_at,
                                                                      recipe=recipe)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]

    # the interrupted write is a leftover temporary folder; the complete checkpoints are untouched and loadable
    assert (killed_dir / "checkpoints" / f".tmp-step-{kill_at:08d}").is_dir()
    assert [p.name for p in list_checkpoints(killed_dir)] == ["step-00000001", "step-00000002"]
    assert latest_checkpoint(killed_dir) == killed_dir / "checkpoints" / "step-00000002"
    assert_complete_checkpoint(latest_checkpoint(killed_dir), 2)
    assert not (killed_dir / FINAL_DIR).exists()

    # --resume continues from step 2 and ends with exactly the weights of a run that was never interrupted
    resumed = train(recipe_from_dict(recipe), resume=True)
    reference = train(recipe_from_dict(lm_recipe(workspace, tmp_path / "uninterrupted", eval_every=2)))
    got, expected = weights(resumed), weights(reference)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=0, rtol=0, msg=name)
    assert not (killed_dir / "checkpoints" / f".tmp-step-{kill_at:08d}").exists()  # replaced by the real step 3
    steps = [yaml.safe_load(line)["step"] for line in (killed_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[:2] == [1, 2] and max(steps) == STEPS


# ----------------------------------------------------------------------------------- read-only disk, failed export
def test_a_read_only_disk_while_saving_raises_a_clear_error_and_keeps_the_last_good_checkpoint(
        workspace, tmp_path, monkeypatch):
    code, cause = errno.EROFS, r"permission denied \(or a read-only file system\)"
    fix = "make output_dir writable or choose another output_dir, then rerun with --resume"
    fail_save_state_at(monkeypatch, 3, OSError(code, os.strerror(code)))
    output = tmp_path / "run"
    with pytest.raises(CheckpointError, match=rf"Could not write the checkpoint \S*step-00000003: {cause} "
                                              rf"\[\[Errno {code}\] {os.strerror(code)}\]\. The last good checkpoint, "
                                              rf"\S*step-00000002, is kept\. To continue: {fix}"):
        train(recipe_from_dict(lm_recipe(workspace, output)))
    assert [p.name for p in list_checkpoints(output)] == ["step-00000001", "step-00000002"]
    assert_complete_checkpoint(latest_checkpoint(output), 2)
    assert not (output / "checkpoints" / ".tmp-step-00000003").exists()  # the partial write was cleaned up
    assert not (output / FINAL_DIR).exists()


def test_a_failed_first_checkpoint_says_there_is_none_to_keep(workspace, tmp_path, monkeypatch):
    fail_save_state_at(monkeypatch, 1, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(CheckpointError, match=r"the disk is full .* No earlier checkpoint exists\."):
        train(recipe_from_dict(lm_recipe(workspace, tmp_path / "run")))
    assert list_checkpoints(tmp_path / "run") == []


def test_a_failed_final_export_keeps_the_checkpoints(workspace, tmp_path, monkeypatch):
    def full_disk(self, folder, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LanguageModelStage, "save_final", full_disk)
    output = tmp_path / "run"
    with pytest.raises(CheckpointError, match=rf"Could not write the final model folder \S*{FINAL_DIR}: \[Errno 28\] "
                                              r"No space left on device\. Checkpoints under \S*checkpoints are kept; "
                                              r"fix the cause and rerun with --resume"):
        train(recipe_from_dict(lm_recipe(workspace, output, save_every=2)))
    assert [p.name for p in list_checkpoints(output)] == ["step-00000002", "step-00000004"]
    assert not (output / FINAL_DIR).exists()


# ----------------------------------------------------------------------------------------------- NaN loss
def poison_loss_at(monkeypatch, step: int, kind: str):
    """From the `step`-th loss call on, make the loss NaN / inf, or keep it finite with NaN gradients."""
    real, calls = LanguageModelStage.loss, {"n": 0}

    def loss(self, model, batch):
        value, count = real(self, model, batch)
        calls["n"] += 1
        if calls["n"] >= step:
            if kind == "gradient":  # sqrt'(0) = inf, times 0: the loss is unchanged, its gradient is NaN
                value = value + 0 * torch.sqrt(sum(p.sum() for p in model.parameters()) * 0)
            else:
                value = value * float(kind)
        return value, count

    monkeypatch.setattr(LanguageModelStage, "loss", loss)


@pytest.mark.parametrize("kind, what, became", [("inf", "loss", "infinite"), ("gradient", "gradient norm", "NaN")])
def test_a_non_finite_loss_stops_the_run_with_a_clear_message(workspace, tmp_path, monkeypatch, kind, what, became):
    poison_loss_at(monkeypatch, 3, kind)
    output = tmp_path / "run"
    message = (rf"The {what} became {became} at optimizer step 3 \(epoch 0, batch 2\); training stopped and these "
               r"weights were not saved\. The last good checkpoint is \S*step-00000002\. Lower optim\.lr, enable "
               r"gradient clipping .* then rerun with --resume\.")
    with pytest.raises(NonFiniteLossError, match=message):
        train(recipe_from_dict(lm_recipe(workspace, output)))
    assert_complete_checkpoint(latest_checkpoint(output), 2)
    assert not (output / FINAL_DIR).exists()


def test_the_training_command_exits_1_with_the_message(workspace, tmp_path, monkeypatch, capsys):
    poison_loss_at(monkeypatch, 2, "nan")
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump(lm_recipe(workspace, tmp_path / "run")))
    monkeypatch.setattr(sys, "argv", ["training/train.py", "--config", str(config)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO_ROOT / "training" / "train.py"), run_name="__main__")
    assert exited.value.code == 1
    last_line = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last_line.startswith("error: The loss became NaN at optimizer step 2 (epoch 0, batch 1); training stopped")


# ----------------------------------------------------------------------------------------------- missing audio
def test_a_dataset_row_with_a_missing_file_fails_before_training(tmp_path, tiny_model, processor, clips):
    """Policy of the data layer (training.data.load_csv, on_missing="error"): missing audio stops the run before the
    first step, naming the file; nothing is written under checkpoints/."""
    import soundfile as sf

    folder = tmp_path / "model"
    tiny_model.save_pretrained(folder)
    processor.save_pretrained(folder)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "a.wav", clips[1], 16000)
    rows = [("a.wav", "a.wav"), ("a.wav", "gone.wav")]
    for split in ("train", "validation"):
        with open(corpus / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["filepath1", "filepath2", "input", "answer"])
            writer.writerows([str(corpus / a), str(corpus / b), "explain the difference in few words", "same"]
                             for a, b in rows)
    recipe = {"stage": "finetune", "output_dir": str(tmp_path / "run"), "init": {"from_pretrained": str(folder)},
              "data": {"corpus": str(corpus), "cache_embeddings": False},
              "train": {"max_steps": 1, "batch_size": 1, "tensorboard": False}}
    with pytest.raises(AudioFilesError, match=r"train\.csv: 1 missing and 0 unreadable of 2 audio files; first "
                                              r"missing: \S*gone\.wav\. Check the audio root"):
        train(recipe_from_dict(recipe))
    assert list_checkpoints(tmp_path / "run") == []
