"""scripts/event_head_ap.py: average precision of a model's event head on a SynthDiff split's labelled clips."""

import importlib.util

import pytest
import torch
from conftest import REPO_ROOT, build_tiny_config
from training_testing import TINY_AUDIO
from transformers import AutoModel, ClapAudioConfig

from modeling_adiff import AdiffForConditionalGeneration
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
from processing_adiff.audio_io import load_audio
from training.stages import average_precisions
from training.synthdiff import CLASS_NAMES, generate_corpus
from training.tagger import AdiffAudioTagger

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


def _features(extractor, path) -> torch.Tensor:
    audio, rate = load_audio(str(path))
    return extractor(audio, sampling_rate=rate, return_tensors="pt")["input_features"][0]  # (frames, mels)


def test_targets_name_the_clip_sounds_and_background_the_model_has_classes_for(tmp_path):
    (tmp_path / "test_clips.csv").write_text("filepath,labels,background\na.wav,beep;siren,rain\nb.wav,,crowd\n")
    clips = event_head_ap.read_clips(tmp_path, "test")
    targets = event_head_ap.clip_targets(clips, ["siren", "beep", "bell", "background:rain"])
    assert targets.tolist() == [[1, 1, 0, 1], [0, 0, 0, 0]]  # no class for crowd: nothing to score it on


def test_scores_do_not_depend_on_how_clips_are_paired(model_dir, corpus):
    events, extractor, labels = event_head_ap.load_scorer(str(model_dir))
    clips = event_head_ap.read_clips(corpus, "test", extractor)
    assert len(clips) == 6
    full = event_head_ap.clip_scores(events, clips, batch_size=4)  # batches of 4 and 2 clips
    odd = event_head_ap.clip_scores(events, clips, batch_size=3)  # batches of 3 clips: each pads its last clip
    assert full.shape == (6, len(labels))
    torch.testing.assert_close(odd, full, atol=1e-5, rtol=1e-4)


def test_main_prints_every_scored_class_and_the_means(model_dir, corpus, capsys):
    assert event_head_ap.main([str(corpus), "--model", str(model_dir), "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    model = AutoModel.from_pretrained(model_dir).eval()
    clips, extractor = event_head_ap.read_clips(corpus, "test"), AdiffFeatureExtractor.from_pretrained(model_dir)
    with torch.no_grad():  # the same scores straight from the model's event head
        probs = []
        for start in range(0, len(clips), 2):
            pair = torch.stack([_features(extractor, item["filepath"]) for item in clips.items[start:start + 2]])
            probs.append(model.model.get_audio_events(pair[None]).clip_probs[0])  # (1, 2, classes) -> (2, classes)
    expected = average_precisions(torch.cat(probs), event_head_ap.clip_targets(clips, model.config.event_labels))
    scored = {name: ap for name, ap in zip(model.config.event_labels, expected) if ap is not None}
    assert scored, "the tiny corpus has labelled clips"
    printed = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert {name: float(value) for name, value in printed.items() if value != "no"} == pytest.approx(scored, abs=1e-3)
    assert "mean over" in out and "6 test clips" in out


def test_a_stage_1a_tagger_folder_is_scored_with_its_own_classes(corpus, tmp_path, capsys):
    tagger = AdiffAudioTagger(ClapAudioConfig(**TINY_AUDIO, num_mel_bins=64), ["beep", "siren", "background:rain"])
    tagger.save_pretrained(tmp_path / "tagger")
    events, _, labels = event_head_ap.load_scorer(str(tmp_path / "tagger"))
    assert labels == ["beep", "siren", "background:rain"]
    clips = event_head_ap.read_clips(corpus, "test")
    with torch.no_grad():
        features = torch.stack([_features(AdiffFeatureExtractor(), item["filepath"]) for item in clips.items[:2]])
        torch.testing.assert_close(events(features), torch.sigmoid(tagger.eval()(features).logits))
    assert event_head_ap.main([str(corpus), "--model", str(tmp_path / "tagger")]) == 0
    assert "background:rain" in capsys.readouterr().out


def test_missing_split_says_what_to_give(corpus):
    with pytest.raises(FileNotFoundError, match="give a SynthDiff corpus folder"):
        event_head_ap.read_clips(corpus, "validation")
