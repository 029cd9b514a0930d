#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Crash safety of the books (issue 4): a real pool and two real miners on
# stories260K, 20 curl customers keeping requests going on three keys; the
# pool is killed with SIGKILL (FIEF_CRASH_ROUNDS, default 5, times) with at
# least 10 streams mid-way, and restarted on the same data directory (the
# miners come back by themselves). After every kill and restart:
#  - `fief ledger check`: with the pool dead, its only violations are the
#    dead pool's open holds, and the restarted pool releases exactly that
#    many ("N hold(s) of requests that died with an earlier pool released");
#    with the pool back it passes, with and without --pool-running;
#  - nothing is counted twice: every request has one hold and one end
#    (settlement or release), never both, and no hold stays open;
#  - no settled job is lost: every answer a customer received whole (a 200
#    JSON body, or a stream ending in [DONE]) is in the books, settled once
#    at the cost it showed, on its key; settlements of earlier rounds and
#    those /api/account showed before the kill are all still there;
#  - every key: deposited - its settlements == available, spent == their
#    sum, held 0; every miner: pending == its shares + what audits paid it
#    (each audit pays once; no forfeit, no refund: the miners are honest);
#    every receipt's fee and shares add up and match its postings, and it
#    verifies with the pool's key, unchanged over the restarts;
#  - Idempotency-Key retries after the restart: a request settled before the
#    crash is replayed (the same bytes as its customer saw, or more of them)
#    with its X-Fief-Request and is not charged again; one that died
#    unsettled runs again and is charged once; a second retry replays.
# Odd rounds kill at a random moment; even rounds the instant a customer has a
# whole answer, when its settlement may still be on its way to the disk.
# Then a clean stop: `fief ledger check` with no pool running finds no open
# hold, the next start releases none, and the miners' own receipts are all
# of settled requests.
source "$(dirname "$0")/lib.sh"
need_models "the crash test serves stories260K"
cp "$INTEG_DIR/money.py" "$INTEG_DIR/money_crash.py" "$TMP/"
ROUNDS=${FIEF_CRASH_ROUNDS:-5}
M="$MODELS/stories260K.gguf"
ADMIN=admin-token-crash-0123456789
# prices in credits per million tokens; maturity of a day: every earning
# stays PENDING, so a miner's pending is the sum of its shares
cat >"$TMP/pool.ini" <<EOF
[pool]
fee = 3%
maturity_s = 86400
admin_token = $ADMIN
first_token_ms = 30000
token_ms = 20000
[model stories]
path = $M
price_in = 50
price_out = 200
EOF

# Fixed ports, so the restarted pool is where its miners and customers look:
# below the kernel's ephemeral range, so no outgoing connection (and no test
# that asks for port 0) can take one while the pool is down.
low_port() {
  python3 - <<'PY'
import random, socket
lo = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
for _ in range(200):
    p = random.randrange(max(1024, lo - 12000), lo)
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', p))
        print(p)
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}
HTTP=$(low_port)
MPORT=$(low_port)
while [ "$MPORT" = "$HTTP" ]; do MPORT=$(low_port); done

# pool_up N: incarnation N of the pool on $TMP/pool, log $TMP/pool-N.log
pool_up() {
  local log="$TMP/pool-$1.log"
  "$FIEF" pool -c "$TMP/pool.ini" --data "$TMP/pool" --listen-http "127.0.0.1:$HTTP" \
    --listen-miners "127.0.0.1:$MPORT" --name integ-crash --log-level info >"$log" 2>&1 &
  POOL_PID=$!
  disown "$POOL_PID" # it is killed with -9 on purpose: no "Killed" notice from bash
  BG_PIDS+=("$POOL_PID")
  wait_until 30 grep -q 'HTTP on port' "$log" || fail_now "pool $1 did not start: $(tail -n 5 "$log")"
}
gone() { ! kill -0 "$1" 2>/dev/null; }
# miners_back: both miners serve the model again
miners_back() { wait_until 20 model_stat_is stories miners 2; }

pool_up 0
start_miner ma "$M" --slots 8
start_miner mb "$M" --slots 8
miners_back || fail_now "two miners do not serve the model"
for who in alice bob carol; do
  "$FIEF" keys create --data "$TMP/pool" --name "$who" --credit 1000 >>"$TMP/keys.txt" 2>/dev/null
