# SPDX-License-Identifier: MIT
"""The client side and the checks of test_money_crash.sh (issue 4's crash
safety): curl processes as the customers, a round that kills the pool with
SIGKILL while many streams run, and what the books must say after each
restart. Imported with fiefcheck.py and money.py on PYTHONPATH; run as

  money_crash.py drive ROUND MODE OUT   one round of requests and the kill
  money_crash.py check ROUND OUT N      the books after the restart (N: holds
                                        the restarted pool said it released)
  money_crash.py retry ROUND OUT        Idempotency-Key retries of the round
  money_crash.py miners DIR...          the receipts the miners filed

Environment: PORT, POOL_PID (drive), ADMIN, POOL_KEY, KEYS_FILE, STATE (the
checks' memory between rounds), WORK (a folder for curl's files), FIEF_BIN,
CRASH_SEED."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from fiefcheck import check, http
from money import MICRO, split

PORT = int(os.environ.get('PORT', '0'))
KEYS = open(os.environ['KEYS_FILE']).read().split()
STATE = os.environ['STATE']
WORK = os.environ['WORK']
SEED = int(os.environ.get('CRASH_SEED', '1'))
DEPOSIT = 1000 * MICRO     # every key's credit (keys create --credit 1000)
FEE_PPM = 30000            # fee = 3%
W = 20                     # customers sending requests back to back
MIN_INFLIGHT = 10          # streams that must be mid-way at every kill
PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park',
           'One day, a cat', 'Tom had a red ball']


# ---- curl, the customer ----

def curl(args, timeout=60):
    """Run curl; (exit status, the status code it printed)."""
    p = subprocess.run(['curl', '-sS', '-N', '--max-time', str(timeout), '-w', '%{http_code}'] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.decode().strip()
    return p.returncode, int(out) if out.isdigit() else 0


def post_args(q, key, prefix):
    """curl's arguments for request q; body, headers, request in PREFIX.*"""
    with open(prefix + '.req', 'w') as f:
        json.dump(q['body'], f)
    a = ['-o', prefix + '.body', '-D', prefix + '.hdr', '-H', 'Authorization: Bearer ' + key,
         '-H', 'Content-Type: application/json', '--data-binary', '@' + prefix + '.req']
    if q['idem']:
        a += ['-H', 'Idempotency-Key: ' + q['idem']]
    return a + ['http://127.0.0.1:%d%s' % (PORT, q['path'])]


def read_answer(prefix):
    """(headers {lowercase: value}, body bytes) curl saved, as far as they came."""
    hs = {}
    try:
        for line in open(prefix + '.hdr', 'rb').read().decode('latin-1').splitlines():
            if ':' in line:
                k, v = line.split(':', 1)
                hs[k.strip().lower()] = v.strip()
    except FileNotFoundError:
        pass
    try:
        body = open(prefix + '.body', 'rb').read()
    except FileNotFoundError:
        body = b''
    return hs, body


def shown(stream, body):
    """(cost, usage) a whole answer showed its customer; AssertionError if it
    is not one: a stream's cost comes once, on its last event before [DONE]."""
    if not stream:
        j = json.loads(body)
        return j['cost']['micro'], j['usage']
    assert body.endswith(b'data: [DONE]\n\n'), 'no [DONE]'
    events = [json.loads(b[6:]) for b in body.split(b'\n\n') if b.startswith(b'data: {')]
    costs = [e['cost']['micro'] for e in events if 'cost' in e]
    assert len(costs) == 1 and 'cost' in events[-1], 'the cost must come once, last'
    usage = [e['usage'] for e in events if e.get('usage')]
    return costs[0], usage[0] if usage else None


def complete(q, rc, status, body):
    """Did the customer get a whole answer? (curl finished, 200, and for a
    stream the [DONE] that ends it)"""
    if rc != 0 or status != 200:
        return False
    return body.endswith(b'data: [DONE]\n\n') if q['stream'] else bool(body.strip())


# ---- one round: requests, a poller, the kill ----

