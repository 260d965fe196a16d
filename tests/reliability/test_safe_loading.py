"""Safe loading: weights are saved and loaded as safetensors, pickles that would run code are refused (and never run),
and `trust_remote_code` is only ever the user's explicit choice, never needed with the package installed."""

import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoProcessor

import modeling_adiff  # noqa: F401  (registers the Auto classes)
import processing_adiff  # noqa: F401
from conftest import FIXTURES
from modeling_adiff import convert_official
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


class _RunsCode:
    """Unpickling this runs `touch <path>`: a stand-in for a malicious checkpoint."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("saved")
    tiny_model.save_pretrained(folder)
    AdiffProcessor(AdiffFeatureExtractor(), tiny_tokenizer, prompt_length=tiny_model.config.prompt_length) \
        .save_pretrained(folder)
    return folder


def test_weights_are_saved_as_safetensors_only(saved, tiny_model):
    names = sorted(path.name for path in saved.iterdir())
    assert "model.safetensors" in names
    assert not [name for name in names if name.endswith(PICKLE_SUFFIXES)], names
    loaded = AutoModel.from_pretrained(saved)
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_pickled_weights_that_run_code_are_refused_and_never_run(tmp_path, tiny_model):
    folder = tmp_path / "pickled"
    tiny_model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    sentinel = tmp_path / "code_ran"
    torch.save({**tiny_model.state_dict(), "payload": _RunsCode(sentinel)}, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match=r"Weights only load failed") as caught:
        AutoModel.from_pretrained(folder)
    assert type(caught.value).__name__ == "UnpicklingError"
    assert not sentinel.exists()


def test_official_converter_loads_with_weights_only(monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(convert_official.torch, "load", spy)
    state = convert_official.load_official_state_dict(FIXTURES / "official" / "official_tiny.ckpt")
    assert calls == [True] and all(isinstance(value, torch.Tensor) for value in state.values())


def test_official_converter_refuses_a_checkpoint_that_runs_code(tmp_path):
    sentinel = tmp_path / "code_ran"
    path = tmp_path / "malicious.ckpt"
    torch.save({"model": {"weight": torch.zeros(1)}, "payload": _RunsCode(sentinel)}, path)
    with pytest.raises(ValueError, match=r"malicious\.ckpt holds Python objects besides tensors, and loading it would "
                                         r"run code from the file\. Only plain state_dicts .* are accepted\. If you "
                                         r"trust the file, re-save its state_dict"):
        convert_official.load_official_state_dict(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("trust_remote_code", [None, False])
def test_installed_users_never_need_trust_remote_code(saved, trust_remote_code):
    kwargs = {} if trust_remote_code is None else {"trust_remote_code": trust_remote_code}
    config = AutoConfig.from_pretrained(saved, **kwargs)
    model = AutoModel.from_pretrained(saved, **kwargs)
    processor = AutoProcessor.from_pretrained(saved, **kwargs)
    assert type(config).__module__ == "configuration_adiff.configuration_adiff"
    assert type(model).__module__ == "modeling_adiff.modeling_adiff"
    assert type(processor).__module__ == "processing_adiff.processing_adiff"


_WITHOUT_PACKAGE = """
import sys
class Block:  # a user who never installed this project
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('configuration_adiff', 'modeling_adiff', 'processing_adiff', 'training', 'adiff'):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from transformers import AutoModel
for kwargs in ({{}}, {{"trust_remote_code": False}}):
    print("\\nATTEMPT", kwargs, flush=True)
    try:
        AutoModel.from_pretrained({folder!r}, **kwargs)
    except Exception as error:
        print("\\nREFUSED", type(error).__name__, " ".join(str(error).split()))
    else:
        print("\\nLOADED")
print("\\nMODULES", sorted(name for name in sys.modules if name.startswith("transformers_modules")))
"""


def test_remote_code_runs_only_with_the_users_explicit_consent(saved, tmp_path):
    """Without the package, the folder's code is run only after the user says yes: `trust_remote_code=None` asks
    (here stdin is closed, so the answer is the default, no) and `False` refuses; neither imports the code."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([sys.executable, "-c", _WITHOUT_PACKAGE.format(folder=str(saved))], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    asked, refused, modules = result.stdout.split("\nATTEMPT")[1:3] + [result.stdout.split("\nMODULES")[-1]]
    assert "Do you wish to run the custom code? [y/N]" in asked
    for attempt in (asked, refused):
        assert "\nREFUSED ValueError" in attempt and "pass the argument `trust_remote_code=True`" in attempt, attempt
        assert "\nLOADED" not in attempt
    assert "Do you wish" not in refused
    assert modules.strip() == "[]"  # the folder's code was never imported
