#!/usr/bin/env bash
# The text DiT (issue 16) end to end in one command on one GPU: `bash models/recipes/text.sh OUT_DIR`.
#
# Trains two sizes side by side (a step of either leaves the GPU mostly idle): the shipped one,
# CONFIGS["emoji"]["text-dit"] (runs/emoji/text-dit.pt), and the probe size, CONFIGS["emoji-text-large"]
# (runs/emoji-text-large/text-dit.pt), each with --fit-seconds measured while both run. Then exports and evaluates
# both at once: models/emoji-text and runs/emoji-text-large/model (cards, everyday.png, README.md). Each step's
# output goes to OUT_DIR/*.log; both model folders are packed into OUT_DIR/text.tar.aa, .ab, … of 15 MiB (what
# comes back from the GPU machine: at most 16 MiB a file). Needs .cache/data/emoji (data.ts emoji --fluent) and
# runs/emoji/vae.pt. Exits non-zero if a step failed (the other size still runs to the end). After LIMIT seconds
# (default 540, inside the GPU machine's 10-minute command) what still runs is stopped, and what was written is
# packed all the same.
#
# TRAIN and EVAL add arguments to train.py and evaluate_text.py, for a smoke test on a CPU:
#   TRAIN="--steps 20 --batch 8" EVAL="--training-names 4 --heldout-names 4 --sampling-steps 2 --default-steps 2
#   --everyday-samples 1 --batch 32" bash models/recipes/text.sh /tmp/text
set -u -m # (job control: each size runs in its own process group, which the time limit stops whole)
OUT=${1:?usage: bash models/recipes/text.sh OUT_DIR}
R=models/recipes
TRAIN=${TRAIN:---fit-seconds 330}
EVAL=${EVAL:-}
LIMIT=${LIMIT:-540}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

# shellcheck disable=SC2086 # TRAIN and EVAL are lists of arguments
size() { # NAME TRAIN_ARGS... : train, export, evaluate one size; its log is OUT/NAME.log
  local name=$1 model=$2 export_args=$3 eval_args=$4
  shift 4
  {
    python3 $R/train.py text-dit --data emoji $TRAIN "$@" &&
      python3 $R/export.py --data emoji --text $export_args &&
      python3 $R/evaluate_text.py --model "$model" $eval_args $EVAL
  } >"$OUT/$name.log" 2>&1
}

size emoji-text models/emoji-text "" "" &
shipped=$!
size emoji-text-large runs/emoji-text-large/model "--run emoji-text-large --out runs/emoji-text-large/model" \
  "--run emoji-text-large" --config emoji-text-large --run emoji-text-large &
large=$!
(sleep "$LIMIT" && echo "text.sh: $LIMIT s passed: stopping what still runs" && kill -TERM -- -$shipped -$large) \
  2>/dev/null &
watchdog=$!
disown $watchdog # (no job notice when it is stopped below)
wait $shipped
s1=$?
wait $large
s2=$?
kill -- -$watchdog 2>/dev/null
echo "emoji-text: exit $s1; emoji-text-large: exit $s2" | tee "$OUT/status.log"
folders=$(ls -d models/emoji-text runs/emoji-text-large/model 2>/dev/null)
[ -n "$folders" ] && tar cf - $folders | split -b 15M - "$OUT/text.tar."
[ $s1 = 0 ] && [ $s2 = 0 ]
