#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: install dependencies, build fief, and run a pool with one local
# miner (`fief demo`), printing a curl command to try. Serves
# ../shared/models/stories260K.gguf when present (or MODEL=path), else a small
# model with random weights that fief generates. Extra arguments go to
# `fief demo` (e.g. --port 9090, --once).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" --target fief
model=${MODEL:-}
if [ -z "$model" ]; then
  shared=${FIEF_MODELS:-../shared/models}
  [ -f "$shared/stories260K.gguf" ] && model="$shared/stories260K.gguf"
fi
exec "$build/fief" demo ${model:+-m "$model"} "$@"
