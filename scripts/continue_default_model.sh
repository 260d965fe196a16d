#!/usr/bin/env bash
# Continue a trained adiff-synth-small (release 7, from scripts/train_default_model.sh) on SynthDiff plus real
# recordings: this is how release 8 was made (defaults below).
#   sound library -> SynthDiff corpus + real-source corpus -> merged corpus -> stage 1a (the base model's encoder
#   continued: top_db front end, clip-property targets) -> stage 2 (the base model with that encoder; projection and
#   mappers retrained) -> stage 3 (both orders of every pair) -> $RUN_DIR/model
#
# Release 9 is release 8 continued once more, on a 24-phrase sound library and four times the real pairs, with shorter
# recipes (57 min on 2 CPU threads); release 10 keeps release 9's encoder and regrounds release 9 on texts
# that name a recording's category ("music" for every instrument; 37 min). docs/default_model.md has the numbers.
#   python scripts/build_source_library.py --out runs/sources24 --install     # 24 phrases per instrument
#   git worktree add runs/r8 b5c3c9d                                          # release 8 = its adiff/default_model
#   BASE_MODEL=runs/r8/adiff/default_model SOURCES=runs/sources24/sources.csv REAL_PAIRS=8000 \
#     RECIPES=training/recipes/synth_real_continue RUN_DIR=runs/r9 scripts/continue_default_model.sh
#   BASE_MODEL=runs/r9/model ENCODER=runs/r9/stage1_encoder/final SOURCE_NAMES=category \
#     SOURCES=runs/sources24/sources.csv REAL_PAIRS=8000 RECIPES=training/recipes/synth_real_continue \
#     RUN_DIR=runs/r10 scripts/continue_default_model.sh
# Release 11 (shipped) regrounds release 10 (its encoder, event head and front end kept) on a corpus whose scenes may
# hold two instruments, with noise on the cached embeddings (47 min):
#   git worktree add runs/r10 08b356f                                         # release 10 = its adiff/default_model
#   BASE_MODEL=runs/r10/adiff/default_model ENCODER=runs/r10/adiff/default_model SOURCE_NAMES=category \
#     EMBEDDING_NOISE=0.01 SOURCES=runs/sources24/sources.csv REAL_PAIRS=8000 \
#     RECIPES=training/recipes/synth_real_continue RUN_DIR=runs/r15 scripts/continue_default_model.sh
#
# Resumable like train_default_model.sh: rerun the same command; finished steps are skipped. Logs: $RUN_DIR/logs.
#
# Settings (environment variables):
#   BASE_MODEL  the model to continue (default runs/adiff-synth-small/model, the output of train_default_model.sh;
#               release 7 itself is adiff/default_model of commit aad657d: `git worktree add /tmp/r7 aad657d`, then
#               BASE_MODEL=/tmp/r7/adiff/default_model)
#   SOURCES     sound library, a CSV or folder (default /work/sources/sources.csv, which
#               scripts/build_source_library.py writes; it installs Debian packages: run it once with root rights)
#   RUN_DIR     output folder                         (default runs/adiff-real)
#   PAIRS       SynthDiff pairs, split 80/10/10        (default 3000, the base model's corpus)
#   REAL_PAIRS  real-source pairs, split 80/10/10, by recording (default 2000)
#   SOURCE_NAMES  what the real-source texts call a recording: its label ("a clarinet", default) or its category
#               ("music" for every instrument; `adiff synth --source-names`)
#   ENCODER     a stage-1a encoder folder to use as it is (stage 1a is then skipped), e.g. an earlier run's
#               $RUN_DIR/stage1_encoder/final, or a model folder (its encoder, event head and front end)
#   ACOUSTIC_SUMMARY  1: stage 2 gives the model the acoustic summary (band levels and loudness envelope beside the
#               clip embedding; config.acoustic_summary) if BASE_MODEL has none (default 0)
#   EMBEDDING_NOISE  stages 2-3: Gaussian noise on the cached clip embeddings while training, as a fraction of
#               each vector's RMS (data.embedding_noise; default 0, as releases 8-10 were made)
#   SEED, THREADS, PYTHON, LAUNCH, RECIPES             as in train_default_model.sh (RECIPES default
#                                                      training/recipes/synth_real_small)
# Expected wall-clock on 2 CPU threads: corpora about 4 min, stage 1a about 14 min, stage 2 about 15 min, stage 3
# about 25 min: about an hour on an idle machine (the recipe files give each stage's share).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_MODEL=${BASE_MODEL:-runs/adiff-synth-small/model}
SOURCES=${SOURCES:-/work/sources/sources.csv}
RUN_DIR=${RUN_DIR:-runs/adiff-real}
PAIRS=${PAIRS:-3000}
REAL_PAIRS=${REAL_PAIRS:-2000}
SOURCE_NAMES=${SOURCE_NAMES:-label}
ENCODER=${ENCODER:-}
ACOUSTIC_SUMMARY=${ACOUSTIC_SUMMARY:-0}
EMBEDDING_NOISE=${EMBEDDING_NOISE:-0}
SEED=${SEED:-0}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-python}
LAUNCH=${LAUNCH:-$PYTHON}
RECIPES=${RECIPES:-training/recipes/synth_real_small}
for need in "$BASE_MODEL/config.json" "$SOURCES"; do
  if [ ! -e "$need" ]; then
    echo "$need does not exist. BASE_MODEL is a trained ADIFF folder (scripts/train_default_model.sh makes one) and" \
      "SOURCES a sound-library CSV (python scripts/build_source_library.py --out DIR writes DIR/sources.csv)." >&2
    exit 2
  fi
done

# shellcheck source=scripts/pipeline_steps.sh
source scripts/pipeline_steps.sh

# 1. The corpora: SynthDiff as the base model saw it (train and train_reversed), real recordings (every split also
#    reversed), merged into one folder of links.
corpus "$RUN_DIR/synth" --pairs "$PAIRS" --reverse train
corpus "$RUN_DIR/real" --pairs "$REAL_PAIRS" --sources "$SOURCES" --source-names "$SOURCE_NAMES"
if [ ! -f "$RUN_DIR/corpus/corpus.json" ]; then
  rm -rf "$RUN_DIR/corpus"
  run_logged merge "$PYTHON" -m training.synthdiff.merge --out "$RUN_DIR/corpus" --tags synth,real \
    "$RUN_DIR/synth" "$RUN_DIR/real"
else log "merge: exists, skipped"; fi

if [ -n "$ENCODER" ]; then
  log "stage1_encoder: skipped, the encoder is $ENCODER"
else
  stage stage1_encoder stage1_encoder.yaml --set "init.audio_encoder=$BASE_MODEL"
  ENCODER=$RUN_DIR/stage1_encoder/final
fi
summary=()
if [ "$ACOUSTIC_SUMMARY" = 1 ]; then summary=(--set init.acoustic_summary=true); fi
stage stage2 stage2.yaml --set "init.from_pretrained=$BASE_MODEL" \
  --set "init.audio_encoder=$ENCODER" --set "data.embedding_cache=$RUN_DIR/embedding_cache" "${summary[@]}" \
  --set "data.embedding_noise=$EMBEDDING_NOISE"
stage stage3 stage3.yaml --set "init.from_pretrained=$RUN_DIR/stage2/final" \
  --set "data.embedding_cache=$RUN_DIR/embedding_cache" --set "data.embedding_noise=$EMBEDDING_NOISE"

# 2. The model folder: stage 3's final save_pretrained folder.
install_model stage3
