# SPDX-License-Identifier: MIT
# Shared helpers for the end-to-end test scripts (sourced, not run).
#
# Every long-lived process a test starts is recorded in BG_PIDS (bg,
# start_pool, start_miner), so the EXIT trap can stop it, and a watchdog
# catches what the trap cannot; every pool listens on port 0 (the kernel picks
# a free port, the pool logs it), so test files run in parallel (ctest -j).
# On a failure the tail of every log under $TMP is printed; FIEF_KEEP_TMP=1
# keeps $TMP for a look.
set -euo pipefail
FIEF=${FIEF_BIN:?FIEF_BIN must point at the fief binary}
TESTMINER=${FIEF_TESTMINER:-$(dirname "$FIEF")/tests/fief-testminer}
MODELS=${FIEF_MODELS:-$(dirname "$0")/../../../shared/models}
INTEG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d /tmp/fief-integ-XXXXXX)
fails=0
BG_PIDS=()
T_START=$(date +%s.%N)

ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: $*"; }
# check DESC CMD...: passes when CMD exits 0
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# expect_exit CODE DESC CMD...: CMD must exit with CODE and print something on stderr
expect_exit() {
  local code=$1 d=$2; shift 2
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ "$rc" = "$code" ] && [ -s "$TMP/err" ]; then ok "$d (exit $rc: $(head -c 120 "$TMP/err" | tr '\n' ' '))"
  else bad "$d: exit $rc, wanted $code; stderr: $(head -c 300 "$TMP/err")"; fi
}
have_models() { [ -f "$MODELS/stories260K.gguf" ]; }
# The shared models are missing: a visible SKIP for a user's clone, a failure
# in CI (CI=true), where they must be there.
models_missing() {
  if [ "${CI:-}" = true ]; then bad "shared models not found at $MODELS (CI=true: they must be present): $*"
  else skip "shared models not found at $MODELS: $*"; fi
}
# Tests that cannot run at all without the shared models: skip (or fail in CI) and exit.
need_models() { have_models && return 0; models_missing "$*"; finish; }
# fail_now DESC: a failure after which the rest of the test makes no sense
fail_now() { bad "$*"; finish; }
finish() {
  local dt; dt=$(python3 -c "import time; print('%.1f' % (time.time() - $T_START))")
  if [ "$fails" -gt 0 ]; then echo "$fails check(s) failed (${dt}s)"; exit 1; fi
  echo "all checks passed (${dt}s)"; exit 0
}

# ---- processes ----

dump_logs() {
  local f
  for f in "$TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 40 lines) -----"
    tail -n 40 "$f" | cut -c1-400
  done
}
cleanup() {
  local rc=$? p
  trap - EXIT
  set +e
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 30); do
    local alive=0
    for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  # a sanitizer build (FIEF_SANITIZE=ON) reports into the processes' logs
  if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/*.log >/dev/null 2>&1; then
    echo "FAIL - sanitizer reports in: $(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/*.log | xargs -n1 basename | tr '\n' ' ')"
    fails=$((fails + 1))
    [ "$rc" != 0 ] || rc=1
  fi
  if [ "$rc" != 0 ] || [ "$fails" -gt 0 ]; then dump_logs; fi
  if [ -n "${FIEF_KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# If this shell is killed outright (kill -9, a ctest timeout), the trap never
# runs: a watchdog then kills every process whose arguments mention $TMP
# (each pool, miner and client started here does) and removes $TMP.
python3 - "$$" "$TMP" >/dev/null 2>&1 <<'PY' &
import os, signal, shutil, sys, time
parent, tmp = int(sys.argv[1]), sys.argv[2]
os.setsid()
def gone(pid):  # dead, or a zombie nobody reaped yet
    try:
        return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True
while not gone(parent):
    time.sleep(0.5)
for pid in filter(str.isdigit, os.listdir('/proc')):
    if int(pid) == os.getpid():
        continue
    try:
        if tmp.encode() in open('/proc/%s/cmdline' % pid, 'rb').read():
            os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass
if not os.environ.get('FIEF_KEEP_TMP'):
    shutil.rmtree(tmp, ignore_errors=True)
PY
disown $!

# bg LOG CMD...: start CMD in the background, its output in LOG; $! is its pid
bg() { local log=$1; shift; "$@" >"$log" 2>&1 & BG_PIDS+=($!); }
alive() { kill -0 "$1" 2>/dev/null; }
# count_in FILE PATTERN: lines of FILE matching the extended regex (0 if none)
count_in() { grep -cE "$2" "$1" 2>/dev/null || true; }
# wait_until SECONDS CMD...: poll CMD every 50 ms until it succeeds; 1 on timeout
wait_until() {
  local s=$1; shift
  local end; end=$(( $(date +%s%N) + s * 1000000000 ))
  until "$@" 2>/dev/null; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
}
# A free TCP port on 127.0.0.1 (for commands that cannot take port 0).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_pool NAME [fief pool args...]: a pool with data in $TMP/NAME and log
# $TMP/NAME.log, on free ports. Sets POOL_PID, HTTP (port), MPORT (miner port).
start_pool() {
  local name=$1; shift
  bg "$TMP/$name.log" "$FIEF" pool --data "$TMP/$name" --listen-http 127.0.0.1:0 \
    --listen-miners 127.0.0.1:0 --name "integ-$name" --log-level info "$@"
  POOL_PID=$!
  if ! wait_until 30 grep -q 'HTTP on port' "$TMP/$name.log"; then
    fail_now "pool $name did not start: $(tail -n 5 "$TMP/$name.log")"
  fi
  HTTP=$(sed -n 's/.*HTTP on port \([0-9]*\).*/\1/p' "$TMP/$name.log" | head -1)
  MPORT=$(sed -n 's/.*miners on port \([0-9]*\).*/\1/p' "$TMP/$name.log" | head -1)
}
# new_key POOLNAME: a fresh API key for that pool's data directory
new_key() { "$FIEF" keys create --data "$TMP/$1" 2>/dev/null; }

