"""Captioning metrics through pycocoevalcap (Java): known values, not-computed reasons, bad input."""

import math
import shutil
from pathlib import Path

import pytest

from training.evaluation import metrics
from training.evaluation.metrics import METRIC_NAMES, caption_metrics, spice_unavailable_reason

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's tokenizer and METEOR need Java")

REFERENCES = [
    "Audio 1 has a siren over rain, while Audio 2 has only wind.",
    "Audio 2 is louder and more reverberant than Audio 1.",
    "Both audios contain footsteps; Audio 1 sounds muffled.",
    "The first recording features a dog barking near a busy road.",
]


def test_identical_texts_score_perfectly():
    result = caption_metrics(REFERENCES, REFERENCES)
    for name in ("BLEU-1", "BLEU-4", "ROUGE-L", "METEOR"):
        assert result.scores[name] == pytest.approx(1.0, abs=1e-6), name
    # CIDEr-D is x10 and equals 10 for a perfect match (every candidate shares no n-gram with all references).
    assert result.scores["CIDEr-D"] == pytest.approx(10.0, abs=1e-6)
    assert result.count == len(REFERENCES)
    assert set(result.scores) | set(result.not_computed) == set(METRIC_NAMES)


def test_partial_match_and_brevity():
    result = caption_metrics(["audio 1 has a siren"], ["Audio 1 has a siren over rain."], metrics=("bleu", "rouge"))
    # Every candidate word is in the reference (precision 1), but it is 5 of 7 tokens: BLEU's brevity penalty.
    assert result.scores["BLEU-1"] == pytest.approx(math.exp(1 - 7 / 5), abs=1e-6)
    assert 0 < result.scores["ROUGE-L"] < 1
    assert result.not_computed["METEOR"] == "not requested"
    unrelated = caption_metrics(["completely different words"], ["Audio 1 is louder."], metrics=("bleu",))
    assert unrelated.scores["BLEU-1"] < 1e-6


def test_spice_is_reported_not_computed_with_reason(monkeypatch, tmp_path):
    # A pycocoevalcap folder with the SPICE jar but without Stanford CoreNLP, as on a machine without internet.
    (tmp_path / "spice" / "lib").mkdir(parents=True)
    (tmp_path / "spice" / "spice-1.0.jar").write_bytes(b"")
    monkeypatch.setattr(metrics, "_pycocoevalcap_dir", lambda: Path(tmp_path))
    reason = spice_unavailable_reason()
    assert "stanford-corenlp-3.6.0.jar" in reason and "get_stanford_models" in reason
    monkeypatch.undo()
    result = caption_metrics(REFERENCES[:2], REFERENCES[:2], metrics=("cider", "spice"))
    if spice_unavailable_reason() is not None:
        assert "SPICE" not in result.scores and "CoreNLP" in result.not_computed["SPICE"]
        assert "SPIDEr" not in result.scores and "SPICE" in result.not_computed["SPIDEr"]
    else:  # the CoreNLP jars are installed: SPICE and SPIDEr are computed
        assert result.scores["SPIDEr"] == pytest.approx((result.scores["CIDEr-D"] + result.scores["SPICE"]) / 2)


def test_bad_input():
    with pytest.raises(ValueError, match="one reference set per candidate"):
        caption_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="Unknown metric families"):
        caption_metrics(["a"], ["a"], metrics=("bleu", "cider-d"))
    with pytest.raises(TypeError, match="must be strings"):
        caption_metrics([None], ["a"], metrics=("bleu",))
