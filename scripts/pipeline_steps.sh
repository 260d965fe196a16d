# Steps shared by scripts/train_default_model.sh and scripts/continue_default_model.sh (sourced, not run). The caller
# sets RUN_DIR, SEED, THREADS, PYTHON, LAUNCH and RECIPES first; every step is skipped when its output exists, so a
# rerun of the same command resumes. Logs: $RUN_DIR/logs/<step>.log and pipeline.log.

export OMP_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
LOGS=$RUN_DIR/logs
mkdir -p "$LOGS"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOGS/pipeline.log"; }

run_logged() {  # name, command...: run with output appended to logs/<name>.log, stop the pipeline on failure
  local name=$1; shift
  log "$name: start"
  local start=$SECONDS
  if ! "$@" >>"$LOGS/$name.log" 2>&1; then
    log "$name: FAILED (exit $?), see $LOGS/$name.log"; tail -n 20 "$LOGS/$name.log" >&2; exit 1
  fi
  log "$name: done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
}

corpus() {  # folder, generator arguments...: a SynthDiff corpus written to folder.tmp and renamed when complete (so a
  #           half-written corpus is never used); the step is named after the folder
  local folder=$1; shift
  if [ -f "$folder/corpus.json" ]; then log "$(basename "$folder"): exists, skipped"; return; fi
  rm -rf "$folder.tmp"
  run_logged "$(basename "$folder")" "$PYTHON" -m training.synthdiff --out "$folder.tmp" --seed "$SEED" \
    --workers "$THREADS" "$@"
  mv "$folder.tmp" "$folder"
}

stage() {  # name, recipe, overrides...: one training stage on $RUN_DIR/corpus, skipped when its final folder exists
  local name=$1 recipe=$2; shift 2
  if [ -f "$RUN_DIR/$name/final/config.json" ]; then log "$name: final folder exists, skipped"; return; fi
  # shellcheck disable=SC2086
  run_logged "$name" $LAUNCH training/train.py --config "$RECIPES/$recipe" --resume \
    --set "output_dir=$RUN_DIR/$name" --set "data.corpus=$RUN_DIR/corpus" --set "train.seed=$SEED" "$@"
}

install_model() {  # stage name: its final save_pretrained folder becomes $RUN_DIR/model (replaced whole)
  rm -rf "$RUN_DIR/model.tmp"
  cp -r "$RUN_DIR/$1/final" "$RUN_DIR/model.tmp"
  rm -rf "$RUN_DIR/model"
  mv "$RUN_DIR/model.tmp" "$RUN_DIR/model"
  log "model ready: $RUN_DIR/model ($(du -sh "$RUN_DIR/model" | cut -f1)); load it with" \
    "pipeline('audio-difference', model='$RUN_DIR/model')"
}
