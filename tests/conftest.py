"""Shared fixtures: one thread, a tiny offline GPT-2-style tokenizer and a tiny ADIFF config."""

import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)

FIXTURES = REPO_ROOT / "tests" / "fixtures"

_CORPUS = [
    "Audio 1 has a loud siren while Audio 2 is a calm room with soft rain.",
    "Both audios contain birds chirping, but Audio 2 is more reverberant and muffled.",
    "explain the difference in few words",
    "explain the difference in a sentence",
    "explain the difference in detail",
    "caption the first audio",
    "caption the second audio",
    "caption both the audios",
    "The first recording is dry and quiet; the second one is noisy, busy and urgent.",
]


def build_tiny_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer in GPT-2's format, trained in memory (no Hub access)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_CORPUS * 4, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="!")
    return tokenizer


def build_tiny_config(tokenizer=None, **overrides):
    """A tiny ADIFF config (about 0.5 M parameters) whose separator is the tokenizer's <|endoftext|>."""
    from configuration_adiff import AdiffConfig

    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    kwargs = dict(
        audio_config=dict(patch_embeds_hidden_size=16, hidden_size=128, depths=[1, 1, 1, 1],
                          num_attention_heads=[1, 2, 4, 8], num_classes=5),
        text_config=dict(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=256,
                         bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id),
        projection_dim=16, prefix_length=4, clip_length=8, prompt_length=8, mapper_num_layers=1,
        mapper_num_heads=4, cross_projection_num_layers=1, cross_projection_num_heads=4,
        separator_token_id=tokenizer.eos_token_id, num_event_classes=5,
    )
    kwargs.update(overrides)
    return AdiffConfig(**kwargs)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture()
def tiny_config(tiny_tokenizer):
    return build_tiny_config(tiny_tokenizer)
