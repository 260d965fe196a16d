"""The training loop shared by every stage (Accelerate: 1 or N processes, CPU or GPU, optional mixed precision).

Per optimizer step it runs `gradient_accumulation_steps` global micro-batches. Each process's loss is weighted by its
share of the global loss terms (tokens, clips), so the gradient equals the single-process gradient of the global
batch's mean loss whatever the number of processes. The data order is a function of (seed, epoch) and every
checkpoint stores the step, epoch and batch position plus Accelerate's model / optimizer / RNG state, so `--resume`
continues exactly where the run stopped.
"""

import contextlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, send_to_device, set_seed
from tqdm.auto import tqdm

from .checkpointing import CheckpointError, TrainerState, latest_checkpoint, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLogger
from .nonfinite import NonFiniteGuard, NonFiniteLossError
from .optim import build_optimizer, build_scheduler
from .periodic_eval import evaluate
from .recipe import Recipe
from .sampler import ResumableBatchSampler
from .freezing import ADIFF_GROUPS
from .data.loader import build_train_loader
from .stages import AdiffStage, build_stage

logger = logging.getLogger(__name__)

FINAL_DIR = "final"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message names the last complete checkpoint and how to resume from it."""


def _interrupted(output_dir: Path, step: int) -> TrainingInterrupted:
    checkpoint = latest_checkpoint(output_dir)
    where = (f"the last complete checkpoint is {checkpoint}; rerun the same command with --resume to continue from it"
             if checkpoint is not None else "no checkpoint was written yet (see train.save_every), so a rerun starts "
             "from scratch")
    return TrainingInterrupted(f"training interrupted at optimizer step {step}; {where}.")


def _refuse_to_overwrite(output_dir: Path, resume) -> None:
    """A finished run's `final/` is never replaced silently: only `--resume` (which then does nothing) may meet it."""
    if not resume and (output_dir / FINAL_DIR / "training_recipe.json").is_file():
        raise FileExistsError(f"{output_dir} already holds a finished run ({output_dir / FINAL_DIR}); a fresh run "
                              "would overwrite it. Give another output_dir (--output_dir DIR), delete the folder to "
                              "retrain, or pass --resume to keep it.")


