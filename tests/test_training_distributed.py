"""Data parallelism: the same script under `accelerate launch --num_processes 2` (CPU processes, gloo) gives the loss
curve and weights of one process with the same global batch."""

import subprocess

import pytest
import torch
from training_testing import (PYTHON, TINY_AUDIO, TINY_TEXT, TRAIN_SCRIPT, stage_recipe, subprocess_env,  # noqa: F401
                              synth_corpus, write_recipe)

from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import recipe_from_dict

torch.set_num_threads(1)
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def test_two_processes_match_one_process_with_the_same_global_batch(synth_corpus, tmp_path):  # noqa: F811
    from transformers import AutoTokenizer, ClapAudioConfig, ClapAudioModel, GPT2Config, GPT2LMHeadModel

    # Dropout would draw different masks for 2 half batches than for 1 full batch, so it is off here.
    torch.manual_seed(0)
    ClapAudioModel(ClapAudioConfig(**TINY_AUDIO)).save_pretrained(tmp_path / "encoder")
    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), **TINY_TEXT, **NO_DROPOUT)).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")

    def recipe(out):
        base = stage_recipe("grounding", out, synth_corpus)
        return stage_recipe("grounding", out, synth_corpus,
                            init={"audio_encoder": str(tmp_path / "encoder"), "language_model": str(tmp_path / "lm")},
                            model={**base["model"], "projection_dropout": 0.0},
                            train={"max_steps": 4, "batch_size": 4, "gradient_accumulation_steps": 2},
                            eval={"max_batches": 2, "num_samples": 0})

    single = train(recipe_from_dict(recipe(tmp_path / "one")))
    path = write_recipe(tmp_path / "two.yaml", recipe(tmp_path / "two"))
    # On a machine without GPUs, Accelerate starts N processes through torchrun with --multi_gpu; the script then
    # selects CPU data parallelism (gloo).
    command = [PYTHON, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
               "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
               TRAIN_SCRIPT, "--config", str(path)]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stderr, "the launch did not run data-parallel"

    def curve(folder):
        return [r["train/loss"] for r in read_metrics(folder) if "train/loss" in r]

    one, two = curve(tmp_path / "one"), curve(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert one == pytest.approx(two, rel=1e-5)
    assert len(set(one)) > 1  # the curve moves: the steps trained
    eval_one = [r["eval/loss"] for r in read_metrics(tmp_path / "one") if "eval/loss" in r]
    eval_two = [r["eval/loss"] for r in read_metrics(tmp_path / "two") if "eval/loss" in r]
    assert eval_one == pytest.approx(eval_two, rel=1e-5)
    # Weights are not compared element by element: with this tiny model many gradients are below Adam's eps, where
    # float summation order (one batch vs an all-reduce of two halves) flips update signs without changing the loss.
    assert (single / "model.safetensors").is_file() and (tmp_path / "two" / "final" / "model.safetensors").is_file()
