#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP API's errors, as docs/api.md documents them: status code and
# OpenAI's error JSON ({"error": {message, type, param, code}}) for bad
# bodies, wrong types, unknown models and routes, missing/unknown/revoked
# keys, no miner (503), a job every miner failed (502), a full queue (429 with
# Retry-After) and a body over max_body (413).
source "$(dirname "$0")/lib.sh"
[ -x "$TESTMINER" ] || fail_now "fief-testminer not found at $TESTMINER (set FIEF_TESTMINER)"

TINY="$TMP/tiny.gguf"
"$FIEF" gen-model -o "$TINY" --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 \
  --vocab 600 --ctx 256 --type f32 --seed 3 2>/dev/null
DIGEST="sha256:$(sha256sum "$TINY" | cut -c1-64)"
start_pool pool --model "tiny=$TINY" --set queue_max=1 --set max_body=65536
KEY=$(new_key pool)
KEY2=$(new_key pool)

# expect STATUS CODE PARAM DESC METHOD PATH [curl args...]: the request's
# status and error object (CODE and PARAM "null" for a JSON null; PARAM "-"
# when it does not matter)
expect() {
  local st=$1 code=$2 param=$3 d=$4; shift 4
  api "$@"
  if [ "$STATUS" != "$st" ]; then bad "$d: status $STATUS, wanted $st: $(head -c 300 "$TMP/body")"; return; fi
  pycheck "$d -> $st $code" "$TMP/body" "$code" "$param" <<'PY'
import sys, json
from fiefcheck import *
null = lambda v: None if v == 'null' else v
err_shape(json.load(open(sys.argv[1])), 0, null(sys.argv[2]), null(sys.argv[3]))
PY
}
gen() { expect "$1" "$2" "$3" "$4" POST "$5" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$6"; }
C='"model":"tiny","prompt":"hello","max_tokens":4'
H='"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":4'

# ---- no miner yet ----
gen 503 no_miner - "no miner serves the model (completions)" /v1/completions "{$C}"
gen 503 no_miner - "no miner serves the model (chat, streamed)" /v1/chat/completions "{$H,\"stream\":true}"
api GET /v1/models -H "Authorization: Bearer $KEY"
check "GET /v1/models without miners: an empty list" test "$(json_get "$TMP/body" "j['object'], j['data']")" = "('list', [])"
api GET /v1/models/tiny -H "Authorization: Bearer $KEY"
check "GET /v1/models/tiny: a registered model, served or not" test "$STATUS $(json_get "$TMP/body" "j['id'], j['object']")" = "200 ('tiny', 'model')"
expect 404 model_not_found - "GET /v1/models/nope" GET /v1/models/nope -H "Authorization: Bearer $KEY"

# ---- keys ----
expect 401 null - "no Authorization header" POST /v1/completions -H 'Content-Type: application/json' --data-binary "{$C}"
expect 401 null - "Authorization without Bearer" POST /v1/completions -H "Authorization: Basic $KEY" --data-binary "{$C}"
expect 401 null - "GET /v1/models without a key" GET /v1/models
UNKNOWN=fief-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAZ
expect 401 invalid_api_key - "unknown key" POST /v1/completions -H "Authorization: Bearer $UNKNOWN" --data-binary "{$C}"
check "the error shows only the key's first 8 and last 4 characters" \
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["error"]["message"]; k=sys.argv[2]; sys.exit(not (k[:8] in m and k[-4:] in m and k not in m and k[8:-4] not in m))' "$TMP/body" "$UNKNOWN"
gen 503 no_miner - "the second key works before it is revoked" /v1/completions "{$C}"
"$FIEF" keys revoke --data "$TMP/pool" "$KEY2" >/dev/null 2>&1 || bad "fief keys revoke failed"
expect 401 invalid_api_key - "revoked key" POST /v1/completions -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' --data-binary "{$C}"
expect 401 invalid_api_key - "revoked key on GET /v1/models" GET /v1/models -H "Authorization: Bearer $KEY2"
"$FIEF" keys list --data "$TMP/pool" >"$TMP/keys.txt" 2>&1
check "fief keys list shows the revocation" grep -qi revoked "$TMP/keys.txt"

# silent NAME: a fief-testminer that takes jobs and never answers; waits until
# the pool at $MPORT accepted its offer. Sets SILENT_PID.
silent() {
  timeout 60 "$TESTMINER" --pool "127.0.0.1:$MPORT" --mode idle --digest "$DIGEST" --seconds 30 >"$TMP/$1.log" 2>&1 &
  SILENT_PID=$!
  BG_PIDS+=($SILENT_PID)
  wait_until 10 grep -q '"accepted":true' "$TMP/$1.log" || bad "$1: the silent miner was not accepted"
}

# ---- every miner that tried failed: 502 ----
# On a second pool with a short first-token deadline, a silent miner takes the
# job; after first_token_ms it moves on, no other miner serves the model, and
# the request fails.
MAIN_HTTP=$HTTP MAIN_MPORT=$MPORT MAIN_PID=$POOL_PID
start_pool pool502 --model "tiny=$TINY" --set first_token_ms=1000
KEY502=$(new_key pool502)
silent idle1
expect 502 upstream_failed - "the only miner never answered" POST /v1/completions \
  -H "Authorization: Bearer $KEY502" --data-binary "{$C}"
check "502: the error type is server_error" test "$(json_get "$TMP/body" "j['error']['type']")" = server_error
check "502: the pool gave up after the miner missed the first-token deadline" \
  grep -q 'sent no first token in time' "$TMP/pool502.log"
kill $SILENT_PID 2>/dev/null || true
check "502: that pool is still running" alive "$POOL_PID"
HTTP=$MAIN_HTTP MPORT=$MAIN_MPORT POOL_PID=$MAIN_PID

# ---- a full queue: 429 with Retry-After ----
# A silent miner holds the only slot (first_token_ms is 30 s here); one
# request waits in the queue (queue_max=1); the next one is refused.
silent idle2
fc "$HTTP" /v1/completions "{$C,\"stream\":true}" --key "$KEY" --out "$TMP/qa.json" --leave-on-file "$TMP/leave" &
QA=$!
BG_PIDS+=($QA)
wait_until 10 model_stat_is tiny busy 1 || bad "429: the silent miner did not take the first job"
fc "$HTTP" /v1/completions "{$C}" --key "$KEY" --out "$TMP/qb.json" --leave-on-file "$TMP/leave" &
QB=$!
BG_PIDS+=($QB)
wait_until 10 model_stat_is tiny queued 1 || bad "429: the second request was not queued"
gen 429 queue_full - "queue full (queue_max=1)" /v1/completions "{$C}"
check "429 has a Retry-After header" grep -qi '^Retry-After: [0-9]' "$TMP/headers"
touch "$TMP/leave"
wait $QA $QB || true
check "429: the queue empties when its customer leaves" wait_until 5 model_stat_is tiny queued 0
kill $SILENT_PID 2>/dev/null || true
wait_until 5 model_stat_is tiny miners 0 || bad "the silent miner is still listed"

# ---- an honest miner: the 4xx of the request bodies ----
start_miner m1 "$TINY"
for body in "{$C}" "{$H}" "{$C,\"tools\":[],\"logit_bias\":{},\"presence_penalty\":0,\"frequency_penalty\":0,\"user\":\"x\",\"unknown_field\":1}" \
  "{$H,\"response_format\":{\"type\":\"text\"},\"tool_choice\":\"none\",\"n\":1,\"seed\":-5}"; do
  case $body in *messages*) p=/v1/chat/completions ;; *) p=/v1/completions ;; esac
  post $p "$KEY" "$body"
  check "accepted: ${body:0:90}" test "$STATUS" = 200
