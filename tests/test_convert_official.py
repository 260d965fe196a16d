"""Official-checkpoint conversion: key coverage, safety checks, and numerical parity with the official ADIFF code.

The reference tensors in tests/fixtures/official/ were produced by the official implementation (soham97/ADIFF) on a
seeded, perturbed tiny model; see the README there for how, and for the tolerances used below.
"""

import argparse
import importlib.util
import json
import math

import pytest
import torch
from conftest import FIXTURES, REPO_ROOT
from transformers import AutoTokenizer

from configuration_adiff import AdiffConfig
from modeling_adiff.convert_official import (
    check_manifest_coverage,
    config_from_official_shapes,
    configs_from_official_json,
    convert_official_checkpoint,
    main,
    read_manifest,
)

OFFICIAL = FIXTURES / "official"
CKPT = OFFICIAL / "official_tiny.ckpt"
CONFIG_JSON = OFFICIAL / "official_tiny_config.json"
WAVS = (OFFICIAL / "official_tiny_wave_a_tone440_noise.wav", OFFICIAL / "official_tiny_wave_b_chirp100_8000.wav")
GPT2_TOKENIZER = FIXTURES / "gpt2_tokenizer"
TOLERANCE = 1e-4  # max abs difference for every float tensor past the front end


def max_abs(ours: torch.Tensor, reference: torch.Tensor) -> float:
    assert ours.shape == reference.shape, f"shape {tuple(ours.shape)} vs reference {tuple(reference.shape)}"
    return (ours.float() - reference.float()).abs().max().item()


