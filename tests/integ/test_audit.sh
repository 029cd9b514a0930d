#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Audits end to end (docs/audits.md), real pool and miners on stories260K:
# 1. honest miners on different thread counts and kernels (one forced onto
#    the portable C kernels) audit each other's greedy and sampled work: every
#    audit passes, nobody is banned, reputations and the policy are public.
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

finish
