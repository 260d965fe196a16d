"""Clip-property targets for stage 1a (issue 19): targets from clip facts, the masked property loss, the tagger's
training step with it, the tagger recipe, and the linear probes of scripts/property_probe.py."""

import importlib.util
import json

import pytest
import torch
from conftest import REPO_ROOT
from training_testing import TINY_AUDIO, stage_recipe, synth_corpus  # noqa: F401
from transformers import ClapAudioConfig, ClapAudioModel

from processing_adiff import AdiffFeatureExtractor
from training.clip_properties import (CLIP_PROPERTIES, PROPERTY_NAMES, ClipPropertyHead, property_scores,
                                      property_targets, read_clip_facts, select_properties)
from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import recipe_from_dict
from training.data.stage_data import ClipTaggingData
from training.tagger import AdiffAudioTagger
from training.towers import load_feature_extractor

torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("property_probe", REPO_ROOT / "scripts" / "property_probe.py")
property_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(property_probe)

SYNTH_CLIP = {"loudness_db": -20.0, "reverb": "hall", "timbre": "muffled", "speed": 1.15, "noisy": True,
              "clipped": False}


def test_targets_come_from_the_clip_facts_and_unknown_ones_are_masked():
    values, known = property_targets([SYNTH_CLIP, {**SYNTH_CLIP, "eq_tilt_db_per_octave": -3.0}])
    column = {name: i for i, name in enumerate(PROPERTY_NAMES)}
    assert values[0, column["level"]] == pytest.approx(1.0)  # (-20 + 30) / 10
    assert values[0, column["reverb"]] == 2 and values[0, column["timbre"]] == 1  # hall, muffled
    assert values[0, column["speed"]] == pytest.approx(1.0) and values[0, column["noise"]] == 1
    assert not known[0, column["tilt"]] and not known[0, column["pitch"]]  # SynthDiff clips have no tilt or pitch
    assert known[1, column["tilt"]] and values[1, column["tilt"]] == pytest.approx(-0.5)
    # a real-source clip (s19src's facts): null hum / codec and 0 clicks mean "none", not "unknown"
    source = {**SYNTH_CLIP, "eq_tilt_db_per_octave": 0.0, "pitch_semitones": 2.0, "hum_hz": None, "clicks": 0,
              "codec": "mp3"}
    values, known = property_targets([source, {**source, "hum_hz": 50, "clicks": 4, "codec": None}])
    assert known.all()
    assert values[:, [column["hum"], column["clicks"], column["codec"]]].tolist() == [[0, 0, 1], [1, 1, 0]]
    with pytest.raises(ValueError, match=r"Clip fact reverb='cave' is not one of \('dry', 'room', 'hall'\)"):
        property_targets([{**SYNTH_CLIP, "reverb": "cave"}])
    assert [p.name for p in select_properties(["speed", "level"])] == ["level", "speed"]
    with pytest.raises(ValueError, match=r"Unknown clip properties \['loudness'\]; choose from"):
        select_properties(["loudness"])


def test_property_loss_is_masked_and_scores_measure_the_head():
    head = ClipPropertyHead(4, CLIP_PROPERTIES)
    outputs = head(torch.randn(3, 4))
    values, known = property_targets([SYNTH_CLIP] * 3)
    loss = head.loss(outputs, values, known)
    changed = values.clone()
    changed[:, PROPERTY_NAMES.index("tilt")] = 99.0  # unknown targets do not count
    assert torch.equal(head.loss(outputs, changed, known), loss)
    nothing = head.loss(outputs, values, torch.zeros_like(known))
    assert nothing.item() == 0.0 and nothing.requires_grad
    with pytest.raises(ValueError, match=rf"property targets must have shape \(batch, {len(CLIP_PROPERTIES)}\)"):
        head.loss(outputs, values[:, :3], known[:, :3])

    properties = select_properties(["reverb", "level"])
    values = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 1.0]])  # level, reverb
    known = torch.ones_like(values, dtype=torch.bool)
    perfect = torch.tensor([[0.0, 9.0, 0.0, 0.0], [1.0, 0.0, 0.0, 9.0], [-1.0, 0.0, 9.0, 0.0]])
    assert property_scores(properties, perfect, values, known) == {"level": 1.0, "reverb": 1.0}
    constant = torch.tensor([[0.0, 9.0, 0.0, 0.0]] * 3)
    assert property_scores(properties, constant, values, known) == {"level": 0.0, "reverb": pytest.approx(1 / 3)}


