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
        if line.startswith('fief_audit') or line.startswith('fief_bans'):
            name, val = line.split()
            out[name] = float(val)
    return out


def miner(port, mid):
    st, raw = http(port, 'GET', '/api/miners/' + mid)
    return json.loads(raw) if st == 200 else None


def banned(port, mid):
    m = miner(port, mid)
    return bool(m and m['reputation']['banned'])


def traffic(port, key, model, n, temps, until_banned, max_tokens):
    sent, errors, lock = [0], [], threading.Lock()
    stop = threading.Event()

    def one(i):
        temp = temps[i % len(temps)]
        body = {'model': model, 'max_tokens': max_tokens, 'temperature': temp, 'seed': 1000 + i,
                'messages': [{'role': 'user', 'content': 'Tell me story number %d' % i}]}
        if temp > 0:
            body['top_p'] = 0.95
        st, raw = http(port, 'POST', '/v1/chat/completions', body, key)
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
    end = time.time() + timeout
    while time.time() < end:
        m = metrics(port)
        if m.get('fief_audits_waiting', 1) == 0 and m.get('fief_audits_running', 1) == 0:
            print(json.dumps(m, sort_keys=True))
            return
        time.sleep(0.1)
    print('FAIL: audits still pending after %ds: %s' % (timeout, metrics(port)))
    sys.exit(1)


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
    elif cmd == 'settle':
        settle(port, float(opts.get('timeout', 60)))
    else:
        sys.exit('unknown command ' + cmd)


if __name__ == '__main__':
    main(sys.argv)
