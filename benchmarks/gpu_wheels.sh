#!/usr/bin/env bash
# Downloads into .devwheels/ the wheels a lent GPU machine lacks for benchmarks/gpu_checks.sh (its python3 is 3.12
# with torch 2.11 and transformers 5.17, below ADIFF's floor, and has no soundfile, soxr or datasets). Run here, on a
# machine with PyPI, then carry .devwheels to the GPU machine. Versions: the transformers floor's newest sibling.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.devwheels
mkdir -p "$DEST"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" transformers==5.25.0 soundfile==0.13.1 cffi==2.0.0 pycparser==2.23 soxr==1.0.0 \
  datasets==4.4.1 dill==0.4.0 multiprocess==0.70.18
ls -la "$DEST"
