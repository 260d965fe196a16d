#!/usr/bin/env bash
# The paper's architecture ablations (Tables 4 and 6) on SynthDiff, at small size, reusing the default-model run's
# corpus, tokenizer, stage-1 towers and embedding cache (run scripts/train_default_model.sh first):
#   A  random frozen encoder ("language only"), naive prefix (no separator, no cross-projection)
#   B  naive baseline: stage-1 encoder, no separator, no cross-projection, no position captioning
#   C  B + separator + cross-projection
#   D  C + position-captioning rows (caption_ratio 0.2)
#   E  D + stage-3 fine-tuning
# All use the paper's two audio mappers (model.share_audio_mapper=false), as the table in the README was measured.
# Every stage-2 run gets the same budget (STEPS optimizer steps, same seed, same data order); E adds FT_STEPS.
# Each model is scored by training.evaluation on the first EVAL_PAIRS pairs of the test split (all tiers, greedy).
# Output: $OUT/<run>/eval/report.json and the table $OUT/ablations.md.
#
# Every run batches answers of similar length together (train.group_by_length, as stage3.yaml does): the same
# optimizer steps in about 60 % of the time.
# Settings: RUN_DIR (default runs/adiff-synth-small), OUT (runs/ablations), STEPS (400), FT_STEPS (200),
#           EVAL_PAIRS (60), SEED (0), THREADS (1), PYTHON (python).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=${RUN_DIR:-runs/adiff-synth-small}
OUT=${OUT:-runs/ablations}
STEPS=${STEPS:-400}
FT_STEPS=${FT_STEPS:-200}
EVAL_PAIRS=${EVAL_PAIRS:-60}
SEED=${SEED:-0}
THREADS=${THREADS:-1}
PYTHON=${PYTHON:-python}
RECIPES=training/recipes/synth_small
export OMP_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$OUT/logs"
for needed in corpus/corpus.json stage1_encoder/final/config.json stage1_lm/final/config.json; do
  [ -f "$RUN_DIR/$needed" ] || { echo "missing $RUN_DIR/$needed: run scripts/train_default_model.sh first" >&2; exit 1; }
done

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/logs/ablations.log"; }

# A's encoder: the stage-1 architecture with seeded random weights, frozen.
if [ ! -f "$OUT/random_encoder/config.json" ]; then
  "$PYTHON" -c "import sys, torch; from transformers import AutoConfig, ClapAudioModel; torch.manual_seed(int(sys.argv[3])); \
ClapAudioModel(AutoConfig.from_pretrained(sys.argv[1])).save_pretrained(sys.argv[2])" \
    "$RUN_DIR/stage1_encoder/final" "$OUT/random_encoder" "$SEED"
fi

NAIVE=(--set model.use_cross_projection=false --set model.use_separator=false)
grounding() {  # name, encoder folder, cache folder, overrides...
  local name=$1 encoder=$2 cache=$3; shift 3
  if [ -f "$OUT/$name/final/config.json" ]; then log "$name: trained, skipped"; return; fi
  log "$name: stage 2 ($STEPS steps)"
  "$PYTHON" training/train.py --config "$RECIPES/stage2.yaml" --resume --set "output_dir=$OUT/$name" \
    --set "data.corpus=$RUN_DIR/corpus" --set "init.audio_encoder=$encoder" \
    --set "init.language_model=$RUN_DIR/stage1_lm/final" --set "data.embedding_cache=$cache" \
    --set "train.max_steps=$STEPS" --set "train.seed=$SEED" --set "train.eval_every=null" \
    --set train.group_by_length=true --set model.share_audio_mapper=false "$@" \
    >>"$OUT/logs/$name.log" 2>&1
}
grounding A "$OUT/random_encoder" "$OUT/cache_random_encoder" "${NAIVE[@]}" --set data.caption_ratio=0
grounding B "$RUN_DIR/stage1_encoder/final" "$RUN_DIR/embedding_cache" "${NAIVE[@]}" --set data.caption_ratio=0
grounding C "$RUN_DIR/stage1_encoder/final" "$RUN_DIR/embedding_cache" --set data.caption_ratio=0
grounding D "$RUN_DIR/stage1_encoder/final" "$RUN_DIR/embedding_cache"
if [ ! -f "$OUT/E/final/config.json" ]; then
  log "E: stage 3 from D ($FT_STEPS steps)"
  "$PYTHON" training/train.py --config "$RECIPES/stage3.yaml" --resume --set "output_dir=$OUT/E" \
    --set "init.from_pretrained=$OUT/D/final" --set "data.corpus=$RUN_DIR/corpus" \
    --set "data.embedding_cache=$RUN_DIR/embedding_cache" --set "train.max_steps=$FT_STEPS" \
    --set "train.seed=$SEED" --set "train.eval_every=null" >>"$OUT/logs/E.log" 2>&1
fi

for name in A B C D E; do
  if [ -f "$OUT/$name/eval/report.json" ]; then continue; fi
  log "$name: evaluating on $EVAL_PAIRS test pairs"
  "$PYTHON" -m training.evaluation "$OUT/$name/final" "$RUN_DIR/corpus" --split test --max-pairs "$EVAL_PAIRS" \
    --behaviour-max-pairs 20 --seed "$SEED" --no-progress --output-dir "$OUT/$name/eval" >>"$OUT/logs/eval_$name.log" 2>&1
done
"$PYTHON" -m training.evaluation.ablation_table "$OUT" | tee "$OUT/ablations.md"
