#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The books end to end on a real pool and miner: a key with 1 credit and two
# priced models; every response's usage and cost, the customer's account and
# the miner's earnings exact to the micro-credit (computed here from the
# token counts and prices, by money.py); the pool's fee; 402 with the
# numbers; concurrent requests that together exceed the credit; the
# Idempotency-Key (a retry returns the identical response and is charged
# once; a retry while the first still streams gets 409); signed receipts at
# the miner and at /api/receipts, checked by `fief receipt verify`, a
# tampered copy refused; /admin's input checks; the openai SDK with the cost
# field; `fief ledger check` while the pool runs and after it stopped.
source "$(dirname "$0")/lib.sh"
need_models "the money tests serve stories260K"
setup_openai
cp "$INTEG_DIR/money.py" "$TMP/"

M="$MODELS/stories260K.gguf"
MID="$TMP/mid.gguf" # ~200 tokens/s on one thread: streams that last
"$FIEF" gen-model -o "$MID" --dim 512 --layers 8 --heads 8 --kv-heads 8 --ffn 1536 \
  --vocab 2048 --ctx 1024 --type f32 --seed 9 2>/dev/null
ADMIN=admin-token-0123456789
# prices in credits per million tokens; maturity 0: earnings become payable
# at the pool's next minute, so the tests add up all four balances
cat >"$TMP/pool.ini" <<EOF
[pool]
fee = 2.5%
maturity_s = 0
min_payout = 0.000001
admin_token = $ADMIN
; the books without audits (test_audit has them)
audit_rate = 0
audit_floor = 0
[model s]
path = $M
price_in = 100
price_out = 300
[model mid]
path = $MID
price_in = 50
price_out = 200
EOF
start_pool pool -c "$TMP/pool.ini"
start_miner m1 "$M" -m "mid=$MID" --slots 4
wait_until 10 model_stat_is mid miners 1 || fail_now "the miner does not serve mid"
KEY=$("$FIEF" keys create --data "$TMP/pool" --name alice --credit 1)
MINER=$(curl -s "http://127.0.0.1:$HTTP/api/miners" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
POOL_KEY=$(curl -s "http://127.0.0.1:$HTTP/api/pool" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pool_key"])')
check "GET /api/pool publishes the receipt key ($POOL_KEY) and it is the data directory's" \
  test "$POOL_KEY" = "$("$FIEF" receipt key --data "$TMP/pool")"
check "the miner got the same key in hello" grep -q "receipt key $POOL_KEY" "$TMP/m1.log"

# ledger_check LABEL: the books are consistent while the pool runs
ledger_check() {
  check "$1: fief ledger check (the pool's lock says it runs)" "$FIEF" ledger check --data "$TMP/pool"
  check "$1: fief ledger check --pool-running" "$FIEF" ledger check --data "$TMP/pool" --pool-running
}

# ---- 1. every kind of request, charged exactly ----
pyrun "$HTTP" "$KEY" "$MINER" "$ADMIN" "$TMP/reqs.json" <<'PY'
import json, sys
from fiefcheck import *
from money import *
port, key, miner, admin, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
PRICE = {'s': (100 * MICRO, 300 * MICRO), 'mid': (50 * MICRO, 200 * MICRO)}
FEE = 25000
H = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}
done = []  # (request id, model, cost, usage or None)

def call(path, body, desc):
    st, hs, j, raw = http(port, 'POST', path, json.dumps(body), H)
    assert st == 200, (st, raw[:300])
    req = hs['x-fief-request']
    if body.get('stream'):
        events, fin = sse_events(raw)
        assert fin and all(e['id'] == req for e in events), 'ids or [DONE]'
        c = stream_cost(events)
        usage = next((e['usage'] for e in events if e.get('usage')), None)
    else:
        assert j['id'] == req, (j['id'], req)
        c, usage = j['cost']['micro'], j['usage']
        amount_ok(j['cost'], c)
    if usage:
        p, ci = PRICE[body['model']]
        want = cost(usage['prompt_tokens'], usage['completion_tokens'], p, ci)
        assert c == want, '%s: cost %d, the prices make it %d' % (desc, c, want)
    done.append((req, body['model'], c, usage))
    return c

chat = [{'role': 'user', 'content': 'Tell me a story about a cat'}]
cases = [
    ('non-streamed chat', '/v1/chat/completions', {'model': 's', 'messages': chat, 'max_tokens': 40}),
    ('streamed chat with usage', '/v1/chat/completions',
     {'model': 's', 'messages': chat, 'max_tokens': 40, 'stream': True, 'stream_options': {'include_usage': True}}),
    ('streamed completion, no usage: the cost on its final chunk', '/v1/completions',
     {'model': 's', 'prompt': [1, 2, 3], 'max_tokens': 30, 'stream': True}),
    ('three choices', '/v1/completions',
     {'model': 's', 'prompt': 'Once upon a time', 'max_tokens': 25, 'n': 3, 'temperature': 0.9}),
    ('a stop sequence', '/v1/completions',
     {'model': 's', 'prompt': 'Once upon a time', 'max_tokens': 60, 'temperature': 0, 'stop': ['.']}),
    ('two streamed choices with logprobs', '/v1/chat/completions',
     {'model': 's', 'messages': chat, 'max_tokens': 20, 'n': 2, 'logprobs': True, 'stream': True,
      'stream_options': {'include_usage': True}}),
    ('the other model', '/v1/completions', {'model': 'mid', 'prompt': 'The king', 'max_tokens': 12}),
]
for desc, path, body in cases:
    check('%s: 200, X-Fief-Request is its id, cost = the prices x the usage' % desc, call, path, body, desc)

def books():
    a = wait_settled(port, key, [d[0] for d in done])
    recent = {r['request']: r for r in a['recent']}
    total = 0
    for req, model, c, usage in done:
        r = recent[req]
        assert r['model'] == model and r['cost']['micro'] == c, (r, c)
        p, ci = PRICE[model]
        assert c == cost(r['prompt_tokens'], r['completion_tokens'], p, ci), r
        if usage:
            assert (r['prompt_tokens'], r['completion_tokens']) == (usage['prompt_tokens'], usage['completion_tokens']), (r, usage)
        total += c
    b = a['balance']
    amount_ok(b['spent'], total)
    amount_ok(b['deposited'], MICRO)
    amount_ok(b['available'], MICRO - total)
    amount_ok(b['held'], 0)
    assert a['key']['name'] == 'alice' and a['usage']['requests'] >= len(done), a
    print('info: %d requests, %s credits spent' % (len(done), credits(total)))
check('/api/account: spent, available, held, deposited exact; each recent request with its tokens and cost', books)

def earned():
    fees = sum(fee(c, FEE) for _, _, c, _ in done)
    want = sum(c for _, _, c, _ in done) - fees
    got = miner_earned(port, miner)
    assert got == want, 'miner earned %d, want %d' % (got, want)
    st, hs, j, raw = http(port, 'GET', '/admin/ledger?account=pool_fee&limit=1000',
                          headers={'Authorization': 'Bearer ' + admin})
    assert st == 200, raw
    pool = sum(p['amount']['micro'] for t in j['data'] for p in t['postings'] if p['kind'] == 'POOL_FEE')
    assert pool == fees, 'pool fee %d, want %d' % (pool, fees)
    m = get(port, '/api/miners/' + miner)
    assert {w['model'] for w in m['served']} == {'s', 'mid'} and m['recent_jobs'], m
    print('info: miner %s earned %s, the pool %s' % (miner, credits(want), credits(fees)))
check('the miner earned cost - 2.5% fee of every request; the pool fee account holds the fees', earned)
json.dump([d[0] for d in done], open(out, 'w'))
PY
ledger_check "after the first requests"

# ---- 2. receipts: at the miner, at /api/receipts, verified; a tampered one refused ----
for req in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$TMP/reqs.json"); do
  curl -s -o "$TMP/r.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    "http://127.0.0.1:$HTTP/api/receipts/$req" >"$TMP/r.status"
  if [ "$(cat "$TMP/r.status")" = 200 ] && "$FIEF" receipt verify "$TMP/r.json" --pubkey "$POOL_KEY" >/dev/null 2>"$TMP/verify.err"; then
    ok "receipt of $req: fetched and verified against the published key"
  else bad "receipt of $req: status $(cat "$TMP/r.status"), $(cat "$TMP/verify.err")"; fi
done
python3 - "$TMP/r.json" "$TMP/tampered.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r['miners'][0]['tokens'] += 1  # a miner claims one token more
json.dump(r, open(sys.argv[2], 'w'))
PY
expect_exit 1 "a tampered receipt fails fief receipt verify" "$FIEF" receipt verify "$TMP/tampered.json" --pubkey "$POOL_KEY"
OTHER=$("$FIEF" keys create --data "$TMP/pool" --name bob --credit 0.001)
pyrun "$HTTP" "$KEY" "$OTHER" "$TMP/reqs.json" "$TMP/m1/receipts.jsonl" "$POOL_KEY" "$FIEF" <<'PY'
import json, os, subprocess, sys, time
from fiefcheck import *
from money import *
port, key, other, reqs, filed, pool_key, fief = sys.argv[1:8]
port, reqs = int(port), json.load(open(reqs))
def access():
    st, _, j, _ = http(port, 'GET', '/api/receipts/' + reqs[0], headers={'Authorization': 'Bearer ' + other})
    assert st == 404 and j['error']['code'] == 'receipt_not_found', (st, j)
    st, _, j, _ = http(port, 'GET', '/api/receipts/' + reqs[0])
    assert st == 401, st
check('a receipt is only for the key that paid: 404 for another key, 401 without one', access)
def at_miner():
    end = time.time() + 10
    while True:
        lines = [json.loads(l) for l in open(filed)] if os.path.exists(filed) else []
        got = {r['request']: r for r in lines}
        if set(reqs) <= set(got) or time.time() > end:
            break
        time.sleep(0.1)
    assert set(reqs) <= set(got), 'missing at the miner: %s' % (set(reqs) - set(got))
    for req in reqs:
        st, _, mine, _ = http(port, 'GET', '/api/receipts/' + req, headers={'Authorization': 'Bearer ' + key})
        assert got[req] == mine, 'the miner filed another receipt for %s' % req
        line = json.dumps(got[req], sort_keys=True, separators=(',', ':'))
        subprocess.run([fief, 'receipt', 'verify', '-', '--pubkey', pool_key], input=line.encode(),
                       check=True, capture_output=True)
        f, shares = split(mine['cost'], mine['fee_ppm'], [m['tokens'] for m in mine['miners']])
        assert mine['fee'] == f and [m['amount'] for m in mine['miners']] == shares, mine
check('every receipt reached the miner (DATA/receipts.jsonl), verifies there, and its fee and shares are exact', at_miner)
PY
check "the miner logged what it earned" grep -qE "receipt (chat)?cmpl-[A-Za-z0-9]+: earned [0-9]+\.[0-9]{6} credits" "$TMP/m1.log"
check "no receipt was rejected at the miner" test ! -e "$TMP/m1/receipts.rejected.jsonl"

# ---- 3. 402: not enough credit, with the numbers ----
pyrun "$HTTP" "$OTHER" <<'PY'
import json, re, sys
from decimal import Decimal
from fiefcheck import *
from money import *
port, key = int(sys.argv[1]), sys.argv[2]
H = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}
def short():
    body = {'model': 's', 'prompt': [1, 2, 3], 'max_tokens': 100}
    st, hs, j, raw = http(port, 'POST', '/v1/completions', json.dumps(body), H)
    e = err_shape(j, 402, 'insufficient_credit')
    assert st == 402 and e['type'] == 'insufficient_quota', (st, e)
    m = re.search(r'([0-9.]+) credits available, and this request may cost up to ([0-9.]+) credits', e['message'])
    assert m, e['message']
    have, need = (int(Decimal(x) * MICRO) for x in m.groups())
    want = hold(3, 100, 1, 100 * MICRO, 300 * MICRO)
    assert (have, need) == (1000, want), (have, need, want)
    print('info: %s' % e['message'])