def drive(rnd, mode, out):
    """W customers send requests back to back (long and short streams,
    non-streamed replies, chat and completions, a third with an
    Idempotency-Key) on three keys; a poller reads /api/account to learn
    which settlements are committed. Once the round has run a random while
    and at least MIN_INFLIGHT streams are mid-way, the pool gets SIGKILL: at
    once (MODE random), or (MODE reply) the instant the next customer has a
    whole answer, when its settlement may still be in the store's queue."""
    pool_pid = int(os.environ['POOL_PID'])
    rng = random.Random(SEED * 1000 + rnd)
    lock = threading.Lock()
    reqs, running = [], {}   # running: index -> prefix, of streams under way
    stop, armed = threading.Event(), threading.Event()
    kill = {}
    seen = {}                # request id -> cost, committed before the kill
    t0 = time.monotonic()
    d = os.path.join(WORK, 'round-%d' % rnd)
    os.makedirs(d, exist_ok=True)

    def spec(n):
        r = rng.random()
        kind = 'stream' if r < 0.6 else 'short' if r < 0.75 else 'json'
        mt = {'stream': rng.randint(150, 400), 'short': rng.randint(4, 16), 'json': rng.randint(4, 60)}[kind]
        chat = rng.random() < 0.4
        body = {'model': 'stories', 'max_tokens': mt, 'temperature': 0.8, 'seed': rng.randint(1, 1 << 30)}
        p = rng.choice(PROMPTS)
        if chat:
            body['messages'] = [{'role': 'user', 'content': p}]
        else:
            body['prompt'] = p
        if kind != 'json':
            body['stream'] = True
            if rng.random() < 0.5:
                body['stream_options'] = {'include_usage': True}
        return {'i': n, 'key': rng.randrange(len(KEYS)),
                'idem': 'crash-%d-%d-%d' % (SEED, rnd, n) if rng.random() < 0.35 else None,
                'path': '/v1/chat/completions' if chat else '/v1/completions', 'body': body,
                'stream': kind != 'json', 'sent': False, 'rc': None, 'status': None, 'req': None, 'complete': False,
                'cost': None, 'usage': None, 'error': None, 't_start': time.monotonic() - t0, 't_end': None}

    def midway():
        """Streams under way that have sent an event and not [DONE] (under lock)."""
        n = {}
        for i, prefix in running.items():
            try:
                b = open(prefix + '.body', 'rb').read()
            except FileNotFoundError:
                continue
            if b.startswith(b'data: {') and b'data: [DONE]' not in b:
                n[i] = b.count(b'data: {')
        return n

    def kill_pool(trigger=None):
        """SIGKILL the pool, once; under lock."""
        if kill:
            return
        mid = midway()
        stop.set()
        os.kill(pool_pid, signal.SIGKILL)
        kill.update(t=time.monotonic() - t0, inflight=sorted(mid), events=[mid[i] for i in sorted(mid)],
                    streams=len(running),
                    trigger=trigger, committed=dict(seen))

    def one(q):
        prefix = os.path.join(d, str(q['i']))
        args = post_args(q, KEYS[q['key']], prefix)
        with lock:
            if stop.is_set():
                return
            q['sent'] = True
            if q['stream']:
                running[q['i']] = prefix
        q['rc'], q['status'] = curl(args)
        q['t_end'] = time.monotonic() - t0
        hs, body = read_answer(prefix)
        q['req'] = hs.get('x-fief-request')
        q['complete'] = complete(q, q['rc'], q['status'], body)
        if q['complete']:
            try:
                q['cost'], q['usage'] = shown(q['stream'], body)
            except (ValueError, KeyError, TypeError, AssertionError) as e:
                q['error'] = 'a whole answer without its cost: %r' % e
        with lock:
            running.pop(q['i'], None)
            if q['complete'] and armed.is_set() and len(midway()) >= MIN_INFLIGHT:
                kill_pool(q['i'])

    def worker():
        while not stop.is_set():
            with lock:
                q = spec(len(reqs))
                reqs.append(q)
            one(q)

    def poller():
        """Settlements the pool has committed, as the customers see them:
        /api/account lists committed ones only, so an answer that came back
        whole was true before the kill."""
        while not stop.is_set():
            for k in KEYS:
                f = os.path.join(d, 'account.json')
                rc, st = curl(['-o', f, '-H', 'Authorization: Bearer ' + k,
                               'http://127.0.0.1:%d/api/account?limit=100' % PORT], timeout=10)
                if rc != 0 or st != 200:
                    return
                j = json.load(open(f))
                with lock:
                    for x in j['recent']:
                        seen[x['request']] = x['cost']['micro']
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(W)]
    threads.append(threading.Thread(target=poller, daemon=True))
    for t in threads:
        t.start()
    run_for = rng.uniform(0.8, 2.0)  # the random moment: at least this long, then ...
    deadline = time.monotonic() + 20
    while True:                      # ... as soon as enough streams are mid-way
        with lock:
            if time.monotonic() > deadline or (time.monotonic() - t0 >= run_for and len(midway()) >= MIN_INFLIGHT):
                if mode == 'random':
                    kill_pool()
                break
        time.sleep(0.01)
    if mode == 'reply':
        armed.set()
        end = time.monotonic() + 5
        while not stop.is_set() and time.monotonic() < end:
            time.sleep(0.002)
        while True:                  # no answer came in time: at random
            with lock:
                if stop.is_set() or len(midway()) >= MIN_INFLIGHT or time.monotonic() > deadline:
                    kill_pool()
                    break
            time.sleep(0.01)
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), 'a customer is still waiting after the kill'
    json.dump({'round': rnd, 'mode': mode, 't_kill': kill['t'], 'inflight': kill['inflight'],
               'inflight_events': kill['events'], 'trigger': kill['trigger'],
               'committed_seen': kill['committed'], 'reqs': reqs}, open(out, 'w'))
    print('round %d: killed %s after %.2f s with %d streams mid-way of %d running (%d requests sent, %d whole answers)'
          % (rnd, 'at random' if kill['trigger'] is None else
             'the instant request %d had its whole answer' % kill['trigger'],
             kill['t'], len(kill['inflight']), kill['streams'], sum(q['sent'] for q in reqs),
             sum(q['complete'] for q in reqs)))


