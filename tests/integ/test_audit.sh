#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Audits end to end (docs/audits.md), real pool and miners on stories260K:
# 1. honest miners on different thread counts and kernels (one forced onto
#    the portable C kernels) audit each other's greedy and sampled work: every
#    audit passes, nobody is banned, reputations and the policy are public.
# 2. rogues (tests/tools/rogue.c), one at a time, as the only generator of a
#    pool audited by three validators: each is banned within a few jobs, its
#    connection refused, every request it served refunded to the customer;
#    a lying auditor is outvoted and banned; honest keys never are; the
#    ledger check passes.
source "$(dirname "$0")/lib.sh"
need_models "audits need a real model"

M="$MODELS/stories260K.gguf"
A="python3 $INTEG_DIR/audit.py"

start_pool pool --model "s=$M" --set model.s.price_in=100 --set model.s.price_out=300 \
  --set fee=2% --set audit_timeout_ms=20000
KEY=$("$FIEF" keys create --data "$TMP/pool" --credit 100 2>/dev/null)
start_miner h1 "$M"
start_miner h2 "$M" -t 2
start_miner h3 "$M" --no-simd
miner_id() { sed -n 's/.*authenticated as miner \([0-9a-f]*\).*/\1/p' "$TMP/$1.log" | head -1; }

# ---- 1. honest miners ----
N=$($A traffic "$HTTP" "$KEY" s 45 --temps 0,0.9,0.7) || fail_now "honest traffic: $N"
ok "45 honest requests served (greedy and sampled)"
S=$($A settle "$HTTP" --timeout 60) || fail_now "$S"
echo "$S" >"$TMP/honest.json"
pycheck "honest: every audit passed, none failed, nobody banned" "$TMP/honest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
drawn, passed = m['fief_audits_drawn_total'], m['fief_audits_passed_total']
assert drawn >= 15, 'too few audits drawn: %r' % m
assert m['fief_audits_failed_total'] == 0 and m['fief_audits_confirmed_total'] == 0, m
assert m['fief_bans_total'] == 0, m
assert passed == drawn - m['fief_audits_skipped_total'] - m['fief_audits_abandoned_total'], m
assert m['fief_audits_abandoned_total'] == 0, m
print('info: %d audits passed' % passed)
PY
api GET /api/pool
pycheck "/api/pool publishes the audit policy" "$TMP/body" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))['audit']
assert a['rate'] == 1 and a['half'] == 20 and a['floor'] == 0.02, a
assert a['greedy_margin'] > 0 and a['sample_margin'] > 0 and a['logprob_tol'] > 0, a
PY
for m in h1 h2 h3; do
  api GET "/api/miners/$(miner_id $m)"
  pycheck "$m: reputation and its audits are public, not banned" "$TMP/body" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j['reputation']
assert not r['banned'] and r['failed'] == 0 and r['confirmed'] == 0, r
assert r['agreed'] >= 0 and r['audit_rate'] <= 1, r
assert all(a['outcome'] == 'passed' for a in j['recent_audits']), j['recent_audits']
print('info: passed %d, rate %.2f' % (r['passed'], r['audit_rate']))
PY
done
api GET /api/miners
pycheck "/api/miners shows each miner's reputation" "$TMP/body" <<'PY'
import json, sys
ms = json.load(open(sys.argv[1]))
assert len(ms) == 3 and all('reputation' in m for m in ms), ms
assert sum(m['reputation']['passed'] for m in ms) >= 15, ms
PY
check "honest: fief ledger check" "$FIEF" ledger check --data "$TMP/pool" --pool-running

# ---- 2. rogues ----
ROGUE=${FIEF_ROGUE:-$(dirname "$FIEF")/tests/fief-rogue}
[ -x "$ROGUE" ] || fail_now "fief-rogue not found at $ROGUE (set FIEF_ROGUE)"
SMALL="$TMP/small.gguf" # the same vocabulary as stories260K, a fraction of its size
"$FIEF" gen-model -o "$SMALL" --dim 32 --layers 1 --heads 2 --kv-heads 2 --ffn 64 --vocab 512 \
  --ctx 512 --type f32 --seed 3 2>/dev/null
key_of() { sed -n 's/.*authenticated as miner [0-9a-f]* (key \([0-9a-f]*\)).*/\1/p' "$TMP/$1.log" | head -1; }
# The validators' keys, made by a first run (on the first pool), go into the
# second pool's config: the operator's trusted auditors.
VKEYS=""
for v in v1 v2 v3; do
  start_miner "$v" "$M" --validator
  VKEYS="$VKEYS${VKEYS:+,}$(key_of $v)"
  kill -TERM "$MINER_PID"
