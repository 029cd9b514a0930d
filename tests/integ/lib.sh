# SPDX-License-Identifier: MIT
# Shared helpers for the end-to-end test scripts (sourced, not run).
set -euo pipefail
FIEF=${FIEF_BIN:?FIEF_BIN must point at the fief binary}
MODELS=${FIEF_MODELS:-$(dirname "$0")/../../../shared/models}
TMP=$(mktemp -d /tmp/fief-integ-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0

ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: $*"; }
# check DESC CMD...: passes when CMD exits 0
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# expect_exit CODE DESC CMD...: CMD must exit with CODE and print something on stderr
expect_exit() {
  local code=$1 d=$2; shift 2
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ "$rc" = "$code" ] && [ -s "$TMP/err" ]; then ok "$d (exit $rc: $(head -c 120 "$TMP/err" | tr '\n' ' '))"
  else bad "$d: exit $rc, wanted $code; stderr: $(head -c 300 "$TMP/err")"; fi
}
have_models() { [ -f "$MODELS/stories260K.gguf" ]; }
finish() { if [ "$fails" -gt 0 ]; then echo "$fails check(s) failed"; exit 1; fi; echo "all checks passed"; }
