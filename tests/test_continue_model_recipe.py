"""scripts/continue_default_model.sh end to end at toy size (the tiny_real recipes, a tiny base model, a small sound
library): every step runs, each stage starts from what it should, the result loads with the continued encoder's front
end, and a rerun skips what is done."""

import json
import shutil
import subprocess

import pytest
from test_synthdiff_sources import write_library
from training_testing import PYTHON, REPO_ROOT, stage_recipe, subprocess_env, synth_corpus  # noqa: F401

from modeling_adiff import AdiffForConditionalGeneration
from processing_adiff import AdiffProcessor
from training.loop import train
from training.recipe import recipe_from_dict


@pytest.fixture(scope="module")
def base_model(synth_corpus, tmp_path_factory):  # noqa: F811
    """A tiny trained ADIFF folder: the model being continued."""
    root = tmp_path_factory.mktemp("base")
    encoder = train(recipe_from_dict(stage_recipe("tagger", root / "s1a", synth_corpus)))
    lm = train(recipe_from_dict(stage_recipe("lm", root / "s1b", synth_corpus)))
    return train(recipe_from_dict(stage_recipe(
        "grounding", root / "s2", synth_corpus, init={"audio_encoder": str(encoder), "language_model": str(lm)},
        data={"embedding_cache": str(root / "cache")})))


def run_script(**env):
    completed = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "continue_default_model.sh")], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=600, env={**subprocess_env(), "RECIPES": "training/recipes/tiny_real", "PAIRS": "20",
                                     "REAL_PAIRS": "20", "THREADS": "1", "PYTHON": PYTHON, **env})
    return completed


def test_script_continues_the_base_model_on_synthdiff_and_real_sources(base_model, tmp_path):
    run_dir, library = tmp_path / "run", write_library(tmp_path / "library")
    env = {"RUN_DIR": str(run_dir), "BASE_MODEL": str(base_model), "SOURCES": str(library)}
    done = run_script(**env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "model ready" in done.stdout
    info = json.loads((run_dir / "corpus" / "corpus.json").read_text())
    assert [part["tag"] for part in info["merged_from"]] == ["synth", "real"]
    first = json.loads((run_dir / "stage1_encoder" / "final" / "training_recipe.json").read_text())
    second = json.loads((run_dir / "stage2" / "final" / "training_recipe.json").read_text())
    assert first["init"]["audio_encoder"] == str(base_model)
    assert second["init"] == {"from_pretrained": str(base_model),
                              "audio_encoder": str(run_dir / "stage1_encoder" / "final")}
    model = AdiffForConditionalGeneration.from_pretrained(run_dir / "model")
    assert "speech" in model.config.event_labels  # the sound library's labels reach the event head
    assert AdiffProcessor.from_pretrained(run_dir / "model").feature_extractor.top_db == 60

    rerun = run_script(**env)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    for step in ("synth: exists", "real: exists", "merge: exists", "stage1_encoder: final folder exists",
                 "stage2: final folder exists", "stage3: final folder exists"):
        assert step in rerun.stdout

    # ACOUSTIC_SUMMARY=1: stage 2 gives the model the acoustic summary (stage 1a's encoder is reused as it is)
    for name in ("stage2", "stage3", "model"):
        shutil.rmtree(run_dir / name)
    summary = run_script(**env, ACOUSTIC_SUMMARY="1")
    assert summary.returncode == 0, summary.stdout[-3000:] + summary.stderr[-3000:]
    second = json.loads((run_dir / "stage2" / "final" / "training_recipe.json").read_text())
    assert second["init"]["acoustic_summary"] is True
    assert AdiffForConditionalGeneration.from_pretrained(run_dir / "model").config.acoustic_summary


def test_script_says_what_is_missing(tmp_path):
    done = run_script(RUN_DIR=str(tmp_path / "run"), BASE_MODEL=str(tmp_path / "nothing"), SOURCES=str(tmp_path))
    assert done.returncode == 2 and "is a trained ADIFF folder" in done.stderr
