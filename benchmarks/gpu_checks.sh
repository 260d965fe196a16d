#!/usr/bin/env bash
# The GPU checks of issues 3 and 5, as one script for a lent CUDA machine (run from the repository root):
#   1. benchmarks/inference.py at base size on CUDA, fp32 then bf16, batches 1/8/32, 64 new tokens: pairs/s and
#      whether the greedy tokens equal the official-style fp32 reference's.
#   2. stage 2 then stage 3 at base size (HTSAT default, GPT-2 124M, official ADIFF sizes; random towers, real GPT-2
#      tokenizer) through `accelerate launch` with bf16, STEPS steps each on a small SynthDiff corpus: samples/s and
#      peak GPU memory from the runs' metrics.jsonl.
# Wheels the machine lacks can be placed in .devwheels/ (installed with --no-deps). Results go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_checks}
STEPS=${STEPS:-200}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
mkdir -p "$OUT"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
if compgen -G ".devwheels/*.whl" >/dev/null; then $PY -m pip install --quiet --no-deps .devwheels/*.whl; fi
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"

for dtype in fp32 bf16; do
  [ -n "${SKIP_INFERENCE:-}" ] && break  # SKIP_INFERENCE=1: only the training part
  $PY benchmarks/inference.py --device cuda --dtype "$dtype" --batch-sizes 1,8,32 --reference-pairs 2 \
    --no-inference-rss --json >"$OUT/inference_$dtype.log" 2>&1
  echo "inference $dtype: $(tail -n 1 "$OUT/inference_$dtype.log")"
done

$PY -m training.synthdiff --out "$WORK/corpus" --pairs 320 --seed 0 --workers 8 >"$OUT/synth.log" 2>&1
$PY - "$WORK/towers" <<'PYTHON' >"$OUT/towers.log" 2>&1
import sys
import torch
from transformers import ClapAudioConfig, ClapAudioModel, GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast
torch.manual_seed(0)
ClapAudioModel(ClapAudioConfig()).save_pretrained(f"{sys.argv[1]}/encoder")
tokenizer = GPT2TokenizerFast.from_pretrained("tests/fixtures/gpt2_tokenizer")
GPT2LMHeadModel(GPT2Config()).save_pretrained(f"{sys.argv[1]}/lm")
tokenizer.save_pretrained(f"{sys.argv[1]}/lm")
PYTHON
BASE=(--set model.projection_dim=1024 --set model.prefix_length=40 --set model.prompt_length=40
      --set model.clip_length=40 --set model.mapper_num_layers=4 --set model.mapper_num_heads=8
      --set model.cross_projection_num_layers=4 --set model.cross_projection_num_heads=4)
COMMON=(--set "data.corpus=$WORK/corpus" --set "data.embedding_cache=$WORK/cache" --set train.mixed_precision=bf16
        --set "train.max_steps=$STEPS" --set train.eval_every=null --set train.save_every=null --set train.log_every=20)
accelerate launch --num_processes 1 --mixed_precision bf16 training/train.py \
  --config training/recipes/synth_small/stage2.yaml --set "output_dir=$WORK/stage2" \
  --set "init.audio_encoder=$WORK/towers/encoder" --set "init.language_model=$WORK/towers/lm" \
  "${BASE[@]}" "${COMMON[@]}" >"$OUT/stage2.log" 2>&1
accelerate launch --num_processes 1 --mixed_precision bf16 training/train.py \
  --config training/recipes/synth_small/stage3.yaml --set "output_dir=$WORK/stage3" \
  --set "init.from_pretrained=$WORK/stage2/final" "${COMMON[@]}" >"$OUT/stage3.log" 2>&1
for stage in stage2 stage3; do
  cp "$WORK/$stage/metrics.jsonl" "$OUT/${stage}_metrics.jsonl" 2>/dev/null
  $PY - "$WORK/$stage/metrics.jsonl" "$stage" <<'PYTHON'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if "train/samples_per_s" in line]
rates = [r["train/samples_per_s"] for r in rows[1:]] or [r["train/samples_per_s"] for r in rows]
print(f"{sys.argv[2]}: {len(rows)} log points, median samples/s {sorted(rates)[len(rates) // 2]:.1f}, "
      f"peak GPU memory {max(r.get('train/peak_gpu_memory_gb', 0) for r in rows):.2f} GB, "
      f"last loss {rows[-1]['train/loss']:.3f}")
PYTHON
done
