"""A non-editable install puts no generic top-level `training` package into site-packages: the repository's
`training/` folder installs as `adiff_training`, the CLI and the Hub export find it there, and a user's own
`training` package stays theirs."""

import subprocess
import sys
import sysconfig
import zipfile

from conftest import REPO_ROOT

_CHECK = """
import importlib.util, sys
sys.path[1:1] = [{wheel!r}, {site!r}]  # the installed wheel, then its dependencies (no .pth: no editable finder)
assert importlib.util.find_spec("training").origin.startswith({user!r}), "import training is not the user's"
import training, adiff_training.data, adiff_training.train
from adiff_training.evaluation import score_samples
from adiff.training_package import TRAINING_PACKAGE
from adiff.hub import load_reports
assert training.MINE and TRAINING_PACKAGE == "adiff_training", TRAINING_PACKAGE
assert adiff_training.__file__.startswith({wheel!r}) and load_reports(None) == []
print("ok")
"""


def test_wheel_installs_training_as_adiff_training(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(REPO_ROOT)], check=True, capture_output=True, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("adiff_transformers-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"adiff", "adiff_training", "configuration_adiff", "modeling_adiff", "processing_adiff"}
    assert "adiff_training/recipes/synth_small/stage2.yaml" in names

    user = tmp_path / "user_project"  # a user's project with its own training/ package
    (user / "training").mkdir(parents=True)
    (user / "training" / "__init__.py").write_text("MINE = True\n")
    code = _CHECK.format(wheel=str(tmp_path / "site"), site=sysconfig.get_paths()["purelib"], user=str(user))
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}  # no PYTHONPATH
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=user, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