# ---- the books, read back ----

ADMIN = {'Authorization': 'Bearer ' + os.environ.get('ADMIN', '')}


def get(path, key=None, hdr=None):
    st, hs, j, raw = http(PORT, 'GET', path, headers=hdr or ({'Authorization': 'Bearer ' + key} if key else {}))
    assert st == 200, (path, st, raw[:300])
    return j


def txns():
    """Every transaction of the books, oldest first (/admin/ledger, paged)."""
    out, before = [], None
    while True:
        j = get('/admin/ledger?limit=1000' + ('&before=%d' % before if before else ''), hdr=ADMIN)
        out += j['data']
        if j['next_before'] is None:
            return out[::-1]
        before = j['next_before']


def load_state():
    try:
        return json.load(open(STATE))
    except FileNotFoundError:
        return {'settled': {}, 'released': {}, 'audit_pay': {}, 'key_ids': {}, 'stats': [], 'last_txn': 0}


def save_state(s):
    json.dump(s, open(STATE, 'w'))


def key_ids(state):
    """{key id (text): API key}"""
    if not state['key_ids']:
        for k in KEYS:
            state['key_ids'][str(get('/api/account', k)['key']['id'])] = k
    return state['key_ids']


def books(state, closed=True):
    """Each request's hold, settlement and release in the books: one hold,
    at most one end (exactly one when closed: nothing in flight), never both
    a settlement and a release. New settlements get their receipt read and
    checked against the postings (fee, shares, the tokens) and go to
    state['settled']. What audits paid their auditors (POOL_FEE -> PENDING,
    once per audit) goes to state['audit_pay']; nothing else may move money:
    every miner here is honest, so no forfeit and no refund.
    Returns ({settled request}, {released request: memo})."""
    ids = key_ids(state)
    by, pays, other = {}, {}, []
    all_txns = txns()
    for t in all_txns:
        if t['type'] in ('hold', 'settle', 'release'):
            by.setdefault(t['ref'], {}).setdefault(t['type'], []).append(t)
        elif t['type'] == 'audit_pay':
            pays.setdefault(t['ref'], []).append(t)
        elif t['type'] != 'deposit':
            other.append((t['id'], t['type'], t['ref']))
    assert not other, 'transactions an honest crash test cannot explain: %s' % other[:5]
    twice = [r for r, ts in pays.items() if len(ts) > 1]
    assert not twice, 'audits that paid their auditor more than once: %s' % twice[:5]
    state['audit_pay'] = {}
    for ref, (t,) in pays.items():
        assert sum(p['amount']['micro'] for p in t['postings']) == 0 and \
            {p['kind'] for p in t['postings']} <= {'POOL_FEE', 'PENDING'}, ('an audit pay', t)
        for p in t['postings']:
            if p['kind'] == 'PENDING':
                m = state['audit_pay'].setdefault(ref, {})
                m[p['owner']] = m.get(p['owner'], 0) + p['amount']['micro']
    state['last_txn'] = max([t['id'] for t in all_txns] + [0])
    bad = []
    for ref, ts in by.items():
        n = {k: len(v) for k, v in ts.items()}
        ends = n.get('settle', 0) + n.get('release', 0)
        if n.get('hold', 0) != 1 or ends > 1 or (closed and ends != 1):
            bad.append((ref, n))
    assert not bad, 'requests not held once and closed once: %s' % bad[:5]
    settled = {r for r, ts in by.items() if 'settle' in ts}
    released = {r: ts['release'][0]['memo'] for r, ts in by.items() if 'release' in ts}
    for ref in sorted(settled - set(state['settled'])):
        t = by[ref]['settle'][0]
        kid = next(p['owner'] for p in t['postings'] if p['kind'] == 'HELD')
        r = get('/api/receipts/' + ref, ids[kid])
        held = -sum(p['amount']['micro'] for p in t['postings'] if p['kind'] == 'HELD')
        back = sum(p['amount']['micro'] for p in t['postings'] if p['kind'] == 'CUSTOMER')
        fee = sum(p['amount']['micro'] for p in t['postings'] if p['kind'] == 'POOL_FEE')
        pend, shares = {}, {}
        for p in t['postings']:
            if p['kind'] == 'PENDING':
                pend[p['owner']] = pend.get(p['owner'], 0) + p['amount']['micro']
        for m in r['miners']:
            shares[m['miner']] = shares.get(m['miner'], 0) + m['amount']
        assert r['request'] == ref and r['cost'] == held - back and r['fee'] == fee, (ref, r, t)
        assert shares == pend, ('the receipt and the postings pay differently', ref, r, t)
        f, sh = split(r['cost'], FEE_PPM, [m['tokens'] for m in r['miners']])
        assert (f, sh) == (r['fee'], [m['amount'] for m in r['miners']]), ('fee or shares', r)
        assert sum(m['tokens'] for m in r['miners']) == r['completion_tokens'] > 0, r
        state['settled'][ref] = {'cost': r['cost'], 'key': kid, 'fee': r['fee'], 'shares': shares,
                                 'prompt': r['prompt_tokens'], 'completion': r['completion_tokens']}
    return settled, released


