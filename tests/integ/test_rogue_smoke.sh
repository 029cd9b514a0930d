#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fief-rogue ($FIEF_ROGUE) smoke test: each cheat serves a real pool's jobs
# with its cheat visible in what the customer gets (the pool cannot tell yet:
# that is the audits' job), and the liar answers score requests (sent by a
# small fake pool, below) with results that fail honest work.
source "$(dirname "$0")/lib.sh"
ROGUE=${FIEF_ROGUE:-$(dirname "$FIEF")/tests/fief-rogue}
need_models "fief-rogue smoke"
[ -x "$ROGUE" ] || fail_now "fief-rogue not found at $ROGUE (set FIEF_ROGUE)"
M=$MODELS/stories260K.gguf

start_pool pool --model "stories=$M"
KEY=$("$FIEF" keys create --data "$TMP/pool" --name smoke --credit 100)
"$FIEF" gen-model -o "$TMP/small.gguf" --vocab 512 --dim 32 --layers 1 >/dev/null

# rogue NAME ARGS...: a fief-rogue on the pool; waits until its model is accepted
rogue() {
  local name=$1; shift
  "$ROGUE" -o "fief+tcp://127.0.0.1:$MPORT" -u "payout-$name" -w "$name" -m "$M" \
    --data "$TMP/$name" -t 1 --log-level info "$@" >"$TMP/$name.log" 2>&1 &
  ROGUE_PID=$!
  BG_PIDS+=("$ROGUE_PID")
  wait_until 20 grep -q 'accepted as' "$TMP/$name.log" ||
    fail_now "rogue $name did not join: $(tail -n 5 "$TMP/$name.log")"
}
stop_rogue() {
  kill -TERM "$ROGUE_PID" 2>/dev/null || true
  wait "$ROGUE_PID" 2>/dev/null || true
  wait_until 10 model_stat_is stories miners 0 || true
}
# complete PROMPT MAX OUT: a greedy completion with log-probs into OUT (JSON)
complete() {
  post /v1/completions "$KEY" "{\"model\":\"stories\",\"prompt\":\"$1\",\"max_tokens\":$2,\"temperature\":0,\"logprobs\":0}"
  [ "$STATUS" = 200 ] || bad "completion: HTTP $STATUS: $(head -c 300 "$TMP/body")"
  cp "$TMP/body" "$3"
}
text() { json_get "$1" 'j["choices"][0]["text"]'; }
finish_of() { json_get "$1" 'j["choices"][0]["finish_reason"]'; }
ntok() { json_get "$1" 'len(j["choices"][0]["logprobs"]["tokens"])'; }
lps() { json_get "$1" '",".join("%g" % x for x in j["choices"][0]["logprobs"]["token_logprobs"])'; }

P1="Once upon a time"
P2="The little dog"
P3="A girl named Lily"

# The honest reference (fief-rogue --cheat honest is the plain miner).
rogue honest --cheat honest
complete "$P1" 24 "$TMP/h1"
complete "$P2" 24 "$TMP/h2"
complete "$P3" 24 "$TMP/h3"
stop_rogue
check "honest: 24 tokens" [ "$(ntok "$TMP/h1")" = 24 ]

rogue random --cheat random
complete "$P1" 24 "$TMP/r1"
stop_rogue
check "random: 24 tokens unlike the honest ones" \
  [ "$(ntok "$TMP/r1")" = 24 -a "$(text "$TMP/r1")" != "$(text "$TMP/h1")" ]

rogue forge --cheat forge
complete "$P1" 24 "$TMP/f1"
stop_rogue
check "forge: the honest text" [ "$(text "$TMP/f1")" = "$(text "$TMP/h1")" ]
check "forge: every log-prob claimed as -0.01" \
  [ "$(lps "$TMP/f1" | tr ',' '\n' | sort -u)" = "-0.01" ]

rogue replay --cheat replay
complete "$P1" 24 "$TMP/p1"
complete "$P2" 24 "$TMP/p2"
stop_rogue
check "replay: the first job honest" [ "$(text "$TMP/p1")" = "$(text "$TMP/h1")" ]
check "replay: the second job gets the first one's text" \
  [ "$(text "$TMP/p2")" = "$(text "$TMP/h1")" -a "$(text "$TMP/p2")" != "$(text "$TMP/h2")" ]

rogue truncate --cheat truncate --truncate-keep 5
complete "$P1" 24 "$TMP/t1"
stop_rogue
check "truncate: 5 tokens and an eog, finish stop (honest: 24, length)" \
  [ "$(finish_of "$TMP/t1")" = stop -a "$(finish_of "$TMP/h1")" = length ]
