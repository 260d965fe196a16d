"""The acoustic summary: band levels and loudness envelope next to HTSAT's clip embedding (config.acoustic_summary)."""

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import build_tiny_config

from modeling_adiff import AdiffForConditionalGeneration
from modeling_adiff.acoustic_summary import SUMMARY_DB_SCALE, acoustic_summary

torch.set_num_threads(1)

FRAMES, MELS = 1001, 64


def _pair_inputs(config, seed=0, batch=2):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, 2, FRAMES, MELS, generator=generator) * 10 - 40  # dB-like log-mels
    prompt = torch.randint(1, config.text_config.vocab_size, (batch, config.prompt_length), generator=generator)
    return features, prompt


def test_summary_holds_band_levels_and_envelope_in_scaled_db():
    features = torch.full((2, FRAMES, MELS), -60.0)
    features[0, :, :8] = -20.0  # clip 0: the low bands 40 dB louder (a tilt)
    features[1, 500:, :] = -30.0  # clip 1: its second half louder (a late start)
    summary = acoustic_summary(features, segments=4)
    assert summary.shape == (2, MELS + 4)
    torch.testing.assert_close(summary[0, :8], torch.full((8,), -20.0 / SUMMARY_DB_SCALE))
    torch.testing.assert_close(summary[0, 8:MELS], torch.full((MELS - 8,), -60.0 / SUMMARY_DB_SCALE))
    envelope = summary[1, MELS:]
    assert envelope[0] == pytest.approx(-3.0) and envelope[3] == pytest.approx(-1.5)  # -60 dB then -30 dB
    # the (clips, 1, frames, mels) layout the encoder reads gives the same summary
    torch.testing.assert_close(acoustic_summary(features.unsqueeze(1), segments=4), summary)


def test_summary_rejects_what_it_cannot_summarise():
    with pytest.raises(ValueError, match="clips, frames, mel_bins"):
        acoustic_summary(torch.zeros(FRAMES, MELS), segments=4)
    with pytest.raises(ValueError, match="segments"):
        acoustic_summary(torch.zeros(1, 10, MELS), segments=11)


def test_config_declares_the_summary_width(tiny_tokenizer):
    off = build_tiny_config(tiny_tokenizer)
    assert off.acoustic_summary is False and off.acoustic_summary_dim == 0
    assert off.audio_feature_dim == off.audio_embedding_dim
    on = build_tiny_config(tiny_tokenizer, acoustic_summary=True, acoustic_summary_segments=16)
    assert on.acoustic_summary_dim == on.audio_config.num_mel_bins + 16
    assert on.audio_feature_dim == on.audio_embedding_dim + on.acoustic_summary_dim
    with pytest.raises(ValueError, match="acoustic_summary_segments"):
        build_tiny_config(tiny_tokenizer, acoustic_summary=True, acoustic_summary_segments=0)
    with pytest.raises(ValueError, match="acoustic_summary must be True or False"):
        build_tiny_config(tiny_tokenizer, acoustic_summary="yes")


def test_model_with_summary_reads_spectral_balance_the_embedding_alone_can_miss(tiny_tokenizer):
    config = build_tiny_config(tiny_tokenizer, acoustic_summary=True, acoustic_summary_segments=8)
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config).eval()
    features, prompt = _pair_inputs(config)
    with torch.no_grad():
        embeds = model.model.encode_audio(features)
        assert embeds.shape == (2, 2, config.audio_feature_dim)
        torch.testing.assert_close(embeds[:, :, config.audio_embedding_dim:],
                                   acoustic_summary(features.flatten(0, 1), 8).view(2, 2, -1))
        from_features = model.model.get_prefix_embeddings(features, prompt)
        from_embeds = model.model.get_prefix_embeddings(prompt_input_ids=prompt, audio_embeds=embeds)
    torch.testing.assert_close(from_features, from_embeds)
    with pytest.raises(ValueError, match=f"must have {config.audio_feature_dim} features per clip"):
        model.model.get_prefix_embeddings(prompt_input_ids=prompt,
                                          audio_embeds=embeds[..., :config.audio_embedding_dim])


def test_enabling_the_summary_keeps_the_outputs_and_learns_from_them(tiny_tokenizer, tmp_path):
    config = build_tiny_config(tiny_tokenizer)
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config).eval()
    features, prompt = _pair_inputs(config)
    answer = torch.randint(1, config.text_config.vocab_size, (2, 6))
    with torch.no_grad():
        before = model(input_features=features, prompt_input_ids=prompt, labels=answer).logits
    model.model.enable_acoustic_summary(segments=8)
    assert model.config.acoustic_summary and model.config.acoustic_summary_segments == 8
    assert model.model.audio_projection.linear1.in_features == config.audio_embedding_dim + MELS + 8
    with torch.no_grad():
        after = model(input_features=features, prompt_input_ids=prompt, labels=answer).logits
    torch.testing.assert_close(after, before)  # zero weights on the summary: nothing changes yet
    # ... but the new weights get a gradient, so training can use the summary
    model.train()
    model(input_features=features, prompt_input_ids=prompt, labels=answer).loss.backward()
    grad = model.model.audio_projection.linear1.weight.grad
    assert grad[:, config.audio_embedding_dim:].abs().sum() > 0
    with pytest.raises(ValueError, match="already reads the acoustic summary"):
        model.model.enable_acoustic_summary()
    # saved and reloaded, the model keeps the summary and computes the same
    model.eval().save_pretrained(tmp_path / "with_summary")
    loaded = AdiffForConditionalGeneration.from_pretrained(tmp_path / "with_summary").eval()
    assert loaded.config.acoustic_summary and loaded.config.acoustic_summary_segments == 8
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_features=features, prompt_input_ids=prompt, labels=answer).logits,
                                   after)


def test_enable_rejects_a_summary_longer_than_the_clip(tiny_tokenizer):
    model = AdiffForConditionalGeneration(build_tiny_config(tiny_tokenizer))
    with pytest.raises(ValueError, match="acoustic_summary_segments"):
        model.model.enable_acoustic_summary(segments=-1)
    assert model.config.acoustic_summary is False and model.config.acoustic_summary_segments == 32  # unchanged
    assert model.model.audio_projection.linear1.in_features == model.config.audio_embedding_dim


def test_embedding_cache_stores_what_the_model_reads(tiny_tokenizer, tmp_path):
    from processing_adiff import AdiffFeatureExtractor
    from training.embedding_cache import EmbeddingCache

    rng = np.random.default_rng(0)
    paths = []
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, rng.uniform(-0.5, 0.5, 32000).astype(np.float32), 32000, subtype="PCM_16")
        paths.append(str(tmp_path / name))
    config = build_tiny_config(tiny_tokenizer, acoustic_summary=True, acoustic_summary_segments=8)
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config).eval()
    extractor = AdiffFeatureExtractor()
    cache = EmbeddingCache(tmp_path / "cache", model.model.audio_encoder, extractor, summary_segments=8)
    plain = EmbeddingCache(tmp_path / "cache", model.model.audio_encoder, extractor)
    assert cache.key != plain.key  # vectors with and without the summary never share an entry
    table = cache.embed_files(paths, show_progress=False)
    clips = [sf.read(p, dtype="float32")[0] for p in paths]
    features = extractor(clips, sampling_rate=32000)["input_features"]  # (2, frames, mels)
    with torch.no_grad():
        direct = model.model.encode_audio(features.unsqueeze(0))[0]  # the pair (a, b): (2, D + S)
    torch.testing.assert_close(torch.stack([table[p] for p in paths]), direct)
