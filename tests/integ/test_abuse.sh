#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile miners (tests/tools/testminer.c) against a live pool: garbage,
# over-long lines, a wrong signature, a second hello, a flood of hellos,
# tokens for a job another miner is running, and a miner that takes jobs and
# never answers. Each bad connection is dropped (or, for the silent one, its
# job moves to an honest miner after first_token_ms), while customers keep
# streaming the right tokens through two honest miners the whole time, and
# the pool keeps running.
source "$(dirname "$0")/lib.sh"
[ -x "$TESTMINER" ] || fail_now "fief-testminer not found at $TESTMINER (set FIEF_TESTMINER)"

MID="$TMP/mid.gguf"
"$FIEF" gen-model -o "$MID" --dim 256 --layers 4 --heads 8 --kv-heads 4 --ffn 768 \
  --vocab 2048 --ctx 1024 --type f32 --seed 4 2>/dev/null
DIGEST="sha256:$(sha256sum "$MID" | cut -c1-64)"
start_pool pool --model "mid=$MID" --set first_token_ms=1500
KEY=$(new_key pool)
start_miner h1 "$MID"
start_miner h2 "$MID"
Q="Tell me about the king"
"$FIEF" run -m "$MID" -t 1 -p "$Q" --chat --temp 0 -n 300 --json >"$TMP/ref.jsonl" 2>/dev/null
check "reference: 300 greedy tokens" test "$(wc -l <"$TMP/ref.jsonl")" = 300

# ---- customers: streams back to back during all the abuse ----
cat >"$TMP/traffic.py" <<'PY'
"""Streams the same greedy chat again and again until the stop file appears;
every stream must finish with exactly the reference tokens."""
import http.client, json, os, sys, time
port, key, ref, stop, out = sys.argv[1:6]
want = [json.loads(l)['id'] for l in open(ref)]
body = json.dumps({'model': 'mid', 'messages': [{'role': 'user', 'content': 'Tell me about the king'}],
                   'max_tokens': 300, 'temperature': 0, 'stream': True, 'logprobs': True})
res = {'ok': 0, 'bad': [], 'jobs': [], 'max_s': 0}
while not os.path.exists(stop):
    t0 = time.time()
    try:
        c = http.client.HTTPConnection('127.0.0.1', int(port), timeout=30)
        c.request('POST', '/v1/chat/completions', body,
                  {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})
        r = c.getresponse()
        job = r.getheader('X-Fief-Job')
        ids, done, finish = [], False, None
        for line in r:
            line = line.strip()
            if line == b'data: [DONE]':
                done = True
            elif line.startswith(b'data: '):
                ev = json.loads(line[6:])
                ch = ev['choices'][0]
                ids += [e['id'] for e in (ch.get('logprobs') or {}).get('content') or []]
                finish = ch['finish_reason'] or finish
        c.close()
        if r.status == 200 and done and ids == want and finish == 'length':
            res['ok'] += 1
            res['jobs'].append(job)
        else:
            res['bad'].append({'job': job, 'status': r.status, 'done': done, 'n': len(ids), 'finish': finish})
    except Exception as e:  # noqa: BLE001
        res['bad'].append({'error': repr(e)})
    res['max_s'] = max(res['max_s'], time.time() - t0)
    json.dump(res, open(out + '.tmp', 'w'))
    os.replace(out + '.tmp', out)
PY
bg "$TMP/traffic.log" python3 "$TMP/traffic.py" "$HTTP" "$KEY" "$TMP/ref.jsonl" "$TMP/stop" "$TMP/traffic.json"
TRAFFIC=$!
wait_until 10 test -s "$TMP/traffic.json" || fail_now "the customers' streams do not work: $(cat "$TMP/traffic.log")"
ok "customers are streaming"

# rogue MODE [args...]: one hostile miner; it exits 0 when the pool reacted
# as it should (an error and/or a disconnect, checked on its side)
rogue() {
  local mode=$1; shift
  local rc=0 t0 t1
  t0=$(date +%s%N)
  timeout 30 "$TESTMINER" --pool "127.0.0.1:$MPORT" --mode "$mode" "$@" >"$TMP/rogue-$mode.log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if [ $rc = 0 ]; then ok "$mode: $(grep -E '^(ok|hello flood)' "$TMP/rogue-$mode.log" | tr '\n' ' ')($(( (t1 - t0) / 1000000 )) ms)"
  else bad "$mode: exit $rc: $(tail -n 5 "$TMP/rogue-$mode.log")"; fi
}
# dropped WHY: the pool's log says it closed a connection for WHY
dropped() { wait_until 3 grep -qE "miner .*: closing: $1" "$TMP/pool.log"; }
rogue garbage
check "garbage: the pool dropped it (not JSON)" dropped 'not JSON'
rogue oversize
check "oversize: the pool dropped it (line too long)" dropped 'line longer than the protocol limit'
rogue badsig
check "badsig: the pool dropped it (bad signature)" dropped 'bad signature'
rogue double-hello
check "double-hello: the pool dropped it" dropped 'hello request is not allowed'
rogue hello-flood --count 64
check "the flood was refused at the per-IP limit" grep -q 'miner gateway: refusing' "$TMP/pool.log"