def _save_final(stage, model, accelerator, output_dir: Path, recipe: Recipe) -> Path:
    """Write the final `save_pretrained` folder atomically (`final.tmp` renamed to `final`)."""
    final, temp = output_dir / FINAL_DIR, output_dir / f"{FINAL_DIR}.tmp"
    if accelerator.is_main_process and temp.exists():
        shutil.rmtree(temp)
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    try:
        if recipe.lora.enabled and hasattr(unwrapped, "merge_and_unload"):
            from .lora import merge_lora, save_adapter

            save_adapter(unwrapped, output_dir / "adapter", accelerator.is_main_process)
            if recipe.lora.merge_on_export:
                unwrapped = merge_lora(unwrapped)
        stage.save_final(unwrapped, temp, accelerator)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (temp / "training_recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2, default=str),
                                                       encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(temp, final)
    except OSError as error:
        raise CheckpointError(f"Could not write the final model folder {final}: {error}. Checkpoints under "
                              f"{output_dir / 'checkpoints'} are kept; fix the cause and rerun with "
                              "--resume.") from error
    accelerator.wait_for_everyone()
    return final


def _trained_module_names(model, stage) -> list[str]:
    modules = dict(model.named_modules())
    groups = [g for g in stage.trainable_groups() if g != "language_model"]
    return [name for g in groups for name in ADIFF_GROUPS[g] if name in modules and modules[name] is not None]


def _cpu_data_parallel() -> bool:
    """True for a multi-process launch on a machine without accelerators (`accelerate launch --num_processes N` on
    CPUs): Accelerate then needs `cpu=True` to set up gloo data parallelism instead of N unrelated runs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world > 1 and not torch.cuda.is_available() and not torch.backends.mps.is_available()


@dataclass
class _Run:
    """What one stage's optimizer steps work with, built once by `_prepare_run`."""

    recipe: Recipe
    stage: object
    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    sampler: ResumableBatchSampler
    loader: torch.utils.data.DataLoader
    prepare_batch: object  # batch on the device -> the model's inputs (the data's `on_device`, e.g. log-mels)
    eval_data: object
    trainable: list
    steps_per_epoch: int
    total_steps: int
    output_dir: Path
    guard: NonFiniteGuard | None = None  # built once a resumed checkpoint has restored the optimizer's groups

    @property
    def accumulation(self) -> int:
        return self.recipe.train.gradient_accumulation_steps


@dataclass
class _LogWindow:
    """Loss terms and items since the last logged step; the terms stay on the device until the log reads them."""

    terms: torch.Tensor | float = 0.0  # (sum of losses, count)
    items: int = 0
    time: float = field(default_factory=time.perf_counter)


def train(recipe: Recipe, resume: str | bool | None = None) -> Path:
    """Run one stage; returns its final `save_pretrained` folder.

    Args:
        recipe (`Recipe`): the stage recipe.
        resume: `True` continues from the newest complete checkpoint in `output_dir` (starting fresh when there is
            none); a path continues from that checkpoint; `None`/`False` starts fresh.
    """
    output_dir = Path(recipe.output_dir)
    _refuse_to_overwrite(output_dir, resume)
    accelerator = Accelerator(mixed_precision=recipe.train.mixed_precision, cpu=_cpu_data_parallel())
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_seed(recipe.train.seed)
    stage = build_stage(recipe)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2, default=str), encoding="utf-8")
    if resume and (output_dir / FINAL_DIR / "training_recipe.json").is_file():
        logger.info("Stage %s already finished (%s exists); nothing to resume", recipe.stage, output_dir / FINAL_DIR)
        return output_dir / FINAL_DIR
    model = stage.build_model()
    if stage.pretrained_only:
        logger.info("Stage %s: init.pretrained given, exporting it without training", recipe.stage)
        return _save_final(stage, model, accelerator, output_dir, recipe)

    run = _prepare_run(recipe, stage, _with_lora(model, stage, recipe), accelerator, output_dir)
    state = _start_state(accelerator, output_dir, resume)
    run.guard = NonFiniteGuard(run.optimizer, accelerator.device, output_dir)  # after resuming: its optimizer groups
    metrics_log = MetricsLogger(output_dir, enabled=accelerator.is_main_process, tensorboard=recipe.train.tensorboard)
    metrics_log.drop_after(state.global_step)  # rows an interrupted run wrote after its checkpoint come again
    logger.info("Stage %s: %d items, %d optimizer steps (%d per epoch), global batch %d x %d accumulation, "
                "%d process(es), %.2f M trainable parameters", recipe.stage, len(run.loader.dataset),
                run.total_steps, run.steps_per_epoch, recipe.train.batch_size, run.accumulation,
                accelerator.num_processes, sum(p.numel() for p in run.trainable) / 1e6)

    stage.set_train_mode(run.model)
    progress = tqdm(total=run.total_steps, initial=state.global_step, desc=f"{recipe.stage}",
                    disable=not accelerator.is_main_process)
    window = _LogWindow()
    try:
        while state.global_step < run.total_steps:
            run.sampler.set_epoch(state.epoch, state.batch_in_epoch)
            batches = iter(run.loader)
            while state.global_step < run.total_steps and not _epoch_done(run, state):
                step_loss = _accumulate_gradients(run, batches, window)
                grad_norm = _optimizer_step(run, state, step_loss)
                window.terms = window.terms + step_loss  # no host sync: read at the next log
                progress.update(1)
                window = _after_step(run, state, metrics_log, window, grad_norm, progress)
            if _epoch_done(run, state):
                state.epoch += 1
                state.batch_in_epoch = 0
    except KeyboardInterrupt:
        raise _interrupted(output_dir, state.global_step) from None
    finally:
        progress.close()
    _log_eval(stage, run.model, run.eval_data, accelerator, recipe, metrics_log, state, state.global_step)
    final = _save_final(stage, run.model, accelerator, output_dir, recipe)
    metrics_log.close()
    logger.info("Stage %s done: %s", recipe.stage, final)
    return final


