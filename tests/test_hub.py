"""adiff.hub: the Hub-ready folder (code, auto_map, custom pipeline), the model card, the upload, and loading the
folder as remote code by someone who never installed this project."""

import json
import shutil

import pytest
import yaml
from adiff_testing import (PROJECT_PACKAGES, FakeHfApi, run_python_without, save_tiny_model, tone_and_burst,
                           write_wav)
from transformers import pipeline

import adiff.hub as hub
from training.evaluation import EvaluationReport

LIBRARY_CODE = {"configuration_adiff.py", "modeling_adiff.py", "processing_adiff.py", "feature_extraction_adiff.py",
                "pipeline.py"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("tiny_adiff"))
    (folder / "optimizer.pt").write_bytes(b"training state")
    (folder / "checkpoint-10").mkdir()
    return folder


@pytest.fixture(scope="module")
def report():
    captioning = {"1": {"count": 3, "scores": {"BLEU-4": 0.1234, "CIDEr": 0.5}, "not_computed": {"SPICE": "no jars"}},
                  "2": {"count": 3, "scores": {"BLEU-4": 0.2, "CIDEr": 0.75}, "not_computed": {"SPICE": "no jars"}}}
    return EvaluationReport(model="tiny", dataset="data/acd_test.csv", settings={"preset": "greedy", "seed": 0},
                            counts={"rows_per_tier": {"1": 3, "2": 3}}, captioning=captioning)


def card_header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_writes_code_auto_map_custom_pipeline_and_card(model_dir, tmp_path, report):
    out = hub.export_for_hub(model_dir, tmp_path / "hub", results=[report], repo_id="someone/adiff-tiny")
    saved = {path.name for path in model_dir.iterdir() if path.is_file() and path.name != "optimizer.pt"}
    files = {path.name for path in out.iterdir()}
    assert files == saved | {"pipeline.py", "README.md"}
    assert LIBRARY_CODE <= files and "optimizer.pt" not in files and "checkpoint-10" not in files
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_adiff.AdiffForConditionalGeneration"
    assert config["custom_pipelines"] == {"audio-difference": {"impl": "pipeline.AudioDifferencePipeline",
                                                               "pt": ["AutoModel"], "type": "audio"}}
    processor = json.loads((out / "processor_config.json").read_text())
    assert processor["auto_map"] == {"AutoProcessor": "processing_adiff.AdiffProcessor"}
    assert processor["feature_extractor"]["auto_map"]["AutoFeatureExtractor"] == \
        "feature_extraction_adiff.AdiffFeatureExtractor"
    # save_pretrained (after `import adiff`) wrote the same pipeline entry and code into the local folder
    assert json.loads((model_dir / "config.json").read_text())["custom_pipelines"] == config["custom_pipelines"]
    assert (model_dir / "pipeline.py").read_text() == (out / "pipeline.py").read_text()
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        hub.export_for_hub(model_dir, out)
    # A hand-written card is kept; a card this module generated is regenerated with the new results.
    (out / "README.md").write_text("# My own card\n")
    kept = hub.export_for_hub(out, tmp_path / "again", results=[report])
    assert (kept / "README.md").read_text() == "# My own card\n"
    (out / "README.md").write_text(hub.build_model_card(out, write=False))
    regenerated = hub.export_for_hub(out, tmp_path / "third", results=[report])
    assert card_header((regenerated / "README.md").read_text())["model-index"] != []


def test_model_card_header_and_body(model_dir, tmp_path, report):
    report_dir = tmp_path / "evaluation"
    report_dir.mkdir()
    report.to_json(report_dir / "report.json", predictions=False)
    card = hub.build_model_card(model_dir, results=report_dir, repo_id="someone/adiff-tiny", write=False)
    header = card_header(card)
    assert header["library_name"] == "transformers" and header["pipeline_tag"] == "audio-text-to-text"
    assert header["license"] == "mit" and header["datasets"] == ["acd_test.csv"]
    expected_index = report.model_index("adiff-tiny")["model-index"]
    assert header["model-index"] == expected_index
    values = {(m["name"], m["value"]) for r in header["model-index"][0]["results"] for m in r["metrics"]}
    assert ("BLEU-4 (tier 1)", 0.1234) in values and ("CIDEr (tier 2)", 0.75) in values
    assert not any("SPICE" in name for name, _ in values)  # not computed: absent from model-index, explained in text
    assert header["metrics"] == list(dict.fromkeys(m["type"] for r in expected_index[0]["results"]
                                                   for m in r["metrics"]))
    assert 'pipeline("audio-difference", model="someone/adiff-tiny", trust_remote_code=True)' in card
    assert "not computed: no jars" in card and "GPT-2 (2 layers, width 32) continuing a 13-token prefix" in card
    assert "two audio mappers and a prompt mapper, cross-projection (1 layers)" in card
    assert not (model_dir / "README.md").exists()  # write=False
    config = json.loads((model_dir / "config.json").read_text())
    variant = shutil.copytree(model_dir, tmp_path / "shared_mapper")
    (variant / "config.json").write_text(json.dumps({**config, "share_audio_mapper": True,
                                                     "use_cross_projection": False}))
    assert "one audio mapper shared by both audios and a prompt mapper, no cross-projection" in \
        hub.build_model_card(variant, write=False)
    (variant / "config.json").write_text(json.dumps({**config, "share_audio_mapper": True,
                                                     "use_audio_segment_embeddings": True}))
    assert ("one audio mapper shared by both audios (with audio-1 / audio-2 segment embeddings) and a prompt mapper, "
            "cross-projection (1 layers)") in hub.build_model_card(variant, write=False)
    plain = card_header(hub.build_model_card(model_dir, datasets=["someone/synthdiff"], write=False))
    assert plain["datasets"] == ["someone/synthdiff"] and plain["model-index"] == [] and plain["metrics"] == []
    with_notes = hub.build_model_card(model_dir, results=report, notes="## Release history\n\nRelease 1: first.\n",
                                      write=False)
    assert "\n## Release history\n\nRelease 1: first.\n\n## Citation" in with_notes
    assert with_notes.index("## Evaluation") < with_notes.index("## Release history")