check('402 insufficient_credit: what is available and what the request may cost, exactly', short)
def fits():
    body = {'model': 's', 'prompt': [1, 2, 3], 'max_tokens': 2}  # holds 900 of 1000
    st, hs, j, raw = http(port, 'POST', '/v1/completions', json.dumps(body), H)
    assert st == 200, (st, raw)
    a = wait_settled(port, key, [j['id']])
    amount_ok(a['balance']['spent'], j['cost']['micro'])
    amount_ok(a['balance']['available'], 1000 - j['cost']['micro'])
check('a request whose maximum fits the credit runs; the 402s charged nothing', fits)
PY

# ---- 4. concurrent requests worth more than the credit ----
POOR=$("$FIEF" keys create --data "$TMP/pool" --name carol --credit 0.06055)
pyrun "$HTTP" "$POOR" <<'PY'
import json, sys, threading
from fiefcheck import *
from money import *
port, key = int(sys.argv[1]), sys.argv[2]
H = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}
each = hold(3, 100, 1, 50 * MICRO, 200 * MICRO)  # 20150: the credit holds three
res = []
def one():
    body = {'model': 'mid', 'prompt': [1, 2, 3], 'max_tokens': 100, 'temperature': 0}
    res.append(http(port, 'POST', '/v1/completions', json.dumps(body), H, timeout=120))
