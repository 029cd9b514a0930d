#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A customer who leaves cancels the job: mid-stream, during a long
# non-streamed generation, and while the job still waits in the queue. The
# miner gets `cancel` (its log says so), stops early, its slot is free again
# (GET /api/models: busy 0) and the next request is served at once.
# A generated ~110 MiB model (~200 tokens/s on one thread here) makes a
# 900-token job last seconds.
source "$(dirname "$0")/lib.sh"

BIG="$TMP/big.gguf"
"$FIEF" gen-model -o "$BIG" --dim 512 --layers 8 --heads 8 --kv-heads 8 --ffn 1536 \
  --vocab 2048 --ctx 1024 --type f32 --seed 9 2>/dev/null
start_pool pool --model "big=$BIG"
KEY=$(new_key pool)
start_miner m1 "$BIG"
check "the miner serves the model" model_stat_is big miners 1
LOG=$TMP/m1.log
LONG='{"model":"big","prompt":"the king","max_tokens":900,"temperature":0,"stream":true}'
LONG_NS='{"model":"big","prompt":"the king","max_tokens":900,"temperature":0}'
SHORT='{"model":"big","prompt":"the king","max_tokens":16,"temperature":0}'

# served_promptly DESC: a short request right after is answered within 5 s
served_promptly() {
  fc "$HTTP" /v1/completions "$SHORT" --key "$KEY" --out "$TMP/short.json" --timeout 30
  pycheck "$1: the next request is served promptly" "$TMP/short.json" <<'PY'
import sys
from fiefcheck import *
r = load(sys.argv[1])
assert r['status'] == 200 and r['body']['usage']['completion_tokens'] == 16, r
assert r['elapsed'] < 5, 'took %.1f s' % r['elapsed']
print('info: %.2f s' % r['elapsed'])
PY
}
# cancelled_on_miner DESC JOB: the miner's log shows the cancel of JOB.0 and
# a job that ended early as cancelled; its slot is free again
cancelled_on_miner() {
  local d=$1 job=$2
  if wait_until 5 grep -q "job $job.0: cancel" "$LOG" &&
     wait_until 5 grep -qE "job $job.0 done: [0-9]+ tokens.*cancelled" "$LOG"; then
    local n; n=$(sed -n "s/.*job $job.0 done: \([0-9]*\) tokens.*/\1/p" "$LOG")
    if [ "$n" -lt 900 ]; then ok "$d: the miner got cancel and stopped after $n of 900 tokens"
    else bad "$d: the miner generated all $n tokens"; fi
  else
    bad "$d: no cancel for job $job in the miner's log"
  fi
  if wait_until 3 model_stat_is big busy 0; then ok "$d: the slot is free (busy 0)"
  else bad "$d: the slot is still busy: $(curl -s "http://127.0.0.1:$HTTP/api/models")"; fi
}

# ---- 1. mid-stream: leave after 10 events ----
fc "$HTTP" /v1/completions "$LONG" --key "$KEY" --out "$TMP/s1.json" --close-after 10
J1=$(json_get "$TMP/s1.json" "j['headers']['x-fief-job']")
pycheck "stream: the customer left after 10 events" "$TMP/s1.json" <<'PY'
import sys
from fiefcheck import *
r = load(sys.argv[1])
assert r['status'] == 200 and r['closed'] and len(r['events']) == 10 and not r['done'], r
PY
cancelled_on_miner "stream" "$J1"
check "stream: the pool logged the customer leaving" wait_until 3 grep -qE "api: .*(customer left|connection closed), cancelling 1 open choice" "$TMP/pool.log"
served_promptly "stream"

# ---- 2. a long non-streamed generation: leave while it runs, before any byte ----
jobs_before=$(count_in "$LOG" 'job j[0-9a-f]+\.0: model')
fc "$HTTP" /v1/completions "$LONG_NS" --key "$KEY" --out "$TMP/s2.json" --leave-on-file "$TMP/leave2" &
C2=$!
BG_PIDS+=($C2)
new_job() { [ "$(count_in "$LOG" 'job j[0-9a-f]+\.0: model')" -gt "$jobs_before" ]; }
wait_until 10 new_job || bad "non-streamed: the job never reached the miner"
sleep 0.3 # let it generate a while
touch "$TMP/leave2"
wait $C2
J2=$(sed -n 's/.*job \(j[0-9a-f]*\)\.0: model.*/\1/p' "$LOG" | tail -1)
cancelled_on_miner "non-streamed" "$J2"
served_promptly "non-streamed"

# ---- 3. leave while queued: the job never reaches a miner ----
fc "$HTTP" /v1/completions "$LONG" --key "$KEY" --out "$TMP/s3.json" --close-on-file "$TMP/leave" &
A=$!
BG_PIDS+=("$A")
# the slot is taken; the next request waits in the queue, then leaves
wait_until 10 model_stat_is big busy 1 || bad "queued: the first request never ran"
jobs_before=$(count_in "$LOG" 'job j[0-9a-f]+\.0: model')
fc "$HTTP" /v1/completions "$LONG_NS" --key "$KEY" --out "$TMP/s4.json" --leave-on-file "$TMP/leave-b" &
B=$!
BG_PIDS+=("$B")
if wait_until 5 model_stat_is big queued 1; then ok "queued: the second request waits in the queue"
else bad "queued: the second request was not queued"; fi
touch "$TMP/leave-b"
wait $B
if wait_until 3 model_stat_is big queued 0; then ok "queued: the customer left and the queue is empty again"
else bad "queued: the job stayed in the queue: $(curl -s "http://127.0.0.1:$HTTP/api/models")"; fi
touch "$TMP/leave"
wait $A
check "queued: the first request was still streaming when it left" test "$(json_get "$TMP/s3.json" "j['done'] or not j['closed']")" = False
wait_until 5 model_stat_is big busy 0 || bad "queued: the first request's slot was not freed"
sleep 0.3 # would a dequeued job still be dispatched, it happens now
now=$(count_in "$LOG" 'job j[0-9a-f]+\.0: model')
check "queued: the abandoned job never reached the miner ($now job(s) after $jobs_before)" test "$now" = "$jobs_before"
served_promptly "queued"

check "pool still running" alive "$POOL_PID"
check "the miner never reconnected" test "$(count_in "$LOG" 'authenticated as')" = 1
finish
