"""What a shared ADIFF folder says about itself: the model card names every package its code imports (soundfile and
soxr too), its intended use, training data and limits; no build-machine path is left in its configs or card; the
shipped folder declares its `auto_map`."""

import json
import re
import sys

import pytest
from adiff_testing import save_tiny_model

from adiff import hub
from adiff.default_model import DEFAULT_MODEL_DIR
from training.evaluation import EvaluationReport

MACHINE = "/build-host/runs/v9"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from transformers import AutoModel

    source = save_tiny_model(tmp_path_factory.mktemp("tiny"))
    model = AutoModel.from_pretrained(source)
    model.config.audio_config._name_or_path = f"{MACHINE}/stage1_encoder/final"  # as build_adiff leaves them
    model.config.text_config._name_or_path = f"{MACHINE}/stage1_lm/final"
    model.save_pretrained(source)
    report = EvaluationReport(model=f"{MACHINE}/stage3/final", dataset=f"{MACHINE}/corpus/test.csv",
                              settings={"preset": "greedy"}, counts={"rows_per_tier": {"1": 2}},
                              captioning={"1": {"count": 2, "scores": {"BLEU-4": 0.5},
                                                "not_computed": {"SPICE": f"jar not in {MACHINE}/venv/spice/lib"}}})
    folder = hub.export_for_hub(source, tmp_path_factory.mktemp("hub") / "model", results=report,
                                training_data="SynthDiff, 16 pairs.", limitations=["A tiny test model."])
    return folder


def test_card_lists_what_the_code_imports(exported):
    card = (exported / "README.md").read_text()
    imported = set()
    for path in exported.glob("*.py"):
        for line in path.read_text().splitlines():  # import statements (not docstring lines starting with "from")
            match = re.match(r"\s*(?:import ([A-Za-z_]\w*)|from ([A-Za-z_]\w*)[\w.]* import )", line)
            imported |= {match.group(1) or match.group(2)} if match else set()
    third_party = imported - set(sys.stdlib_module_names) - {path.stem for path in exported.glob("*.py")}
    assert {"soundfile", "soxr", "torch", "transformers", "numpy"} <= third_party
    install = re.search(r"^pip install (.+)$", card, flags=re.MULTILINE).group(1)
    assert all(f"'{name}" in install for name in third_party), (install, third_party)
    for section in ("## Intended use", "## Training data\n\nSynthDiff, 16 pairs.", "## Limitations\n\n- A tiny"):
        assert section in card


def test_no_machine_paths_in_the_folder(exported):
    for path in exported.iterdir():
        if path.suffix in (".json", ".md"):
            assert MACHINE not in path.read_text() and "/build-host" not in path.read_text(), path.name
    config = json.loads((exported / "config.json").read_text())
    assert not config["audio_config"].get("_name_or_path") and not config["text_config"].get("_name_or_path")
    assert "### Evaluation of `model`" in (exported / "README.md").read_text()


def test_shipped_folder_declares_auto_map_and_no_machine_paths():
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_adiff.AdiffForConditionalGeneration"
    for path in DEFAULT_MODEL_DIR.rglob("*"):
        if path.suffix in (".json", ".md", ".yaml"):
            assert not re.search(r"/(work|tmp|home|root)/", path.read_text()), path
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    assert "'soundfile" in card and "'soxr" in card and "## Intended use" in card and "## Limitations" in card
