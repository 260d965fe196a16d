#!/usr/bin/env bash
# The GPU checks of issues 3, 5 and 21, as one script for a lent CUDA machine (run from the repository root; about
# 6-7 minutes on one H200, an estimate not yet measured). Results and logs go to $OUT; a summary line per part goes
# to stdout.
#   0. the carried wheels (.devwheels/, from benchmarks/gpu_wheels.sh: the machine's transformers is below ADIFF's
#      floor and it lacks soundfile, soxr and datasets) into /tmp/site, then `make test-fast` on the machine's torch;
#   1. with RUN_INFERENCE=1 only: benchmarks/inference.py at base size, fp32 then bf16, batches 1/8/32;
#   2. benchmarks/training.py --device cuda --dtype bf16 at small and base size: per stage samples/s, GPU-busy share,
#      MFU, peak memory; stage 1a both with per-clip CPU log-mels and with them batched on the GPU (stage1a_on_device);
#   2b. benchmarks/device_path_check.py on the corpus of part 3: batched GPU log-mels vs per-clip CPU ones (max dB
#      difference), and the host syncs the training loop's hot path makes (stages 1a and 1b, tiny; the goal is none);
#   3. the paper_base recipes (training/recipes/paper_base: HTSAT default size, GPT-2 124M, official ADIFF sizes)
#      through `accelerate launch`, STEPS steps per stage on a small SynthDiff corpus: stages 1a, 1b, 2 with the DDP
#      config, stage 3 with the FSDP config; samples/s and peak memory from metrics.jsonl, GPU utilisation sampled
#      by nvidia-smi every 0.5 s while they run.
# SMOKE=1 runs parts 2 and 3 on the CPU at tiny size in a few minutes (how the script itself is tested); SKIP_TESTS=1,
# SKIP_BENCHMARK=1, SKIP_RECIPES=1 leave parts out.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_checks}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
mkdir -p "$OUT"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
if [ -z "${SMOKE:-}" ] && compgen -G ".devwheels/*.whl" >/dev/null; then  # cp312 wheels: the GPU machine's python
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devwheels/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -n "${SMOKE:-}" ]; then
  DEVICE=cpu; STEPS=${STEPS:-2}; PAIRS=24; WORKERS=2; BENCH=(--smoke --threads 2); BATCH=(--set train.batch_size=4)
  TINY_AUDIO='{patch_embeds_hidden_size: 8, hidden_size: 64, depths: [1, 1, 1, 1], num_attention_heads: [1, 1, 2, 2]}'
  SIZES=(--set "model.audio_config=$TINY_AUDIO"); LM_SIZE=(--set 'model.text_config={n_embd: 32, n_layer: 1, n_head: 2}')
  ADIFF_SIZE=(--set model.projection_dim=16 --set model.prefix_length=2 --set model.prompt_length=auto
              --set model.clip_length=auto --set model.mapper_num_layers=1 --set model.mapper_num_heads=2
              --set model.cross_projection_num_layers=1 --set model.cross_projection_num_heads=2)
  LAUNCH=(--multi_gpu --num_processes 2 --mixed_precision no); FSDP=("${LAUNCH[@]}")
else
  DEVICE=cuda; STEPS=${STEPS:-120}; PAIRS=400; WORKERS=12; BENCH=(--sizes small,base --batch-size 32 --steps 5); BATCH=()
  SIZES=(); LM_SIZE=(); ADIFF_SIZE=()
  LAUNCH=(--config_file training/accelerate_configs/ddp.yaml --num_processes 1)
  FSDP=(--config_file training/accelerate_configs/fsdp.yaml --num_processes 1)
fi
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__,
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"

if [ -z "${SKIP_TESTS:-}" ]; then  # the declared torch floor is this machine's torch: run the fast subset on it
  timeout 300 make test-fast PYTHON="$PY" >"$OUT/test_fast.log" 2>&1
  echo "make test-fast (exit $?): $(tail -n 1 "$OUT/test_fast.log")"
fi

for dtype in fp32 bf16; do  # opt-in (RUN_INFERENCE=1): about 2 more minutes; issue 23 owns inference speed
  [ -z "${RUN_INFERENCE:-}" ] || [ -n "${SMOKE:-}" ] && break
  $PY benchmarks/inference.py --device cuda --dtype "$dtype" --batch-sizes 1,8,32 --reference-pairs 2 \
    --no-inference-rss --json >"$OUT/inference_$dtype.log" 2>&1
  echo "inference $dtype: $(tail -n 1 "$OUT/inference_$dtype.log")"
done

if [ -z "${SKIP_BENCHMARK:-}" ]; then
  timeout 240 $PY benchmarks/training.py --device "$DEVICE" --dtype bf16 "${BENCH[@]}" --json \
    >"$OUT/training_benchmark.json" 2>"$OUT/training_benchmark.log"
  echo "training benchmark (exit $?):"; cat "$OUT/training_benchmark.log"
fi

[ -n "${SKIP_RECIPES:-}" ] && exit 0
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500 >"$OUT/gpu_util.csv" &
  SAMPLER=$!
fi
$PY -m training.synthdiff --out "$WORK/corpus" --pairs "$PAIRS" --seed 0 --workers "$WORKERS" >"$OUT/synth.log" 2>&1
timeout 150 $PY benchmarks/device_path_check.py --corpus "$WORK/corpus" --device "$DEVICE" \
  >"$OUT/device_path.json" 2>"$OUT/device_path.log"
echo "device path check (exit $?): $(grep '^device path' "$OUT/device_path.log")"
COMMON=(--set "data.corpus=$WORK/corpus" --set "data.embedding_cache=$WORK/cache" --set "train.max_steps=$STEPS"
        --set train.eval_every=null --set train.save_every=null --set train.log_every=10
        --set "train.num_workers=$WORKERS" --set eval.max_batches=2 --set eval.num_samples=1 "${BATCH[@]}")
run_stage() {  # run_stage NAME RECIPE LAUNCH_ARRAY_NAME EXTRA_ARGS...: one accelerate launch, its summary line
  local name=$1 recipe=$2 launch="$3[@]"; shift 3
  local start=$SECONDS
  $PY -m accelerate.commands.launch "${!launch}" training/train.py --config "training/recipes/paper_base/$recipe" \
    --set "output_dir=$WORK/$name" "${COMMON[@]}" "$@" >"$OUT/$name.log" 2>&1
  local status=$?
  cp "$WORK/$name/metrics.jsonl" "$OUT/${name}_metrics.jsonl" 2>/dev/null
  $PY benchmarks/metrics_summary.py "$WORK/$name/metrics.jsonl" --label "$name (exit $status, $((SECONDS - start)) s)"
}
run_stage stage1a stage1_encoder.yaml LAUNCH "${SIZES[@]}"
run_stage stage1b stage1_lm.yaml LAUNCH --set init.tokenizer=tests/fixtures/gpt2_tokenizer "${LM_SIZE[@]}"
run_stage stage2 stage2.yaml LAUNCH --set "init.audio_encoder=$WORK/stage1a/final" \
  --set "init.language_model=$WORK/stage1b/final" "${ADIFF_SIZE[@]}"
run_stage stage3_fsdp stage3.yaml FSDP --set "init.from_pretrained=$WORK/stage2/final"
if [ -n "${SAMPLER:-}" ]; then
  kill "$SAMPLER"
  $PY benchmarks/metrics_summary.py --gpu-util "$OUT/gpu_util.csv"
fi