# start_miner NAME MODEL [fief miner args...]: a miner on the pool at $MPORT
# with data in $TMP/NAME and log $TMP/NAME.log, one engine thread (MINER_CMD,
# when set, runs instead of `fief miner`: a rogue takes the same options); waits
# until the pool accepted its model. Sets MINER_PID and MPID_<NAME>.
start_miner() {
  local name=$1 model=$2; shift 2
  local before=0
  [ -f "$TMP/$name.log" ] && before=$(grep -c 'accepted as' "$TMP/$name.log" || true)
  ${MINER_CMD:-"$FIEF" miner} -o "fief+tcp://127.0.0.1:$MPORT" -u "payout-$name" -w "$name" -m "$model" \
    --data "$TMP/$name" -t 1 --log-level info "$@" >>"$TMP/$name.log" 2>&1 &
  MINER_PID=$!
  disown "$MINER_PID" # a test may kill -9 it: no "Killed" notice from bash
  BG_PIDS+=("$MINER_PID")
  printf -v "MPID_$name" '%s' "$MINER_PID"
  local n
  for _ in $(seq 1200); do
    n=$(grep -c 'accepted as' "$TMP/$name.log" || true)
    [ "$n" -gt "$before" ] && return 0
    alive "$MINER_PID" || break
    sleep 0.05
  done
  fail_now "miner $name did not join the pool: $(tail -n 5 "$TMP/$name.log")"
}

# ---- HTTP ----

