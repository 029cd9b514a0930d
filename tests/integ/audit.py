# SPDX-License-Identifier: MIT
"""The audit tests' driver (test_audit.sh): customer traffic, the pool's
audit counters from /metrics, miners' reputations, the books.

  audit.py traffic PORT KEY MODEL N [--temps 0,0.9] [--until-banned ID] [--max-tokens K]
      N chat requests (greedy and sampled in turn, a fresh seed each, 3 at
      a time); with --until-banned, stop as soon as that miner's key is
      banned (prints the number of requests sent). Every reply must be a
      200 with a completion, or the test fails.
  audit.py settle PORT [--timeout S]
      wait until no audit waits or runs (prints the counters).
  audit.py until-banned PORT KEY MODEL MINER_KEY MAX [--tag T]
      one request at a time (fresh prompts, greedy and sampled in turn),
      each followed by its audits: stops when the key is banned and prints
      the number of requests it took and what they cost; fails after MAX.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request


def http(port, method, path, body=None, key=None, timeout=60):
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header('Content-Type', 'application/json')
    if key:
        req.add_header('Authorization', 'Bearer ' + key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metrics(port):
    st, raw = http(port, 'GET', '/metrics')
    assert st == 200, st
    out = {}
    for line in raw.decode().splitlines():
        if line.startswith(('fief_audit', 'fief_bans', 'fief_forfeited', 'fief_refunded')):
            name, val = line.split()
            out[name] = float(val)
    return out


def miner(port, mid):
    st, raw = http(port, 'GET', '/api/miners/' + mid)
    return json.loads(raw) if st == 200 else None


def banned(port, mid):
    m = miner(port, mid)
    return bool(m and m['reputation']['banned'])


def chat(port, key, model, i, temp, max_tokens, tag=''):
    body = {'model': model, 'max_tokens': max_tokens, 'temperature': temp, 'seed': 1000 + i,
            'messages': [{'role': 'user', 'content': 'Tell me story %s number %d' % (tag, i)}]}
    if temp > 0:
        body['top_p'] = 0.95
    return http(port, 'POST', '/v1/chat/completions', body, key)


def wait_idle(port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        m = metrics(port)
        if m.get('fief_audits_waiting', 1) == 0 and m.get('fief_audits_running', 1) == 0:
            return m
        time.sleep(0.05)
    return None


def until_banned(port, key, model, miner_key, most, tag):
    spent = 0
    for i in range(1, most + 1):
        st, raw = chat(port, key, model, i, (0, 0.9)[i % 2], 32, tag)
        if st != 200:
            print('FAIL: request %d: %d %s' % (i, st, raw[:200]))
            sys.exit(1)
        spent += json.loads(raw)['cost']['micro']
        if wait_idle(port, 60) is None:
            print('FAIL: audits still pending after request %d' % i)
            sys.exit(1)
        if banned(port, miner_key):
            print(i, spent)
            return
    print('FAIL: not banned after %d requests' % most)
    sys.exit(1)


def traffic(port, key, model, n, temps, until_banned, max_tokens):
    sent, errors, lock = [0], [], threading.Lock()
    stop = threading.Event()

    def one(i):
        st, raw = chat(port, key, model, i, temps[i % len(temps)], max_tokens)
        if st != 200:
            with lock:
                errors.append('request %d: %d %s' % (i, st, raw[:200]))

    def worker(k):
        while not stop.is_set():
            with lock:
                i = sent[0]
                if i >= n:
                    return
                sent[0] += 1
            one(i)
            if until_banned and banned(port, until_banned):
                stop.set()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        print('FAIL: %d request(s) failed: %s' % (len(errors), errors[:3]))
        sys.exit(1)
    print(sent[0])


def settle(port, timeout):
    m = wait_idle(port, timeout)
    if m is None:
        print('FAIL: audits still pending after %ds: %s' % (timeout, metrics(port)))
        sys.exit(1)
    print(json.dumps(m, sort_keys=True))


def main(argv):
    cmd, port = argv[1], int(argv[2])
    opts = {}
    rest = argv[3:]
    for i, a in enumerate(rest):
        if a.startswith('--'):
            opts[a[2:]] = rest[i + 1]
    pos = [a for i, a in enumerate(rest) if not a.startswith('--') and
           (i == 0 or not rest[i - 1].startswith('--'))]
    if cmd == 'traffic':
        temps = [float(t) for t in opts.get('temps', '0,0.9').split(',')]
        traffic(port, pos[0], pos[1], int(pos[2]), temps, opts.get('until-banned'),
                int(opts.get('max-tokens', 48)))
    elif cmd == 'until-banned':
        until_banned(port, pos[0], pos[1], pos[2], int(pos[3]), opts.get('tag', ''))
    elif cmd == 'settle':
        settle(port, float(opts.get('timeout', 60)))
    else:
        sys.exit('unknown command ' + cmd)


if __name__ == '__main__':
    main(sys.argv)
