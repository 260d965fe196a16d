"""The library alone (configuration_adiff, modeling_adiff, processing_adiff, without `adiff` or `training`): it never
imports them, a folder whose pipeline it does not know needs trust_remote_code as transformers asks, and what it
saves never names a pipeline whose code it did not write."""

import json

from adiff_testing import run_python_without, save_tiny_model, tone_and_burst, write_wav

import adiff  # noqa: F401  (registers the pipeline every folder saved here carries)


def test_library_alone_loads_a_saved_folder_and_saves_without_a_pipeline(tmp_path):
    folder = save_tiny_model(tmp_path / "saved")  # model.save_pretrained + processor.save_pretrained
    assert json.loads((folder / "config.json").read_text())["custom_pipelines"]["audio-difference"]
    tone, burst = tone_and_burst(seconds=2.0, burst=(0.5, 1.0))
    paths = [str(tmp_path / "tone.wav"), str(tmp_path / "burst.wav")]
    write_wav(tmp_path / "tone.wav", tone), write_wav(tmp_path / "burst.wav", burst)
    script = (
        "import json\n"
        "import modeling_adiff, processing_adiff\n"  # the Auto classes, registered by the library itself
        "from transformers import AutoModel, pipeline\n"
        f"folder, out, paths = {str(folder)!r}, {str(tmp_path / 'resaved')!r}, {paths!r}\n"
        "try:\n"
        "    pipeline('audio-difference', model=folder, device='cpu')\n"
        "    refused = ''\n"
        "except ValueError as error:\n"
        "    refused = str(error)\n"
        "pipe = pipeline('audio-difference', model=folder, trust_remote_code=True, device='cpu')\n"
        "model = AutoModel.from_pretrained(folder)\n"
        "model.save_pretrained(out)\n"
        "print(json.dumps({'refused': refused, 'modules': [type(pipe).__module__, type(model).__module__],\n"
        "                  'text': pipe(*paths, tier=1, max_new_tokens=4)['generated_text']}))\n"
    )
    loaded = json.loads(run_python_without(("adiff", "training"), script, cwd=tmp_path, library_importable=True))
    # transformers runs a folder's custom pipeline only with trust_remote_code=True, the library installed or not
    assert "trust_remote_code=True" in loaded["refused"]
    assert loaded["modules"][0].startswith("transformers_modules.") and loaded["modules"][0].endswith(".pipeline")
    assert loaded["modules"][1] == "modeling_adiff.modeling_adiff" and isinstance(loaded["text"], str)
    resaved = tmp_path / "resaved"
    assert "custom_pipelines" not in json.loads((resaved / "config.json").read_text())
    assert not (resaved / "pipeline.py").exists() and (resaved / "modeling_adiff.py").is_file()
