#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: install dependencies, build fief, and generate text with the
# built-in engine. Uses ../shared/models/stories260K.gguf when present (or
# MODEL=path), else a small model with random weights that fief generates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" --target fief
fief="$build/fief"

model=${MODEL:-}
if [ -z "$model" ]; then
  shared=${FIEF_MODELS:-../shared/models}
  if [ -f "$shared/stories260K.gguf" ]; then
    model="$shared/stories260K.gguf"
  else
    model="$build/demo-model.gguf"
    echo "no shared models found: generating a small random-weight model at $model" >&2
    [ -f "$model" ] || "$fief" gen-model -o "$model" --dim 256 --layers 4 --heads 8 \
      --kv-heads 4 --ffn 768 --vocab 2048 --ctx 1024 --type q8_0 --seed 1
  fi
fi
echo "model: $model" >&2
"$fief" run -m "$model" -p "${PROMPT:-Once upon a time}" -n "${N:-128}" --temp "${TEMP:-0.8}" "$@"
