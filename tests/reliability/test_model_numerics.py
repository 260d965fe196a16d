"""No NaN or Inf escapes the model: silent, loud and degenerate inputs give finite logits, generations and gradients,
in float32 and in half precision."""

import copy

import numpy as np
import pytest
import torch

from .conftest import SR


def silent_pair(processor, **kwargs):
    silence = np.zeros(SR, np.float32)
    return processor(audio=(silence, silence), tier=2, sampling_rate=SR, **kwargs)


def test_silent_audio_through_the_whole_model_is_finite(processor, tiny_model):
    inputs = silent_pair(processor)
    assert torch.equal(inputs["input_features"], torch.full_like(inputs["input_features"], -100.0))
    out = tiny_model(**inputs)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.prefix_embeds).all()
    generated = tiny_model.generate(**inputs, max_new_tokens=6, do_sample=False, output_scores=True,
                                    return_dict_in_generate=True)
    assert generated.sequences.shape == (1, 6)
    assert all(torch.isfinite(step).all() for step in generated.scores)


def test_loud_and_silent_pair_gives_finite_logits(processor, tiny_model, clips):
    loud = clips[3] / np.abs(clips[3]).max() * np.float32(3e38)
    inputs = processor(audio=[(loud, np.zeros(SR, np.float32)), (clips[0], loud)], tier=1, sampling_rate=SR)
    assert torch.isfinite(tiny_model(**inputs).logits).all()


def zero_projection(model):
    """Make the audio projection output the zero vector for every input (LayerNorm of a constant row is its bias)."""
    with torch.no_grad():
        projection = model.model.audio_projection
        projection.linear1.weight.zero_()
        projection.linear2.weight.zero_()
        projection.layer_norm.bias.zero_()
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_l2_normalisation_of_an_all_equal_projection_is_finite(tiny_model, processor, clips, dtype):
    model = zero_projection(copy.deepcopy(tiny_model)).to(dtype)
    inputs = processor(audio=(clips[0], clips[1]), tier=1, sampling_rate=SR)
    projected = model.get_audio_features(inputs["input_features"].to(dtype))
    assert torch.equal(projected, torch.zeros_like(projected))  # all entries equal (zero): norm 0
    prefix = model.get_prefix_embeddings(input_features=inputs["input_features"].to(dtype),
                                         prompt_input_ids=inputs["prompt_input_ids"])
    assert prefix.dtype == dtype and torch.isfinite(prefix).all()


def test_gradients_through_a_zero_projection_are_finite(tiny_model, processor, clips):
    model = zero_projection(copy.deepcopy(tiny_model)).train()
    batch = processor(audio=(clips[0], clips[1]), tier=1, sampling_rate=SR, answers="Both audios are quiet.")
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert "model.audio_projection.linear1.weight" in grads
    assert not [name for name, grad in grads.items() if not torch.isfinite(grad).all()]
