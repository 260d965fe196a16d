"""AdiffProcessor follows transformers' audio-processor conventions: `return_tensors` "pt" and "np", `padding=`,
numeric tier strings accepted like the pipeline and the CLI accept them, and a warning for a free-text prompt the
model was never trained on."""

import numpy as np
import pytest
import torch
from adiff_testing import save_tiny_model
from transformers import pipeline
from transformers.testing_utils import CaptureLogger

import adiff  # noqa: F401  (registers the pipeline)
from processing_adiff import PROMPT_PARAPHRASES, AdiffFeatureExtractor, AdiffProcessor
from processing_adiff import processing_adiff as processing_module

SR = 32000
ANSWERS = ["Audio 1 is louder.", "Audio 2 has a loud siren while audio 1 is a calm room with soft rain."]


@pytest.fixture(scope="module")
def processor(tiny_tokenizer):
    return AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=16, max_answer_length=48)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    return [tuple(rng.standard_normal(SR // 4).astype(np.float32) * s for s in (0.1, 0.4)) for _ in range(2)]


def test_numpy_and_torch_outputs_hold_the_same_values(processor, pairs):
    as_torch = processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS, return_tensors="pt")
    as_numpy = processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS, return_tensors="np")
    assert set(as_numpy) == set(as_torch)
    for name, value in as_numpy.items():
        assert isinstance(value, np.ndarray) and isinstance(as_torch[name], torch.Tensor)
        np.testing.assert_array_equal(value, as_torch[name].numpy())
    with pytest.raises(ValueError, match=r"returns 'pt' or 'np' .* got 'tf'"):
        processor(audio=pairs, tier=1, sampling_rate=SR, return_tensors="tf")


def test_padding_pads_the_labels(processor, pairs):
    default = processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS)["labels"]
    longest = processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS, padding="longest")["labels"]
    full = processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS, padding="max_length")["labels"]
    assert torch.equal(default, longest) and default.shape[1] < 48 and full.shape == (2, 48)
    assert torch.equal(full[:, : default.shape[1]], default) and (full[:, default.shape[1]:] == -100).all()
    same = processor(audio=pairs, tier=1, sampling_rate=SR, answers=[ANSWERS[0]] * 2, padding=False)["labels"]
    assert (same != -100).all()
    with pytest.raises(ValueError, match=r"padding=False needs answers of one length .* use padding=True"):
        processor(audio=pairs, tier=1, sampling_rate=SR, answers=ANSWERS, padding=False)
    with pytest.raises(ValueError, match=r"padding= must be one of .* got 'right'"):
        processor(audio=pairs, tier=1, sampling_rate=SR, padding="right")


def test_numeric_tier_strings_are_tiers(processor, pairs, tmp_path):
    as_int = processor(audio=pairs, tier=2, sampling_rate=SR)["prompt_input_ids"]
    assert torch.equal(processor(audio=pairs, tier="2", sampling_rate=SR)["prompt_input_ids"], as_int)
    assert torch.equal(processor(audio=pairs, tier=["2", 2], sampling_rate=SR)["prompt_input_ids"], as_int)
    with pytest.raises(ValueError, match=r"Unknown tier '4'; valid tiers are \[1, 2, 3\]"):
        processor(audio=pairs, tier="4", sampling_rate=SR)
    pipe = pipeline("audio-difference", model=str(save_tiny_model(tmp_path / "model")), device="cpu")
    assert pipe(*pairs[0], tier="2", max_new_tokens=3) == pipe(*pairs[0], tier=2, max_new_tokens=3)


def test_free_text_prompt_outside_the_training_prompts_warns(processor, pairs):
    with CaptureLogger(processing_module.logger) as captured:
        processor(audio=pairs[0], text="Which one is louder, honestly?", sampling_rate=SR)
    assert "'Which one is louder, honestly?' is none of the prompts this model was trained on" in captured.out
    assert "Pass tier= or task=" in captured.out
    with CaptureLogger(processing_module.logger) as captured:
        processor(audio=pairs[0], text=PROMPT_PARAPHRASES[3][5], sampling_rate=SR)
        processor(audio=pairs[0], text="Caption the first audio", sampling_rate=SR)
    assert "none of the prompts" not in captured.out