done
# STATUS|CODE|PARAM|DESC|PATH|BODY, one request each, in one Python process
cat >"$TMP/table" <<EOF
400|null|-|not JSON|/v1/completions|{"model":
400|null|-|an empty body|/v1/completions|
400|null|-|a JSON array, not an object|/v1/completions|[1,2]
400|null|-|duplicate keys|/v1/completions|{"model":"tiny","model":"tiny","prompt":"x"}
400|missing_required_parameter|model|no model|/v1/completions|{"prompt":"hello"}
400|missing_required_parameter|prompt|no prompt|/v1/completions|{"model":"tiny"}
400|missing_required_parameter|messages|no messages|/v1/chat/completions|{"model":"tiny"}
400|invalid_type|model|model is a number|/v1/completions|{"model":5,"prompt":"x"}
400|invalid_type|temperature|temperature is a string|/v1/completions|{$C,"temperature":"hot"}
400|invalid_value|temperature|temperature 5|/v1/completions|{$C,"temperature":5}
400|invalid_type|max_tokens|max_tokens is a string|/v1/completions|{"model":"tiny","prompt":"x","max_tokens":"4"}
400|invalid_type|max_tokens|max_tokens 1.5|/v1/completions|{"model":"tiny","prompt":"x","max_tokens":1.5}
400|invalid_value|max_tokens|max_tokens 0|/v1/completions|{"model":"tiny","prompt":"x","max_tokens":0}
400|invalid_value|top_p|top_p 0|/v1/completions|{$C,"top_p":0}
400|invalid_value|n|n 9|/v1/completions|{$C,"n":9}
400|invalid_type|stream|stream "yes"|/v1/completions|{$C,"stream":"yes"}
400|invalid_type|stop|stop 5|/v1/completions|{$C,"stop":5}
400|invalid_value|stop|five stop sequences|/v1/completions|{$C,"stop":["a","b","c","d","e"]}
400|invalid_value|logprobs|legacy logprobs 6|/v1/completions|{$C,"logprobs":6}
400|invalid_value|top_logprobs|top_logprobs 21|/v1/chat/completions|{$H,"logprobs":true,"top_logprobs":21}
400|invalid_type|messages|messages is a string|/v1/chat/completions|{"model":"tiny","messages":"hello"}
400|invalid_value|messages|no message|/v1/chat/completions|{"model":"tiny","messages":[]}
400|invalid_value|-|an unknown role|/v1/chat/completions|{"model":"tiny","messages":[{"role":"wizard","content":"x"}]}
400|invalid_type|prompt|prompt is a number|/v1/completions|{"model":"tiny","prompt":42}
400|invalid_value|-|a token id outside the vocabulary|/v1/completions|{"model":"tiny","prompt":[1,2,99999]}
400|unsupported_value|prompt|several prompts|/v1/completions|{"model":"tiny","prompt":["a","b"]}
400|unsupported_parameter|tools|tools|/v1/chat/completions|{$H,"tools":[{"type":"function","function":{"name":"f"}}]}
400|unsupported_value|presence_penalty|presence_penalty 0.5|/v1/completions|{$C,"presence_penalty":0.5}
400|unsupported_parameter|echo|echo|/v1/completions|{$C,"echo":true}
400|context_length_exceeded|-|prompt + max_tokens over the context (256)|/v1/completions|{"model":"tiny","prompt":"hello","max_tokens":300}
404|model_not_found|model|an unknown model|/v1/completions|{"model":"nope","prompt":"x"}
404|model_not_found|model|an unknown model (chat)|/v1/chat/completions|{"model":"nope","messages":[{"role":"user","content":"x"}]}
EOF
pyrun "$HTTP" "$KEY" "$TMP/table" <<'PY'
import sys
from fiefcheck import *
port, key = int(sys.argv[1]), sys.argv[2]
null = lambda v: None if v == 'null' else v
for line in open(sys.argv[3], encoding='utf-8'):
    line = line.rstrip('\n')
    if not line:
        continue
    st, code, param, desc, path, body = line.split('|', 5)
    status, hs, j, raw = http(port, 'POST', path, body,
                              {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})
    def verify():
        assert status == int(st), 'status %d, wanted %s: %s' % (status, st, raw[:300])
        assert hs.get('content-type', '').startswith('application/json'), hs
        err_shape(j, status, null(code), null(param))
    check('%s -> %s %s' % (desc, st, code), verify)
PY
post /v1/completions "$KEY" '{"model":"tiny","prompt":"hello","max_tokens":300}'
check "context_length_exceeded names the context, the prompt's tokens and the largest max_tokens" \
  python3 -c 'import json,sys,re; m=json.load(open(sys.argv[1]))["error"]["message"]; sys.exit(not ("256" in m and re.search(r"\b2[0-9][0-9]\b", m.replace("256",""))))' "$TMP/body"

# ---- routes, methods, sizes ----
expect 404 unknown_url - "an unknown route" GET /v1/nope
expect 404 unknown_url - "an unknown route (POST)" POST /v2/chat/completions --data-binary '{}'
expect 405 method_not_allowed - "GET on a POST route" GET /v1/chat/completions -H "Authorization: Bearer $KEY"
check "405 has Allow: POST" grep -qi '^Allow: POST' "$TMP/headers"
expect 405 method_not_allowed - "DELETE /v1/models" DELETE /v1/models -H "Authorization: Bearer $KEY"
check "405 has Allow: GET" grep -qi '^Allow: GET' "$TMP/headers"
api GET /api/miners/0000000000000000
check "an unknown miner: 404" test "$STATUS" = 404
python3 -c 'import json; print(json.dumps({"model":"tiny","prompt":"x"*70000,"max_tokens":4}))' >"$TMP/big.json"
api POST /v1/completions -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "@$TMP/big.json"
check "a body over max_body (65536): 413" test "$STATUS" = 413
if python3 -c 'import json,sys; json.load(open(sys.argv[1]))["error"]["message"]' "$TMP/body" 2>/dev/null; then
  ok "413 comes as OpenAI's error JSON"
elif grep -q 'Request Entity Too Large' "$TMP/body"; then
  ok "413 comes as libevent's own HTML page, as docs/api.md says"
else
  bad "413 body: $(head -c 200 "$TMP/body" | tr '\n' ' ')"
fi
api GET /health
check "/health" test "$STATUS $(cat "$TMP/body" | tr -d ' \n')" = '200 {"status":"ok"}'

# ---- the miner leaves: 503 again ----
kill "$MINER_PID"
wait_until 5 model_stat_is tiny miners 0 || bad "the pool still lists the miner"
gen 503 no_miner - "the only miner left" /v1/completions "{$C}"
check "pool still running" alive "$POOL_PID"
finish
