"""`forward` and `generate` honour transformers' output flags and length keywords: `output_hidden_states`,
`output_attentions`, `return_dict`, `return_dict_in_generate`, `max_length`; the model's main input is
`input_features`; `generate` takes (and ignores) the `labels` an evaluation batch carries."""

import pytest
import torch

torch.set_num_threads(1)


def _tiny_model(attention: str | None = None):
    from conftest import build_tiny_config

    from modeling_adiff import AdiffForConditionalGeneration

    config = build_tiny_config()
    if attention:
        config.text_config._attn_implementation = attention
    torch.manual_seed(0)
    return AdiffForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def model_and_inputs():
    model = _tiny_model("eager")
    config = model.config
    features = torch.randn(2, 2, 1001, 64)  # (pairs, 2 audios, frames, mel bins)
    prompt = torch.randint(1, 50, (2, config.prompt_length))
    return model, {"input_features": features, "prompt_input_ids": prompt}


def test_main_input_is_input_features(model_and_inputs):
    from modeling_adiff import AdiffForConditionalGeneration, AdiffModel

    model, inputs = model_and_inputs
    assert AdiffForConditionalGeneration.main_input_name == AdiffModel.main_input_name == "input_features"
    assert model.main_input_name in inputs  # Trainer counts tokens and FLOPs from it


def test_forward_returns_hidden_states_and_attentions(model_and_inputs):
    model, inputs = model_and_inputs
    config = model.config
    length = config.total_prefix_length + 3
    with torch.no_grad():
        out = model(**inputs, input_ids=torch.ones(2, 3, dtype=torch.long), output_hidden_states=True,
                    output_attentions=True)
        as_tuple = model(**inputs, return_dict=False)
        as_dict = model(**inputs)  # also without gradients: the same kernels (onednn_linear.py) as the tuple's
    assert len(out.hidden_states) == config.text_config.n_layer + 1
    assert all(h.shape == (2, length, config.text_config.n_embd) for h in out.hidden_states)
    assert len(out.attentions) == config.text_config.n_layer
    assert out.attentions[0].shape == (2, config.text_config.n_head, length, length)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], as_dict.logits)


def test_generate_returns_a_dict_with_hidden_states_attentions_and_scores(model_and_inputs):
    model, inputs = model_and_inputs
    out = model.generate(**inputs, max_new_tokens=3, eos_token_id=None, return_dict_in_generate=True,
                         output_hidden_states=True, output_attentions=True, output_scores=True)
    assert out.sequences.shape == (2, 3)
    assert torch.equal(out.sequences, model.generate(**inputs, max_new_tokens=3, eos_token_id=None))
    assert len(out.scores) == len(out.hidden_states) == len(out.attentions) == 3
    assert out.hidden_states[0][-1].shape[:2] == (2, model.config.total_prefix_length)  # step 1 reads the prefix
    assert out.hidden_states[1][-1].shape[:2] == (2, 1)  # later steps one token each (KV cache)


def test_attentions_under_sdpa_are_an_error_not_an_empty_tuple(model_and_inputs):
    model = _tiny_model()
    _, inputs = model_and_inputs
    with pytest.raises(ValueError, match=r"output_attentions=True needs GPT-2's eager attention, but it runs 'sdpa'"):
        model.generate(**inputs, max_new_tokens=2, output_attentions=True, return_dict_in_generate=True)


def test_max_length_is_not_overridden_by_the_configured_budget(model_and_inputs):
    model, inputs = model_and_inputs
    assert model.generation_config.max_new_tokens > 5
    assert model.generate(**inputs, max_length=5, eos_token_id=None).shape == (2, 5)
    assert model.generate(**inputs, max_length=5, tier=1, eos_token_id=None).shape == (2, 5)
    assert model.generate(**inputs, max_length=9, max_new_tokens=4, eos_token_id=None).shape == (2, 4)


def test_generate_ignores_labels(model_and_inputs):
    model, inputs = model_and_inputs
    labels = torch.full((2, 4), -100)
    assert torch.equal(model.generate(**inputs, labels=labels, max_new_tokens=4),
                       model.generate(**inputs, max_new_tokens=4))
