"""Checkpoints and failures: a run SIGKILLed mid-stage and resumed ends with exactly the weights of an uninterrupted
run; NaN loss stops with a clear message keeping the last good checkpoint; a full disk or a permission error while
saving raises a clear error and keeps the last good checkpoint."""

import errno
import os
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file
from training_testing import (PYTHON, TRAIN_SCRIPT, save_tiny_towers, stage_recipe, subprocess_env,  # noqa: F401
                              synth_corpus, write_recipe)

from training.checkpointing import CheckpointError, latest_checkpoint, list_checkpoints
from training.loop import NonFiniteLossError, train
from training.metrics_log import read_metrics
from training.recipe import recipe_from_dict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def towers(synth_corpus, tmp_path_factory):  # noqa: F811
    """Untrained tiny towers saved like stage-1 outputs (the grounding stage starts from them)."""
    return save_tiny_towers(tmp_path_factory.mktemp("towers"), synth_corpus)


def _grounding(out, corpus, towers, **train_settings):
    settings = {"max_steps": 40, "save_every": 4, "keep_checkpoints": 100, "batch_size": 4}
    settings.update(train_settings)
    # projection_dropout 0.5 makes every step consume RNG: resuming must restore it too.
    return stage_recipe("grounding", out, corpus, init=dict(towers), train=settings,
                        model={**stage_recipe("grounding", out, corpus)["model"], "projection_dropout": 0.5},
                        eval={"max_batches": 1, "num_samples": 0})


def test_sigkill_mid_stage_then_resume_gives_the_uninterrupted_weights(synth_corpus, towers, tmp_path):  # noqa: F811
    reference = train(recipe_from_dict(_grounding(tmp_path / "uninterrupted", synth_corpus, towers)))

    killed_dir = tmp_path / "killed"
    recipe_path = write_recipe(tmp_path / "recipe.yaml", _grounding(killed_dir, synth_corpus, towers))
    process = subprocess.Popen([PYTHON, TRAIN_SCRIPT, "--config", str(recipe_path)], env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while latest_checkpoint(killed_dir) is None or latest_checkpoint(killed_dir).name < "step-00000008":
        assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no checkpoint appeared in time"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    process.stderr.close()
    assert not (killed_dir / "final").exists(), "the run finished before the kill; the test proves nothing"
    stopped_at = int(latest_checkpoint(killed_dir).name.split("-")[1])
    assert 8 <= stopped_at < 40

    resumed = train(recipe_from_dict(_grounding(killed_dir, synth_corpus, towers)), resume=True)
    expected, got = load_file(reference / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected), "resumed weights differ from the uninterrupted run"
    # The loss curve after the restart matches step for step.
    curve = lambda folder: {r["step"]: r["train/loss"] for r in read_metrics(folder) if "train/loss" in r}  # noqa: E731
    uninterrupted, restarted = curve(tmp_path / "uninterrupted"), curve(killed_dir)
    assert all(restarted[s] == uninterrupted[s] for s in range(stopped_at + 1, 41))


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(synth_corpus, towers, tmp_path,  # noqa: F811
                                                                                 monkeypatch):
    from training.stages import AdiffStage

    calls = {"n": 0}
    real_loss = AdiffStage.loss

    def loss_turning_nan(self, model, batch):
        loss, count = real_loss(self, model, batch)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 3 else loss), count

    monkeypatch.setattr(AdiffStage, "loss", loss_turning_nan)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"loss became NaN at optimizer step 3.*last good checkpoint is "
                                                 r".*step-00000002.*--resume"):
        train(recipe_from_dict(_grounding(out, synth_corpus, towers, max_steps=6, save_every=2)))
    assert [p.name for p in list_checkpoints(out)] == ["step-00000002"]
    assert not (out / "final").exists()
    weights = load_file(out / "checkpoints/step-00000002/model.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())


@pytest.mark.parametrize("code, wording", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied")])
def test_checkpoint_write_failure_raises_clearly_and_keeps_the_last_good(synth_corpus, towers, tmp_path, monkeypatch,  # noqa: F811
                                                                         code, wording):
    from accelerate import Accelerator

    real_save = Accelerator.save_state
    calls = {"n": 0}

    def failing_save(self, output_dir=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            real_save(self, output_dir, **kwargs)  # part of the state lands on disk first
            raise OSError(code, os.strerror(code))
        return real_save(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", failing_save)
    out = tmp_path / "run"
    with pytest.raises(CheckpointError, match=rf"step-00000004: {wording}.*last good checkpoint, .*step-00000002, is "
                                              r"kept.*--resume"):
        train(recipe_from_dict(_grounding(out, synth_corpus, towers, max_steps=6, save_every=2)))
    assert [p.name for p in list_checkpoints(out)] == ["step-00000002"]
    assert not list((out / "checkpoints").glob(".tmp-*")), "the half-written checkpoint was left behind"
