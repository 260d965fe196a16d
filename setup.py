"""ADIFF for Transformers: explain how two audio recordings differ, in natural language."""

import runpy
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
# The transformers range CI tests (the newest release with the full suite, the floor with a fast subset: `.ci/run`).
TRANSFORMERS_REQUIREMENT = runpy.run_path(str(ROOT / "configuration_adiff" / "dependency_range.py"))[
    "TRANSFORMERS_REQUIREMENT"]

setup(
    name="adiff-transformers",
    version="0.1.0",
    description=("ADIFF (ICLR 2025) as a Hugging Face Transformers model: explain audio differences in natural "
                 "language"),
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # The repository's training/ folder installs as `adiff_training` (see adiff/training_package.py): a top-level
    # `training` in site-packages would mix with any user project's own training/ package.
    packages=find_packages(include=["configuration_adiff", "modeling_adiff", "processing_adiff", "adiff", "adiff.*"])
    + ["adiff_training"] + [f"adiff_training.{name}" for name in find_packages("training")],
    package_dir={"adiff_training": "training"},
    include_package_data=True,
    package_data={"adiff": ["default_model/*", "default_model/eval/*", "examples/*.wav", "examples/README.md"],
                  "adiff_training": ["recipes/*/*.yaml", "accelerate_configs/*.yaml"]},
    # The floors are what `.ci/run` installs and tests (uv --resolution lowest-direct, `make test-fast`): the lowest
    # releases that resolve together with transformers 5.24 on Python 3.11.
    install_requires=[
        # The floor is the torch CI tests (2.13.0, the CPU build). Other torch releases on PyPI are multi-GB CUDA
        # builds and the PyTorch CPU wheel index is not reachable from CI, so no older torch is declared; the lent GPU
        # machines' torch 2.11 runs the fast subset through benchmarks/gpu_checks.sh (PYTHONPATH, not pip). Install
        # the CPU build from https://download.pytorch.org/whl/cpu or a CUDA build first (README, "Install").
        "torch>=2.13",
        TRANSFORMERS_REQUIREMENT,
        "accelerate>=1.3",  # transformers 5.24's Trainer calls unwrap_model(keep_torch_compile=)
        "peft>=0.14,!=0.16.*,!=0.17.*",  # 0.13 breaks LoRA here; 0.16-0.17 import transformers 4's HybridCache
        "safetensors>=0.8",
        "huggingface-hub>=1.31",
        "tokenizers>=0.23.1",
        "soundfile>=0.12",
        "soxr>=0.4",
        "numpy>=2.0",
        "tqdm>=4.66.3",
        "pyyaml>=6.0",
        "matplotlib>=3.9",  # 3.7-3.8 wheels break on numpy 2
        "scipy>=1.13",
        "datasets>=5.2",  # the training data loaders return datasets.Dataset
    ],
    extras_require={
        "eval": ["pycocoevalcap>=1.2"],
        # Only for users whose torch build matches a torchaudio wheel (PyPI's are CUDA builds); never needed.
        "torchaudio": ["torchaudio"],
        "dev": ["pytest>=8", "hypothesis>=6", "pycocoevalcap>=1.2", "ruff>=0.17,<0.18"],
    },
    entry_points={"console_scripts": ["adiff=adiff.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