ts = [threading.Thread(target=one) for _ in range(10)]
for t in ts: t.start()
for t in ts: t.join()
def spent_at_most():
    okr = [j for st, hs, j, raw in res if st == 200]
    refused = [j for st, hs, j, raw in res if st == 402]
    assert len(okr) + len(refused) == 10, [r[0] for r in res]
    assert okr and refused, 'ok %d, 402 %d' % (len(okr), len(refused))
    for j in refused:
        err_shape(j, 402, 'insufficient_credit')
    a = wait_settled(port, key, [j['id'] for j in okr])
    total = sum(j['cost']['micro'] for j in okr)
    assert total <= 60550, total
    amount_ok(a['balance']['spent'], total)
    amount_ok(a['balance']['available'], 60550 - total)
    print('info: %d served, %d refused with 402, %s of 0.060550 credits spent' % (len(okr), len(refused), credits(total)))
check('10 concurrent requests, credit for 3 holds: the rest get 402, at most the credit is spent', spent_at_most)
PY
ledger_check "after the concurrent requests"

# ---- 5. Idempotency-Key ----
pyrun "$HTTP" "$KEY" <<'PY'
import json, sys, threading, time
from fiefcheck import *
from money import *
port, key = int(sys.argv[1]), sys.argv[2]
def post(body, idem, k=key):
    h = {'Authorization': 'Bearer ' + k, 'Content-Type': 'application/json', 'Idempotency-Key': idem}
    return http(port, 'POST', '/v1/completions', json.dumps(body), h, timeout=120)