def balances(state):
    """Every key: deposited - the costs of its settlements == available,
    spent == their sum, nothing held; every miner: pending == the sum of its
    shares and what it earned auditing (maturity is a day: nothing matures
    during the test). Read as of state (books() just before)."""
    ids = key_ids(state)
    cost, earned = {}, {}
    for s in state['settled'].values():
        cost[s['key']] = cost.get(s['key'], 0) + s['cost']
        for m, amt in s['shares'].items():
            earned[m] = earned.get(m, 0) + amt
    for pay in state['audit_pay'].values():
        for m, amt in pay.items():
            earned[m] = earned.get(m, 0) + amt
    for kid, k in ids.items():
        b = {x: v['micro'] for x, v in get('/api/account', k)['balance'].items()}
        want = {'deposited': DEPOSIT, 'held': 0, 'spent': cost.get(kid, 0),
                'available': DEPOSIT - cost.get(kid, 0)}
        assert b == want, 'key %s: %s, its settlements say %s' % (kid, b, want)
    for m in earned:
        x = get('/api/miners/' + m[:16])
        b = {k: v['micro'] for k, v in x['balance'].items() if isinstance(v, dict) and 'micro' in v}
        assert b['pending'] == earned[m] and b['available'] == b['paying'] == b['paid'] == 0, \
            'miner %s: %s, its shares and audit pay say pending %d' % (m[:16], b, earned[m])
    return sum(cost.values()), earned