check "truncate: the customer gets the 5 honest tokens (the eog is not shown)" python3 -c '
import json, sys
t, h = (json.load(open(f))["choices"][0]["logprobs"] for f in sys.argv[1:])
sys.exit(not (t["tokens"] == h["tokens"][:5]))' "$TMP/t1" "$TMP/h1"

rogue seen --cheat seen
complete "$P3" 24 "$TMP/s1"
complete "$P3" 24 "$TMP/s2"
stop_rogue
check "seen: a new prompt gets random tokens" [ "$(text "$TMP/s1")" != "$(text "$TMP/h3")" ]
check "seen: the same prompt again gets the honest answer" [ "$(text "$TMP/s2")" = "$(text "$TMP/h3")" ]

rogue smaller --cheat smaller --cheat-model "$TMP/small.gguf"
complete "$P1" 24 "$TMP/m1"
stop_rogue
check "smaller: served under stories' digest, other text" \
  [ "$(ntok "$TMP/m1")" -ge 1 -a "$(text "$TMP/m1")" != "$(text "$TMP/h1")" ]

rogue liar --cheat liar
complete "$P1" 24 "$TMP/l1"
stop_rogue
check "liar: honest jobs" [ "$(text "$TMP/l1")" = "$(text "$TMP/h1")" ]

# The liar as an auditor: a fake pool sends it score requests of a greedy
# completion (its own honest tokens) and checks the lies.
cat >"$TMP/fakepool.py" <<'PY'
import json, os, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
srv.settimeout(20)
c, _ = srv.accept(); c.settimeout(20)
f = c.makefile("rw")
def send(o): f.write(json.dumps(o) + "\n"); f.flush()
def read():
    while True:
        m = json.loads(f.readline())
        if m.get("method") == "ping": send({"id": m["id"], "result": {}}); continue
        return m
terms = {"pool": "fake", "fee_ppm": 0, "scheme": "PPS", "maturity_s": 0, "audit_rate": 1}
m = read(); send({"id": m["id"], "result": {"version": 1, "session": "s1", "challenge": os.urandom(32).hex(), "terms": terms}})
m = read(); send({"id": m["id"], "result": {"miner": "liar"}})
m = read(); send({"id": m["id"], "result": {"models": [{"name": "stories", "accepted": True}]}})
prompt, comp = [int(x) for x in sys.argv[1].split(",")], [int(x) for x in sys.argv[2].split(",")]
bad = 0
for i, sampling in enumerate([None, {"temperature": 0.8, "top_k": 40, "seed": 7}]):
    p = {"job": "a%d" % i, "model": "stories", "prompt": prompt, "completion": comp}
    if sampling: p["sampling"] = sampling
    send({"id": 100 + i, "method": "score", "params": p})
    r = read()["result"]
    want = 10 if sampling is None else 1
    ok = all(pk != t for pk, t in zip(r["picks"], comp)) and all(x == want for x in r["margins"])
    print(("lie" if ok else "NO LIE") + ": " + json.dumps(r)[:300], flush=True)
    bad += not ok
sys.exit(1 if bad else 0)
PY
PIDS=$("$FIEF" tokenize -m "$M" --ids "$P1" | tr -s ' ' ',')
COMP=$("$FIEF" tokenize -m "$M" --no-bos --ids "$(text "$TMP/h1")" | tr -s ' ' ',')
python3 "$TMP/fakepool.py" "$PIDS" "$COMP" >"$TMP/fake.out" 2>&1 &
FAKE=$!
BG_PIDS+=("$FAKE")
wait_until 10 test -s "$TMP/fake.out" || fail_now "fake pool did not start"
FPORT=$(head -1 "$TMP/fake.out")
"$ROGUE" -o "127.0.0.1:$FPORT" -u payout-liar2 -w liar2 -m "$M" --data "$TMP/liar2" -t 1 \
  --cheat liar --log-level info >"$TMP/liar2.log" 2>&1 &
ROGUE_PID=$!
BG_PIDS+=("$ROGUE_PID")
rc=0; wait "$FAKE" || rc=$?
stop_rogue
check "liar: both score requests answered with lies ($(grep -c '^lie' "$TMP/fake.out") of 2)" [ "$rc" = 0 ]
check "liar: its log says so" [ "$(count_in "$TMP/liar2.log" 'score [0-9]+ .*: lie')" = 2 ]
finish
