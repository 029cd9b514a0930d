#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 the miner that serves a stream, in the middle of it: the customer's
# stream goes on (the other miner continues from the last delivered token)
# and ends with exactly the tokens of an uninterrupted run, greedy and sampled.
#
# stories260K runs at ~20k tokens/s, far too fast to kill mid-stream, so this
# uses a generated 200 MiB F32 model (~90 tokens/s on one thread here): a
# 200-token job lasts seconds, and the kill is sent after 30 tokens arrived.
source "$(dirname "$0")/lib.sh"

BIG="$TMP/big.gguf"
"$FIEF" gen-model -o "$BIG" --dim 768 --layers 8 --heads 12 --kv-heads 4 --ffn 2048 \
  --vocab 2048 --ctx 1024 --type f32 --seed 5 2>/dev/null
# first_token_ms also bounds how long a job whose miner died waits for another
# audits off: a score on the one other miner would hold the slot the job fails over to
start_pool pool --model "big=$BIG" --set first_token_ms=6000 --set audit_rate=0 --set audit_floor=0
KEY=$(new_key pool)
start_miner ma "$BIG"
start_miner mb "$BIG"
check "two miners serve the big model" model_stat_is big miners 2

Q="Tell me about the king"
NT=200
SAMPLE="--top-k 0 --top-p 1 --min-p 0"  # the API's defaults: no filters

# reference NAME TEMP SEED: `fief run --chat` in the background (the kill is
# timed by tokens, not by the clock); REF_PID waits for it
reference() {
  "$FIEF" run -m "$BIG" -t 1 -p "$Q" --chat --temp "$2" --seed "$3" $SAMPLE -n $NT --json \
    >"$TMP/ref_$1.jsonl" 2>/dev/null &
  REF_PID=$!
}
# killed_stream NAME TEMP SEED MINER...: a streamed chat (logprobs on: each
# token's id comes back) whose serving miner, one of MINER..., is killed -9
# after 30 tokens
killed_stream() {
  local name=$1 temp=$2 seed=$3 m args=(); shift 3
  for m in "$@"; do local v="MPID_$m"; args+=(--miner "$m=${!v}=$TMP/$m.log"); done
  fc "$HTTP" /v1/chat/completions "$(printf '{"model":"big","messages":[{"role":"user","content":"%s"}],"max_tokens":%d,"temperature":%s,"seed":%d,"stream":true,"logprobs":true,"stream_options":{"include_usage":true}}' \
    "$Q" $NT "$temp" "$seed")" --key "$KEY" --out "$TMP/$name.json" --kill-after 30 "${args[@]}"
}
# verify NAME REF DESC: the stream outlived the kill and has exactly the
# reference's tokens; the pool moved the job on from the token where the
# killed miner stopped, and another miner finished it
verify() {
  pycheck "$1: $3" "$TMP/$1.json" "$TMP/ref_$2.jsonl" "$TMP/pool.log" "$TMP" <<'PY'
import glob, json, os, re, sys
from fiefcheck import *
res, ref = load(sys.argv[1]), [json.loads(l) for l in open(sys.argv[2])]
pool_log, tmp = open(sys.argv[3]).read(), sys.argv[4]
assert len(ref) >= 100, 'reference too short to kill in the middle: %d tokens' % len(ref)
assert res['killed'] not in (None, 'nobody'), 'no miner was killed: %r' % res['killed']
ch, usage = stream_choices(res, chat=True)
c = ch[0]
got, want = [e['id'] for e in c['lp']], [t['id'] for t in ref]
stopped = len(ref) < 200  # ended with the end-of-generation token, which logprobs do not list
assert got == want[:len(want) - stopped], 'tokens differ from the uninterrupted run at %d' % next(
    (i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
assert usage['completion_tokens'] == len(ref), (usage, len(ref))
assert c['finish'] == ('length' if len(ref) == 200 else 'stop'), c['finish']
job = res['headers']['x-fief-job']
m = re.search(r'job %s: miner (\w+) disconnected; (\d+) tokens delivered, moving on' % job, pool_log)
assert m, 'the pool log does not show the job moving on after the kill'
delivered = int(m.group(2))
assert 30 <= res['tokens_at_kill'] <= delivered < len(ref) - 20, \
    'kill did not land mid-stream: seen %d, delivered %d of %d' % (res['tokens_at_kill'], delivered, len(ref))
rescuers = [os.path.basename(f)[:-4] for f in glob.glob(tmp + '/m?.log')
            if re.search(r'job %s\.1: model \S+, prompt \d+, max_tokens %d\b' % (job, 200 - delivered), open(f).read())
            and re.search(r'job %s\.1 done: %d tokens' % (job, len(ref) - delivered), open(f).read())]
assert rescuers and res['killed'] not in rescuers, 'no other miner finished the job: %r' % rescuers
print('info: killed %s after %d tokens seen, %d delivered; %s finished' % (res['killed'], res['tokens_at_kill'], delivered, rescuers[0]))
PY
}
# one_round NAME TEMP SEED: with both miners up, kill the serving one; the
# other continues. Then the killed miner comes back for the next round.
one_round() {
  local name=$1 temp=$2 seed=$3
  reference "$name" "$temp" "$seed"
  killed_stream "$name" "$temp" "$seed" ma mb
  wait $REF_PID || bad "$name: fief run failed"
  verify "$name" "$name" "the stream survived kill -9 of its miner mid-stream; tokens = fief run --chat --temp $temp --seed $seed"
  local k
  k=$(json_get "$TMP/$name.json" "j['killed']")
  case $k in
    ma) start_miner ma "$BIG" ;;
    mb) start_miner mb "$BIG" ;;
    *) fail_now "$name: no miner to restart" ;;
  esac
  wait_until 10 model_stat_is big miners 2 || bad "$name: the restarted miner is not back"
}

