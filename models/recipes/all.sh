#!/usr/bin/env bash
# Train, export and evaluate one model from its prepared data: bash models/recipes/all.sh NAME [--steps N]
# (the data comes first, on a machine with Deno: deno run -A models/recipes/data.ts NAME).
# GPUS=G spreads training over G GPUs of this host with torchrun; PYTHON picks the interpreter.
set -euo pipefail
name=${1:?usage: all.sh digits|emoji [--steps N]}
shift
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
launch=("$python")
if [ "${GPUS:-1}" -gt 1 ]; then launch=("$python" -m torch.distributed.run --standalone --nproc_per_node="$GPUS"); fi
for stage in vae classifier dit; do
  "${launch[@]}" models/recipes/train.py "$stage" --data "$name" "$@"
done
"$python" models/recipes/export.py --data "$name"
"$python" models/recipes/evaluate.py --data "$name"