# tokens for a job an honest miner is running right now
for _ in $(seq 100); do
  LIVE=$(cat "$TMP/h1.log" "$TMP/h2.log" | sed -n 's/.*job \(j[0-9a-f]*\.[0-9]*\): model.*/\1/p' | while read -r j; do
    grep -q "job $j done" "$TMP/h1.log" "$TMP/h2.log" || echo "$j"; done | tail -1)
  [ -n "$LIVE" ] && break
  sleep 0.02
done
if [ -n "$LIVE" ]; then rogue steal --digest "$DIGEST" --job "$LIVE"
else bad "steal: no running job found to steal from"; fi
check "steal: the pool refused the rogue's tokens for $LIVE (an honest miner's job)" \
  grep -qF "tokens for job \"$LIVE\", which is not yours" "$TMP/pool.log"
rogue steal --digest "$DIGEST"

# a miner that takes a job and never answers: after first_token_ms the job
# moves to an honest miner, and its customer gets the right tokens anyway
timeout 30 "$TESTMINER" --pool "127.0.0.1:$MPORT" --mode idle --digest "$DIGEST" --seconds 4 >"$TMP/rogue-idle.log" 2>&1 &
IDLE=$!
BG_PIDS+=("$IDLE")
if wait_until 10 grep -q 'sent no first token in time; 0 tokens delivered, moving on' "$TMP/pool.log"; then
  ok "idle: the pool moved the stalled job on after first_token_ms"
else bad "idle: the stalled job was not moved on"; fi
wait "$IDLE" || true
check "idle: the pool cancelled the job on the silent miner" grep -q '"method":"cancel"' "$TMP/rogue-idle.log"
STALLED=$(sed -n 's/.*job \(j[0-9a-f]*\): miner [0-9a-f]* sent no first token in time.*/\1/p' "$TMP/pool.log" | head -1)

# let the customers run a little longer, then stop them
sleep 0.5
touch "$TMP/stop"
wait_until 30 bash -c "! kill -0 $TRAFFIC" || bad "the customers' loop did not stop"
pycheck "customers were not affected: every stream had exactly the reference tokens" "$TMP/traffic.json" "$STALLED" "${LIVE%.*}" <<'PY'
import sys
from fiefcheck import *
r = load(sys.argv[1])
assert not r['bad'], r['bad'][:3]
assert r['ok'] >= 3, r['ok']
assert sys.argv[2] and sys.argv[2] in r['jobs'], 'the stalled job %r did not finish right' % sys.argv[2]
assert sys.argv[3] in r['jobs'], 'the job %r the rogue sent tokens for did not finish right' % sys.argv[3]
print('info: %d streams, slowest %.1f s' % (r['ok'], r['max_s']))
PY

# the honest miners never noticed: still connected, first session, serving
check "honest miner h1 kept its only session" test "$(count_in "$TMP/h1.log" 'authenticated as')" = 1
check "honest miner h2 kept its only session" test "$(count_in "$TMP/h2.log" 'authenticated as')" = 1
if wait_until 5 model_stat_is mid miners 2; then ok "only the two honest miners are left (GET /api/models)"
else bad "miners left: $(curl -s "http://127.0.0.1:$HTTP/api/miners")"; fi
check "pool still running" alive "$POOL_PID"
api GET /health
check "pool still answers (/health 200)" test "$STATUS" = 200
fc "$HTTP" /v1/chat/completions '{"model":"mid","messages":[{"role":"user","content":"Tell me about the king"}],"max_tokens":300,"temperature":0}' \
  --key "$KEY" --out "$TMP/last.json"
pycheck "a request after the abuse is served right" "$TMP/last.json" "$TMP/ref.jsonl" <<'PY'
import sys, json
from fiefcheck import *
r = load(sys.argv[1])
assert r['status'] == 200 and r['body']['usage']['completion_tokens'] == 300, r
PY
finish
