"""The paper-size recipes (training/recipes/paper_base) and the Accelerate configs: the recipes hold the official
sizes and PAPER.md's hyper-parameters, and all four stages run from these very files at tiny size, stage 2 through
`accelerate launch --config_file training/accelerate_configs/ddp.yaml` on 2 CPU processes."""

import json
import subprocess

import numpy as np
import torch
from accelerate.commands.config.config_args import load_config_from_file
from training_testing import (PYTHON, REPO_ROOT, TINY_ADIFF, TINY_AUDIO, TINY_TEXT, TRAIN_SCRIPT,  # noqa: F401
                              subprocess_env, synth_corpus)
from transformers import ClapAudioConfig, GPT2Config

from configuration_adiff import AdiffConfig
from modeling_adiff import AdiffForConditionalGeneration
from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import load_recipe

torch.set_num_threads(1)
RECIPES = REPO_ROOT / "training" / "recipes" / "paper_base"
CONFIGS = REPO_ROOT / "training" / "accelerate_configs"
ADIFF_SIZES = ("projection_dim", "projection_dropout", "prefix_length", "prompt_length", "clip_length",
               "mapper_num_layers", "mapper_num_heads", "mapper_mlp_ratio", "share_audio_mapper",
               "cross_projection_num_layers", "cross_projection_num_heads")


def test_recipes_hold_the_official_sizes_and_the_papers_hyper_parameters():
    tagger, lm, grounding, finetune = (load_recipe(RECIPES / f"{name}.yaml")
                                       for name in ("stage1_encoder", "stage1_lm", "stage2", "stage3"))
    htsat, gpt2 = ClapAudioConfig(**tagger.model["audio_config"]), GPT2Config(**lm.model["text_config"])
    default_htsat = ClapAudioConfig()
    for key in ("patch_embeds_hidden_size", "hidden_size", "depths", "num_attention_heads", "window_size"):
        assert list(np.atleast_1d(getattr(htsat, key))) == list(np.atleast_1d(getattr(default_htsat, key))), key
    assert (gpt2.n_embd, gpt2.n_layer, gpt2.n_head, gpt2.n_positions, gpt2.vocab_size) == (768, 12, 12, 1024, 50257)
    official = AdiffConfig()  # the defaults are the official base model (PAPER.md §3)
    assert {k: grounding.model[k] for k in ADIFF_SIZES} == {k: getattr(official, k) for k in ADIFF_SIZES}
    assert official.total_prefix_length == 121
    assert grounding.stage == "grounding" and grounding.train.epochs == 30  # "30 epochs on 8 A100s"
    assert finetune.optim.lr == 1e-6 and finetune.optim.schedule == "cosine" and finetune.optim.warmup_ratio > 0
    assert finetune.train.epochs <= 10 and "audio_encoder" not in finetune.model["trainable"]  # HTSAT stays frozen
    for recipe in (tagger, lm, grounding, finetune):
        assert recipe.train.mixed_precision == "bf16" and recipe.output_dir.startswith("runs/adiff-paper-base/")
    assert tagger.train.num_workers > 0 and grounding.train.num_workers > 0  # audio / collation off the hot loop


def test_accelerate_configs_parse_and_wrap_the_models_own_layers():
    ddp, fsdp = load_config_from_file(str(CONFIGS / "ddp.yaml")), load_config_from_file(str(CONFIGS / "fsdp.yaml"))
    assert (ddp.distributed_type, ddp.mixed_precision) == ("MULTI_GPU", "bf16")
    assert (fsdp.distributed_type, fsdp.mixed_precision) == ("FSDP", "bf16")
    wrapped = fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(",")
    assert sorted(wrapped) == sorted(AdiffForConditionalGeneration._no_split_modules)


def _tiny(corpus, out, stage: str, **init) -> list[str]:
    """`--set` overrides that shrink a paper_base recipe to tiny towers, a tiny corpus and two steps."""
    sets = {"output_dir": out / stage, "data.corpus": corpus, "train.max_steps": 2, "train.batch_size": 4,
            "train.log_every": 1, "train.eval_every": None, "train.save_every": None, "train.tensorboard": False,
            "train.mixed_precision": "no", "eval.max_batches": 1, "eval.num_samples": 1, "eval.max_new_tokens": 4,
            "data.max_eval_rows": 8, "data.embedding_cache": out / "cache"}
    sets.update({f"init.{key}": value for key, value in init.items()})
    if stage == "stage1_encoder":
        sets.update({"model.audio_config": TINY_AUDIO, "train.num_workers": 2})
    elif stage == "stage1_lm":
        sets.update({"model.text_config": TINY_TEXT, "train.mixed_precision": "bf16"})  # bf16 autocast on the CPU
    elif stage == "stage2":
        sets.update({f"model.{key}": value for key, value in TINY_ADIFF.items()})
        sets["train.num_workers"] = 1
    else:
        sets["train.num_workers"] = 1
    return [f"{key}={json.dumps(str(value) if hasattr(value, 'parent') else value)}"  # paths as strings
            for key, value in sets.items()]


def test_paper_recipes_run_stage_1a_to_3_with_two_processes_for_stage_2(synth_corpus, tmp_path):  # noqa: F811
    encoder = train(load_recipe(RECIPES / "stage1_encoder.yaml", _tiny(synth_corpus, tmp_path, "stage1_encoder")))
    # Stage 1b in its own process: bf16 autocast on the CPU (the Accelerator state of this process is fp32).
    lm_sets = _tiny(synth_corpus, tmp_path, "stage1_lm", tokenizer=str(synth_corpus / "tokenizer"))
    result = subprocess.run([PYTHON, TRAIN_SCRIPT, "--config", str(RECIPES / "stage1_lm.yaml"),
                             *[arg for item in lm_sets for arg in ("--set", item)]],
                            env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lm = tmp_path / "stage1_lm" / "final"
    launch = [PYTHON, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "ddp.yaml"),
              "--num_processes", "2", "--mixed_precision", "no", "--main_process_port", "29534", TRAIN_SCRIPT]
    towers = {"audio_encoder": str(encoder), "language_model": str(lm)}
    stage2 = [arg for item in _tiny(synth_corpus, tmp_path, "stage2", **towers) for arg in ("--set", item)]
    result = subprocess.run([*launch, "--config", str(RECIPES / "stage2.yaml"), *stage2], env=subprocess_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stderr, "stage 2 did not run data-parallel"
    final = train(load_recipe(RECIPES / "stage3.yaml", _tiny(synth_corpus, tmp_path, "stage3",
                                                             from_pretrained=str(tmp_path / "stage2" / "final"))))
    for stage in ("stage1_encoder", "stage1_lm", "stage2", "stage3"):
        losses = [r["train/loss"] for r in read_metrics(tmp_path / stage) if "train/loss" in r]
        assert len(losses) == 2 and all(np.isfinite(losses)), stage
    assert json.loads((tmp_path / "stage1_lm" / "recipe.json").read_text())["train"]["mixed_precision"] == "bf16"
    trained = AdiffForConditionalGeneration.from_pretrained(final)
    assert trained.config.prefix_length == TINY_ADIFF["prefix_length"]
    assert trained.config.projection_dropout == 0.5 and trained.config.share_audio_mapper is False  # the recipe's
