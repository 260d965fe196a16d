"""`pipeline("audio-difference")`: input forms, call forms, prompt routing, batching, errors and the default model."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from adiff_testing import SAMPLE_RATE, save_tiny_model, write_wav
from conftest import REPO_ROOT
from transformers import AutoModel, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import adiff
from adiff.default_model import DEFAULT_MODEL_DIR, DefaultModelReference, is_default_model_installed
from modeling_adiff.generation_presets import TIER_MAX_NEW_TOKENS
from processing_adiff import TASK_PROMPTS, TIER_PROMPTS

NEW_TOKENS = 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_adiff"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("audio-difference", model=str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two 1.5 s clips as files (32 kHz, 16-bit) and as the float32 samples those files hold."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    time = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
    first = write_wav(folder / "tone.wav", (0.4 * np.sin(2 * np.pi * 330 * time)).astype(np.float32))
    second = write_wav(folder / "noise.wav", (0.2 * rng.standard_normal(time.size)).astype(np.float32))
    return {"paths": (str(folder / "tone.wav"), str(folder / "noise.wav")), "arrays": (first, second)}


def reference_text(pipe, first, second, **prompt) -> str:
    """What the processor and `model.generate` give without the pipeline."""
    inputs = pipe.processor(audio=(first, second), sampling_rate=SAMPLE_RATE, **prompt)
    ids = pipe.model.generate(**inputs, max_new_tokens=NEW_TOKENS)
    return pipe.processor.batch_decode(ids)[0]


class RecordingGenerate:
    """Wraps `model.generate`, keeps the keywords of every call, and generates at most NEW_TOKENS tokens (a tier's
    budget does not fit the tiny model's context)."""

    def __init__(self, model):
        self.generate, self.calls = model.generate, []

    def __call__(self, **kwargs):
        self.calls.append(dict(kwargs))
        return self.generate(**{**kwargs, "max_new_tokens": NEW_TOKENS})


@pytest.fixture()
def recorded(pipe, monkeypatch):
    recorder = RecordingGenerate(pipe.model)
    monkeypatch.setattr(pipe.model, "generate", recorder)
    return recorder.calls


def test_every_audio_form_gives_the_processor_features(pipe, clips):
    (path1, path2), (array1, array2) = clips["paths"], clips["arrays"]
    rate = SAMPLE_RATE
    expected = pipe.processor(audio=(array1, array2), tier=2, sampling_rate=rate)["input_features"]
    with open(path1, "rb") as f1, open(path2, "rb") as f2:
        raw_bytes = (f1.read(), f2.read())
    forms = {
        "paths": (path1, path2),
        "bytes": raw_bytes,
        "numpy": (array1, array2),
        "torch": (torch.from_numpy(array1), torch.from_numpy(array2)),
        "array dicts": ({"array": array1, "sampling_rate": rate}, {"array": array2, "sampling_rate": rate}),
        "raw dicts": ({"raw": array1, "sampling_rate": rate}, {"raw": array2, "sampling_rate": rate}),
        "mixed": (path1, {"array": array2, "sampling_rate": rate}),
    }
    for name, pair in forms.items():
        got = pipe.preprocess(pair)["input_features"]
        torch.testing.assert_close(got, expected, msg=f"{name} differ from the processor's features")
    swapped = pipe.preprocess((path2, path1))["input_features"]
    torch.testing.assert_close(swapped, expected.flip(1))  # order is kept: audio 1 stays first


def test_dicts_at_other_rates_are_resampled(pipe, clips):
    array1, array2 = clips["arrays"]
    half1, half2 = array1[::2].copy(), array2[::2].copy()
    expected = pipe.processor(audio=(half1, half2), tier=1, sampling_rate=SAMPLE_RATE // 2)["input_features"]
    got = pipe.preprocess(({"array": half1, "sampling_rate": SAMPLE_RATE // 2},
                           {"raw": half2, "sampling_rate": SAMPLE_RATE // 2}))["input_features"]
    torch.testing.assert_close(got, expected)
    at_model_rate = pipe.preprocess((half1, half2))["input_features"]  # bare arrays are taken at the model's rate
    assert not torch.allclose(at_model_rate, got)


def test_single_pair_calls_match_processor_and_generate(pipe, clips):
    (path1, path2), (array1, array2) = clips["paths"], clips["arrays"]
    expected = reference_text(pipe, array1, array2, tier=2)
    assert pipe(path1, path2, tier=2, max_new_tokens=NEW_TOKENS) == {"generated_text": expected}
    assert pipe({"audio1": path1, "audio2": path2}, tier=2, max_new_tokens=NEW_TOKENS) == {"generated_text": expected}
    assert pipe((array1, array2), generate_kwargs={"max_new_tokens": NEW_TOKENS}) == {"generated_text": expected}
    configured = pipeline("audio-difference", model=pipe.model.name_or_path, device="cpu", tier=2,
                          max_new_tokens=NEW_TOKENS)  # call defaults given when the pipeline is built
    assert configured(path1, path2) == {"generated_text": expected}
    free = reference_text(pipe, array1, array2, text="caption the first audio")
    assert pipe({"audio1": path1, "audio2": path2}, prompt="caption the first audio",
                max_new_tokens=NEW_TOKENS)["generated_text"] == free


def test_list_of_pairs_gives_a_list_and_batching_changes_nothing(pipe, clips):
    (path1, path2), (array1, array2) = clips["paths"], clips["arrays"]
    pairs = [(path1, path2), (array2, array1), {"audio1": path1, "audio2": path1, "tier": 3}]
    one_by_one = [pipe(pair, tier=1, max_new_tokens=NEW_TOKENS) for pair in pairs]
    for batch_size in (1, 2, 8):
        assert pipe(pairs, tier=1, batch_size=batch_size, max_new_tokens=NEW_TOKENS) == one_by_one
    assert one_by_one[0]["generated_text"] == reference_text(pipe, array1, array2, tier=1)
    assert one_by_one[2]["generated_text"] == reference_text(pipe, array1, array1, tier=3)


def test_prompts_and_token_budgets_reach_generate(pipe, clips, recorded):
    pair = clips["paths"]
    encode = pipe.processor.encode_prompts
    pipe(*pair, tier=3)
    pipe(*pair, task="caption_second", max_new_tokens=NEW_TOKENS)
    pipe(*pair, prompt="explain the difference in detail", max_new_tokens=NEW_TOKENS)
    pipe(*pair, max_new_tokens=NEW_TOKENS)  # no prompt: the default tier 2
    pipe([{"audio1": pair[0], "audio2": pair[1], "tier": 1}, pair], tier=3, batch_size=2, max_new_tokens=NEW_TOKENS)
    pipe(*pair)  # no prompt and no budget: the default tier's budget
    pipe(*pair, prompt="Describe in detail how the two recordings differ.")  # a tier-3 paraphrase: tier 3's budget
    pipe(*pair, task="caption_first")  # captioning: no tier, the model's own budget
    pipe([{"audio1": pair[0], "audio2": pair[1], "tier": 1}, pair], tier=2, batch_size=2)
    prompts = [call["prompt_input_ids"] for call in recorded]
    torch.testing.assert_close(prompts[0], encode([TIER_PROMPTS[3]])[0])
    torch.testing.assert_close(prompts[1], encode([TASK_PROMPTS["caption_second"]])[0])
    torch.testing.assert_close(prompts[2], encode([TIER_PROMPTS[3]])[0])
    torch.testing.assert_close(prompts[3], encode([TIER_PROMPTS[adiff.pipeline.DEFAULT_TIER]])[0])
    torch.testing.assert_close(prompts[4], encode([TIER_PROMPTS[1], TIER_PROMPTS[3]])[0])  # a pair's own tier wins
    # The pipeline picks the tier's token budget (the longest one for a batch) and passes it as max_new_tokens; the
    # tier itself never reaches generate, and an explicit max_new_tokens is kept.
    assert all("tier" not in call and "token_budget" not in call for call in recorded)
    assert recorded[0]["max_new_tokens"] == TIER_MAX_NEW_TOKENS[3]
    assert [call["max_new_tokens"] for call in recorded[1:5]] == [NEW_TOKENS] * 4
    assert recorded[5]["max_new_tokens"] == TIER_MAX_NEW_TOKENS[adiff.pipeline.DEFAULT_TIER]
    assert recorded[6]["max_new_tokens"] == TIER_MAX_NEW_TOKENS[3]
    assert "max_new_tokens" not in recorded[7]
    assert recorded[8]["max_new_tokens"] == TIER_MAX_NEW_TOKENS[2] > TIER_MAX_NEW_TOKENS[1]


def test_preset_and_generation_parameters_are_forwarded(pipe, clips, recorded):
    out = pipe(*clips["paths"], tier=1, preset="paper", num_return_sequences=3, max_new_tokens=NEW_TOKENS)
    assert recorded[0]["preset"] == "paper" and recorded[0]["num_return_sequences"] == 3
    assert isinstance(out, list) and len(out) == 3
    assert all(set(item) == {"generated_text"} and isinstance(item["generated_text"], str) for item in out)


def test_text_stops_at_the_end_of_text_token(pipe):
    tokenizer = pipe.processor.tokenizer
    words = tokenizer(" Audio 1 has a loud siren", add_special_tokens=False)["input_ids"]
    filler = tokenizer("!!!", add_special_tokens=False)["input_ids"]  # what a batch pads finished rows with
    sequences = torch.tensor([[words + [tokenizer.eos_token_id] + filler]])  # (pairs, sequences, tokens)
    assert pipe.postprocess({"sequences": sequences}) == {"generated_text": "Audio 1 has a loud siren"}


def test_mistakes_raise_clear_errors(pipe, clips):
    path1, path2 = clips["paths"]
    with pytest.raises(ValueError, match="must be a pair of audios, got a str"):
        pipe(path1)
    with pytest.raises(ValueError, match="must be a pair of audios, got a list of 3 items"):
        pipe([[path1, path2, path1]])
    with pytest.raises(ValueError, match=r"needs the keys 'audio1' and 'audio2'.*got keys \['audio1', 'tier'\]"):
        pipe({"audio1": path1, "tier": 1})
    with pytest.raises(ValueError, match="Give one of tier= .* got task and tier"):
        pipe(path1, path2, tier=1, task="caption_first")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) tierr= \(did you mean tier=\?\)"):
        pipe(path1, path2, tierr=1)
    with pytest.raises(ValueError, match="Unknown tier 4"):
        pipe(path1, path2, tier=4)
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        pipe(path1, path2 + ".missing")


@pytest.fixture()
def registered_default():
    """Lets a test point the registered default model elsewhere; restores the package's registration after."""
    def register(reference):
        PIPELINE_REGISTRY.register_pipeline("audio-difference", pipeline_class=adiff.AudioDifferencePipeline,
                                            pt_model=AutoModel, default=reference, type="audio")
    yield register
    register(DefaultModelReference(DEFAULT_MODEL_DIR))


def test_no_model_uses_the_registered_default_folder(model_dir, clips, registered_default, pipe):
    registered_default(DefaultModelReference(model_dir))
    default_pipe = pipeline("audio-difference", device="cpu")
    assert isinstance(default_pipe, adiff.AudioDifferencePipeline)
    out = default_pipe(*clips["paths"], tier=1, max_new_tokens=NEW_TOKENS)
    assert out == pipe(*clips["paths"], tier=1, max_new_tokens=NEW_TOKENS)


def test_missing_default_model_says_it_is_not_installed(tmp_path, registered_default):
    registered_default(DefaultModelReference(tmp_path / "default_model"))
    with pytest.raises(FileNotFoundError, match="The default ADIFF model is not installed: .*config.json does not "
                                                "exist. Pass a model folder instead"):
        pipeline("audio-difference")


@pytest.mark.skipif(not is_default_model_installed(),
                    reason=f"the default model is not installed yet ({DEFAULT_MODEL_DIR}/config.json is missing)")
def test_shipped_default_model_explains_the_examples_offline():
    examples = REPO_ROOT / "adiff" / "examples"
    script = (
        "import adiff\n"
        "from transformers import pipeline\n"
        "pipe = pipeline('audio-difference', device='cpu')\n"
        f"out = pipe({str(examples / 'siren_street.wav')!r}, {str(examples / 'birds_rain.wav')!r}, tier=1)\n"
        "assert isinstance(out['generated_text'], str) and out['generated_text'].strip(), out\n"
        "print(out['generated_text'])\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
