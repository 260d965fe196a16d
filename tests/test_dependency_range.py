"""The supported transformers range: one constant for setup.py, CI and the import-time check, and a check that names
the fix instead of failing deep inside the model."""

import runpy

import pytest
import transformers
from conftest import REPO_ROOT

from configuration_adiff.dependency_range import (TRANSFORMERS_MINIMUM, TRANSFORMERS_REQUIREMENT,
                                                  check_transformers_version)


def test_the_installed_release_is_in_the_range():
    check_transformers_version(transformers.__version__)  # the import of the library already did this


@pytest.mark.parametrize("version", ["5.23.0", "5.17.0", "4.57.6", "6.0.0", "6.0.0rc1"])
def test_a_release_outside_the_range_is_an_error_that_names_the_fix(version):
    with pytest.raises(ImportError, match=rf"needs transformers>=5\.24\.0,<6 .* but transformers {version} is "
                                          rf"installed\. Fix: pip install 'transformers>=5\.24\.0,<6'"):
        check_transformers_version(version)


@pytest.mark.parametrize("version", [TRANSFORMERS_MINIMUM, "5.25.0", "5.30.0.dev0", "5.99.1"])
def test_releases_inside_the_range_pass(version):
    check_transformers_version(version)


def test_setup_and_ci_read_the_range_from_the_one_module():
    setup_text = (REPO_ROOT / "setup.py").read_text(encoding="utf-8")
    ci_text = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "dependency_range.py" in setup_text and "TRANSFORMERS_REQUIREMENT," in setup_text
    assert "transformers>=" not in setup_text  # no second copy of the range
    assert "dependency_range.py')['TRANSFORMERS_MINIMUM']" in ci_text and "make test-fast" in ci_text
    module = runpy.run_path(str(REPO_ROOT / "configuration_adiff" / "dependency_range.py"))
    assert module["TRANSFORMERS_REQUIREMENT"] == TRANSFORMERS_REQUIREMENT == f"transformers>={TRANSFORMERS_MINIMUM},<6"


def test_the_config_builds_its_sub_configs_itself_on_every_release():
    # transformers 5.17-5.19 left dicts and None to the composite config; ADIFF's config builds them on every release.
    from transformers import ClapAudioConfig, GPT2Config

    from configuration_adiff import AdiffConfig

    config = AdiffConfig(audio_config=None, text_config={"model_type": "gpt2", "n_embd": 64, "n_head": 2})
    assert isinstance(config.audio_config, ClapAudioConfig) and isinstance(config.text_config, GPT2Config)
    assert config.text_config.n_embd == 64
    with pytest.raises(TypeError, match=r"AdiffConfig.text_config must be a GPT2Config, a dict or None, got list"):
        AdiffConfig(text_config=[64])
