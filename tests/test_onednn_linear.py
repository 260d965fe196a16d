"""oneDNN linear products at fp32 CPU inference (`modeling_adiff/onednn_linear.py`): which layers take them, that they
agree with PyTorch's own, and that training, other dtypes and the off switch keep PyTorch's kernel."""

import numpy as np
import pytest
import torch
from conftest import build_tiny_config
from torch import nn
from torch.nn import functional as F
from transformers.pytorch_utils import Conv1D

from modeling_adiff import AdiffForConditionalGeneration, onednn_linear
from modeling_adiff.onednn_linear import (OneDnnConv1D, OneDnnLinear, onednn_linear_available, onednn_linear_enabled,
                                          use_onednn_linear)
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

needs_onednn = pytest.mark.skipif(not onednn_linear_available(), reason="this torch build has no oneDNN linear op")


@pytest.fixture(scope="module")
def tiny_model(tiny_tokenizer):
    torch.manual_seed(0)
    return AdiffForConditionalGeneration(build_tiny_config(tiny_tokenizer)).eval()


@pytest.fixture(scope="module")
def tiny_inputs(tiny_tokenizer, tiny_model):
    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=tiny_model.config.prompt_length)
    rng = np.random.default_rng(0)
    audio = [(rng.standard_normal(32000).astype(np.float32), rng.standard_normal(48000).astype(np.float32))]
    return processor(audio=audio, tier=2, sampling_rate=32000)


@pytest.fixture
def calls(monkeypatch):
    """Counts the products that went through oneDNN; every product counts as large enough for it."""
    monkeypatch.setattr(onednn_linear, "MIN_WEIGHT_ENTRIES", 0)
    monkeypatch.setattr(onednn_linear, "MIN_MULTIPLY_ADDS", 0)
    seen = []
    real = onednn_linear._onednn_linear

    def spy(hidden, weight, bias):
        seen.append(tuple(hidden.shape))
        return real(hidden, weight, bias)

    monkeypatch.setattr(onednn_linear, "_onednn_linear", spy)
    return seen


def layers():
    torch.manual_seed(0)
    linear, conv = nn.Linear(24, 40), Conv1D(24, 40)  # Conv1D(nf=out, nx=in): weight (in, out) = (40, 24)
    reference = {"linear": (linear.weight.clone(), linear.bias.clone()),
                 "conv": (conv.weight.t().clone(), conv.bias.clone())}
    assert use_onednn_linear(nn.Sequential(linear, conv)) == 2
    return linear, conv, reference


def test_every_plain_linear_of_a_built_model_is_switched_and_the_state_dict_is_unchanged(tiny_model):
    kinds = {type(module) for module in tiny_model.modules()}
    assert nn.Linear not in kinds and Conv1D not in kinds  # HTSAT's, GPT-2's and ADIFF's own layers alike
    assert OneDnnLinear in kinds and OneDnnConv1D in kinds
    assert all(isinstance(m, (nn.Linear, Conv1D)) for m in tiny_model.modules() if type(m) in (OneDnnLinear,
                                                                                              OneDnnConv1D))
    assert tiny_model.lm_head.weight is tiny_model.get_input_embeddings().weight  # ties survive the switch
    assert use_onednn_linear(tiny_model) == 0  # idempotent


def test_subclasses_of_linear_are_left_alone():
    class Custom(nn.Linear):
        pass

    model = nn.Sequential(Custom(3, 3), nn.Linear(3, 3))
    assert use_onednn_linear(model) == 1
    assert type(model[0]) is Custom and type(model[1]) is OneDnnLinear


@needs_onednn
@pytest.mark.parametrize("shape", [(5, 24), (2, 7, 24), (1, 24), (0, 24)])
def test_inference_products_go_through_onednn_and_match_pytorch(calls, shape):
    linear, conv, reference = layers()
    hidden = torch.randn(shape)
    with torch.no_grad():
        projected = linear(hidden)
        back = conv(projected)
    torch.testing.assert_close(projected, F.linear(hidden, *reference["linear"]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(back, F.linear(projected, *reference["conv"]), rtol=1e-5, atol=1e-5)
    assert back.shape == shape
    assert calls == [shape, (*shape[:-1], 40)]


@needs_onednn
def test_inference_mode_takes_onednn_too(calls):
    linear, _, _ = layers()
    with torch.inference_mode():
        linear(torch.randn(3, 24))
    assert len(calls) == 1


def test_training_keeps_pytorchs_kernel_and_gradients(calls):
    linear, conv, reference = layers()
    hidden = torch.randn(4, 24, requires_grad=True)
    out = conv(linear(hidden))
    assert calls == []
    assert torch.equal(out, F.linear(F.linear(hidden, *reference["linear"]), *reference["conv"]))
    out.sum().backward()
    assert hidden.grad is not None and linear.weight.grad is not None and conv.weight.grad is not None


def test_bf16_and_the_off_switch_keep_pytorchs_kernel(calls):
    linear, conv, reference = layers()
    hidden = torch.randn(4, 24)
    with torch.no_grad():
        with onednn_linear_enabled(False):
            off = linear(hidden)
        on = linear(hidden)  # the switch is restored after the block
        linear.to(torch.bfloat16)
        linear(hidden.to(torch.bfloat16))
    assert torch.equal(off, F.linear(hidden, *reference["linear"]))
    assert len(calls) == (1 if onednn_linear_available() else 0)
    torch.testing.assert_close(on, off, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_model_outputs_agree_with_and_without_onednn(tiny_model, tiny_inputs, calls):
    with torch.no_grad():
        fast = tiny_model(**tiny_inputs).logits
        assert calls
        with onednn_linear_enabled(False):
            plain = tiny_model(**tiny_inputs).logits
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


def test_traced_graphs_keep_the_standard_op(calls):
    linear, conv, _ = layers()
    with torch.no_grad():
        traced = torch.jit.trace(nn.Sequential(linear, conv), torch.randn(2, 24), check_trace=False)
    assert calls == []
    graph = str(traced.inlined_graph)
    assert "mkldnn" not in graph and ("aten::linear" in graph or "aten::addmm" in graph)


@needs_onednn
def test_small_products_stay_with_pytorch_and_large_ones_take_onednn(monkeypatch):
    seen = []
    real = onednn_linear._onednn_linear
    monkeypatch.setattr(onednn_linear, "_onednn_linear", lambda *args: seen.append(args[0].shape) or real(*args))
    small, wide = nn.Linear(64, 64), nn.Linear(1024, 1024)  # 4 K and 1 M weight entries
    use_onednn_linear(nn.Sequential(small, wide))
    with torch.no_grad():
        small(torch.randn(8, 64))  # 33 K multiply-adds: MKL is faster
        small(torch.randn(2048, 64))  # 8.4 M multiply-adds
        wide(torch.randn(1, 1024))  # one row, but a weight too big for the cache
    assert seen == [(2048, 64), (1, 1024)]
