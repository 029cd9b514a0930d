#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `fief demo`: one command starts a pool and a miner, makes a key and serves a
# request. --once on a given model and on the model it generates itself, with
# custom ports; then the interactive demo, whose printed curl command must
# work as printed, and which must stop everything on Ctrl-C.
source "$(dirname "$0")/lib.sh"

GEN="$TMP/gen.gguf"
"$FIEF" gen-model -o "$GEN" --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 \
  --vocab 1024 --ctx 512 --type f32 --seed 7 2>/dev/null
"$FIEF" run -m "$GEN" -t 1 -p "Once upon a time" --temp 0 -n 32 --json >"$TMP/ref.jsonl" 2>/dev/null
"$FIEF" run -m "$GEN" -t 1 -p "Once upon a time" --temp 0 -n 32 >"$TMP/ref.txt" 2>/dev/null
"$FIEF" tokenize -m "$GEN" --ids "Once upon a time" >"$TMP/ref_ids"

# port_closed PORT: nothing listens there any more
port_closed() { ! python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; }
# no_children DIR: no process of that demo (data directory DIR) is left
no_children() {
  python3 - "$1/" <<'PY'
import os, sys
for pid in filter(str.isdigit, os.listdir('/proc')):
    if int(pid) == os.getpid():
        continue
    try:
        args = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')
    except OSError:
        continue
    if any(a.decode(errors='replace').startswith(sys.argv[1]) for a in args):
        sys.exit(1)
PY
}

# ---- --once on a given model ----
P=$(free_port); Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
rc=0
timeout 120 "$FIEF" demo --once -m "$GEN" --port "$P" --miner-port "$Q" --data "$TMP/demo1" --threads 1 \
  >"$TMP/demo1.out" 2>"$TMP/demo1.err" || rc=$?
check "demo --once -m MODEL exits 0 (exit $rc)" test $rc = 0
check "demo --once printed a 200" grep -q '^POST /v1/completions -> 200' "$TMP/demo1.out"
pycheck "demo --once: the answer is fief run's greedy text, usage right" "$TMP/demo1.out" "$TMP/ref.jsonl" "$TMP/ref.txt" "$TMP/ref_ids" <<'PY'
import json, sys
out = open(sys.argv[1], encoding='utf-8').read()
body = json.loads(out[out.index('{'):])
ref = [json.loads(l) for l in open(sys.argv[2])]
ref_text = open(sys.argv[3], 'rb').read()
n_prompt = len(open(sys.argv[4]).read().split())
c, = body['choices']
assert body['object'] == 'text_completion' and body['model'] == 'gen', body
assert body['usage'] == {'prompt_tokens': n_prompt, 'completion_tokens': len(ref),
                         'total_tokens': n_prompt + len(ref)}, (body['usage'], n_prompt, len(ref))
assert c['finish_reason'] == ('length' if len(ref) == 32 else 'stop'), c
assert c['text'] == ref_text.decode('utf-8', 'replace'), (c['text'], ref_text)
PY
check "demo --once stopped its pool (port $P closed)" wait_until 5 port_closed "$P"
check "demo --once stopped its miner gateway (port $Q closed)" wait_until 5 port_closed "$Q"
check "demo --once left no process behind" wait_until 5 no_children "$TMP/demo1"
check "demo wrote the pool's and the miner's logs" test -s "$TMP/demo1/pool.log" -a -s "$TMP/demo1/miner.log"

# ---- --once without a model: it generates one ----
P=$(free_port); Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
rc=0
timeout 120 "$FIEF" demo --once --port "$P" --miner-port "$Q" --data "$TMP/demo2" --threads 1 \
  >"$TMP/demo2.out" 2>"$TMP/demo2.err" || rc=$?
check "demo --once without -m exits 0 (exit $rc)" test $rc = 0
check "demo --once without -m generated its model" test -s "$TMP/demo2/demo-model.gguf"
check "demo --once without -m printed a 200 with 32 tokens" \
  python3 -c 'import json,sys; o=open(sys.argv[1]).read(); assert "-> 200" in o; b=json.loads(o[o.index("{"):]); sys.exit(b["usage"]["completion_tokens"] != 32 and b["choices"][0]["finish_reason"] != "stop")' "$TMP/demo2.out"
check "demo --once without -m left no process behind" wait_until 5 no_children "$TMP/demo2"

# ---- the interactive demo: its curl command works as printed; Ctrl-C stops it ----
P=$(free_port); Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
bg "$TMP/demo3.log" "$FIEF" demo -m "$GEN" --port "$P" --miner-port "$Q" --data "$TMP/demo3" --threads 1
DEMO=$!
if wait_until 60 grep -q 'Ctrl-C to stop' "$TMP/demo3.log"; then
  ok "interactive demo is up"
  # the command between "Try:" and the status line, exactly as printed
  sed -n '/^Try:/,/^Pool status/p' "$TMP/demo3.log" | sed '1d;$d' >"$TMP/try.sh"
  rc=0
  bash "$TMP/try.sh" >"$TMP/try.out" 2>&1 || rc=$?
  check "the printed curl command streams an answer ending in [DONE] (exit $rc)" grep -q '^data: \[DONE\]' "$TMP/try.out"
  check "the printed curl command talks to port $P" grep -q "127.0.0.1:$P/v1/chat/completions" "$TMP/try.sh"
else
  bad "interactive demo did not come up: $(tail -n 5 "$TMP/demo3.log")"
fi
kill -INT "$DEMO" 2>/dev/null || true
check "Ctrl-C stops the demo" wait_until 10 bash -c "! kill -0 $DEMO 2>/dev/null"
check "Ctrl-C stopped its pool and miner" wait_until 5 no_children "$TMP/demo3"
check "port $P is free again" wait_until 5 port_closed "$P"
finish