def spent():
    return account(port, key)['balance']['spent']['micro']

def replay_json():
    body = {'model': 's', 'prompt': 'The dragon', 'max_tokens': 30, 'temperature': 1.0}
    st1, h1, j1, raw1 = post(body, 'idem-json-1')
    assert st1 == 200, raw1
    wait_settled(port, key, [j1['id']])
    before = spent()
    st2, h2, j2, raw2 = post(body, 'idem-json-1')
    assert (st2, raw2) == (200, raw1), 'the retry differs'
    assert h2.get('idempotent-replayed') == 'true' and h2['x-fief-request'] == j1['id'], h2
    st3, h3, j3, raw3 = post({'model': 's', 'prompt': 'Other', 'max_tokens': 3}, 'idem-json-1')
    assert raw3 == raw1, 'a retry with another body still gets the first response'
    time.sleep(0.3)
    assert spent() == before, 'a retry was charged'
check('a retried non-streamed request returns the identical response and is charged once', replay_json)

def replay_stream():
    import http.client
    body = {'model': 'mid', 'prompt': 'The king', 'max_tokens': 300, 'temperature': 0, 'stream': True}
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    c.request('POST', '/v1/completions', json.dumps(body),
              {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json',
               'Idempotency-Key': 'idem-stream-1'})
    r = c.getresponse()
    raw1 = r.readline() + r.readline()  # the first event: it streams now
    st, hs, j, raw = post(body, 'idem-stream-1')
    assert st == 409 and j['error']['code'] == 'idempotency_key_in_use', (st, raw[:200])
    raw1 += r.read()
    assert r.status == 200 and raw1.endswith(b'data: [DONE]\n\n'), raw1[-100:]
    wait_settled(port, key, [r.getheader('x-fief-request')])
    before = spent()
    st2, h2, _, raw2 = post(body, 'idem-stream-1')
    assert st2 == 200 and raw2 == raw1, 'the replayed stream differs'
    assert h2['content-type'] == 'text/event-stream', h2
    events, _ = sse_events(raw2)
    time.sleep(0.3)
    assert spent() == before, 'the replay was charged'
    print('info: %d events replayed, cost %d' % (len(events), stream_cost(events)))
