"""Continuing a trained model on new data (how release 8 was made from release 7): corpora merged into one folder,
stage 1a continuing an existing encoder (`init.audio_encoder`), and stage 2 putting that encoder into an existing ADIFF
model (`init.from_pretrained` + `init.audio_encoder`)."""

import csv
import json

import numpy as np
import pytest
import torch
from training_testing import TINY_AUDIO, stage_recipe, synth_corpus  # noqa: F401

from training.data.eval_set import load_eval_set
from training.loop import train
from training.recipe import recipe_from_dict
from training.synthdiff.merge import merge_corpora

torch.set_num_threads(1)


def _run(stage, out, corpus, **sections):
    return train(recipe_from_dict(stage_recipe(stage, out, corpus, **sections)))


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def merged(synth_corpus, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("merge") / "merged"
    merge_corpora(out, [synth_corpus, synth_corpus], tags=["one", "two"])
    return out


def test_merged_corpus_holds_every_row_of_each_part_with_its_audio_and_facts(merged, synth_corpus):  # noqa: F811
    for split in ("train", "train_reversed", "validation", "test"):
        source, rows = _rows(synth_corpus / f"{split}.csv"), _rows(merged / f"{split}.csv")
        assert len(rows) == 2 * len(source)
        for tag, part in (("one", rows[:len(source)]), ("two", rows[len(source):])):
            for ours, theirs in zip(part, source):
                assert ours["answer"] == theirs["answer"]
                for column in ("filepath1", "filepath2"):
                    assert ours[column].startswith("audio/") and f"/{tag}-" in ours[column]
                    assert (merged / ours[column]).read_bytes() == (synth_corpus / theirs[column]).read_bytes()
    clips = _rows(merged / "train_clips.csv")
    assert len(clips) == 2 * len(_rows(synth_corpus / "train_clips.csv"))
    assert all((merged / row["filepath"]).is_file() for row in clips)
    # The evaluator finds every merged test row's facts, as in a generated corpus.
    eval_set = load_eval_set(str(merged), split="test")
    pairs = {(row["filepath1"], row["filepath2"]) for row in _rows(merged / "test.csv")}
    assert len({row.pair for row in eval_set.rows}) == len(pairs) and all(row.facts for row in eval_set.rows)
    info = json.loads((merged / "corpus.json").read_text())
    source_info = json.loads((synth_corpus / "corpus.json").read_text())
    assert info["sound_classes"] == source_info["sound_classes"]
    assert info["counts"]["train"]["pairs"] == 2 * source_info["counts"]["train"]["pairs"]
    assert [part["tag"] for part in info["merged_from"]] == ["one", "two"]


def test_merge_refuses_what_it_cannot_merge(synth_corpus, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match="at least two"):
        merge_corpora(tmp_path / "a", [synth_corpus])
    with pytest.raises(ValueError, match="distinct tag"):
        merge_corpora(tmp_path / "b", [synth_corpus, synth_corpus], tags=["x", "x"])
    with pytest.raises(FileNotFoundError, match="not a SynthDiff corpus"):
        merge_corpora(tmp_path / "c", [synth_corpus, tmp_path])
    (tmp_path / "d").mkdir()
    with pytest.raises(FileExistsError):
        merge_corpora(tmp_path / "d", [synth_corpus, synth_corpus])


@pytest.fixture(scope="module")
def continued(merged, synth_corpus, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("continue")
    first = _run("tagger", root / "s1a", synth_corpus)
    lm = _run("lm", root / "s1b", synth_corpus)
    model = _run("grounding", root / "s2", synth_corpus, init={"audio_encoder": str(first), "language_model": str(lm)},
                 data={"embedding_cache": str(root / "cache_first")})
    # At a negligible rate the weights stay where they started (a fresh encoder would be far from them).
    again = _run("tagger", root / "s1a_again", merged, init={"audio_encoder": str(model)}, model={"audio_config": {}},
                 data={"feature_extractor": {"top_db": 60}}, optim={"lr": 1e-12, "warmup_steps": 0})
    swapped = _run("grounding", root / "s2_swapped", merged,
                   init={"from_pretrained": str(model), "audio_encoder": str(again)}, model={},
                   data={"embedding_cache": str(root / "cache_swapped")}, optim={"lr": 1e-12, "warmup_steps": 0})
    return {"first": first, "model": model, "again": again, "swapped": swapped}


def test_stage1a_continues_the_encoder_of_an_adiff_folder(continued):
    from transformers import ClapAudioModel

    from modeling_adiff import AdiffForConditionalGeneration

    model = AdiffForConditionalGeneration.from_pretrained(continued["model"])
    start = dict(model.model.audio_encoder.named_parameters())
    again = dict(ClapAudioModel.from_pretrained(continued["again"]).named_parameters())
    assert start.keys() == again.keys() and all(torch.allclose(start[k], again[k], atol=1e-6) for k in start)
    torch.manual_seed(1)
    fresh = dict(ClapAudioModel(ClapAudioModel.from_pretrained(continued["again"]).config).named_parameters())
    assert not all(torch.allclose(start[k], fresh[k], atol=1e-6) for k in start)  # the test can tell them apart
    front_end = json.loads((continued["again"] / "preprocessor_config.json").read_text())
    assert front_end["top_db"] == 60


def test_stage2_puts_the_continued_encoder_into_the_model(continued):
    from transformers import ClapAudioModel

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffProcessor

    base = AdiffForConditionalGeneration.from_pretrained(continued["model"])
    swapped = AdiffForConditionalGeneration.from_pretrained(continued["swapped"])
    encoder = ClapAudioModel.from_pretrained(continued["again"]).state_dict()
    ours = swapped.model.audio_encoder.state_dict()
    assert all(torch.equal(ours[k], encoder[k]) for k in encoder)
    # Everything else is the model it continued (trained at a negligible rate here).
    for name, tensor in base.model.audio_projection.state_dict().items():
        assert torch.allclose(swapped.model.audio_projection.state_dict()[name], tensor, atol=1e-6)
    labels = json.loads((continued["again"] / "event_labels.json").read_text())
    assert swapped.config.event_labels == labels and swapped.config.num_event_classes == len(labels)
    assert AdiffProcessor.from_pretrained(continued["swapped"]).feature_extractor.top_db == 60


def test_stage2_gives_a_trained_model_the_acoustic_summary(continued, merged, tmp_path):
    from modeling_adiff import AdiffForConditionalGeneration

    out = _run("grounding", tmp_path / "s2_summary", merged,
               init={"from_pretrained": str(continued["model"]), "acoustic_summary": True}, model={},
               data={"embedding_cache": str(tmp_path / "cache")}, optim={"lr": 1e-12, "warmup_steps": 0})
    base = AdiffForConditionalGeneration.from_pretrained(continued["model"])
    summary = AdiffForConditionalGeneration.from_pretrained(out)
    assert summary.config.acoustic_summary and not base.config.acoustic_summary
    width = base.config.audio_embedding_dim
    projection = summary.model.audio_projection.linear1.weight
    assert projection.shape[1] == summary.config.audio_feature_dim > width
    torch.testing.assert_close(projection[:, :width], base.model.audio_projection.linear1.weight, atol=1e-6,
                               rtol=0)
    assert projection[:, width:].abs().max() < 1e-6  # started at zero; a negligible rate keeps it there
    # The cached vectors carry the summary (the cache would otherwise not fit the projection).
    vectors = list((tmp_path / "cache").rglob("*.npy"))
    assert vectors and all(np.load(v).shape == (summary.config.audio_feature_dim,) for v in vectors)
    with pytest.raises(ValueError, match="init.acoustic_summary must be true or false"):
        _run("grounding", tmp_path / "bad", merged, init={"from_pretrained": str(continued["model"]),
                                                          "acoustic_summary": "yes"}, model={})


def test_continuing_needs_a_matching_architecture(continued, merged, tmp_path):
    with pytest.raises(ValueError, match="drop model.audio_config"):
        _run("tagger", tmp_path / "both", merged, init={"audio_encoder": str(continued["model"])},
             model={"audio_config": dict(TINY_AUDIO)})
    other = dict(TINY_AUDIO, patch_embeds_hidden_size=4, hidden_size=32)
    wider = _run("tagger", tmp_path / "other", merged, model={"audio_config": other})
    with pytest.raises(ValueError, match="another architecture"):
        _run("grounding", tmp_path / "mismatch", merged,
             init={"from_pretrained": str(continued["model"]), "audio_encoder": str(wider)}, model={},
             data={"embedding_cache": str(tmp_path / "cache")})
