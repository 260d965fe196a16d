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
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import send_to_device, set_seed
from tqdm.auto import tqdm

from .checkpointing import CheckpointError, TrainerState, latest_checkpoint, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLogger
from .optim import build_optimizer, build_scheduler
from .periodic_eval import evaluate
from .recipe import Recipe
from .sampler import ResumableBatchSampler
from .freezing import ADIFF_GROUPS
from .loader import build_train_loader
from .stages import AdiffStage, build_stage

logger = logging.getLogger(__name__)

FINAL_DIR = "final"


class NonFiniteLossError(RuntimeError):
    """The loss (or gradient norm) became NaN or infinite; the run stopped without saving the bad weights."""


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


def _finite(value: torch.Tensor) -> bool:
    return bool(torch.isfinite(value).all())


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
    if recipe.lora.enabled:
        if not isinstance(stage, AdiffStage):
            raise ValueError(f"LoRA applies to the ADIFF stages (grounding, finetune), not to stage {recipe.stage!r}.")
        from .lora import apply_lora

        model = apply_lora(model, recipe.lora, _trained_module_names(model, stage))

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
    accumulation = recipe.train.gradient_accumulation_steps
    steps_per_epoch = len(sampler) // accumulation
    if steps_per_epoch < 1:
        raise ValueError(f"One epoch has {len(sampler)} global batches, fewer than gradient_accumulation_steps="
                         f"{accumulation}; lower train.batch_size or gradient_accumulation_steps.")
    total_steps = recipe.train.max_steps or max(1, round(recipe.train.epochs * steps_per_epoch))

    optimizer = build_optimizer(model, recipe.optim)
    scheduler = build_scheduler(optimizer, recipe.optim, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    trainable = [p for p in model.parameters() if p.requires_grad]

    state = TrainerState()
    if resume:
        folder = latest_checkpoint(output_dir) if resume is True else Path(resume)
        if folder is None:
            logger.info("--resume: no checkpoint in %s yet, starting from scratch", output_dir)
        else:
            load_checkpoint(accelerator, folder, state)
    metrics_log = MetricsLogger(output_dir, enabled=accelerator.is_main_process, tensorboard=recipe.train.tensorboard)
    metrics_log.drop_after(state.global_step)  # rows an interrupted run wrote after its checkpoint come again
    logger.info("Stage %s: %d items, %d optimizer steps (%d per epoch), global batch %d x %d accumulation, "
                "%d process(es), %.2f M trainable parameters", recipe.stage, len(train_data), total_steps,
                steps_per_epoch, recipe.train.batch_size, accumulation, accelerator.num_processes,
                sum(p.numel() for p in trainable) / 1e6)

    stage.set_train_mode(model)
    progress = tqdm(total=total_steps, initial=state.global_step, desc=f"{recipe.stage}",
                    disable=not accelerator.is_main_process)
    window = {"loss": 0.0, "count": 0.0, "items": 0, "time": time.perf_counter()}
    try:
        while state.global_step < total_steps:
            sampler.set_epoch(state.epoch, state.batch_in_epoch)
            batches = iter(loader)
            while (state.global_step < total_steps
                   and state.batch_in_epoch + accumulation <= steps_per_epoch * accumulation):
                step_loss = torch.zeros(2, device=accelerator.device)  # (sum of losses, count), this process
                for micro in range(accumulation):
                    items = next(batches)
                    batch = send_to_device(items, accelerator.device, non_blocking=loader.pin_memory)
                    sync = micro == accumulation - 1
                    with (contextlib.nullcontext() if sync else accelerator.no_sync(model)), accelerator.autocast():
                        loss, count = stage.loss(model, batch)
                        count = count.float()
                        global_count = accelerator.reduce(count.detach().clone(), reduction="sum")
                        # DDP averages gradients over processes: scale so the result is the global-batch mean.
                        scaled = loss * count * accelerator.num_processes / global_count.clamp_min(1) / accumulation
                    accelerator.backward(scaled)
                    step_loss += torch.stack((loss.detach().float() * count, count))
                    window["items"] += recipe.train.batch_size
                step_loss = accelerator.reduce(step_loss, reduction="sum")
                grad_norm = None
                if recipe.optim.max_grad_norm is not None:
                    grad_norm = accelerator.clip_grad_norm_(trainable, recipe.optim.max_grad_norm)
                if not _finite(step_loss) or (grad_norm is not None and not _finite(grad_norm)):
                    bad = step_loss if not _finite(step_loss) else grad_norm
                    raise NonFiniteLossError(
                        f"The {'loss' if bad is step_loss else 'gradient norm'} became "
                        f"{'NaN' if torch.isnan(bad).any() else 'infinite'} at optimizer step {state.global_step + 1} "
                        f"(epoch {state.epoch}, batch {state.batch_in_epoch}); training stopped and these weights "
                        f"were not saved. The last good checkpoint is "
                        f"{latest_checkpoint(output_dir) or 'none (no checkpoint was written yet)'}. Lower optim.lr, "
                        "enable gradient clipping (optim.max_grad_norm) or use mixed_precision: bf16 instead of fp16, "
                        "then rerun with --resume.")
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
                state.batch_in_epoch += accumulation
                window["loss"] += float(step_loss[0])
                window["count"] += float(step_loss[1])
                progress.update(1)

                step = state.global_step
                if step % recipe.train.log_every == 0 or step == total_steps:
                    elapsed = time.perf_counter() - window["time"]
                    record = {"train/loss": window["loss"] / max(window["count"], 1e-9),
                              "train/lr": scheduler.get_last_lr()[0], "train/epoch": state.epoch,
                              "train/samples_per_s": window["items"] / max(elapsed, 1e-9)}
                    if grad_norm is not None:
                        record["train/grad_norm"] = float(grad_norm)
                    if accelerator.device.type == "cuda":
                        peak = torch.cuda.max_memory_allocated(accelerator.device)
                        record["train/peak_gpu_memory_gb"] = peak / 2**30
                    metrics_log.log(step, record)
                    progress.set_postfix(loss=f"{record['train/loss']:.4f}")
                    window = {"loss": 0.0, "count": 0.0, "items": 0, "time": time.perf_counter()}
                if recipe.train.save_every and step % recipe.train.save_every == 0 and step < total_steps:
                    save_checkpoint(accelerator, state, output_dir, recipe.train.keep_checkpoints)
                if recipe.train.eval_every and step % recipe.train.eval_every == 0 and step < total_steps:
                    _log_eval(stage, model, eval_data, accelerator, recipe, metrics_log, state, step)
            if state.batch_in_epoch + accumulation > steps_per_epoch * accumulation:
                state.epoch += 1
                state.batch_in_epoch = 0
    except KeyboardInterrupt:
        raise _interrupted(output_dir, state.global_step) from None
    finally:
        progress.close()
    _log_eval(stage, model, eval_data, accelerator, recipe, metrics_log, state, state.global_step)
    final = _save_final(stage, model, accelerator, output_dir, recipe)
    metrics_log.close()
    logger.info("Stage %s done: %s", recipe.stage, final)
    return final


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
