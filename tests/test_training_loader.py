"""The training DataLoader (`training.loader`): worker processes read audio and compute log-mels ahead of the step,
and the batches, hence the loss curve, do not depend on how many workers there are."""

import pytest
import torch
from training_testing import stage_recipe, synth_corpus  # noqa: F401

from processing_adiff import AdiffFeatureExtractor
from training.loader import build_train_loader
from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import TrainConfig, recipe_from_dict
from training.sampler import ResumableBatchSampler
from training.stage_data import ClipTaggingData, split_file

torch.set_num_threads(1)


def _tagging_batches(corpus, workers: int) -> list[dict]:
    data = ClipTaggingData(split_file(corpus, "train", "_clips.csv"), AdiffFeatureExtractor(), training=True,
                           frame_steps=8)
    sampler = ResumableBatchSampler(len(data), 4, seed=0, shuffle=True, drop_last=True)
    loader = build_train_loader(data, sampler, TrainConfig(num_workers=workers), torch.device("cpu"))
    assert loader.persistent_workers is (workers > 0) and loader.pin_memory is False  # pinning only for CUDA
    batches = []
    for epoch in range(2):  # persistent workers serve the second epoch's order too
        sampler.set_epoch(epoch)
        batches += [next(iter(loader))]
    return batches


def test_worker_processes_give_the_batches_of_the_training_process(synth_corpus):  # noqa: F811
    in_process, in_workers = _tagging_batches(synth_corpus, 0), _tagging_batches(synth_corpus, 2)
    assert len(in_process) == len(in_workers) == 2
    assert not torch.equal(in_process[0]["input_features"], in_process[1]["input_features"])  # epochs differ
    for ours, theirs in zip(in_process, in_workers):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), key  # same log-mels (random crops), labels, frame targets


def test_a_tagger_run_with_workers_has_the_loss_curve_of_one_without(synth_corpus, tmp_path):  # noqa: F811
    def curve(workers):
        out = tmp_path / f"workers{workers}"
        recipe = stage_recipe("tagger", out, synth_corpus, train={"max_steps": 2, "num_workers": workers},
                              eval={"max_batches": 1})
        train(recipe_from_dict(recipe))
        return [r["train/loss"] for r in read_metrics(out) if "train/loss" in r]

    assert curve(2) == pytest.approx(curve(0), rel=1e-6)


def test_bad_loader_settings_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match=r"train.num_workers must be an integer >= 0 .*got -1"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "train": {"num_workers": -1}})
    with pytest.raises(ValueError, match=r"train.prefetch_factor must be an integer >= 1, got 0"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "train": {"prefetch_factor": 0}})