check('a retry while the first still streams gets 409; after it, the identical stream, charged once', replay_stream)

def bad_key():
    h = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json', 'Idempotency-Key': 'x' * 129}
    st, hs, j, raw = http(port, 'POST', '/v1/completions', '{"model":"s","prompt":"a","max_tokens":2}', h)
    assert st == 400, st
    err_shape(j, 400, 'invalid_idempotency_key')
check('an Idempotency-Key over 128 bytes is a 400', bad_key)
PY

# ---- 6. /admin ----
pyrun "$HTTP" "$ADMIN" "$KEY" <<'PY'
import json, sys
from fiefcheck import *
from money import *
port, admin, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
A = {'Authorization': 'Bearer ' + admin, 'Content-Type': 'application/json'}
kid = account(port, key)['key']['id']
before = account(port, key)['balance']
def credit(body, hdr=A):
    return http(port, 'POST', '/admin/credit', body if isinstance(body, str) else json.dumps(body), hdr)
cases = [
    ('negative amount', {'key': str(kid), 'amount': '-1'}, 400, 'invalid_value', 'amount'),
    ('zero', {'key': str(kid), 'amount': '0'}, 400, 'invalid_value', 'amount'),
    ('7 decimals', {'key': str(kid), 'amount': '1.0000001'}, 400, 'invalid_value', 'amount'),
    ('overflowing', {'key': str(kid), 'amount': '99999999999999999999'}, 400, 'invalid_value', 'amount'),
    ('past the largest balance', {'key': str(kid), 'amount': '4611686018427'}, 400, 'invalid_value', '-'),
    ('an exponent', {'key': str(kid), 'amount': '1e3'}, 400, 'invalid_value', 'amount'),
    ('a JSON number', {'key': str(kid), 'amount': 5}, 400, 'invalid_type', 'amount'),
    ('unknown key id', {'key': '999999', 'amount': '1'}, 404, 'key_not_found', 'key'),
    ('unknown prefix', {'key': 'fief-zzzzzzz', 'amount': '1'}, 404, 'key_not_found', 'key'),
    ('missing key', {'amount': '1'}, 400, 'missing_required_parameter', 'key'),
    ('missing amount', {'key': str(kid)}, 400, 'missing_required_parameter', 'amount'),
    ('key not a string', {'key': kid, 'amount': '1'}, 400, 'invalid_type', 'key'),
    ('memo with a control character', {'key': str(kid), 'amount': '1', 'memo': 'a\u0001b'}, 400, 'invalid_value', '-'),
    ('malformed JSON', '{"key": ', 400, None, '-'),
    ('not an object', '[1]', 400, None, '-'),
    ('duplicate key', '{"key":"1","amount":"1","amount":"2"}', 400, None, '-'),
]
for desc, body, status, code, param in cases:
    def one(body=body, status=status, code=code, param=param):
        st, hs, j, raw = credit(body)
        assert st == status, (st, raw[:300])
        err_shape(j, status, code, param)
    check('/admin/credit refuses %s: %d %s' % (desc, status, code), one)
