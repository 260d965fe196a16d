"""Where the repository's `training/` folder is importable from: as `training` in a source checkout (the README, the
scripts and `accelerate launch training/train.py` use that name), as `adiff_training` once pip-installed, so that
site-packages never holds a generic top-level `training` package that would shadow or mix with a user's own."""

import importlib
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
# A checkout: setup.py next to adiff/ and training/ (an installed copy sits in site-packages, with no setup.py).
TRAINING_PACKAGE = ("training" if (_ROOT / "setup.py").is_file() and (_ROOT / "training" / "__init__.py").is_file()
                    else "adiff_training")


def training_module(name: str):
    """`import <training package>.<name>`, e.g. `training_module("evaluation")`."""
    return importlib.import_module(f"{TRAINING_PACKAGE}.{name}")


__all__ = ["TRAINING_PACKAGE", "training_module"]
