#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The books when things go wrong mid-request, on a real pool and two miners:
#  - kill -9 the miner that serves a stream: the job moves on, and each miner
#    is paid for the tokens it produced (the receipt names both; their
#    earnings are exact), the customer pays once for what it got;
#  - a customer who leaves mid-stream pays for what was delivered, and the
#    miner is paid for it;
#  - a customer who leaves a non-streamed request before its reply pays
#    nothing (nothing was delivered);
# and `fief ledger check` after each, and after the pool stops.
#
# A generated 200 MiB F32 model (~90 tokens/s on one thread, as in
# test_failover.sh) keeps a stream going long enough to kill its miner.
source "$(dirname "$0")/lib.sh"
cp "$INTEG_DIR/money.py" "$TMP/"

BIG="$TMP/big.gguf"
"$FIEF" gen-model -o "$BIG" --dim 768 --layers 8 --heads 12 --kv-heads 4 --ffn 2048 \
  --vocab 2048 --ctx 1024 --type f32 --seed 5 2>/dev/null
start_pool pool --model "big=$BIG" --set model.big.price_in=7 --set model.big.price_out=23 \
  --set fee=3% --set first_token_ms=6000 \
  --set audit_rate=0 --set audit_floor=0 # the books of failover alone (test_audit has audits)
KEY=$("$FIEF" keys create --data "$TMP/pool" --credit 5)
start_miner ma "$BIG"
start_miner mb "$BIG"
check "two miners serve the big model" model_stat_is big miners 2
POOL_KEY=$(curl -s "http://127.0.0.1:$HTTP/api/pool" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pool_key"])')

# ledger_check LABEL
ledger_check() { check "$1: fief ledger check --pool-running" "$FIEF" ledger check --data "$TMP/pool" --pool-running; }

# ---- 1. kill -9 the serving miner mid-stream ----
BODY='{"model":"big","messages":[{"role":"user","content":"Tell me about the king"}],"max_tokens":200,"temperature":0,"seed":1,"stream":true,"logprobs":true,"stream_options":{"include_usage":true}}'
fc "$HTTP" /v1/chat/completions "$BODY" --key "$KEY" --out "$TMP/killed.json" --kill-after 30 \
  --miner "ma=$MPID_ma=$TMP/ma.log" --miner "mb=$MPID_mb=$TMP/mb.log"
pyrun "$HTTP" "$KEY" "$TMP/killed.json" "$TMP/pool.log" "$TMP" <<'PY'
import json, re, sys
from fiefcheck import *
from money import *
port, key, res, pool_log, tmp = int(sys.argv[1]), sys.argv[2], load(sys.argv[3]), open(sys.argv[4]).read(), sys.argv[5]
P = (7 * MICRO, 23 * MICRO)
def paid_each():
    assert res['killed'] not in (None, 'nobody'), res['killed']
    ch, usage = stream_choices(res, chat=True)
    req, job = res['headers']['x-fief-request'], res['headers']['x-fief-job']
    m = re.search(r'job %s: miner (\w+) disconnected; (\d+) tokens delivered, moving on' % job, pool_log)
    assert m, 'the pool log does not show the job moving on'
    killed, delivered = m.group(1), int(m.group(2))
    total = usage['completion_tokens']
    c = cost(usage['prompt_tokens'], total, *P)
    assert res['events'][-1]['cost']['micro'] == c, res['events'][-1]
    wait_settled(port, key, [req])
    r = get(port, '/api/receipts/' + req, key)
    assert [x['tokens'] for x in r['miners']] == [delivered, total - delivered], r['miners']
    assert r['miners'][0]['miner'].startswith(killed) and not r['miners'][1]['miner'].startswith(killed), r
    f, shares = split(c, 30000, [delivered, total - delivered])
    assert (r['cost'], r['fee'], [x['amount'] for x in r['miners']]) == (c, f, shares), r
    for x in r['miners']:
        got = miner_earned(port, x['miner'][:16])
        assert got == x['amount'], 'miner %s earned %d, want %d' % (x['miner'][:16], got, x['amount'])
    a = account(port, key)
    amount_ok(a['balance']['spent'], c)
    json.dump(r, open(tmp + '/killed_receipt.json', 'w'))
    print('info: %s killed after %d of %d tokens: it earned %s, the other %s, fee %s' % (
        killed, delivered, total, credits(shares[0]), credits(shares[1]), credits(f)))
check('kill -9 mid-stream: each miner is paid exactly for the tokens it produced; the customer once', paid_each)
PY
check "the failover receipt verifies against the pool's key" "$FIEF" receipt verify "$TMP/killed_receipt.json" --pubkey "$POOL_KEY"
RESCUER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["miners"][1]["miner"])' "$TMP/killed_receipt.json")
for m in ma mb; do
  if grep -q "$RESCUER" "$TMP/$m.log"; then
    REQ=$(json_get "$TMP/killed.json" "j['headers']['x-fief-request']")
    check "the miner that finished the job ($m) filed its receipt" wait_until 5 grep -q "$REQ" "$TMP/$m/receipts.jsonl"
  fi