def nothing_changed():
    assert account(port, key)['balance'] == before
check('... and nothing changed', nothing_changed)
def auth():
    st, _, j, _ = credit({'key': str(kid), 'amount': '1'}, {'Authorization': 'Bearer wrong-token-wrong-token'})
    assert st == 403 and j['error']['code'] == 'invalid_admin_token', (st, j)
    st, _, j, _ = credit({'key': str(kid), 'amount': '1'}, {})
    assert st == 401, st
    st, _, j, _ = http(port, 'GET', '/admin/credit', headers=A)
    assert st == 405, st
check('/admin: 403 for a wrong token, 401 without one, 405 for a wrong method', auth)
def deposit():
    st, hs, j, raw = credit({'key': str(kid), 'amount': '2.5', 'memo': 'invoice 7'})
    assert st == 200 and j['object'] == 'deposit', raw
    amount_ok(j['amount'], 2500000)
    amount_ok(j['available'], before['available']['micro'] + 2500000)
    a = account(port, key)['balance']
    amount_ok(a['deposited'], before['deposited']['micro'] + 2500000)
    st, hs, l, raw = http(port, 'GET', '/admin/ledger?account=customer:%d&limit=1' % kid, headers=A)
    t = l['data'][0]
    assert st == 200 and t['type'] == 'deposit' and t['memo'] == 'invoice 7' and t['id'] == j['txn'], l
    assert {p['kind'] for p in t['postings']} == {'DEPOSITS', 'CUSTOMER'} and l['next_before'] == t['id'], t
    st, hs, l2, raw = http(port, 'GET', '/admin/ledger?account=customer:%d&before=%d&limit=1000' % (kid, t['id']), headers=A)
    assert st == 200 and all(x['id'] < t['id'] for x in l2['data']) and l2['next_before'] is None, l2
check('/admin/credit 2.5 credits: the key has them at once; /admin/ledger shows the deposit, pages with before', deposit)
def ledger_bad():
    for q in ('account=nosuch', 'limit=0', 'limit=abc', 'before=-1', 'limit=1001'):
        st, hs, j, raw = http(port, 'GET', '/admin/ledger?' + q, headers=A)
        assert st == 400, (q, st)
check('/admin/ledger refuses a bad account, limit or before with 400', ledger_bad)
PY

# ---- 7. the openai SDK with the cost field ----
if FIEF_URL="http://127.0.0.1:$HTTP/v1" FIEF_KEY="$KEY" FIEF_POOR_KEY="$OTHER" FIEF_MODEL=s \
   run_node openai_money.mjs >"$TMP/sdk.json" 2>"$TMP/sdk.log"; then
  pyrun "$TMP/sdk.json" <<'PY'
import json, sys
from fiefcheck import *
from money import *
r = json.load(open(sys.argv[1]))
P = (100 * MICRO, 300 * MICRO)
def costed(c, u):
    assert c['micro'] == cost(u['prompt_tokens'], u['completion_tokens'], *P), (c, u)
    amount_ok(c, c['micro'])
