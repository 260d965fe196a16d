"""Helpers for the training tests: a tiny SynthDiff corpus and tokenizer (built once per session and reused), tiny
tower settings and a recipe writer for the four stages."""

import os
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY_AUDIO = {"patch_embeds_hidden_size": 8, "hidden_size": 64, "depths": [1, 1, 1, 1],
              "num_attention_heads": [1, 1, 2, 2]}
TINY_TEXT = {"n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 320}
TINY_ADIFF = {"projection_dim": 16, "prefix_length": 2, "prompt_length": "auto", "clip_length": "auto",
              "mapper_num_layers": 1, "mapper_num_heads": 2, "cross_projection_num_layers": 1,
              "cross_projection_num_heads": 2}


def build_corpus(folder: Path) -> Path:
    """A SynthDiff corpus of 16/4/4 pairs (plus train_reversed) at 8 kHz, 2 s (the feature extractor tiles clips to
    10 s), plus a tokenizer trained on its text and every prompt paraphrase; built once, reused when already there."""
    from processing_adiff import PROMPT_PARAPHRASES
    from training.synthdiff import generate_corpus
    from training.tokenizer import corpus_texts, train_tokenizer

    if not (folder / "tokenizer" / "tokenizer.json").is_file():
        generate_corpus(folder, splits={"train": 16, "validation": 4, "test": 4}, seed=0, sample_rate=8000,
                        seconds=2.0, caption_rows=1, reversed_splits=["train"])
        texts = list(corpus_texts([folder])) + [t for texts in PROMPT_PARAPHRASES.values() for t in texts]
        train_tokenizer(texts, vocab_size=400).save_pretrained(folder / "tokenizer")
    return folder


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.getbasetemp() / "training_synth_corpus")


def stage_recipe(stage: str, output_dir: Path, corpus: Path, **sections) -> dict:
    """A tiny recipe mapping for `stage`; keyword sections (e.g. `train={...}`) update the defaults."""
    recipe = {
        "stage": stage,
        "output_dir": str(output_dir),
        "data": {"corpus": str(corpus), "max_eval_rows": 8},
        "train": {"max_steps": 3, "batch_size": 4, "log_every": 1, "seed": 0, "tensorboard": False},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "eval": {"max_batches": 1, "num_samples": 1, "max_new_tokens": 4},
    }
    if stage == "tagger":
        recipe["model"] = {"audio_config": dict(TINY_AUDIO)}
    elif stage == "lm":
        recipe["model"] = {"text_config": dict(TINY_TEXT)}
        recipe["init"] = {"tokenizer": str(corpus / "tokenizer")}
    elif stage == "grounding":
        recipe["model"] = dict(TINY_ADIFF)
        recipe["data"].update(caption_ratio=0.2, embedding_cache=str(corpus / "embedding_cache"))
    else:
        recipe["data"].update(caption_ratio=0.2, embedding_cache=str(corpus / "embedding_cache"))
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(recipe.get(name), dict):
            recipe[name].update(values)
        else:
            recipe[name] = values
    return recipe


def save_tiny_towers(root: Path, corpus: Path) -> dict:
    """Untrained tiny towers saved like stage-1 outputs; returns the grounding stage's `init` section."""
    import torch
    from transformers import AutoTokenizer, ClapAudioConfig, ClapAudioModel, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    ClapAudioModel(ClapAudioConfig(**TINY_AUDIO)).save_pretrained(root / "encoder")
    tokenizer = AutoTokenizer.from_pretrained(corpus / "tokenizer")
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), **TINY_TEXT)).save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    return {"audio_encoder": str(root / "encoder"), "language_model": str(root / "lm")}


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def subprocess_env() -> dict:
    """Environment for training subprocesses: one thread, offline, the repository importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO_ROOT))
    return env


PYTHON = sys.executable
TRAIN_SCRIPT = str(REPO_ROOT / "training" / "train.py")