done
start_pool pool2 --model "s=$M" --set model.s.price_in=100 --set model.s.price_out=300 \
  --set fee=2% --set audit_timeout_ms=20000 --set "validators=$VKEYS"
KEY2=$("$FIEF" keys create --data "$TMP/pool2" --credit 100 2>/dev/null)
for v in v1 v2 v3; do start_miner "$v" "$M" --validator; done
balance() { # the key's available micro-credits once nothing is held or queued
  curl -s --max-time 10 -H "Authorization: Bearer $KEY2" "http://127.0.0.1:$HTTP/api/account" |
    python3 -c 'import json,sys; b=json.load(sys.stdin)["balance"]; print(b["available"]["micro"] if b["held"]["micro"]==0 else -1)'
}
balance_is() { [ "$(balance)" = "$1" ]; }

# rogue NAME MAX CHEAT-ARGS...: the rogue alone serves the model until it is banned
rogue() {
  local name=$1 most=$2; shift 2
  local before; before=$(balance)
  MINER_CMD="$ROGUE" start_miner "$name" "$M" "$@"
  local rk; rk=$(key_of "$name")
  local out n spent
  if ! out=$($A until-banned "$HTTP" "$KEY2" s "$rk" "$most" --tag "$name"); then
    bad "$name: $out"; return
  fi
  read -r n spent <<<"$out"
  check "$name (${*}): banned after $n job(s) (at most $most), which cost $spent µcr" \
    test "$spent" -gt 0
  check "$name: every request it served refunded (balance back to $before)" \
    wait_until 15 balance_is "$before"
  check "$name: told it is banned, its new connections refused" \
    wait_until 15 grep -q "banned" "$TMP/$name.log"
  api GET "/api/miners/$rk"
  pycheck "$name: /api/miners shows the ban, its reason and the confirmed audit" "$TMP/body" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j['reputation']
assert r['banned'] and r['confirmed'] >= 1 and 'fraud' in r['ban_reason'], r
assert any(a['outcome'] == 'confirmed' for a in j['recent_audits']), j['recent_audits']
assert j['connections'] == [], j['connections']
PY
}
rogue r_smaller 4 --cheat smaller --cheat-model "$SMALL"
rogue r_random 4 --cheat random
rogue r_forge 4 --cheat forge
rogue r_replay 6 --cheat replay
rogue r_truncate 4 --cheat truncate
rogue r_seen 4 --cheat seen
rogue r_later 40 --cheat random --cheat-after 5 # builds a reputation first

# A lying auditor among the validators, and an honest generator: every lie is
# outvoted, the liar banned after audit_strikes (2) of them.
start_miner honest "$M"
MINER_CMD="$ROGUE" start_miner r_liar "$M" --validator --cheat liar
LK=$(key_of r_liar)
if out=$($A until-banned "$HTTP" "$KEY2" s "$LK" 200 --tag liar); then
  ok "r_liar: outvoted and banned after ${out% *} job(s) of the honest miner"
else bad "r_liar: $out"; fi
api GET "/api/miners/$LK"
pycheck "r_liar: banned as an auditor in the minority" "$TMP/body" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['reputation']
assert r['banned'] and r['disagreed'] >= 2 and 'outvoted' in r['ban_reason'], r
PY
for m in honest v1 v2 v3; do
  api GET "/api/miners/$(key_of $m)"
  pycheck "$m: an honest key is not banned" "$TMP/body" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['reputation']
assert not r['banned'] and r['confirmed'] == 0 and r['disagreed'] == 0, r
PY
done
S=$($A settle "$HTTP" --timeout 60) || bad "$S"
echo "$S" >"$TMP/rogues.json"
pycheck "rogues: bans counted, every failure of an honest part cleared" "$TMP/rogues.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m['fief_bans_total'] == 8, m
assert m['fief_audits_confirmed_total'] == 7, m
assert m['fief_refunded_micro_total'] > 0 and m['fief_auditor_pay_micro_total'] > 0, m
print('info: %d confirmed, %d cleared' % (m['fief_audits_confirmed_total'], m['fief_audits_cleared_total']))
PY
check "rogues: fief ledger check" "$FIEF" ledger check --data "$TMP/pool2" --pool-running

finish