check('SDK: a non-streamed chat keeps cost beside usage', lambda: costed(r['chat']['cost'], r['chat']['usage']))
check('SDK: a stream with include_usage: usage and cost on the last chunk',
      lambda: costed(r['stream_usage'][-1]['cost'], r['stream_usage'][-1]['usage']))
def plain():
    last = r['stream_plain'][-1]
    assert last['choices'][0]['finish_reason'] and last['cost']['micro'] > 0, last
    assert all('cost' not in c for c in r['stream_plain'][:-1])
check('SDK: a stream without usage: the cost on the final chunk only', plain)
check('SDK: the stream helper assembles a completion', lambda: r['helper']['choices'][0]['message']['content'])
def poor():
    e = r['poor']
    assert e['error'] and e['isAPIError'] and e['status'] == 402 and e['code'] == 'insufficient_credit', e
check('SDK: 402 raises an APIError with code insufficient_credit', poor)
def idem():
    i = r['idem']
    assert i['first'] == i['again'] and i['replayed'] == 'true' and i['request'] == i['first']['id'], i
check('SDK: an Idempotency-Key in the request options replays the first completion', idem)
PY
else
  bad "the openai SDK script failed: $(tail -5 "$TMP/sdk.log")"
fi

# ---- 8. payouts through the operator's views; the loop's cost of the books ----
"$FIEF" payouts create -c "$TMP/pool.ini" --data "$TMP/pool" >"$TMP/payout.out" 2>&1 || bad "fief payouts create: $(cat "$TMP/payout.out")"
pyrun "$HTTP" "$ADMIN" "$MINER" <<'PY'
import sys
from fiefcheck import *
from money import *
port, admin, miner = int(sys.argv[1]), sys.argv[2], sys.argv[3]
A = {'Authorization': 'Bearer ' + admin}
def payouts():
    st, _, l, raw = http(port, 'GET', '/admin/payouts', headers=A)
    assert st == 200 and len(l['data']) == 1, raw
    b = l['data'][0]
    st, _, one, _ = http(port, 'GET', '/admin/payouts/%d' % b['id'], headers=A)
    assert st == 200 and one == b and b['state'] == 'created' and b['miners'] == 1, one
    m = get(port, '/api/miners/' + miner)['balance']
    amount_ok(m['paying'], b['total']['micro'])
    st, _, j, _ = http(port, 'GET', '/admin/payouts/999', headers=A)
    assert st == 404 and j['error']['code'] == 'batch_not_found', st
    print('info: batch %d, %s credits to the miner' % (b['id'], b['total']['credits']))
check('GET /admin/payouts and /admin/payouts/{id}: the batch `fief payouts create` made (min_payout from pool.ini)', payouts)
def loop_cost():
    st, _, _, raw = http(port, 'GET', '/metrics')
    v = {l.split()[0]: float(l.split()[1]) for l in raw.decode().splitlines() if l and not l.startswith('#')}
    ops, s = v['fief_ledger_ops_total'], v['fief_ledger_loop_seconds_total']
    assert ops > 20 and v['fief_payment_required_total'] >= 3 and v['fief_idempotent_replays_total'] >= 3, v
    print('info: %d holds and settlements, %.1f us each on the event loop' % (ops, s / ops * 1e6))
check('/metrics: the ledger work on the loop thread, 402s and replays counted', loop_cost)
PY
ledger_check "at the end"

# ---- the pool stops: nothing may stay open ----
kill -TERM "$POOL_PID"
wait_until 20 bash -c "! kill -0 $POOL_PID 2>/dev/null" || bad "the pool did not stop"
check "after the pool stopped: fief ledger check (no open hold may remain)" "$FIEF" ledger check --data "$TMP/pool"
finish