def test_card_errors(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="Evaluation report not found"):
        hub.build_model_card(model_dir, results=tmp_path / "nothing.json", write=False)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="is not an evaluation report"):
        hub.build_model_card(model_dir, results=tmp_path / "other.json", write=False)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"model_type": "adiff"}')
    with pytest.raises(FileNotFoundError, match="processor_config.json missing"):
        hub.build_model_card(tmp_path / "model", write=False)


def test_push_uploads_the_exported_folder(model_dir, monkeypatch, report):
    FakeHfApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeHfApi)
    commit = hub.push_model(model_dir, "someone/adiff-tiny", token="hf_x", private=True,
                            endpoint="http://localhost:9", results=report)
    assert commit == "https://hub.example/someone/adiff-tiny/commit/1"
    (init, a), (create, b), (upload, c) = FakeHfApi.calls
    assert (init, create, upload) == ("init", "create_repo", "upload_folder")
    assert a == {"endpoint": "http://localhost:9", "token": "hf_x"}
    assert b == {"repo_id": "someone/adiff-tiny", "private": True, "exist_ok": True, "repo_type": "model"}
    assert c["repo_id"] == "someone/adiff-tiny" and c["repo_type"] == "model"
    saved = {path.name for path in model_dir.iterdir() if path.is_file() and path.name != "optimizer.pt"}
    assert set(c["files"]) == saved | {"pipeline.py", "README.md"}
    assert c["files"]["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
    assert card_header(c["files"]["README.md"].decode())["model-index"][0]["name"] == "adiff-tiny"


@pytest.mark.parametrize("made_by", ["export_for_hub", "save_pretrained"])
def test_remote_code_loads_without_the_project(made_by, model_dir, tmp_path):
    # The exported copy, or the folder plain model.save_pretrained + processor.save_pretrained wrote (push_to_hub
    # uploads what save_pretrained writes).
    folder = hub.export_for_hub(model_dir, tmp_path / "hub") if made_by == "export_for_hub" else model_dir
    tone, burst = tone_and_burst(seconds=2.0, burst=(0.5, 1.0))
    paths = [str(tmp_path / "tone.wav"), str(tmp_path / "burst.wav")]
    write_wav(tmp_path / "tone.wav", tone), write_wav(tmp_path / "burst.wav", burst)
    # This process imported adiff: its installed pipeline serves the folder, with no trust_remote_code.
    local = pipeline("audio-difference", model=str(model_dir), device="cpu")
    assert type(local).__module__ == "adiff.pipeline"
    expected = [local(*paths, tier=tier, max_new_tokens=4) for tier in (1, 3)]
    script = (
        "import json\n"
        "from transformers import AutoModel, AutoProcessor, pipeline\n"
        f"folder, paths = {str(folder)!r}, {paths!r}\n"
        "model = AutoModel.from_pretrained(folder, trust_remote_code=True)\n"
        "processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)\n"
        "pipe = pipeline(model=folder, trust_remote_code=True, device='cpu')\n"  # the task comes from the folder
        "named = pipeline('audio-difference', model=folder, trust_remote_code=True, device='cpu')\n"
        "print(json.dumps({'modules': [type(o).__module__ for o in (model, processor, pipe, pipe.model)],\n"
        "                  'outputs': [pipe(*paths, tier=t, max_new_tokens=4) for t in (1, 3)],\n"
        "                  'named': named([tuple(paths)], tier=1, max_new_tokens=4)}))\n"
    )
    # A user who never installed this project: none of its packages can be imported.
    loaded = json.loads(run_python_without(PROJECT_PACKAGES, script, cwd=tmp_path))
    assert all(module.startswith("transformers_modules.") for module in loaded["modules"]), loaded["modules"]
    assert loaded["outputs"] == expected
    assert loaded["named"] == [expected[0]]
