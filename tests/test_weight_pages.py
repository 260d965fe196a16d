"""Giving back the memory of memory-mapped weights between phases (`modeling_adiff/weight_pages.py`): resident
pages are released, values never change, pages changed in place and weights in anonymous memory are kept, and
`generate` gives the same tokens with and without it."""

import sys

import numpy as np
import pytest
import torch
from conftest import build_tiny_config
from torch import nn

from modeling_adiff import AdiffForConditionalGeneration
from modeling_adiff.weight_pages import release_resident_pages
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pages are released on Linux only")
MIB = 2**20


def rss_file_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:")) / 1024


def mapped_linear(tmp_path, side: int = 1024) -> nn.Linear:
    """A linear layer whose 4 MiB weight is a private, writable mapping of a file, as safetensors maps weights."""
    path = tmp_path / "weight.bin"
    np.random.default_rng(0).standard_normal((side, side)).astype(np.float32).tofile(path)
    layer = nn.Linear(side, side, bias=False)
    layer.weight = nn.Parameter(torch.from_numpy(np.memmap(path, dtype=np.float32, mode="c", shape=(side, side))),
                                requires_grad=False)
    return layer


@linux_only
def test_resident_pages_of_a_mapped_weight_are_released_and_read_back_unchanged(tmp_path):
    layer = mapped_linear(tmp_path)
    expected = layer.weight.clone()  # reading it makes every page resident
    before = rss_file_mib()
    released = release_resident_pages([layer])
    assert released >= 4 * MIB - 2 * 4096  # all but the partial pages at either end
    assert rss_file_mib() < before - 3  # the kernel really unmapped them
    assert torch.equal(layer.weight, expected)  # and maps the file's bytes again on the next read
    assert release_resident_pages([layer]) >= 4 * MIB - 2 * 4096  # read again -> resident again


@linux_only
def test_pages_written_in_place_are_kept(tmp_path):
    layer = mapped_linear(tmp_path)
    with torch.no_grad():
        layer.weight[:8].add_(1.0)  # 32 KiB: the first pages become this process's private copies
    expected = layer.weight.clone()
    released = release_resident_pages([layer])
    assert 0 < released <= 4 * MIB - 32 * 1024
    assert torch.equal(layer.weight, expected)  # the edit survives; only unmodified pages went back to the file


def test_weights_in_anonymous_memory_are_never_released():
    layer = nn.Linear(1024, 1024)
    expected = layer.weight.detach().clone()
    assert release_resident_pages([layer]) == 0
    assert torch.equal(layer.weight, expected)


@linux_only
def test_parameters_shared_with_kept_modules_stay(tmp_path):
    layer = mapped_linear(tmp_path)
    layer.weight.sum()
    twin = nn.Linear(1024, 1024, bias=False)
    twin.weight = layer.weight  # tied, as the LM head and GPT-2's embeddings are
    assert release_resident_pages([layer], keep=[twin]) == 0


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, tiny_tokenizer):
    config = build_tiny_config(tiny_tokenizer)
    config.text_config.initializer_range = 0.5  # tokens vary from step to step
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    AdiffForConditionalGeneration(config).save_pretrained(folder)
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=config.prompt_length)
    rng = np.random.default_rng(1)
    inputs = processor(audio=[(rng.standard_normal(32000).astype(np.float32),) * 2,
                              (rng.standard_normal(16000).astype(np.float32), rng.standard_normal(40000))],
                       tier=2, sampling_rate=32000)
    return AdiffForConditionalGeneration.from_pretrained(folder).eval(), inputs


def test_generate_gives_the_same_tokens_with_and_without_releasing(saved_model, monkeypatch):
    model, inputs = saved_model
    parts = []
    real = model.release_weight_pages
    monkeypatch.setattr(model, "release_weight_pages", lambda part: parts.append(part) or real(part))
    kept = model.generate(**inputs, max_new_tokens=8, eos_token_id=None, release_weight_memory=False)
    assert parts == []
    released = model.generate(**inputs, max_new_tokens=8, eos_token_id=None)
    assert parts == ["prefix", "language_model"]  # the prefix modules before decoding, GPT-2 after it
    assert torch.equal(kept, released)
    assert torch.equal(released, model.generate(**inputs, max_new_tokens=8, eos_token_id=None))  # pages read back


def test_release_weight_pages_names_its_parts(saved_model):
    model, _ = saved_model
    with pytest.raises(ValueError, match="'prefix' or 'language_model'"):
        model.release_weight_pages("encoder")
