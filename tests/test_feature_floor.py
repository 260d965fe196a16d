"""AdiffFeatureExtractor's `floor_db` / `top_db` options: a front end that ignores what nobody can hear (issue 19)."""

import json

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from benchmarks.front_end_dither import main as dither_benchmark
from processing_adiff import AdiffFeatureExtractor
from training.evaluation.variants import quantise_16bit, tpdf_dither
from training.towers import load_feature_extractor

SR = 32000
SECONDS = 2.0


def quiet_tone_with_gaps(amplitude=0.03) -> np.ndarray:
    """A 440 Hz tone, on for 0.5 s and digitally silent for 0.5 s, on the 16-bit grid."""
    t = np.arange(int(SECONDS * SR)) / SR
    return quantise_16bit(amplitude * (np.floor(t * 2) % 2 == 0) * np.sin(2 * np.pi * 440 * t))


def log_mel(extractor, audio):
    return extractor(audio, sampling_rate=SR)["input_features"]


def test_default_is_the_official_floor():
    extractor = AdiffFeatureExtractor(max_length_s=SECONDS)
    assert extractor.floor_db is None and extractor.top_db is None
    silence = log_mel(extractor, np.zeros(SR, np.float32))
    assert float(silence.max()) == pytest.approx(-100.0)


def test_fixed_floor_raises_only_the_cells_below_it():
    audio = quiet_tone_with_gaps()
    official = log_mel(AdiffFeatureExtractor(max_length_s=SECONDS), audio)
    floored = log_mel(AdiffFeatureExtractor(max_length_s=SECONDS, floor_db=-60), audio)
    assert float(official.min()) < -90 and float(floored.min()) == pytest.approx(-60.0)
    above = official >= -60
    assert above.any() and (~above).any()
    torch.testing.assert_close(floored[above], official[above])


def test_relative_floor_follows_the_clip_level_and_not_the_batch():
    extractor = AdiffFeatureExtractor(max_length_s=SECONDS, top_db=50)
    audio = quiet_tone_with_gaps(amplitude=0.3)
    loud, soft = extractor([audio, audio * 0.1], sampling_rate=SR)["input_features"]
    assert float(loud.min()) == pytest.approx(float(loud.max()) - 50, abs=1e-4)
    # 20 dB softer: every cell, the floored silence included, moves by -20 dB (the official floor stays at -100 dB)
    torch.testing.assert_close(soft, loud - 20.0, atol=0.05, rtol=0)
    torch.testing.assert_close(log_mel(extractor, audio * 0.1)[0], soft)


def test_both_floors_take_the_higher_one():
    audio = quiet_tone_with_gaps()
    both = log_mel(AdiffFeatureExtractor(max_length_s=SECONDS, floor_db=-90, top_db=30), audio)
    assert float(both.min()) == pytest.approx(float(both.max()) - 30, abs=1e-4)
    assert float(both.min()) > -90


def test_floor_removes_dither_sensitivity():
    audio = quiet_tone_with_gaps()
    first, second = tpdf_dither(audio, 1.0, seed=1), tpdf_dither(audio, 1.0, seed=2)
    official = AdiffFeatureExtractor(max_length_s=SECONDS)
    floored = AdiffFeatureExtractor(max_length_s=SECONDS, floor_db=-60)
    # with the official floor, the silent gaps hold only dither: two re-exports differ there by many dB
    assert float((log_mel(official, first) - log_mel(official, second)).abs().max()) > 3.0
    assert float((log_mel(floored, first) - log_mel(floored, second)).abs().max()) < 0.5


def test_floor_on_very_loud_input_stays_finite():
    audio = quiet_tone_with_gaps() * np.float32(1e16)  # above LOUD_PEAK: the scaled path
    features = log_mel(AdiffFeatureExtractor(max_length_s=SECONDS, top_db=60), audio)
    assert torch.isfinite(features).all()
    assert float(features.min()) == pytest.approx(float(features.max()) - 60, abs=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"floor_db": -120}, r"floor_db must be a number in \(-100, 0\] dB or None"),
    ({"floor_db": 3}, "floor_db must be a number"),
    ({"floor_db": True}, "floor_db must be a number"),
    ({"top_db": 0}, "top_db must be a finite number > 0"),
    ({"top_db": "80"}, "top_db must be a finite number > 0"),
    ({"top_db": float("inf")}, "top_db must be a finite number > 0"),
])
def test_bad_floors_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdiffFeatureExtractor(**kwargs)


def test_floor_saves_loads_and_reaches_stage_two(tmp_path):
    extractor = AdiffFeatureExtractor(floor_db=-70, top_db=80)
    extractor.save_pretrained(tmp_path)
    loaded = load_feature_extractor(tmp_path)  # what stage 2 reads from a stage-1a encoder folder
    assert (loaded.floor_db, loaded.top_db) == (-70.0, 80.0)
    assert loaded.to_dict() == extractor.to_dict()
    default = load_feature_extractor(tmp_path / "no_such_encoder")
    assert (default.floor_db, default.top_db) == (None, None)


def test_an_adiff_model_folder_as_the_encoder_keeps_its_front_end(tmp_path):
    # continue_default_model.sh ENCODER=adiff/default_model: stage 2 takes the encoder of a saved ADIFF model, which
    # learned on the model's floor; its processor_config.json holds it (there is no preprocessor_config.json).
    from processing_adiff import AdiffProcessor

    processor = AdiffProcessor.from_pretrained(REPO_ROOT / "adiff" / "default_model")
    processor.feature_extractor = AdiffFeatureExtractor(floor_db=-70, top_db=55)
    processor.save_pretrained(tmp_path)
    assert not (tmp_path / "preprocessor_config.json").exists()
    loaded = load_feature_extractor(tmp_path)
    assert (loaded.floor_db, loaded.top_db) == (-70.0, 55.0)


def test_replacing_a_models_audio_tower_by_the_shipped_models_keeps_its_event_head_and_front_end():
    # What stage 2 of continue_default_model.sh ENCODER=adiff/default_model does to the model it regrounds.
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffProcessor
    from training.towers import replace_audio_tower

    shipped = REPO_ROOT / "adiff" / "default_model"
    model = AdiffForConditionalGeneration.from_pretrained(shipped)
    reference = {k: v.clone() for k, v in model.model.event_head.state_dict().items()}
    labels = list(model.config.event_labels)
    model.model.event_head, model.config.event_labels, model.config.num_event_classes = None, None, 0
    processor = AdiffProcessor.from_pretrained(shipped)
    processor.feature_extractor = AdiffFeatureExtractor()  # the official front end, no floor
    replace_audio_tower(model, processor, shipped)
    assert model.config.event_labels == labels and model.config.num_event_classes == len(labels) > 0
    assert all(torch.equal(model.model.event_head.state_dict()[k], v) for k, v in reference.items())
    assert processor.feature_extractor.top_db == AdiffProcessor.from_pretrained(shipped).feature_extractor.top_db
    assert processor.feature_extractor.top_db is not None


def test_dither_benchmark_prints_both_front_ends(capsys):
    assert dither_benchmark(["--model", "none", "--lsb", "1", "--json"]) == 0
    out = capsys.readouterr().out
    rows = {row["front_end"]: row for row in json.loads(out.strip().splitlines()[-1])["rows"]}
    assert set(rows) == {"official (-100 dB)", "floor_db=-60", "top_db=60"}
    assert rows["floor_db=-60"]["cells_over_3db"] < rows["official (-100 dB)"]["cells_over_3db"]