one_round greedy 0 1
# the same request uninterrupted through the pool: byte-for-byte the same text
body=$(printf '{"model":"big","messages":[{"role":"user","content":"%s"}],"max_tokens":%d,"temperature":0,"stream":true}' "$Q" $NT)
fc "$HTTP" /v1/chat/completions "$body" --key "$KEY" --out "$TMP/plain.json"
pycheck "greedy: the killed stream's text equals an uninterrupted stream's" "$TMP/greedy.json" "$TMP/plain.json" <<'PY'
import sys
from fiefcheck import *
a, _ = stream_choices(load(sys.argv[1]), chat=True)
b, _ = stream_choices(load(sys.argv[2]), chat=True)
assert a[0]['text'] == b[0]['text'] and len(a[0]['text']) > 100, (a[0]['text'][:80], b[0]['text'][:80])
PY
one_round sampled1 0.8 12
one_round sampled2 0.8 13

# ---- the only miner dies: the job waits for the next one ----
kill "$MPID_mb"
wait_until 10 model_stat_is big miners 1 || bad "mb did not leave"
killed_stream alone 0 1 ma &
FC=$!
wait_until 60 bash -c "! kill -0 $MPID_ma 2>/dev/null" || bad "alone: ma was not killed"
start_miner mb "$BIG" # back within first_token_ms: it takes over
wait $FC
verify alone greedy "the only miner killed mid-stream; a miner that joined later finished it"

# ---- the only miner dies and none comes: an error event, no [DONE] ----
killed_stream orphan 0 1 mb
pycheck "orphan: no miner left: the stream ends with an upstream_failed error event, no [DONE]" "$TMP/orphan.json" "$TMP/ref_greedy.jsonl" <<'PY'
import json, sys
from fiefcheck import *
r, ref = load(sys.argv[1]), [json.loads(l) for l in open(sys.argv[2])]
assert r['status'] == 200 and r['killed'] == 'mb', r['killed']
assert not r['done'] and not r.get('error'), r.get('error')
last = r['events'][-1]
assert set(last) == {'error'}, last
assert last['error']['code'] == 'upstream_failed' and last['error']['type'] == 'server_error', last
assert last['error']['message'], last
ids = [e['id'] for ev in r['events'][:-1] for c in ev['choices'] for e in ((c.get('logprobs') or {}).get('content') or [])]
assert 30 <= len(ids) < 200 and ids == [t['id'] for t in ref][:len(ids)], len(ids)
print('info: %d tokens, then %s' % (len(ids), last['error']['code']))
PY

check "pool still running" alive "$POOL_PID"
finish
