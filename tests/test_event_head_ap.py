"""scripts/event_head_ap.py: average precision of a model's event head on a SynthDiff split's labelled clips."""

import importlib.util

import pytest
import torch
from conftest import REPO_ROOT, build_tiny_config
from transformers import AutoModel

from modeling_adiff import AdiffForConditionalGeneration
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
from training.stages import average_precisions
from training.synthdiff import CLASS_NAMES, generate_corpus

torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("event_head_ap", REPO_ROOT / "scripts" / "event_head_ap.py")
event_head_ap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(event_head_ap)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthdiff")
    generate_corpus(folder, splits={"test": 3}, seed=0, sample_rate=8000, seconds=2.0, caption_rows=1)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_tokenizer, corpus):
    labels = list(CLASS_NAMES) + ["background:rain", "background:wind"]
    config = build_tiny_config(tiny_tokenizer, num_event_classes=len(labels), event_labels=labels)
    folder = tmp_path_factory.mktemp("tiny_model")
    torch.manual_seed(0)
    AdiffForConditionalGeneration(config).save_pretrained(folder)
    AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=config.prompt_length).save_pretrained(folder)
    return folder


def test_targets_name_the_clip_sounds_and_background_the_model_has_classes_for():
    rows = [{"labels": "beep;siren", "background": "rain"}, {"labels": "", "background": "crowd"}]
    targets = event_head_ap.clip_targets(rows, ["siren", "beep", "bell", "background:rain"])
    assert targets.tolist() == [[1, 1, 0, 1], [0, 0, 0, 0]]  # no class for crowd: nothing to score it on


def test_scores_do_not_depend_on_how_clips_are_paired(model_dir, corpus):
    model = AutoModel.from_pretrained(model_dir).eval()
    extractor = AdiffFeatureExtractor.from_pretrained(model_dir)
    rows = event_head_ap.read_clips(corpus, "test")
    assert len(rows) == 6
    full = event_head_ap.clip_scores(model, extractor, corpus, rows, batch_size=2)
    odd = event_head_ap.clip_scores(model, extractor, corpus, rows[1:], batch_size=1)  # 5 clips: the last pads
    assert full.shape == (6, len(model.config.event_labels))
    torch.testing.assert_close(odd, full[1:], atol=1e-5, rtol=1e-4)


def test_main_prints_every_scored_class_and_the_means(model_dir, corpus, capsys):
    assert event_head_ap.main([str(corpus), "--model", str(model_dir), "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    model = AutoModel.from_pretrained(model_dir).eval()
    rows = event_head_ap.read_clips(corpus, "test")
    scores = event_head_ap.clip_scores(model, AdiffFeatureExtractor.from_pretrained(model_dir), corpus, rows, 2)
    expected = average_precisions(scores, event_head_ap.clip_targets(rows, model.config.event_labels))
    scored = {name: ap for name, ap in zip(model.config.event_labels, expected) if ap is not None}
    assert scored, "the tiny corpus has labelled clips"
    printed = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert {name: float(value) for name, value in printed.items() if value != "no"} == pytest.approx(scored, abs=1e-3)
    assert "mean over" in out and "6 test clips" in out


def test_missing_split_says_what_to_give(corpus):
    with pytest.raises(FileNotFoundError, match="give a SynthDiff corpus folder"):
        event_head_ap.read_clips(corpus, "validation")
