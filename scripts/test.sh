#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: installs dependencies, builds, runs every ctest test
# (unit, model, integ). Usage: scripts/test.sh [extra ctest args]
# BUILD_DIR (default build) and CC choose the build; FIEF_MODELS points at the
# shared models (tests that need them skip with a message when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DFIEF_WERROR=ON ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