done
ledger_check "after the failover"
K=$(json_get "$TMP/killed.json" "j['killed']")
start_miner "$K" "$BIG"
wait_until 10 model_stat_is big miners 2 || bad "the killed miner is not back"

# ---- 2. the customer leaves mid-stream: pays for what was delivered ----
LONG='{"model":"big","prompt":"the king","max_tokens":600,"temperature":0,"stream":true}'
fc "$HTTP" /v1/completions "$LONG" --key "$KEY" --out "$TMP/left.json" --close-after 20
pyrun "$HTTP" "$KEY" "$TMP/left.json" <<'PY'
import sys, time
from fiefcheck import *
from money import *
port, key, res = int(sys.argv[1]), sys.argv[2], load(sys.argv[3])
P = (7 * MICRO, 23 * MICRO)
def delivered():
    assert res['closed'] and not res['done'] and len(res['events']) == 20, res
    req = res['headers']['x-fief-request']
    a = wait_settled(port, key, [req])
    r = next(x for x in a['recent'] if x['request'] == req)
    assert 19 <= r['completion_tokens'] < 600, r  # what the pool had sent when it noticed
    c = cost(r['prompt_tokens'], r['completion_tokens'], *P)
    amount_ok(r['cost'], c)
    rc = get(port, '/api/receipts/' + req, key)
    assert sum(x['tokens'] for x in rc['miners']) == r['completion_tokens'], rc
    print('info: left after 20 events; charged for %d tokens: %s credits' % (r['completion_tokens'], credits(c)))
check('a customer who leaves mid-stream pays for the tokens delivered, and its miner is paid for them', delivered)
PY
ledger_check "after a customer left a stream"

# ---- 3. the customer leaves a non-streamed request: nothing delivered, nothing charged ----
NS='{"model":"big","prompt":"the queen","max_tokens":600,"temperature":0}'
before=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$HTTP/api/account" | python3 -c 'import json,sys; print(json.load(sys.stdin)["balance"]["spent"]["micro"])')
fc "$HTTP" /v1/completions "$NS" --key "$KEY" --out "$TMP/ns.json" --close-after-s 1.5
pyrun "$HTTP" "$KEY" "$before" "$TMP" <<'PY'
import sys, time
from fiefcheck import *
from money import *
port, key, before, tmp = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def nothing():
    time.sleep(1)
    a = wait_settled(port, key, [])
    assert a['balance']['spent']['micro'] == before, (a['balance'], before)
    log = open(tmp + '/pool.log').read()
    assert 'customer left, cancelling 1 open choice' in log or 'connection closed, cancelling' in log
check('a customer who leaves a non-streamed request before its reply is charged nothing', nothing)
def miners_add_up():
    # every miner's earnings are the sum of its shares in the receipts of
    # the settled requests; the pool's fee the rest
    a = account(port, key)
    total = {}
    fees = 0
    for x in a['recent']:
        r = get(port, '/api/receipts/' + x['request'], key)
        fees += r['fee']
        for m in r['miners']:
            total[m['miner']] = total.get(m['miner'], 0) + m['amount']
    for m, amt in total.items():
        assert miner_earned(port, m[:16]) == amt, (m, amt)
    assert sum(total.values()) + fees == a['balance']['spent']['micro']
check("every miner's earnings are the sum of its receipts' shares; shares and fees add up to what was spent", miners_add_up)
PY
ledger_check "after a customer left a non-streamed request"

kill -TERM "$POOL_PID"
wait_until 20 bash -c "! kill -0 $POOL_PID 2>/dev/null" || bad "the pool did not stop"
check "after the pool stopped: fief ledger check" "$FIEF" ledger check --data "$TMP/pool"
finish
