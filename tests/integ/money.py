# SPDX-License-Identifier: MIT
"""What the money tests (test_money*.sh) expect, computed the way
docs/operating.md ("The books") says, independently of the pool's C code:
integer micro-credits, the cost rounded up, the fee rounded down, shares by
largest remainder (ties to the earlier part). And small helpers to read the
pool's views and wait for settlements to commit."""
import json
import time

from fiefcheck import http

MICRO = 1_000_000


def cost(prompt, completion, price_in, price_out):
    """What a request costs: nothing when it produced nothing."""
    if completion == 0:
        return 0
    return (prompt * price_in + completion * price_out + MICRO - 1) // MICRO


def hold(prompt, max_tokens, n, price_in, price_out):
    """The most a request may cost: the prompt once, n choices of max_tokens."""
    return (prompt * price_in + n * max_tokens * price_out + MICRO - 1) // MICRO


def fee(c, fee_ppm):
    return c * fee_ppm // MICRO


def split(c, fee_ppm, tokens):
    """(fee, [share per part]) for parts that produced tokens[i] tokens."""
    f = fee(c, fee_ppm)
    rest, total = c - f, sum(tokens)
    if total == 0:
        return c, [0] * len(tokens)
    shares = [rest * t // total for t in tokens]
    rems = [rest * t % total for t in tokens]
    left, served = rest - sum(shares), set()
    while left > 0:
        i = max((i for i in range(len(tokens)) if i not in served and rems[i] > 0),
                key=lambda i: (rems[i], -i))
        shares[i] += 1
        served.add(i)
        left -= 1
    return f, shares


def credits(micro):
    """The API's decimal string for an amount."""
    sign = '-' if micro < 0 else ''
    return '%s%d.%06d' % (sign, abs(micro) // MICRO, abs(micro) % MICRO)


def amount_ok(a, micro):
    """An amount object of the API: {"micro": N, "credits": "N.NNNNNN"}."""
    assert a == {'micro': micro, 'credits': credits(micro)}, (a, micro)


def get(port, path, key=None):
    hdr = {'Authorization': 'Bearer ' + key} if key else {}
    st, hs, j, raw = http(port, 'GET', path, headers=hdr)
    assert st == 200, (path, st, raw[:300])
    return j


def account(port, key):
    return get(port, '/api/account?limit=100', key)


def wait_settled(port, key, reqs, timeout=15):
    """The account once every request in reqs shows in its recent list,
    nothing is held, and the balances add up (spent counts committed
    settlements only, available sees queued ones at once)."""
    end = time.time() + timeout
    while True:
        a = account(port, key)
        seen = {r['request'] for r in a['recent']}
        b = {k: v['micro'] for k, v in a['balance'].items()}
        if set(reqs) <= seen and b['held'] == 0 and \
                b['available'] + b['spent'] == b['deposited']:
            return a
        assert time.time() < end, 'not settled in %ds: %s' % (timeout, set(reqs) - seen)
        time.sleep(0.05)


def miner_earned(port, miner_id):
    """Everything a miner earned so far: pending + available + paying + paid
    (maturity may move it between the first two at any time)."""
    b = get(port, '/api/miners/' + miner_id)['balance']
    return sum(b[k]['micro'] for k in ('pending', 'available', 'paying', 'paid'))


def sse_events(raw):
    """The JSON events of an SSE body (bytes), and whether [DONE] ended it."""
    events, done = [], False
    for block in raw.split(b'\n\n'):
        if not block.startswith(b'data: '):
            continue
        if block[6:] == b'[DONE]':
            done = True
        else:
            events.append(json.loads(block[6:]))
    return events, done


def stream_cost(events):
    """The cost of a stream: on its usage chunk, or its final chunk."""
    costs = [e['cost'] for e in events if 'cost' in e]
    assert len(costs) == 1, 'the cost must come exactly once: %r' % costs
    assert 'cost' in events[-1], 'the cost is not on the last chunk'
    return costs[0]['micro']