def _with_lora(model, stage, recipe: Recipe):
    """`model` with LoRA adapters on the stage's trained modules when `lora.enabled`, else `model` itself."""
    if not recipe.lora.enabled:
        return model
    if not isinstance(stage, AdiffStage):
        raise ValueError(f"LoRA applies to the ADIFF stages (grounding, finetune), not to stage {recipe.stage!r}.")
    from .lora import apply_lora

    return apply_lora(model, recipe.lora, _trained_module_names(model, stage))


def _prepare_run(recipe: Recipe, stage, model, accelerator: Accelerator, output_dir: Path) -> _Run:
    """Data, batch sampler, DataLoader, optimizer and scheduler, prepared by Accelerate."""
    # Every process reads the (read-only) data itself; the embedding cache splits missing clips across processes and
    # synchronises them, so no main-process-first barrier is needed (it would pair with the cache's barrier wrongly).
    train_data, eval_data = stage.build_data(model, accelerator)
    lengths = None
    if recipe.train.group_by_length:
        if not hasattr(train_data, "lengths"):
            raise ValueError(f"train.group_by_length is set, but stage {recipe.stage!r} has items of one length "
                             "(fixed-length audio clips); remove train.group_by_length from the recipe.")
        lengths = train_data.lengths()
    sampler = ResumableBatchSampler(len(train_data), recipe.train.batch_size, seed=recipe.train.seed, shuffle=True,
                                    drop_last=True, rank=accelerator.process_index,
                                    world_size=accelerator.num_processes, lengths=lengths)
    loader = build_train_loader(train_data, sampler, recipe.train, accelerator.device)
    prepare_batch = getattr(train_data, "on_device", lambda batch: batch)
    accumulation = recipe.train.gradient_accumulation_steps
    steps_per_epoch = len(sampler) // accumulation
    if steps_per_epoch < 1:
        raise ValueError(f"One epoch has {len(sampler)} global batches, fewer than gradient_accumulation_steps="
                         f"{accumulation}; lower train.batch_size or gradient_accumulation_steps.")
    total_steps = recipe.train.max_steps or max(1, round(recipe.train.epochs * steps_per_epoch))

    optimizer = build_optimizer(model, recipe.optim, fused=_fused_optimizer(recipe, accelerator))
    scheduler = build_scheduler(optimizer, recipe.optim, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return _Run(recipe, stage, accelerator, model, optimizer, scheduler, sampler, loader, prepare_batch, eval_data,
                trainable, steps_per_epoch, total_steps, output_dir)


def _fused_optimizer(recipe: Recipe, accelerator: Accelerator) -> bool:
    """Fused AdamW (which skips non-finite steps on the device, see `training.nonfinite`) where it is known to work:
    CPU or CUDA, one process or DDP, no fp16 GradScaler (which sets the same `found_inf` itself)."""
    return (accelerator.device.type in ("cpu", "cuda") and recipe.train.mixed_precision != "fp16"
            and accelerator.distributed_type in (DistributedType.NO, DistributedType.MULTI_GPU,
                                                 DistributedType.MULTI_CPU))


def _start_state(accelerator: Accelerator, output_dir: Path, resume) -> TrainerState:
    """A fresh `TrainerState`, or the one of the checkpoint `resume` names (with the model / optimizer / RNG state)."""
    state = TrainerState()
    if resume:
        folder = latest_checkpoint(output_dir) if resume is True else Path(resume)
        if folder is None:
            logger.info("--resume: no checkpoint in %s yet, starting from scratch", output_dir)
        else:
            load_checkpoint(accelerator, folder, state)
    return state


def _epoch_done(run: _Run, state: TrainerState) -> bool:
    """True when the epoch has no full optimizer step of batches left."""
    return state.batch_in_epoch + run.accumulation > run.steps_per_epoch * run.accumulation


def _accumulate_gradients(run: _Run, batches, window: _LogWindow) -> torch.Tensor:
    """Forward and backward over one optimizer step's micro-batches; returns the global `(sum of losses, count)`."""
    accelerator, accumulation = run.accelerator, run.accumulation
    step_loss = torch.zeros(2, device=accelerator.device)  # (sum of losses, count), this process
    for micro in range(accumulation):
        batch = run.prepare_batch(send_to_device(next(batches), accelerator.device,
                                                 non_blocking=run.loader.pin_memory))
        sync = micro == accumulation - 1
        with (contextlib.nullcontext() if sync else accelerator.no_sync(run.model)), accelerator.autocast():
            loss, count = run.stage.loss(run.model, batch)
            count = count.float()
            global_count = accelerator.reduce(count.detach().clone(), reduction="sum")
            # DDP averages gradients over processes: scale so the result is the global-batch mean.
            scaled = loss * count * accelerator.num_processes / global_count.clamp_min(1) / accumulation
        accelerator.backward(scaled)
        step_loss += torch.stack((loss.detach().float() * count, count))
        window.items += run.recipe.train.batch_size
    return accelerator.reduce(step_loss, reduction="sum")


def _optimizer_step(run: _Run, state: TrainerState, step_loss: torch.Tensor):
    """Clip, refuse a non-finite loss or gradient (`training.nonfinite`: on the device where the optimizer allows),
    step the optimizer and scheduler; returns the gradient norm (or `None` without clipping)."""
    grad_norm = None
    if run.recipe.optim.max_grad_norm is not None:
        grad_norm = run.accelerator.clip_grad_norm_(run.trainable, run.recipe.optim.max_grad_norm)
    run.guard.check(step_loss, grad_norm, state.global_step + 1, state.epoch, state.batch_in_epoch)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    state.global_step += 1
    state.batch_in_epoch += run.accumulation
    return grad_norm


def _after_step(run: _Run, state: TrainerState, metrics_log: MetricsLogger, window: _LogWindow, grad_norm,
                progress) -> _LogWindow:
    """Log, checkpoint and evaluate when the step calls for it; returns the log window to continue with."""
    step, train_config = state.global_step, run.recipe.train
    log = step % train_config.log_every == 0 or step == run.total_steps
    save = train_config.save_every and step % train_config.save_every == 0 and step < run.total_steps
    evaluate_now = train_config.eval_every and step % train_config.eval_every == 0 and step < run.total_steps
    if log or save or evaluate_now:
        run.guard.raise_if_flagged()  # before anything is logged or saved
    if log:
        elapsed = time.perf_counter() - window.time
        loss_sum, count = window.terms.tolist()
        record = {"train/loss": loss_sum / max(count, 1e-9),
                  "train/lr": run.scheduler.get_last_lr()[0], "train/epoch": state.epoch,
                  "train/samples_per_s": window.items / max(elapsed, 1e-9)}
        if grad_norm is not None:
            record["train/grad_norm"] = float(grad_norm)
        if run.accelerator.device.type == "cuda":
            record["train/peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated(run.accelerator.device) / 2**30
        metrics_log.log(step, record)
        progress.set_postfix(loss=f"{record['train/loss']:.4f}")
        window = _LogWindow()
    if save:
        save_checkpoint(run.accelerator, state, run.output_dir, train_config.keep_checkpoints)
    if evaluate_now:
        _log_eval(run.stage, run.model, run.eval_data, run.accelerator, run.recipe, metrics_log, state, step)
    return window


def _log_eval(stage, model, eval_data, accelerator, recipe, metrics_log, state, step) -> None:
    metrics = evaluate(stage, model, eval_data, accelerator, recipe)
    if not metrics:
        return
    loss = metrics.get("eval/loss")
    if loss is not None and math.isfinite(loss) and (state.best_eval_loss is None or loss < state.best_eval_loss):
        state.best_eval_loss = loss
    metrics_log.log(step, metrics)
    if accelerator.is_main_process:
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items() if k != "samples"}
        logger.info("step %d eval: %s", step, shown)
        for sample in metrics.get("samples", [])[:2]:
            logger.info("  sample: %s", sample)


__all__ = ["train", "NonFiniteLossError", "TrainingInterrupted", "FINAL_DIR"]
