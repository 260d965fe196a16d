"""Log-mels computed batched on the training device (`data.features_on_device`, `AdiffFeatureExtractor.
batched_log_mel`): the same features as the per-clip CPU path, the same random crops, the same training run, and the
embedding cache's batched path gives the same vectors. Run on the CPU here; benchmarks/gpu_checks.sh runs them on CUDA.
"""

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import build_tiny_config
from training_testing import stage_recipe, synth_corpus  # noqa: F401

from processing_adiff import AdiffFeatureExtractor
from training.data.loader import build_train_loader
from training.data.stage_data import ClipTaggingData, split_file
from training.embedding_cache import EmbeddingCache
from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import TrainConfig, recipe_from_dict
from training.sampler import ResumableBatchSampler

torch.set_num_threads(1)


def _clips():
    """Clips of every kind the front end handles: long (cropped), short (tiled), another rate, stereo, silence, and
    one louder than LOUD_PEAK (a gain other than 1)."""
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-1, 1, 400000).astype(np.float32), rng.normal(0, 0.1, 16000).astype(np.float32),
             rng.normal(0, 0.3, (2, 50000)).astype(np.float32), np.zeros(1000, np.float32),
             rng.normal(0, 1e20, 60000)]
    return clips, [32000, 16000, 44100, 32000, 32000]


@pytest.mark.parametrize("settings", [{}, {"floor_db": -60.0}, {"top_db": 80.0}])
def test_batched_log_mels_equal_the_per_clip_features(settings):
    extractor = AdiffFeatureExtractor(**settings)
    clips, rates = _clips()
    expected = extractor(clips, sampling_rate=rates, truncation="random", seed=3)["input_features"]
    waveforms, gains = extractor.prepare_waveforms(clips, rates, truncation="random", seed=3)
    assert waveforms.shape == (5, extractor.num_samples) and gains.dtype == torch.float64
    assert gains[:4].tolist() == [1.0] * 4 and gains[4] > 1e15  # the loud clip is scaled down before the STFT
    torch.testing.assert_close(extractor.batched_log_mel(waveforms, gains), expected, rtol=0, atol=1e-5)
    # each clip's features depend on that clip only, in a batch of any size
    torch.testing.assert_close(extractor.batched_log_mel(waveforms[1:2], gains[1:2]), expected[1:2], rtol=0,
                               atol=1e-5)


def test_batched_log_mel_rejects_what_prepare_waveforms_does_not_make():
    extractor = AdiffFeatureExtractor()
    with pytest.raises(ValueError, match=r"float32 waveforms of shape \(clips, 320000\) from prepare_waveforms, got "
                                         r"torch.float32 of shape \(2, 16000\)"):
        extractor.batched_log_mel(torch.zeros(2, 16000))
    with pytest.raises(ValueError, match=r"one gain per clip, shape \(2,\), got shape \(3,\)"):
        extractor.batched_log_mel(torch.zeros(2, extractor.num_samples), torch.ones(3))


def _tagging_data(corpus, on_device: bool) -> ClipTaggingData:
    return ClipTaggingData(split_file(corpus, "train", "_clips.csv"), AdiffFeatureExtractor(), training=True,
                           frame_steps=8, features_on_device=on_device)


def test_a_batch_with_features_on_device_equals_the_batch_made_on_the_cpu(synth_corpus):  # noqa: F811
    plain, deferred = _tagging_data(synth_corpus, False), _tagging_data(synth_corpus, True)
    batch = [(item, 1000 + k) for k, item in enumerate(plain.items[:4])]
    expected = plain.collate(batch)
    collated = deferred.collate(batch)
    assert "input_features" not in collated and collated["waveforms"].shape == (4, 320000)  # waveforms travel
    ready = deferred.on_device(collated)
    assert ready.keys() == expected.keys()
    torch.testing.assert_close(ready["input_features"], expected["input_features"], rtol=0, atol=1e-5)  # same crops
    for key in expected.keys() - {"input_features"}:
        assert torch.equal(ready[key], expected[key]), key
    assert plain.on_device(expected) is expected  # batches of the CPU path pass through


def test_worker_processes_give_the_waveform_batches_of_the_training_process(synth_corpus):  # noqa: F811
    data = _tagging_data(synth_corpus, True)
    batches = {}
    for workers in (0, 2):
        sampler = ResumableBatchSampler(len(data), 4, seed=0, shuffle=True, drop_last=True)
        loader = build_train_loader(data, sampler, TrainConfig(num_workers=workers), torch.device("cpu"))
        batches[workers] = [data.on_device(batch) for batch in loader]
    assert len(batches[0]) == len(batches[2]) > 1
    for ours, theirs in zip(batches[0], batches[2]):  # the same random crops, whoever collates
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_tagger_run_with_features_on_device_has_the_loss_curve_of_one_without(synth_corpus, tmp_path):  # noqa: F811
    def curve(on_device: bool) -> list:
        out = tmp_path / f"on_device_{on_device}"
        recipe = stage_recipe("tagger", out, synth_corpus, train={"max_steps": 3},
                              data={"features_on_device": on_device}, eval={"max_batches": 1})
        train(recipe_from_dict(recipe))
        return [r["train/loss"] for r in read_metrics(out) if "train/loss" in r]

    expected = curve(False)
    assert len(expected) == 3
    assert curve(True) == pytest.approx(expected, rel=1e-5)


def test_features_on_device_is_checked_in_the_recipe():
    with pytest.raises(ValueError, match=r"data.features_on_device must be true or false, got 'yes'"):
        recipe_from_dict({"stage": "tagger", "output_dir": "x", "data": {"features_on_device": "yes"}})
    with pytest.raises(ValueError, match=r"stage 'grounding' does not support it .*embedding cache.*Remove the key"):
        recipe_from_dict({"stage": "grounding", "output_dir": "x", "data": {"features_on_device": True}})


def test_the_embedding_cache_gives_the_same_vectors_with_batched_log_mels(tmp_path):
    from transformers import ClapAudioModel

    rng = np.random.default_rng(0)
    paths = []
    for k, (seconds, rate) in enumerate([(12, 32000), (3, 16000), (10, 32000)]):
        paths.append(str(tmp_path / f"clip{k}.wav"))
        sf.write(paths[-1], rng.uniform(-0.5, 0.5, seconds * rate).astype(np.float32), rate, subtype="PCM_16")
    torch.manual_seed(0)
    encoder = ClapAudioModel(build_tiny_config().audio_config).eval()
    extractor = AdiffFeatureExtractor()
    tables = [EmbeddingCache(tmp_path / f"cache_{on_device}", encoder, extractor, batch_size=2,
                             features_on_device=on_device).embed_files(paths, show_progress=False)
              for on_device in (False, True)]
    for path in paths:
        torch.testing.assert_close(tables[1][path], tables[0][path], rtol=0, atol=1e-5)
