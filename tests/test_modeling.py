"""AdiffConfig and the models: shapes, loss masking, save/load, Auto classes, remote code."""

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from configuration_adiff import AdiffConfig
from modeling_adiff import AdiffForConditionalGeneration, AdiffModel


def _inputs(config, batch=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, 2, 1001, 64, generator=generator) * 10 - 40  # (B, 2, T, M) log-mel-like
    prompt = torch.randint(0, config.text_config.vocab_size, (batch, config.prompt_length), generator=generator)
    return features, prompt


@pytest.fixture()
def model(tiny_config):
    torch.manual_seed(0)
    return AdiffForConditionalGeneration(tiny_config).eval()


def test_config_round_trip(tmp_path, tiny_config):
    tiny_config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AdiffConfig)
    expected = {k: v for k, v in tiny_config.to_dict().items() if k != "_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k != "_name_or_path"} == expected
    assert loaded.audio_config.depths == [1, 1, 1, 1] and loaded.text_config.n_embd == 32


def test_default_config_is_the_official_base_model():
    config = AdiffConfig()
    assert config.total_prefix_length == 121
    assert (config.projection_dim, config.audio_embedding_dim, config.text_config.n_embd) == (1024, 768, 768)
    assert (config.mapper_num_layers, config.mapper_num_heads, config.cross_projection_num_layers,
            config.cross_projection_num_heads) == (4, 8, 4, 4)
    assert config.separator_token_id == 50256


@pytest.mark.parametrize("overrides, message", [
    (dict(prefix_length=0), "prefix_length must be a positive integer, got 0"),
    (dict(prompt_length=10), r"prompt_length \(10\) must equal clip_length \(40\)"),
    (dict(mapper_num_heads=7), "must be divisible by mapper_num_heads=7"),
    (dict(separator_token_id=60000), r"separator_token_id must be a token id in \[0, 50257\)"),
    (dict(projection_dropout=1.5), r"projection_dropout must be in \[0, 1\)"),
    (dict(audio_config=dict(hidden_size=512)), "must equal the HTSAT pooled width"),
    (dict(share_audio_mapper="yes"), "share_audio_mapper must be True or False, got 'yes'"),
    (dict(use_audio_segment_embeddings=1), "use_audio_segment_embeddings must be True or False, got 1"),
])
def test_config_validation_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        AdiffConfig(**overrides)


def test_prefix_and_logit_shapes(model, tiny_config):
    features, prompt = _inputs(tiny_config)
    prefix = model.get_prefix_embeddings(input_features=features, prompt_input_ids=prompt)
    assert prefix.shape == (3, tiny_config.total_prefix_length, tiny_config.text_config.n_embd)
    assert model.get_audio_features(features).shape == (3, 2, tiny_config.projection_dim)
    labels = torch.randint(0, 100, (3, 5))
    out = model(input_features=features, prompt_input_ids=prompt, labels=labels)
    assert out.logits.shape == (3, tiny_config.total_prefix_length + 5, tiny_config.text_config.vocab_size)
    assert torch.isfinite(out.loss)


def test_audios_are_encoded_a_few_clips_per_call_with_the_same_embeddings(model, tiny_config):
    features, prompt = _inputs(tiny_config)  # 3 pairs = 6 clips
    clips_per_call = []
    handle = model.model.audio_encoder.register_forward_hook(
        lambda module, args, kwargs, output: clips_per_call.append(kwargs["input_features"].shape[0]),
        with_kwargs=True)
    model.model.encoder_clips_per_call = 6
    whole = model.model.encode_audio(features)
    model.model.encoder_clips_per_call = 4
    chunked = model.model.encode_audio(features)
    model.generate(input_features=features, prompt_input_ids=prompt, max_new_tokens=3)  # encodes once, then decodes
    handle.remove()
    assert clips_per_call == [6, 4, 2, 4, 2]
    torch.testing.assert_close(chunked, whole)


def test_naive_baseline_has_no_separator_or_cross_projection(tiny_tokenizer):
    from conftest import build_tiny_config

    config = build_tiny_config(tiny_tokenizer, use_cross_projection=False, use_separator=False)
    model = AdiffForConditionalGeneration(config).eval()
    assert model.model.cross_projection is None
    features, prompt = _inputs(config, batch=2)
    assert model.get_prefix_embeddings(input_features=features, prompt_input_ids=prompt).shape[1] == 3 * 4


def audio_blocks(model, features, prompt, audio_embeds=None):
    """The audio-1, audio-2 and prompt blocks of the prefix `[audio 1 | separator | audio 2 | prompt]`, from log-mel
    `features` or from clip embeddings `audio_embeds` (then `features` is None)."""
    prefix = model.get_prefix_embeddings(input_features=features, prompt_input_ids=prompt, audio_embeds=audio_embeds)
    length = model.config.prefix_length
    return prefix[:, :length], prefix[:, length + 1:2 * length + 1], prefix[:, 2 * length + 1:]


def test_shared_audio_mapper_swaps_prefix_blocks_exactly(tmp_path, tiny_tokenizer):
    from conftest import build_tiny_config

    features, prompt = _inputs(build_tiny_config(tiny_tokenizer), batch=2)
    swapped = features.flip(1)  # (B, 2, T, M): audio 2 first
    torch.manual_seed(0)
    separate = AdiffForConditionalGeneration(build_tiny_config(tiny_tokenizer)).eval()
    one_1, two_1, _ = audio_blocks(separate, features, prompt)
    one_2, two_2, _ = audio_blocks(separate, swapped, prompt)
    assert not torch.allclose(one_1, two_2, atol=1e-3)  # two mappers: a swapped pair is not a swapped prefix

    torch.manual_seed(0)
    shared = AdiffForConditionalGeneration(build_tiny_config(tiny_tokenizer, share_audio_mapper=True)).eval()
    assert shared.model.audio_mapper_2 is None
    assert not any("audio_mapper_2" in name for name in shared.state_dict())
    one_1, two_1, prompt_1 = audio_blocks(shared, features, prompt)
    one_2, two_2, prompt_2 = audio_blocks(shared, swapped, prompt)
    torch.testing.assert_close(one_1, two_2, rtol=0, atol=1e-5)
    torch.testing.assert_close(two_1, one_2, rtol=0, atol=1e-5)
    torch.testing.assert_close(prompt_1, prompt_2, rtol=0, atol=1e-5)
    same_1, same_2, _ = audio_blocks(shared, features[:, :1].expand(-1, 2, -1, -1), prompt)
    torch.testing.assert_close(same_1, same_2, rtol=0, atol=1e-5)  # identical audios, identical blocks

    shared.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.share_audio_mapper and loaded.model.audio_mapper_2 is None
    torch.testing.assert_close(loaded(input_features=features, prompt_input_ids=prompt).logits,
                               shared(input_features=features, prompt_input_ids=prompt).logits, rtol=0, atol=0)


def test_audio_segment_embeddings_tell_the_cross_projection_which_audio_is_which(tmp_path, tiny_tokenizer):
    from conftest import build_tiny_config

    from training.freezing import set_trainable

    features, prompt = _inputs(build_tiny_config(tiny_tokenizer), batch=2)
    torch.manual_seed(0)
    plain = AdiffForConditionalGeneration(build_tiny_config(tiny_tokenizer, share_audio_mapper=True)).eval()
    with torch.no_grad():  # weights of a trained size: at init (std 0.02) the audio barely moves the prefix
        for module in (plain.model.audio_projection, plain.model.audio_mapper_1, plain.model.cross_projection):
            for weight in module.parameters():
                weight.normal_(std=0.3)
    segmented = AdiffForConditionalGeneration(
        build_tiny_config(tiny_tokenizer, share_audio_mapper=True, use_audio_segment_embeddings=True)).eval()
    loaded_keys = segmented.load_state_dict(plain.state_dict(), strict=False)
    assert loaded_keys.missing_keys == ["model.audio_segment_embeddings.weight"] and not loaded_keys.unexpected_keys
    # Zero at initialisation: the model starts exactly as one without them.
    assert segmented.model.audio_segment_embeddings.weight.abs().sum() == 0
    for got, want in zip(audio_blocks(segmented, features, prompt), audio_blocks(plain, features, prompt)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)

    # Without them the prompt block cannot tell a pair from its swap; with (trained, non-zero) ones it can.
    # Clip embeddings are given directly: the random tiny encoder maps any two clips to nearly the same embedding.
    embeds = torch.randn(2, 2, segmented.config.audio_embedding_dim)  # (B, 2, D)

    def prompt_block(model, audio_embeds):
        return audio_blocks(model, None, prompt, audio_embeds)[2]

    torch.testing.assert_close(prompt_block(plain, embeds), prompt_block(plain, embeds.flip(1)), rtol=0, atol=1e-5)
    with torch.no_grad():
        segmented.model.audio_segment_embeddings.weight.normal_()
    assert not torch.allclose(prompt_block(segmented, embeds), prompt_block(segmented, embeds.flip(1)), atol=1e-3)

    # Trained with the cross-projection; saved and reloaded with the rest.
    set_trainable(segmented, ("cross_projection",))
    assert segmented.model.audio_segment_embeddings.weight.requires_grad
    segmented.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.model.audio_segment_embeddings.weight,
                               segmented.model.audio_segment_embeddings.weight, rtol=0, atol=0)
    torch.testing.assert_close(loaded(input_features=features, prompt_input_ids=prompt).logits,
                               segmented(input_features=features, prompt_input_ids=prompt).logits, rtol=0, atol=0)
    assert not any("segment" in name for name in plain.state_dict())  # off by default, as in the official model