done
POOL_KEY=$(curl -s "http://127.0.0.1:$HTTP/api/pool" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pool_key"])')
export PORT=$HTTP ADMIN POOL_KEY KEYS_FILE="$TMP/keys.txt" STATE="$TMP/state.json" WORK="$TMP/work" \
  FIEF_BIN="$FIEF" CRASH_SEED=${FIEF_CRASH_SEED:-1}
mkdir -p "$WORK"
crash() { PYTHONPATH="$TMP" python3 "$TMP/money_crash.py" "$@"; }
# pyrun_crash ARGS...: a money_crash.py command whose ok/FAIL lines count
pyrun_crash() {
  local rc=0
  crash "$@" >"$TMP/pyout" 2>&1 || rc=$?
  cat "$TMP/pyout"
  fails=$((fails + $(grep -c '^FAIL - ' "$TMP/pyout" || true)))
  [ $rc = 0 ] || bad "money_crash.py $1 died (exit $rc)"
}

declare -a INFLIGHT RELEASED
for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round"
  mode=random
  [ $((round % 2)) = 0 ] && mode=reply
  out="$TMP/round-$round.json"
  POOL_PID=$POOL_PID crash drive "$round" "$mode" "$out" || fail_now "the customers of round $round died"
  wait_until 10 gone "$POOL_PID" || fail_now "the pool survived kill -9?"

  # the pool is dead: its open holds are the only violations
  check "round $round, pool dead: fief ledger check --pool-running" \
    "$FIEF" ledger check --data "$TMP/pool" --pool-running
  rc=0
  "$FIEF" ledger check --data "$TMP/pool" >"$TMP/check.out" 2>"$TMP/check.err" || rc=$?
  OPEN=$(sed -n 's/^fief ledger check: \([0-9]*\) violation.*/\1/p' "$TMP/check.err")
  OPEN=${OPEN:-0}
  others=$(grep -vE '^open hold while no pool is running' "$TMP/check.out" || true)
  if { [ "$rc" = 0 ] && [ "$OPEN" = 0 ]; } || { [ "$rc" = 1 ] && [ -z "$others" ]; }; then
    ok "round $round, pool dead: fief ledger check lists only the dead pool's open holds ($OPEN)"
  else
    bad "round $round, pool dead: fief ledger check (exit $rc): $(echo "$others" | head -5) $(cat "$TMP/check.err")"
  fi
  # the requests of the holds it names (it lists 20 and counts the rest)
  mapfile -t LISTED < <(sed -n 's/^open hold while no pool is running.*: request=\([^ ]*\) .*/\1/p' "$TMP/check.out")

  pool_up "$round"
  N=$(sed -n 's/.* \([0-9]*\) hold(s) of requests that died with an earlier pool released.*/\1/p' "$TMP/pool-$round.log")
  check "round $round: the restarted pool released the $OPEN open hold(s) of the dead one (log: ${N:-nothing})" \
    test "${N:-x}" = "$OPEN"
  INFLIGHT+=("$(json_get "$out" "len(j['inflight'])")")
  RELEASED+=("${N:-0}")
  miners_back || fail_now "the miners did not come back after restart $round"
  check "round $round, pool back: fief ledger check" "$FIEF" ledger check --data "$TMP/pool"
  check "round $round, pool back: fief ledger check --pool-running" \
    "$FIEF" ledger check --data "$TMP/pool" --pool-running
  pyrun_crash check "$round" "$out" "${N:-0}" "${LISTED[@]}"
  pyrun_crash retry "$round" "$out"
  check "round $round, after the retries: fief ledger check" "$FIEF" ledger check --data "$TMP/pool"
done

# ---- a clean stop: no hold may stay, and the next start releases nothing ----
kill -TERM "$POOL_PID"
wait_until 20 gone "$POOL_PID" || bad "the pool did not stop"
check "after a clean stop: fief ledger check (no pool running, no open hold)" "$FIEF" ledger check --data "$TMP/pool"
pool_up last
check "a start after a clean stop releases nothing" grep -q ' 0 hold(s) of requests that died' "$TMP/pool-last.log"
kill -TERM "$POOL_PID"
wait_until 20 gone "$POOL_PID" || bad "the pool did not stop"
pyrun_crash miners "$TMP/ma" "$TMP/mb"
for m in ma mb; do
  check "miner $m rejected no receipt (the pool kept its key over the restarts)" test ! -e "$TMP/$m/receipts.rejected.jsonl"
done
echo "kills: $ROUNDS; streams mid-way at each kill: ${INFLIGHT[*]}; stale holds released: ${RELEASED[*]}"
python3 - "$STATE" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s['stats']
print('settlements checked: %d; whole answers per round: %s; cut by the crash: %s, of them charged: %s'
      % (len(s['settled']), [x.get('complete') for x in t], [x.get('cut') for x in t], [x.get('charged_cut') for x in t]))
PY
finish