# api METHOD PATH [curl args...]: one request to the pool at $HTTP. Sets
# STATUS; the body is in $TMP/body, the headers in $TMP/headers.
api() {
  local m=$1 p=$2; shift 2
  : >"$TMP/body"
  : >"$TMP/headers"
  STATUS=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' --max-time 60 \
    -X "$m" "http://127.0.0.1:$HTTP$p" "$@") || STATUS=000
}
# post PATH KEY JSON: an authenticated POST
post() { api POST "$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary "$3"; }
# json_get FILE EXPR: a Python expression on the JSON document j in FILE
json_get() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# model_stat NAME FIELD: a field of GET /api/models for one model
model_stat() {
  curl -s --max-time 10 "http://127.0.0.1:$HTTP/api/models" | python3 -c \
    'import json,sys; print(next(m[sys.argv[2]] for m in json.load(sys.stdin) if m["name"]==sys.argv[1]))' "$1" "$2"
}
# model_stat_is NAME FIELD VALUE
model_stat_is() { [ "$(model_stat "$1" "$2")" = "$3" ]; }

# sse_post PATH KEY JSON PREFIX: a POST with curl, the answer (an SSE stream
# or a JSON body) in PREFIX.body, headers in PREFIX.headers, status in
# PREFIX.status; fiefcheck.curl_res(PREFIX) reads them back.
sse_post() {
  curl -sN --max-time 120 -o "$4.body" -D "$4.headers" -w '%{http_code}' \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    --data-binary "$3" "http://127.0.0.1:$HTTP$1" >"$4.status" || echo 000 >"$4.status"
}

# setup_openai: the official openai npm package (pinned in package-lock.json)
# in $NODE_DIR, installed once with npm ci. No node, no npm or no network is a
# failure, never a skip.
setup_openai() {
  command -v node >/dev/null || fail_now "node is not installed (the openai SDK checks need Node 18 or later)"
  command -v npm >/dev/null || fail_now "npm is not installed (needed to install the openai package)"
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || fail_now "node $(node --version) is too old: the openai SDK checks need 18 or later"
  NODE_DIR=${FIEF_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fief-integ-node}
  mkdir -p "$NODE_DIR"
  local want; want=$(cat "$INTEG_DIR/package.json" "$INTEG_DIR/package-lock.json" | sha256sum | cut -c1-64)
  if ! (
    flock 9
    if [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" != "$want" ] || [ ! -f "$NODE_DIR/node_modules/openai/package.json" ]; then
      echo "installing the openai npm package into $NODE_DIR ..."
      rm -f "$NODE_DIR/.installed"
      cp "$INTEG_DIR/package.json" "$INTEG_DIR/package-lock.json" "$NODE_DIR/"
      (cd "$NODE_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000) || exit 1
      echo "$want" >"$NODE_DIR/.installed"
    fi
  ) 9>"$NODE_DIR/.lock"; then
    fail_now "npm could not install the openai package into $NODE_DIR (no network? see npm's message above)"
  fi
  ok "openai npm package $(node -p "require('$NODE_DIR/node_modules/openai/package.json').version") ready (node $(node --version))"
}
# run_node SCRIPT.mjs: run one of tests/integ's .mjs files where it can import
# the installed packages (ESM resolves imports from the script's own folder).
run_node() {
  local s=$NODE_DIR/.run-$$-$(basename "$1")
  cp "$INTEG_DIR/$1" "$s"
  local rc=0
  node "$s" || rc=$?
  rm -f "$s"
  return $rc
}

# pycheck DESC [ARGS...] <<'PY' ... PY: a Python check (script on stdin); ok
# when it exits 0, else a failure showing its last lines. The helpers of
# $TMP/fiefcheck.py are importable.
pycheck() {
  local d=$1; shift
  if PYTHONPATH="$TMP" python3 - "$@" >"$TMP/pyout" 2>&1; then
    local info; info=$(sed -n 's/^info: //p' "$TMP/pyout" | paste -sd ';' -)
    ok "$d${info:+ ($info)}"
  else bad "$d: $(tail -n 6 "$TMP/pyout" | cut -c1-600)"; fi
}

# pyrun [ARGS...] <<'PY' ... PY: a Python script that prints its own "ok   - "
# and "FAIL - " lines (fiefcheck.ok/fail); each FAIL counts, and so does a
# script that dies.
pyrun() {
  local rc=0
  PYTHONPATH="$TMP" python3 - "$@" >"$TMP/pyout" 2>&1 || rc=$?
  cat "$TMP/pyout"
  fails=$((fails + $(grep -c '^FAIL - ' "$TMP/pyout" || true)))
  [ $rc = 0 ] || bad "python check script died (exit $rc)"
}

# fc PORT PATH BODY --out FILE [options]: the streaming test client ($TMP/fc.py).
fc() { python3 "$TMP/fc.py" "$@"; }

cat >"$TMP/fc.py" <<'PY'
"""A small OpenAI-API client for the tests: sends one request, reads the
answer (an SSE stream event by event, or a whole body) and writes what it
saw as JSON. It can kill -9 the miner that serves the stream after some
tokens, or leave (close the connection) after some events or seconds."""
import argparse, http.client, json, os, signal, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('port', type=int)
ap.add_argument('path')
ap.add_argument('body')                      # JSON text, or @FILE
ap.add_argument('--key')
ap.add_argument('--out', required=True)
ap.add_argument('--timeout', type=float, default=120)
ap.add_argument('--kill-after', type=int, default=0)  # tokens seen before the kill
ap.add_argument('--miner', action='append', default=[])  # NAME=PID=LOGFILE
ap.add_argument('--close-after', type=int, default=-1)  # events before leaving
ap.add_argument('--close-after-s', type=float, default=-1)  # seconds before leaving
ap.add_argument('--close-on-file')           # leave at the first event after FILE exists
ap.add_argument('--leave-on-file')           # leave when FILE exists, reading nothing
a = ap.parse_args()
body = open(a.body[1:], 'rb').read() if a.body.startswith('@') else a.body.encode()
res = {'events': [], 'done': False, 'tokens': 0, 'killed': None, 'tokens_at_kill': None,
       'closed': False, 'error': None}
t0 = time.time()

def save():
    res['elapsed'] = time.time() - t0
    json.dump(res, open(a.out, 'w'))

try:
    BY_LP = json.loads(body).get('logprobs') not in (None, False)
except ValueError:
    BY_LP = False

def count_tokens(ev):
    """Tokens an event carries: with logprobs asked for, its logprob entries
    (exact: a chunk lists the tokens whose text it completes); without, 1 per
    choice with text (a lower bound)."""
    n = 0
    for c in ev.get('choices') or []:
        lp = c.get('logprobs')
        if BY_LP:
            if isinstance(lp, dict):
                n += len(lp.get('content') or lp.get('tokens') or [])
        elif (c.get('delta') or {}).get('content') or c.get('text'):
            n += 1
    return n

def kill_serving(job):
    """kill -9 the miner whose log shows it took job JOB.0."""
    want = 'job %s.0:' % job
    for _ in range(100):
        for m in a.miner:
            name, pid, log = m.split('=', 2)
            try:
                if want in open(log, errors='replace').read():
                    os.kill(int(pid), signal.SIGKILL)
                    return name
            except FileNotFoundError:
                pass
        time.sleep(0.02)
    return None

conn = http.client.HTTPConnection('127.0.0.1', a.port, timeout=a.timeout)
hdr = {'Content-Type': 'application/json'}
if a.key:
    hdr['Authorization'] = 'Bearer ' + a.key
conn.request('POST', a.path, body, hdr)
sock = conn.sock  # a stream's reply says Connection: close, and http.client lets go of it
if a.close_after_s >= 0 or a.leave_on_file:  # leave before any answer
    if a.leave_on_file:
        while not os.path.exists(a.leave_on_file) and time.time() - t0 < a.timeout:
            time.sleep(0.01)
    else:
        time.sleep(a.close_after_s)
    sock.shutdown(2)
    conn.close()
    res['closed'] = True
    save()
    sys.exit(0)
try:
    r = conn.getresponse()
except Exception as e:                       # noqa: BLE001 - recorded for the test
    res['error'] = 'no response: %r' % e
    save()
    sys.exit(0)
res['status'] = r.status
res['headers'] = {k.lower(): v for k, v in r.getheaders()}
res['first_byte_s'] = time.time() - t0
if 'text/event-stream' not in res['headers'].get('content-type', ''):
    raw = r.read()
    res['raw'] = raw.decode('utf-8', 'replace')
    try:
        res['body'] = json.loads(raw)
    except ValueError:
        res['body'] = None
    save()
    sys.exit(0)
job = res['headers'].get('x-fief-job', '').split(',')[0]
try:
    while True:
        line = r.readline()
        if not line:
            break
        line = line.rstrip(b'\r\n')
        if not line:
            continue
        if not line.startswith(b'data: '):
            res.setdefault('other_lines', []).append(line.decode('utf-8', 'replace'))
            continue
        data = line[6:]
        if data == b'[DONE]':
            res['done'] = True
            # nothing may follow [DONE]
            rest = r.read()
            if rest.strip():
                res['after_done'] = rest.decode('utf-8', 'replace')
            break
        ev = json.loads(data)
        res['events'].append(ev)
        res['tokens'] += count_tokens(ev)
        if a.kill_after and res['killed'] is None and res['tokens'] >= a.kill_after:
            res['tokens_at_kill'] = res['tokens']
            res['killed'] = kill_serving(job) or 'nobody'
        if (a.close_after >= 0 and len(res['events']) >= a.close_after) or \
                (a.close_on_file and os.path.exists(a.close_on_file)):
            sock.shutdown(2)
            conn.close()
            res['closed'] = True
            break
except Exception as e:                       # noqa: BLE001
    res['error'] = 'stream broke: %r' % e
save()
PY

cat >"$TMP/fiefcheck.py" <<'PY'
"""Helpers for the Python checks of the integration tests."""
import json, subprocess


def load(path):
    return json.load(open(path))


def err_shape(body, status, code, param='-'):
    """OpenAI's error object with the given code (and param, unless '-')."""
    assert isinstance(body, dict) and set(body) == {'error'}, body
    e = body['error']
    assert set(e) >= {'message', 'type', 'param', 'code'}, e
    assert isinstance(e['message'], str) and e['message'], e
    assert isinstance(e['type'], str) and e['type'], e
    assert e['code'] == code, (status, e)
    if param != '-':
        assert e['param'] == param, (status, e)
    return e


def stream_choices(res, chat):
    """Checks a whole SSE answer's shape and returns, per choice index,
    {'text', 'finish', 'lp': [logprob entries], 'events'}, plus the usage
    chunk (or None)."""
    assert res.get('status') == 200, res.get('status')
    assert res['done'], 'no [DONE]: %r' % (res.get('error') or res['events'][-1:])
    assert not res.get('after_done'), res.get('after_done')
    assert 'text/event-stream' in res['headers']['content-type']
    out, usage, ids = {}, None, set()
    for ev in res['events']:
        ids.add(ev['id'])
        assert ev['object'] == ('chat.completion.chunk' if chat else 'text_completion'), ev
        assert isinstance(ev['created'], int) and ev['model'] and ev['system_fingerprint'], ev
        if ev['choices'] == []:
            assert usage is None, 'two usage chunks'
            usage = ev['usage']
            continue
        assert len(ev['choices']) == 1, ev
        c = ev['choices'][0]
        ch = out.setdefault(c['index'], {'text': '', 'finish': None, 'lp': [], 'events': 0,
                                         'role': None})
        assert ch['finish'] is None, 'chunk after the finish of choice %d' % c['index']
        ch['events'] += 1
        if chat:
            d = c['delta']
            if ch['events'] == 1:
                assert d == {'role': 'assistant', 'content': ''}, d
                ch['role'] = d['role']
            else:
                assert 'role' not in d, d
            ch['text'] += d.get('content') or ''
            lp = c.get('logprobs')
            if lp:
                assert lp['refusal'] is None
                ch['lp'] += lp['content']
        else:
            ch['text'] += c['text']
            lp = c.get('logprobs')
            if lp:
                ch['lp'].append(lp)
        ch['finish'] = c['finish_reason']
        if c['finish_reason'] is not None and chat:
            assert c['delta'] == {}, c
    assert len(ids) == 1, ids
    for i, ch in out.items():
        assert ch['finish'] in ('stop', 'length'), (i, ch['finish'])
    return out, usage


def curl_res(prefix):
    """What sse_post saved, in fc.py's shape."""
    res = {'status': int(open(prefix + '.status').read().strip() or 0), 'headers': {},
           'events': [], 'done': False, 'tokens': 0}
    for l in open(prefix + '.headers', 'rb').read().decode('latin-1').splitlines():
        if ':' in l:
            k, v = l.split(':', 1)
            res['headers'][k.strip().lower()] = v.strip()
    raw = open(prefix + '.body', 'rb').read()
    if 'text/event-stream' not in res['headers'].get('content-type', ''):
        res['raw'] = raw.decode('utf-8', 'replace')
        try:
            res['body'] = json.loads(raw)
        except ValueError:
            res['body'] = None
        return res
    assert raw.endswith(b'\n\n'), 'the stream does not end with an empty line'
    for block in raw.split(b'\n\n')[:-1]:
        assert block.startswith(b'data: '), block[:100]
        data = block[6:]
        assert res['done'] is False, 'an event after [DONE]'
        if data == b'[DONE]':
            res['done'] = True
        else:
            res['events'].append(json.loads(data))
    return res


def ok(desc):
    print('ok   - ' + desc, flush=True)


def fail(desc):
    print('FAIL - ' + desc, flush=True)


def check(desc, f, *args):
    """ok/FAIL line for f(*args), which raises AssertionError on failure."""
    try:
        f(*args)
        ok(desc)
    except AssertionError as e:
        fail('%s: %s' % (desc, str(e)[:500]))


def http(port, method, path, body=None, headers=None, timeout=60):
    """One request: (status, {lowercase header: value}, parsed JSON or None, raw bytes)."""
    import http.client
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    if isinstance(body, str):
        body = body.encode()
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    raw = r.read()
    hs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        j = json.loads(raw)
    except ValueError:
        j = None
    return r.status, hs, j, raw


def run(cmd):
    """stdout of a command, as bytes."""
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def run_json(cmd):
    """`fief run --json`: the generated tokens as dicts."""
    return [json.loads(l) for l in run(cmd).splitlines() if l.strip()]
PY