def books_and_balances(state, closed=True, timeout=15):
    """books() and balances() of one moment: audits of the last jobs may
    still pay their auditors, so read again until no transaction came in
    between (a mismatch with no new transaction fails at once)."""
    end = time.monotonic() + timeout
    while True:
        res = books(state, closed)
        last = state['last_txn']
        try:
            total, earned = balances(state)
            err = None
        except AssertionError as e:
            err = e
        books(state, closed)
        if state['last_txn'] == last or time.monotonic() > end:
            if err:
                raise err
            return res, total, earned
        time.sleep(0.1)


# ---- the checks of one round, on the restarted pool ----

def check_round(rnd, out, n_rel, open_listed):
    R = json.load(open(out))
    state = load_state()
    prev_settled = dict(state['settled'])
    prev_released = dict(state['released'])
    res = {}

    def inflight():
        n = len(R['inflight'])
        assert n >= MIN_INFLIGHT, 'only %d streams were mid-way at the kill' % n
        print('info: %d streams mid-way, %d to %d events in' % (n, min(R['inflight_events']), max(R['inflight_events'])))
    check('round %d: the pool died with >= %d streams mid-way' % (rnd, MIN_INFLIGHT), inflight)

    def once():
        res['settled'], res['released'] = books(state)
        print('info: %d settlements, %d releases in the books' % (len(res['settled']), len(res['released'])))
    check('round %d: every request held once and closed once (settled or released, never both); no hold open' % rnd, once)
    if 'settled' not in res:
        return
    settled, released = res['settled'], res['released']

    def not_lost():
        gone = [r for r in prev_settled if r not in settled or state['settled'][r]['cost'] != prev_settled[r]['cost']]
        assert not gone, 'settlements of earlier rounds lost or changed: %s' % gone[:5]
        seen = R['committed_seen']
        lost = [r for r in seen if r not in settled or state['settled'][r]['cost'] != seen[r]]
        assert not lost, 'settlements /api/account showed before the kill are gone: %s' % lost[:5]
        print('info: %d of earlier rounds, %d seen committed during the round' % (len(prev_settled), len(seen)))
    check('round %d: no committed settlement is lost (earlier rounds, and what /api/account showed before the kill)' % rnd, not_lost)

    def stale():
        new = {r: m for r, m in released.items() if r not in prev_released}
        st = {r for r, m in new.items() if m == 'stale hold'}
        assert len(st) == n_rel, '%d holds released as stale in the books, the pool logged %d' % (len(st), n_rel)
        assert set(open_listed) <= st, ('open holds `fief ledger check` listed that were not released',
                                        sorted(set(open_listed) - st)[:5])
        mine = {q['req'] for q in R['reqs'] if q['req']}
        done = {q['req'] for q in R['reqs'] if q['complete']}
        print('info: %d released as stale (%d of requests whose answer had begun, %d of whole answers); '
              '%d ordinary releases' % (len(st), len(st & mine), len(st & done), len(new) - len(st)))
        state['released'] = released
    check("round %d: the holds released at the restart are the dead pool's open holds, as many as it logged" % rnd, stale)

    def clients():
        done = [q for q in R['reqs'] if q['complete']]
        cut = [q for q in R['reqs'] if q['sent'] and not q['complete']]
        other = [q for q in R['reqs'] if q['sent'] and q['status'] not in (0, 200)]
        assert not other, 'unexpected answers: %s' % [(q['status'], q['req']) for q in other[:3]]
        bad = [(q['i'], q['req'], q['error']) for q in done if not q['req'] or q['cost'] is None]
        assert not bad, 'whole answers without a request id or a cost: %s' % bad[:3]
        kid_of = {k: kid for kid, k in key_ids(state).items()}
        lost = [q for q in done if q['req'] not in settled]
        assert not lost, ('whole answers with a cost that are not in the books (neither charged nor paid: the pool '
                          'sent them before their settlement was committed): %s, read whole %s ms before the kill '
                          '(negative: read after it, from what the pool had sent)' % (
            [q['req'] for q in lost[:5]], [round(1000 * (R['t_kill'] - q['t_end']), 1) for q in lost[:5]]))
        for q in done:
            s = state['settled'][q['req']]
            assert s['cost'] == q['cost'], ('charged %d, the customer was shown %d' % (s['cost'], q['cost']), q['req'])
            assert s['key'] == kid_of[KEYS[q['key']]], ('charged to another key', q['req'])
            if q['usage']:
                assert (s['prompt'], s['completion']) == (q['usage']['prompt_tokens'], q['usage']['completion_tokens']), (s, q['usage'])
        charged_cut = [q for q in cut if q['req'] in settled]
        known = {q['req'] for q in R['reqs'] if q['req']}
        new = set(settled) - set(prev_settled)
        if R['trigger'] is not None:
            q = R['reqs'][R['trigger']]
            print('info: the kill came %.1f ms after request %d had its whole answer; it is %s' % (
                1000 * (R['t_kill'] - q['t_end']), q['i'], 'settled' if q['req'] in settled else 'NOT in the books'))
        res['stats'] = {'complete': len(done), 'cut': len(cut), 'charged_cut': len(charged_cut),
                        'unseen_settled': len(new - known), 'new_settled': len(new),
                        'inflight': len(R['inflight'])}
        print('info: %d whole answers, all in the books at the cost shown; %d cut by the crash, %d of them '
              'charged (settled, the rest of the answer lost on the way); %d settled requests whose id no '
              'customer saw' % (len(done), len(cut), len(charged_cut), len(new - known)))
    check('round %d: every answer a customer got whole is settled once, at the cost it showed, on its key' % rnd, clients)

    def signed():
        assert get('/api/pool')['pool_key'] == os.environ['POOL_KEY'], 'the receipt key changed over the restart'
        new = sorted(set(settled) - set(prev_settled))
        for ref in new[:3] + new[-3:]:
            k = key_ids(state)[state['settled'][ref]['key']]
            st, hs, j, raw = http(PORT, 'GET', '/api/receipts/' + ref, headers={'Authorization': 'Bearer ' + k})
            v = subprocess.run([os.environ['FIEF_BIN'], 'receipt', 'verify', '-', '--pubkey', os.environ['POOL_KEY']],
                               input=raw, capture_output=True)
            assert st == 200 and v.returncode == 0, (ref, st, v.stderr[:300])
    check('round %d: the pool signs with the same key after the restart; receipts verify against it' % rnd, signed)

    def money():
        _, total, earned = books_and_balances(state)
        print('info: %d settlements, %.6f credits spent, miners pending %s' % (
            len(state['settled']), total / MICRO, ' '.join('%.6f' % (v / MICRO) for v in sorted(earned.values()))))
    check('round %d: every key: deposited - its settlements == available, spent == their sum, held 0; '
          'every miner: pending == its shares + its audit pay' % rnd, money)
    state['stats'].append(res.get('stats', {}))
    save_state(state)