def test_loss_covers_answer_tokens_only(model, tiny_config):
    features, prompt = _inputs(tiny_config)
    labels = torch.randint(0, 100, (3, 6))
    labels[0, 4:] = -100
    out = model(input_features=features, prompt_input_ids=prompt, labels=labels)
    # Recompute by hand: the logit at position prefix_len - 1 + i predicts answer token i.
    start = tiny_config.total_prefix_length - 1
    predicting = out.logits[:, start:start + 6]
    expected = torch.nn.functional.cross_entropy(predicting.reshape(-1, predicting.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    # Changing a padded (-100) position's token must not change the loss.
    other = labels.clone()
    other[0, 5] = -100
    assert torch.allclose(model(input_features=features, prompt_input_ids=prompt, labels=other).loss, out.loss)


def test_gradients_reach_mappers_and_cached_embeddings_match(model, tiny_config):
    model.train()
    features, prompt = _inputs(tiny_config, batch=2)
    labels = torch.randint(0, 100, (2, 4))
    model(input_features=features, prompt_input_ids=prompt, labels=labels).loss.backward()
    assert model.model.audio_mapper_1.linear.weight.grad.abs().sum() > 0
    assert model.model.prompt_mapper.prefix_const.grad.abs().sum() > 0
    model.eval()
    audio_embeds = model.model.encode_audio(features)
    a = model(input_features=features, prompt_input_ids=prompt, labels=labels).logits
    b = model(audio_embeds=audio_embeds, prompt_input_ids=prompt, labels=labels).logits
    torch.testing.assert_close(a, b)


def test_gradient_checkpointing_gives_same_loss(tiny_config):
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(tiny_config).eval()
    features, prompt = _inputs(tiny_config, batch=2)
    labels = torch.randint(0, 100, (2, 4))
    reference = model(input_features=features, prompt_input_ids=prompt, labels=labels).loss
    model.activation_checkpointing_enable()
    assert model.model.cross_projection.layers[0].gradient_checkpointing
    model.train()
    model.model.audio_encoder.eval()  # BatchNorm statistics as at inference; dropout is zeroed below
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    loss = model(input_features=features, prompt_input_ids=prompt, labels=labels).loss
    loss.backward()
    torch.testing.assert_close(loss, reference)
    assert model.model.audio_mapper_2.linear.weight.grad is not None


def test_save_load_round_trip_gives_identical_logits(tmp_path, model, tiny_config):
    features, prompt = _inputs(tiny_config)
    before = model(input_features=features, prompt_input_ids=prompt).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    for loader in (AdiffForConditionalGeneration, AutoModel, AutoModelForCausalLM):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, AdiffForConditionalGeneration)
        assert loaded.lm_head.weight.data_ptr() == loaded.model.language_model.wte.weight.data_ptr()
        torch.testing.assert_close(loaded(input_features=features, prompt_input_ids=prompt).logits, before,
                                   rtol=0, atol=0)


def test_headless_model_returns_hidden_states(tiny_config):
    model = AdiffModel(tiny_config).eval()
    features, prompt = _inputs(tiny_config, batch=2)
    out = model(input_features=features, prompt_input_ids=prompt, input_ids=torch.tensor([[1, 2], [3, 4]]))
    assert out.last_hidden_state.shape == (2, tiny_config.total_prefix_length + 2, tiny_config.text_config.n_embd)
    assert out.audio_embeds.shape == (2, 2, tiny_config.audio_embedding_dim)


def test_bad_input_shapes_are_explained(model, tiny_config):
    features, prompt = _inputs(tiny_config)
    with pytest.raises(ValueError, match=r"input_features must have shape \(batch_size, 2, frames, mel_bins\)"):
        model.get_prefix_embeddings(input_features=features[:, 0], prompt_input_ids=prompt)
    with pytest.raises(ValueError, match="prompt_input_ids must have 8 tokens"):
        model.get_prefix_embeddings(input_features=features, prompt_input_ids=prompt[:, :5])


def test_saved_folder_loads_with_remote_code_without_the_package(tmp_path, model, tiny_config, tiny_tokenizer):
    import numpy as np

    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    processor = AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=tiny_config.prompt_length)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_adiff.AdiffForConditionalGeneration"
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000).astype("float32") * 0.1, rng.standard_normal(8000).astype("float32") * 0.1)
    np.save(tmp_path / "a.npy", audio[0])
    np.save(tmp_path / "b.npy", audio[1])
    inputs = processor(audio=audio, tier=2, sampling_rate=16000)
    expected = model.generate(**inputs, max_new_tokens=4).tolist()
    script = (
        "import sys, numpy as np\n"
        # Simulate a user who never installed this project: its packages cannot be imported.
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('configuration_adiff', 'modeling_adiff', 'processing_adiff', 'training',\n"
        "                                  'adiff'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from transformers import AutoModel, AutoProcessor\n"
        f"folder = {str(tmp_path / 'model')!r}\n"
        "m = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()\n"
        "p = AutoProcessor.from_pretrained(folder, trust_remote_code=True)\n"
        "assert type(m).__module__.startswith('transformers_modules'), type(m).__module__\n"
        "assert type(p).__module__.startswith('transformers_modules'), type(p).__module__\n"
        f"audio = (np.load({str(tmp_path / 'a.npy')!r}), np.load({str(tmp_path / 'b.npy')!r}))\n"
        "print(m.generate(**p(audio=audio, tier=2, sampling_rate=16000), max_new_tokens=4).tolist())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(expected)
