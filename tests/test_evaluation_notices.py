"""What `adiff evaluate` tells a user before trusting its numbers: Java is needed (in its first lines), and CIDEr-D
on too few pairs is not meaningful."""

import logging
import shutil

import pytest

import training.evaluation.evaluate as evaluate_module
from training.evaluation.metrics import CIDER_MIN_PAIRS, caption_metrics


def test_java_is_named_in_the_first_lines_of_the_help_and_of_a_run(monkeypatch, caplog, tmp_path):
    first_lines = evaluate_module.build_parser().format_help().split("\n\n")[1]  # after the usage: the description
    assert "Needs Java" in first_lines.replace("\n", " ")
    monkeypatch.setattr(evaluate_module.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING), pytest.raises(OSError):
        evaluate_module.main([str(tmp_path / "no_model"), str(tmp_path / "no_data.csv")])
    assert caplog.records[0].getMessage().startswith("No `java` on PATH: the captioning metrics (bleu, meteor")
    caplog.clear()
    with caplog.at_level(logging.WARNING), pytest.raises(OSError):
        evaluate_module.main([str(tmp_path / "no_model"), str(tmp_path / "no_data.csv"), "--metrics", "bleu"])
    assert "java" in caplog.text


@pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's tokenizer needs Java")
def test_cider_on_too_few_pairs_is_warned_about(caplog):
    texts = [f"Audio {index % 2 + 1} has a {word} and is louder." for index, word in
             enumerate(["siren", "bell", "dog", "bird", "car", "drum", "rain", "horn", "alarm", "train"])]
    with caplog.at_level(logging.WARNING):
        one = caption_metrics(texts[:1], texts[:1], metrics=("cider",))
    assert one.scores["CIDEr-D"] == 0.0  # a perfect answer, scored 0: what the warning is about
    assert "CIDEr-D on 1 pair(s) is not meaningful" in caplog.text
    assert f"at least {CIDER_MIN_PAIRS} pairs" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        enough = caption_metrics(texts[:CIDER_MIN_PAIRS], texts[:CIDER_MIN_PAIRS], metrics=("cider",))
    assert "CIDEr-D" not in caplog.text and enough.scores["CIDEr-D"] > 1.0
