"""Non-finite steps without a host sync per step (`training.nonfinite`): with fused AdamW a NaN / inf loss or gradient
norm is flagged on the device, no step from it on changes the weights or the optimizer state, and the run stops at its
next log, checkpoint or evaluation with the message naming the first bad step; other optimizers are checked at once."""

import math
from types import SimpleNamespace

import pytest
import torch
from training_testing import stage_recipe, synth_corpus  # noqa: F401

from training.loop import NonFiniteLossError, train
from training.metrics_log import read_metrics
from training.nonfinite import NonFiniteGuard, skips_on_device
from training.recipe import recipe_from_dict

torch.set_num_threads(1)


class _Toy:
    """A linear layer, its AdamW and a guard, stepped like the loop does."""

    def __init__(self, tmp_path, fused: bool):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 2)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=0.1, fused=True if fused else None)
        self.guard = NonFiniteGuard(self.optimizer, torch.device("cpu"), tmp_path)

    def step(self, number: int, scale: float = 1.0, grad_norm: float | None = None) -> None:
        loss = self.model(torch.ones(1, 3)).sum() * scale
        loss.backward()
        step_loss = torch.stack((loss.detach(), torch.tensor(1.0)))  # (sum of losses, count)
        norm = None if grad_norm is None else torch.tensor(grad_norm)
        self.guard.check(step_loss, norm, number, 0, number - 1)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def snapshot(self) -> list:
        state = [t.clone() for s in self.optimizer.state.values() for t in s.values()]
        return [p.detach().clone() for p in self.model.parameters()] + state


def test_a_flagged_step_and_every_later_one_change_nothing_until_the_flag_is_read(tmp_path):
    toy = _Toy(tmp_path, fused=True)
    assert toy.guard.on_device
    toy.step(1)
    toy.guard.raise_if_flagged()  # a finite step: nothing to report
    before = toy.snapshot()
    toy.step(2, scale=math.nan)
    toy.step(3)  # finite again, but after a bad step: skipped too
    assert all(torch.equal(a, b) for a, b in zip(before, toy.snapshot()))  # weights, moments and step count
    with pytest.raises(NonFiniteLossError, match=r"^The loss became NaN at optimizer step 2 \(epoch 0, batch 1\); "
                                                 r"training stopped .* none \(no checkpoint was written yet\)"):
        toy.guard.raise_if_flagged()


def test_a_non_finite_gradient_norm_is_named_as_such(tmp_path):
    toy = _Toy(tmp_path, fused=True)
    toy.step(1, grad_norm=math.inf)
    with pytest.raises(NonFiniteLossError, match=r"The gradient norm became infinite at optimizer step 1 "):
        toy.guard.raise_if_flagged()


def test_an_optimizer_that_cannot_skip_on_the_device_is_checked_before_every_step(tmp_path):
    toy = _Toy(tmp_path, fused=False)  # e.g. the foreach AdamW restored from an older run's checkpoint
    assert not skips_on_device(toy.optimizer) and not toy.guard.on_device
    fused = _Toy(tmp_path, fused=True).optimizer
    assert skips_on_device(SimpleNamespace(optimizer=fused, scaler=None))  # Accelerate's wrapper
    assert not skips_on_device(SimpleNamespace(optimizer=fused, scaler=object()))  # fp16: GradScaler owns found_inf
    before = toy.snapshot()
    with pytest.raises(NonFiniteLossError, match=r"The loss became infinite at optimizer step 1 "):
        toy.step(1, scale=math.inf)
    assert all(torch.equal(a, b) for a, b in zip(before, toy.snapshot()))


def test_a_run_reports_a_nan_step_between_logs_at_the_next_log_with_the_weights_of_the_step_before(
        synth_corpus, tmp_path, monkeypatch):  # noqa: F811
    from training.stages import LanguageModelStage

    real_loss, seen = LanguageModelStage.loss, []

    def loss_nan_once(self, model, batch):
        seen.append([p.detach().clone() for p in model.parameters()])  # the weights this step starts from
        loss, count = real_loss(self, model, batch)
        return (loss * math.nan if len(seen) == 3 else loss), count

    monkeypatch.setattr(LanguageModelStage, "loss", loss_nan_once)
    out = tmp_path / "run"
    recipe = stage_recipe("lm", out, synth_corpus, train={"max_steps": 8, "log_every": 5, "batch_size": 2})
    with pytest.raises(NonFiniteLossError, match=r"The loss became NaN at optimizer step 3 \(epoch 0, batch 2\)"):
        train(recipe_from_dict(recipe))
    assert len(seen) == 5  # no host sync at steps 3 and 4: the run noticed at the log of step 5
    for later in seen[3:]:  # steps 4 and 5 start from the weights of step 3: the NaN step changed nothing
        assert all(torch.equal(a, b) for a, b in zip(seen[2], later))
    assert not [r for r in read_metrics(out) if "train/loss" in r]  # nothing logged from the bad window
    assert not (out / "final").exists()


def test_a_checkpoint_of_an_unfused_optimizer_resumes_and_is_checked_before_every_step(
        synth_corpus, tmp_path, monkeypatch):  # noqa: F811
    """Runs started before the fused optimizer (their checkpoints restore unfused AdamW groups) continue, checked as
    before."""
    from training import loop
    from training.loop import TrainingInterrupted
    from training.stages import LanguageModelStage

    out = tmp_path / "run"
    recipe = stage_recipe("lm", out, synth_corpus, train={"max_steps": 4, "save_every": 2, "batch_size": 2})
    real_loss, calls = LanguageModelStage.loss, {"n": 0}

    def loss_interrupted_at_step_3(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(self, model, batch)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "_fused_optimizer", lambda recipe, accelerator: False)
        patch.setattr(LanguageModelStage, "loss", loss_interrupted_at_step_3)
        with pytest.raises(TrainingInterrupted):
            train(recipe_from_dict(recipe))
    guards = []
    real_guard = loop.NonFiniteGuard
    monkeypatch.setattr(loop, "NonFiniteGuard", lambda *args: guards.append(real_guard(*args)) or guards[-1])
    assert (train(recipe_from_dict(recipe), resume=True) / "model.safetensors").is_file()
    assert [guard.on_device for guard in guards] == [False]