def test_tagger_training_step_with_property_loss():
    torch.manual_seed(0)
    config = ClapAudioConfig(**TINY_AUDIO)
    tagger = AdiffAudioTagger(config, ["beep", "drum"], properties=CLIP_PROPERTIES, property_loss_weight=2.0).eval()
    features = torch.randn(2, 1001, 64)
    values, known = property_targets([SYNTH_CLIP, {**SYNTH_CLIP, "reverb": "dry", "noisy": False}])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    both = tagger(features, labels=labels, property_targets=values, property_known=known)
    events_only = tagger(features, labels=labels)
    properties_only = tagger(features, property_targets=values, property_known=known)
    assert both.property_outputs.shape == (2, sum(p.width for p in CLIP_PROPERTIES))
    torch.testing.assert_close(both.loss, events_only.loss + properties_only.loss)
    torch.testing.assert_close(properties_only.loss, 2.0 * tagger.property_head.loss(both.property_outputs, values,
                                                                                     known))
    properties_only.loss.backward()  # the property loss alone trains the encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tagger.encoder.parameters())
    plain = AdiffAudioTagger(config, ["beep"])
    assert plain.property_head is None and plain(features).property_outputs is None
    with pytest.raises(ValueError, match="this tagger has no property head"):
        plain(features, property_targets=values, property_known=known)
    with pytest.raises(ValueError, match="property_loss_weight must be a number >= 0"):
        AdiffAudioTagger(config, ["beep"], properties=CLIP_PROPERTIES, property_loss_weight=-1)


def test_clip_data_needs_facts_for_every_clip(synth_corpus):  # noqa: F811
    facts = read_clip_facts(synth_corpus / "train_facts.jsonl")
    data = ClipTaggingData(synth_corpus / "train_clips.csv", AdiffFeatureExtractor(), training=False,
                           properties=CLIP_PROPERTIES, clip_facts=facts)
    batch = data.collate([(item, 0) for item in data.items[:3]])
    assert batch["property_targets"].shape == batch["property_known"].shape == (3, len(CLIP_PROPERTIES))
    assert batch["property_known"][:, :6].all() and not batch["property_known"][:, 6:].any()
    first = data.items[0]["filepath"]
    with pytest.raises(ValueError, match=r"1 clips of .*train_clips.csv have no facts"):
        ClipTaggingData(synth_corpus / "train_clips.csv", AdiffFeatureExtractor(), properties=CLIP_PROPERTIES,
                        clip_facts={k: v for k, v in facts.items() if k != first})


def test_tagger_recipe_trains_properties_and_saves_its_front_end(synth_corpus, tmp_path):  # noqa: F811
    model = {"audio_config": dict(TINY_AUDIO), "property_loss_weight": 0.5}
    data = {"corpus": str(synth_corpus), "properties": ["level", "reverb", "noise"],
            "feature_extractor": {"floor_db": -60}}
    final = train(recipe_from_dict(stage_recipe("tagger", tmp_path, synth_corpus, model=model, data=data)))
    evals = [row for row in read_metrics(tmp_path) if "eval/mAP" in row]
    assert {"eval/property/reverb", "eval/property/noise"} <= set(evals[-1])
    assert "eval/property/speed" not in evals[-1]
    assert load_feature_extractor(final).floor_db == -60.0  # what stage 2 builds its processor with
    with pytest.raises(ValueError, match="model.property_loss_weight must be a number >= 0"):
        train(recipe_from_dict(stage_recipe("tagger", tmp_path / "bad", synth_corpus,
                                            model={**model, "property_loss_weight": "yes"})))
    with pytest.raises(ValueError, match=r"data.properties \['level', 'reverb', 'noise'\] are only trained with"):
        train(recipe_from_dict(stage_recipe("tagger", tmp_path / "bad3", synth_corpus,
                                            model={**model, "property_loss_weight": 0}, data=data)))
    with pytest.raises(ValueError, match="data.feature_extractor must be a mapping"):
        train(recipe_from_dict(stage_recipe("tagger", tmp_path / "bad2", synth_corpus,
                                            data={**data, "feature_extractor": -60})))


def test_probe_script_scores_every_known_property(synth_corpus, tmp_path, capsys):  # noqa: F811
    torch.manual_seed(0)
    ClapAudioModel(ClapAudioConfig(**TINY_AUDIO)).save_pretrained(tmp_path)
    AdiffFeatureExtractor(top_db=80).save_pretrained(tmp_path)
    assert property_probe.load_encoder(str(tmp_path))[1].top_db == 80.0
    assert property_probe.main([str(synth_corpus), "--model", str(tmp_path), "--test-split", "validation",
                                "--max-clips", "12", "--json"]) == 0
    out = capsys.readouterr().out
    results = json.loads(out.strip().splitlines()[-1])
    assert list(results) == ["level", "reverb", "timbre", "speed", "noise", "distortion"]  # no tilt / pitch facts
    assert all((r["train"], r["test"]) == (12, 8) for r in results.values())  # validation: 4 pairs, 8 clips
    assert "  level      regression" in out
    with pytest.raises(FileNotFoundError, match="does not exist"):
        property_probe.main([str(synth_corpus), "--model", str(tmp_path), "--test-split", "nope"])