@pytest.fixture(scope="module")
def io():
    return torch.load(OFFICIAL / "official_tiny_io.pt", weights_only=True)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The tiny official checkpoint converted through the command-line entry point."""
    output = tmp_path_factory.mktemp("converted")
    report = main([str(CKPT), str(output), "--config", str(CONFIG_JSON), "--tokenizer", str(GPT2_TOKENIZER)])
    return output, report


@pytest.fixture(scope="module")
def loaded(converted):
    from transformers import AutoModel, AutoProcessor

    import modeling_adiff  # noqa: F401  (registers the Auto classes)
    import processing_adiff  # noqa: F401

    output, _ = converted
    return AutoModel.from_pretrained(output).eval(), AutoProcessor.from_pretrained(output)


@pytest.fixture(scope="module")
def inputs(loaded, io):
    _, processor = loaded
    return processor(audio=tuple(str(path) for path in WAVS), text=io["prompt"])


# ---------------------------------------------------------------------------------------------------- tokenizer


def test_gpt2_tokenizer_fixture_reproduces_gpt2_ids(io):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(GPT2_TOKENIZER)
    assert len(tokenizer) == 50257 and tokenizer.eos_token_id == 50256 and tokenizer.pad_token_id == 0
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer("!")["input_ids"] == [0]
    official_ids = io["input_ids"][0][io["attention_mask"][0].bool()].tolist()
    assert tokenizer(io["prompt_text_tokenized"])["input_ids"] == official_ids
    text = "Audio 2 is louder — naïve café, 42 dB!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def _load_builder():
    script = REPO_ROOT / "scripts" / "build_gpt2_tokenizer.py"
    spec = importlib.util.spec_from_file_location("build_gpt2_tokenizer", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merges_are_recovered_from_ranks_in_rank_order():
    builder = _load_builder()
    ranks = {b"a": 0, b"b": 1, b" ": 2, b"ab": 3, b" ab": 4, b"bb": 5, b"abb": 6}
    vocab, merges = builder.ranks_to_vocab_and_merges(ranks)
    assert vocab == {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġab": 4, "bb": 5, "abb": 6}
    # "abb" must come from ("ab", "b"): ab (rank 3) merges before bb (rank 5) exists.
    assert merges == [("a", "b"), ("Ġ", "ab"), ("b", "b"), ("ab", "b")]
    with pytest.raises(ValueError, match="single merge"):
        builder.ranks_to_vocab_and_merges({b"a": 0, b"b": 1, b"c": 2, b"abc": 3})
    with pytest.raises(ValueError, match="without gaps"):
        builder.read_tiktoken_ranks("YQ== 0\nYg== 2\n")


def test_converter_accepts_gpt2s_own_vocab_and_merges_files(tmp_path, io):
    from transformers import AutoProcessor

    import processing_adiff  # noqa: F401  (registers the Auto classes)

    bare = tmp_path / "gpt2"  # what the GPT-2 release ships: no tokenizer_config.json, no tokenizer.json
    bare.mkdir()
    for name in ("vocab.json", "merges.txt"):
        (bare / name).write_bytes((GPT2_TOKENIZER / name).read_bytes())
    output = tmp_path / "converted"
    assert main([str(CKPT), str(output), "--config", str(CONFIG_JSON), "--tokenizer", str(bare)]).processor_saved
    tokenizer = AutoProcessor.from_pretrained(output).tokenizer
    assert tokenizer.pad_token == "!" and tokenizer.eos_token_id == 50256
    text = io["prompt_text_tokenized"]
    assert tokenizer(text)["input_ids"] == AutoTokenizer.from_pretrained(GPT2_TOKENIZER)(text)["input_ids"]


def test_converter_names_the_tokenizer_files_it_needs(tmp_path):
    half = tmp_path / "gpt2"
    half.mkdir()
    (half / "vocab.json").write_text("{}")
    with pytest.raises(ValueError, match=r"neither a saved tokenizer .* nor GPT-2's vocab.json and merges.txt "
                                         r"\(found: \['vocab.json'\]\)"):
        main([str(CKPT), str(tmp_path / "out"), "--config", str(CONFIG_JSON), "--tokenizer", str(half)])
    assert not (tmp_path / "out").exists()  # refused before anything was written


# ---------------------------------------------------------------------------------------------------- key plan


def test_every_base_manifest_key_is_mapped_with_equal_shape_or_dropped_for_a_reason():
    plan = check_manifest_coverage(OFFICIAL / "official_base_state_dict.tsv")
    plan.raise_for_problems()
    manifest = read_manifest(OFFICIAL / "official_base_state_dict.tsv")
    assert len(manifest) == 552 and set(plan.mapped) | set(plan.dropped) == set(manifest)
    assert all(plan.dropped.values())
    # 12 Swin index buffers, 6 shifted-window masks, 2 STFT kernels, melW, the unused head's weight and bias.
    assert len(plan.dropped) == 22


def test_manifest_coverage_reports_unknown_keys_and_shape_mismatches(tmp_path):
    lines = (OFFICIAL / "official_tiny_state_dict.tsv").read_text().splitlines()
    linear1 = "audio_encoder.projection.linear1.weight"
    edited = [line.replace(f"{linear1}\t16x64", f"{linear1}\t16x65")
              .replace("caption_decoder.text_project.prefix_const", "caption_decoder.text_project.prefix_consts")
              for line in lines]
    manifest = tmp_path / "edited.tsv"
    manifest.write_text("\n".join(edited) + "\n")
    config, _ = configs_from_official_json(CONFIG_JSON)
    plan = check_manifest_coverage(manifest, config)
    assert not plan.ok
    assert any("linear1" in problem for problem in plan.shape_mismatches)
    assert any("prefix_consts" in key for key in plan.unknown)
    assert "model.prompt_mapper.prefix_const" in plan.unfilled
    with pytest.raises(ValueError, match="prefix_consts"):
        plan.raise_for_problems()


def test_base_config_is_inferred_from_weight_shapes_alone():
    inferred = config_from_official_shapes(read_manifest(OFFICIAL / "official_base_state_dict.tsv"))
    base = AdiffConfig()
    for name in ("projection_dim", "prefix_length", "clip_length", "prompt_length", "mapper_num_layers",
                 "mapper_num_heads", "cross_projection_num_layers", "cross_projection_num_heads", "separator_token_id",
                 "num_event_classes", "total_prefix_length", "audio_embedding_dim"):
        assert getattr(inferred, name) == getattr(base, name), name
    for name in ("patch_embeds_hidden_size", "depths", "num_attention_heads", "window_size", "num_mel_bins"):
        ours, expected = getattr(inferred.audio_config, name), getattr(base.audio_config, name)
        assert (list(ours) if isinstance(ours, (list, tuple)) else ours) == (
            list(expected) if isinstance(expected, (list, tuple)) else expected), name
    for name in ("vocab_size", "n_embd", "n_layer", "n_head", "n_positions"):
        assert getattr(inferred.text_config, name) == getattr(base.text_config, name), name


# ---------------------------------------------------------------------------------------------------- conversion


def test_conversion_accounts_for_every_official_key(converted):
    output, report = converted
    official = torch.load(CKPT, weights_only=True)
    assert set(report.mapped) | set(report.dropped) == set(official) and not set(report.mapped) & set(report.dropped)
    block = "model.audio_encoder.audio_encoder.layers.0.blocks.0.attention.self"
    assert report.mapped["audio_encoder.base.htsat.layers.0.blocks.0.attn.qkv.weight"] == tuple(
        f"{block}.{part}.weight" for part in ("query", "key", "value"))
    assert report.mapped["audio_encoder.base.htsat.bn0.running_var"] == (
        "model.audio_encoder.audio_encoder.batch_norm.running_var",)
    # The frozen front end equals what the feature extractor recomputes; the Swin buffers are rebuilt exactly.
    assert report.checks["audio_encoder.base.htsat.logmel_extractor.melW"] < 1e-6
    assert report.checks["audio_encoder.base.htsat.spectrogram_extractor.stft.conv_real.weight"] < 1e-6
    assert report.checks["audio_encoder.base.htsat.spectrogram_extractor.stft.conv_imag.weight"] < 1e-6
    buffers = {k: v for k, v in report.checks.items() if "attn_mask" in k or "relative_position_index" in k}
    assert len(buffers) == 11 and max(buffers.values()) == 0.0
    assert report.processor_saved and any(output.glob("*.safetensors"))
    saved = json.loads((output / "conversion_report.json").read_text())
    assert saved["dropped"] == report.dropped


def test_converted_folder_loads_with_auto_classes(loaded):
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffProcessor

    model, processor = loaded
    assert isinstance(model, AdiffForConditionalGeneration) and isinstance(processor, AdiffProcessor)
    assert model.config.total_prefix_length == 13 and model.config.num_event_classes == 8
    assert processor.feature_extractor.f_max == 14000.0 and processor.tokenizer.pad_token == "!"
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_module_prefix_and_legacy_gpt2_buffers_are_handled(tmp_path):
    official = torch.load(CKPT, weights_only=True)
    wrapped = {"module." + key: value for key, value in official.items()}
    for layer in range(2):  # what transformers < 4.31 persisted
        attention = f"module.caption_decoder.gpt.transformer.h.{layer}.attn"
        wrapped[f"{attention}.bias"] = torch.ones(1, 1, 8, 8, dtype=torch.bool)
        wrapped[f"{attention}.masked_bias"] = torch.tensor(-1e4)
    path = tmp_path / "ddp.ckpt"
    torch.save(wrapped, path)
    report = convert_official_checkpoint(path, None, CONFIG_JSON)
    assert "caption_decoder.gpt.transformer.h.1.attn.masked_bias" in report.dropped
    reference = official["caption_decoder.audio_project2.linear.weight"]
    assert torch.equal(report.model.model.audio_mapper_2.linear.weight, reference)


def test_checkpoint_needing_code_to_unpickle_is_refused(tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"args": argparse.Namespace(lr=1e-4), "weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="plain state_dicts"):
        convert_official_checkpoint(path, None, CONFIG_JSON)


def test_front_end_that_disagrees_with_the_config_is_refused():
    official = json.loads(CONFIG_JSON.read_text())
    official["htsat"]["config_py_values_read"]["fmax"] = 8000  # the yaml's value, which the official HTSAT ignores
    with pytest.raises(ValueError, match="melW"):
        convert_official_checkpoint(CKPT, None, official)


def test_tiny_sizes_cannot_be_guessed_without_the_json():
    with pytest.raises(ValueError, match="--config"):
        convert_official_checkpoint(CKPT, None)


# ---------------------------------------------------------------------------------------------------- parity


def test_prompt_and_log_mel_match_official(inputs, io):
    assert torch.equal(inputs["prompt_input_ids"], io["input_ids"])
    features = inputs["input_features"]  # (1, 2, 1001, 64)
    for index, name in enumerate(("logmel_a", "logmel_b")):
        reference = io[name][0, 0]
        loud = reference > -40.0
        assert max_abs(features[0, index][loud], reference[loud]) <= 1e-3
        # quiet cells (~-95 dB) differ by the official features' own float32 FFT rounding (~0.06 dB)
        assert max_abs(features[0, index], reference) <= 0.1
    assert max_abs(features[0, 0], io["logmel_a"][0, 0]) <= 2e-4  # no near-silent cells in the noisy tone


def test_audio_encoder_and_event_head_match_official(loaded, inputs, io):
    model, _ = loaded
    with torch.no_grad():
        latents = model.model.encode_audio(inputs["input_features"])  # (1, 2, 64)
        clips = inputs["input_features"].reshape(2, 1, 1001, 64)
        events = model.model.event_head(model.model.audio_encoder(input_features=clips).last_hidden_state)
        audio_embeds = model.get_audio_features(inputs["input_features"])  # (1, 2, 16)
    assert max_abs(latents[0], torch.cat((io["latent_a"], io["latent_b"]))) <= TOLERANCE
    assert max_abs(events.clip_probs, torch.cat((io["clipwise_a"], io["clipwise_b"]))) <= TOLERANCE
    assert max_abs(audio_embeds[0], torch.cat((io["audio_embed_a"], io["audio_embed_b"]))) <= TOLERANCE


def test_event_head_frame_and_clip_outputs_agree(loaded, inputs):
    model, _ = loaded
    head = model.model.event_head
    with torch.no_grad():
        grid = model.model.audio_encoder(input_features=inputs["input_features"][0, :, None]).last_hidden_state
        events = head(grid)
    assert events.frame_probs.shape == (2, 1024, 8)  # 32 TSCAM steps x 32 frames, 8 classes
    steps = events.frame_probs.view(2, 32, 32, 8)
    assert torch.equal(steps, steps[:, :, :1].expand_as(steps))  # constant within a step
    step_logits = torch.logit(steps[:, :, 0].double())
    torch.testing.assert_close(step_logits.mean(dim=1), events.logits.double(), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="last_hidden_state"):
        head(grid.flatten(2))


def test_decoder_prefix_matches_official(loaded, inputs, io):
    model, _ = loaded
    inner = model.model
    with torch.no_grad():
        audio = model.get_audio_features(inputs["input_features"])
        audio = audio / audio.norm(dim=-1, keepdim=True)
        audio_1, audio_2 = inner.audio_mapper_1(audio[:, 0]), inner.audio_mapper_2(audio[:, 1])
        prompt = inner.prompt_mapper(model.get_input_embeddings()(inputs["prompt_input_ids"]))
        separator = model.get_input_embeddings().weight[model.config.separator_token_id].view(1, 1, -1)
        prefix = model.get_prefix_embeddings(**inputs)
    assert max_abs(audio_1, io["audio_proj1"]) <= TOLERANCE
    assert max_abs(audio_2, io["audio_proj2"]) <= TOLERANCE
    assert max_abs(prompt, io["text_proj"]) <= TOLERANCE
    assert max_abs(separator, io["sep_embed"]) == 0.0
    assert max_abs(torch.cat((audio_1, separator, audio_2, prompt), dim=1), io["prefix_pre_cross"]) <= TOLERANCE
    assert max_abs(prefix, io["prefix"]) <= TOLERANCE


def test_logits_and_greedy_decoding_match_official(loaded, inputs, io):
    model, _ = loaded
    with torch.no_grad():
        logits = model(**inputs).logits  # prefix only
        generated = model.generate(**inputs, max_new_tokens=20, min_new_tokens=20, do_sample=False)
    assert max_abs(logits[0, -1], io["first_step_logits"]) <= TOLERANCE
    assert generated[0].tolist() == io["greedy_ids"].tolist()
    assert not math.isnan(logits.sum().item())