# ---- Idempotency-Key retries after the restart ----

def retry(rnd, out):
    R = json.load(open(out))
    state = load_state()
    idem = [q for q in R['reqs'] if q['idem'] and q['sent'] and q['status'] in (0, 200)]
    before = set(state['settled'])
    d = os.path.join(WORK, 'retry-%d' % rnd)
    os.makedirs(d, exist_ok=True)
    got = {}

    def send(q, tag):
        prefix = os.path.join(d, '%d-%s' % (q['i'], tag))
        rc, st = curl(post_args(q, KEYS[q['key']], prefix))
        hs, body = read_answer(prefix)
        got[(q['i'], tag)] = (rc, st, hs, body)

    ts = [threading.Thread(target=send, args=(q, 'a')) for q in idem]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    replayed, fresh = [], []

    def retries():
        kid_of = {k: kid for kid, k in key_ids(state).items()}
        for q in idem:
            rc, st, hs, body = got[(q['i'], 'a')]
            first = read_answer(os.path.join(WORK, 'round-%d' % rnd, str(q['i'])))[1]
            assert rc == 0 and st == 200, ('a retry failed', q['idem'], rc, st, body[:200])
            r = hs.get('x-fief-request')
            if q['req'] in before:
                assert hs.get('idempotent-replayed') == 'true', ('a settled request ran again', q['req'], hs)
                assert r == q['req'], ('the replay of %s does not carry its X-Fief-Request' % q['req'], hs)
            if hs.get('idempotent-replayed') == 'true':
                # settled before the crash; its customer may never have seen its id
                assert r in before and (q['req'] in (None, r)), ('a replay of a request not settled', q['req'], r)
                assert state['settled'][r]['key'] == kid_of[KEYS[q['key']]], ('a replay of another key', r)
                if q['complete']:
                    assert body == first, ('the replay differs from the first answer', r)
                else:
                    assert body.startswith(first), ('what the customer saw is not the start of the replay', r)
                replayed.append((q, r))
            else:
                assert r and r != q['req'] and r not in before, ('a request that died unsettled did not run anew', q['req'], hs)
                assert complete(q, rc, st, body), ('the new run is not whole', q['idem'])
                fresh.append((q, r, shown(q['stream'], body)[0]))
        assert len({r for q, r in replayed}) == len(replayed), 'two keys replay one request'
        # the new runs settle, once each, and nothing else is charged
        want = {r for q, r, c in fresh}
        end = time.monotonic() + 15
        while True:
            settled, released = books(state, closed=False)
            new = set(settled) - before
            if new >= want or time.monotonic() > end:
                break
            time.sleep(0.05)
        assert new == want, 'new settlements %s, new runs %s' % (sorted(new), sorted(want))
        for q, r, c in fresh:
            assert state['settled'][r]['cost'] == c, (r, state['settled'][r], c)
        # once more: every retry is a replay now, and still nothing is charged
        again = [(q, r) for q, r, c in fresh] + replayed
        ts = [threading.Thread(target=send, args=(q, 'b')) for q, r in again]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for q, r in again:
            rc, st, hs, body = got[(q['i'], 'b')]
            assert st == 200 and hs.get('idempotent-replayed') == 'true' and hs.get('x-fief-request') == r, \
                ('a second retry was not a replay', q['idem'], st, hs)
        (settled, released), _, _ = books_and_balances(state)
        assert set(settled) - before == want, 'a replay was charged'
        print('info: %d retried: %d replayed (%d of them cut at the customer), %d ran again and were charged once' % (
            len(idem), len(replayed), sum(not q['complete'] for q, r in replayed), len(fresh)))
    check('round %d: Idempotency-Key retries after the restart: settled ones replayed byte for byte and not '
          'charged, dead ones run again and charged once, a second retry replays; the books still add up' % rnd, retries)
    save_state(state)


def miners(dirs):
    state = load_state()

    def filed():
        got = {}
        for m in dirs:
            for line in open(os.path.join(m, 'receipts.jsonl')):
                r = json.loads(line)
                s = state['settled'].get(r['request'])
                assert s, ('a miner holds a receipt of a request the books did not settle', r['request'])
                shares = {}
                for x in r['miners']:
                    shares[x['miner']] = shares.get(x['miner'], 0) + x['amount']
                assert (r['cost'], r['fee'], shares) == (s['cost'], s['fee'], s['shares']), (r, s)
                got[r['request']] = 1
        print('info: %d of the %d settlements reached their miners (one committed just before a kill '
              'may never be sent)' % (len(got), len(state['settled'])))
    check("the miners' receipts (DATA/receipts.jsonl) are all of settled requests, with the books' cost, fee and shares", filed)


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'drive':
        drive(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif cmd == 'check':
        check_round(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    elif cmd == 'retry':
        retry(int(sys.argv[2]), sys.argv[3])
    elif cmd == 'miners':
        miners(sys.argv[2:])
    else:
        sys.exit('unknown command ' + cmd)
