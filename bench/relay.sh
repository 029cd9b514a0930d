#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/relay.sh: what the pool costs a customer, everything on loopback in one
# run so the machine's noise hits all sides alike. The same greedy generation
# is timed in the engine itself (the baseline) and streamed through pool +
# miner with accounting on (a priced model) and off (the same weights, free),
# and through the Portkey AI gateway in front of the pool, interleaved; then
# the pool's CPU per request and per token, and the short requests per second
# it routes to several miners on a tiny model, accounting on and off in
# alternating rounds. Not part of the test suite; bench/README.md explains
# every figure.
#
#   bench/relay.sh [BUILD_DIR]        (default: build)
#
# Knobs (environment): RELAY_THREADS (engine threads for the baseline and the
# miner; default CPUs - 1), RELAY_REPS (requests per target for time to first
# token, 150), RELAY_TOKENS (tokens each, 32), RELAY_TPUT_REPS (20) and
# RELAY_TPUT_TOKENS (256) for throughput, RELAY_MINERS (4), RELAY_SLOTS (2),
# RELAY_CONC (16), RELAY_SECONDS (8), RELAY_RATE_ROUNDS (3: rounds of one
# accounting-on and one accounting-off phase each) for the request rate,
# RELAY_PRICE (1,2: the priced model's credits per million prompt/completion
# tokens), RELAY_SETTLE_MS (20: pause after each streamed request so the
# store thread's writes count for the request that caused them), RELAY_GATEWAY=0 to
# skip Portkey, RELAY_QUICK=1 for a short check of the script itself,
# RELAY_WAIT_QUIET=S to wait up to S seconds for other processes to go quiet,
# RELAY_MAX_STALL (0.1: a repetition during which tasks waited for a CPU more
# than this share of the time is done again; 1e9 keeps all), RELAY_RETRY (3:
# reruns of a request-rate phase disturbed by other processes),
# RELAY_NICE=N to run every process of the benchmark at nice N (e.g. -10, as
# root) so other people's builds disturb it less, RELAY_KEEP=1 to keep the
# work directory.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || {
  echo "relay.sh: no build directory ${1:-$SRC/build}; configure it first:" >&2
  echo "  cmake -S $SRC -B build && bench/relay.sh build" >&2
  exit 2
}
NCPU=$(nproc)
THREADS=${RELAY_THREADS:-$((NCPU > 1 ? NCPU - 1 : 1))}
REPS=${RELAY_REPS:-150}
TOKENS=${RELAY_TOKENS:-32}
TPUT_REPS=${RELAY_TPUT_REPS:-20}
TPUT_TOKENS=${RELAY_TPUT_TOKENS:-256}
MINERS=${RELAY_MINERS:-4}
SLOTS=${RELAY_SLOTS:-2}
CONC=${RELAY_CONC:-16}
SECONDS_RATE=${RELAY_SECONDS:-8}
CPU_REPS=100
RATE_ROUNDS=${RELAY_RATE_ROUNDS:-3}
SETTLE_MS=${RELAY_SETTLE_MS:-20}
if [ "${RELAY_QUICK:-0}" = 1 ]; then
  REPS=10 TPUT_REPS=3 TPUT_TOKENS=64 SECONDS_RATE=2 CPU_REPS=10 RATE_ROUNDS=1
fi

# ---- build (nothing else) ----
cmake --build "$BUILD" --target fief bench_relay_client >"$BUILD/bench-relay-build.log" 2>&1 || {
  tail -n 30 "$BUILD/bench-relay-build.log" >&2; exit 1; }
FIEF=$BUILD/fief
CLIENT=$BUILD/bench/bench_relay_client

W=$(mktemp -d /tmp/fief-relay-XXXXXX)
PIDS=()
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local rc=$? p
  trap - EXIT
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 30); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "$rc" != 0 ] && [ "$rc" != 130 ]; then
    for f in "$W"/*.log; do [ -f "$f" ] && { echo "----- $f"; tail -n 20 "$f"; }; done >&2
  fi
  if [ "${RELAY_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "relay: $*" >&2; }
die() { say "$*"; exit 1; }
# stop PID...: end processes this script started, and forget them
stop() {
  local p q keep=()
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
  for q in "${PIDS[@]}"; do
    local gone=0
    for p in "$@"; do [ "$p" = "$q" ] && gone=1; done
    [ $gone = 0 ] && keep+=("$q")
  done
  PIDS=("${keep[@]}")
}

# ---- CPU accounting: ours and everybody else's ----
# busy jiffies of the whole machine (all CPUs)
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }
# utime + stime jiffies of the given processes (gone ones count 0)
procs_cpu() {
  local p t=0 v
  for p in "$@"; do
    v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)
# wait_quiet: when RELAY_WAIT_QUIET is set, wait up to that many seconds for
# the machine to be idle (other engineers' builds and tests add noise)
wait_quiet() {
  local max=${RELAY_WAIT_QUIET:-0} waited=0 b0 b1
  while :; do
    b0=$(machine_busy); sleep 1; b1=$(machine_busy)
    local busy=$(((b1 - b0) * 100 / HZ))
    if [ "$busy" -le 15 ] || [ "$waited" -ge "$max" ]; then
      [ "$busy" -gt 15 ] && say "machine busy before start: $busy% of one CPU used by other processes"
      return 0
    fi
    waited=$((waited + 1))
  done
}

# ---- results: RESULT lines of the client, as phase.target.key=value ----
declare -A R
record() {
  local line kv
  while read -r line; do
    echo "$line" >>"$W/results.txt"
    case $line in RESULT*) ;; *) continue ;; esac
    local phase='' target=''
    for kv in ${line#RESULT }; do
      case $kv in phase=*) phase=${kv#phase=} ;; target=*) target=${kv#target=} ;; esac
    done
    for kv in ${line#RESULT }; do R["$phase.$target.${kv%%=*}"]=${kv#*=}; done
  done
}
get() { echo "${R[$1]:-nan}"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# run_client PHASE ARGS...: the client, its RESULT lines recorded, with the
# CPUs other processes kept busy over the same time in R[PHASE.other.cpu_share].
# A request-rate phase disturbed by them (> 0.15 CPU) is run again, up to
# RELAY_RETRY times, and its quietest attempt kept; stream phases redo single
# disturbed repetitions themselves instead, by CPU pressure (--max-stall).
run_client() {
  local phase=$1; shift
  local tries=1 best='' best_other='' best_miners=''
  [ "$1" = stream ] || tries=$((${RELAY_RETRY:-3} + 1))
  while [ "$tries" -gt 0 ]; do
    local b0 o0 m0 b1 o1 m1 out client_j other miners
    b0=$(machine_busy); o0=$(procs_cpu "${PIDS[@]}"); m0=$(procs_cpu "${MINER_PIDS[@]}")
    # in the background, so a signal reaches the trap at once (and the
    # cleanup stops the client too)
    "$CLIENT" "$@" --label "$phase" >"$W/client.out" &
    local cpid=$!
    PIDS+=("$cpid")
    wait "$cpid" || die "client failed in phase $phase"
    PIDS=("${PIDS[@]:0:${#PIDS[@]}-1}")
    out=$(cat "$W/client.out")
    b1=$(machine_busy); o1=$(procs_cpu "${PIDS[@]}"); m1=$(procs_cpu "${MINER_PIDS[@]}")
    client_j=$(awk '/target=client/ { for (i = 1; i <= NF; i++) if ($i ~ /^cpu_us=/) c = substr($i, 8);
                                        for (i = 1; i <= NF; i++) if ($i ~ /^wall_s=/) w = substr($i, 8) }
                    END { printf "%d %s", c * '"$HZ"' / 1e6, w }' <<<"$out")
    other=$(calc "%.2f" "($b1 - $b0 - ($o1 - $o0) - ${client_j% *}) / $HZ / ${client_j#* }")
    miners=$(calc "%.3f" "($m1 - $m0) / $HZ / ${client_j#* }")
    if [ -z "$best" ] || awk "BEGIN { exit !($other < $best_other) }"; then
      best=$out best_other=$other best_miners=$miners
    fi
    awk "BEGIN { exit !($other <= 0.15) }" && break
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] && say "phase $phase disturbed by other processes ($other CPUs busy); running it again"
  done
  record <<<"$best
RESULT phase=$phase target=other cpu_share=$best_other
RESULT phase=$phase target=miners cpu_share=$best_miners"
}

# ---- models (generated, cached in the build tree: same options, same file) ----
MODELS=$BUILD/bench/relay-models
mkdir -p "$MODELS"
BIG=$MODELS/relay-d512-l8-q8_0.gguf
TINY=$MODELS/relay-tiny.gguf
[ -f "$BIG" ] || "$FIEF" gen-model -o "$BIG" --dim 512 --layers 8 --heads 8 --kv-heads 4 \
  --ffn 1536 --vocab 32000 --ctx 2048 --type q8_0 --seed 1 >/dev/null
[ -f "$TINY" ] || "$FIEF" gen-model -o "$TINY" --seed 1 >/dev/null
# free_copy SRC DST: the same model byte for byte but for its general.name, so
# its digest differs and the pool can register it a second time, unpriced
free_copy() {
  [ -f "$2" ] && [ "$2" -nt "$1" ] && return 0
  perl -0777 -pe 's/fief-generated/fief-free-copy/' "$1" >"$2.tmp"
  cmp -s "$1" "$2.tmp" && die "cannot make an unpriced copy of $1 (no general.name to change)"
  mv "$2.tmp" "$2"
}
BIG_FREE=${BIG%.gguf}-free.gguf
TINY_FREE=${TINY%.gguf}-free.gguf
free_copy "$BIG" "$BIG_FREE"
free_copy "$TINY" "$TINY_FREE"
ids() { "$FIEF" tokenize -m "$1" --ids "$2" | tr ' ' ','; }
PROMPT_BIG=$(ids "$BIG" "Once upon")
PROMPT_TINY=$(ids "$TINY" "Hello there")

# ---- a pool and its miners ----
# Accounting on and off in one pool: model m is priced, so each request places
# a hold and settles (ledger postings, a signed receipt sent to the miner);
# model f is the same weights unpriced, and a free model never touches the
# ledger (src/pool/api_bill.c). Everything else (the job record, the usage
# counters) is the same for both.
PRICE=${RELAY_PRICE:-1,2}
# start_pool DIR PRICED.gguf FREE.gguf: sets POOL_PID HTTP MPORT KEY
start_pool() {
  local dir=$W/$1
  mkdir -p "$dir"
  KEY=$("$FIEF" keys create --data "$dir" --name relay --credit 1000000 2>/dev/null) ||
    die "fief keys create failed"
  "$FIEF" pool --data "$dir" --listen-miners 127.0.0.1:0 --listen-http 127.0.0.1:0 \
    --model "m=$2" --price "m=$PRICE" --model "f=$3" --name relay-bench >"$W/$1.log" 2>&1 &
  POOL_PID=$!
  PIDS+=("$POOL_PID")
  for _ in $(seq 100); do
    grep -q 'HTTP on port' "$W/$1.log" && break
    kill -0 "$POOL_PID" 2>/dev/null || die "the pool did not start (see $W/$1.log)"
    sleep 0.1
  done
  HTTP=$(grep -o 'HTTP on port [0-9]*' "$W/$1.log" | grep -o '[0-9]*$') || die "no pool port"
  MPORT=$(grep -o 'miners on port [0-9]*' "$W/$1.log" | grep -o '[0-9]*$')
}
# start_miner NAME PRICED.gguf FREE.gguf SLOTS THREADS: serves both models,
# SLOTS each, on THREADS engine threads shared by all its slots
start_miner() {
  "$FIEF" miner -o "fief+tcp://127.0.0.1:$MPORT" -u relay -w "$1" -m "m=$2" -m "f=$3" \
    --slots "$4" --threads "$5" --data "$W/$1" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  MINER_PIDS+=($!)
}
MINER_PIDS=()
# wait_slots N: until the pool has N slots for each of models m and f
wait_slots() {
  for _ in $(seq 300); do
    [ "$(curl -fsS "http://127.0.0.1:$HTTP/api/models" 2>/dev/null | grep -o "\"slots\":$1[,}]" | wc -l)" -ge 2 ] &&
      return 0
    sleep 0.1
  done
  die "the miners did not join the pool"
}
# check_books DIR: after its pool stopped, the books of the run must balance
check_books() {
  "$FIEF" ledger check --data "$W/$1" >"$W/$1-check.log" 2>&1 ||
    { say "fief ledger check failed after the $1 pool:"; tail -n 20 "$W/$1-check.log" >&2; BOOKS_BAD=1; }
}
BOOKS_BAD=0

# ---- the comparison gateway: Portkey, installed under the build tree ----
GATEWAY_PID=
start_gateway() {
  [ "${RELAY_GATEWAY:-1}" = 0 ] && { say "Portkey skipped (RELAY_GATEWAY=0)"; return 0; }
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "Portkey skipped: node and npm are not installed"; return 0
  fi
  local dir=$BUILD/bench/portkey
  if ! cmp -s "$SRC/bench/package.json" "$dir/package.json" ||
     ! cmp -s "$SRC/bench/package-lock.json" "$dir/package-lock.json" ||
     [ ! -f "$dir/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    say "installing the Portkey gateway into $dir (npm ci)"
    mkdir -p "$dir"
    cp "$SRC/bench/package.json" "$SRC/bench/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >"$W/npm.log" 2>&1) || {
      say "Portkey skipped: npm ci failed (offline?), see the log below"; tail -5 "$W/npm.log" >&2
      rm -f "$dir/package.json"; return 0; }
  fi
  GATEWAY_PORT=$("$CLIENT" freeport)
  node "$dir/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$GATEWAY_PORT" \
    --headless >"$W/portkey.log" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/" && return 0
    kill -0 "$GATEWAY_PID" 2>/dev/null || break
    sleep 0.1
  done
  say "Portkey did not start (see $W/portkey.log); skipped"
  GATEWAY_PID=
}

# Every process of the run (all the sides alike) at a higher priority than
# other people's builds on a shared machine, when asked and allowed.
if [ -n "${RELAY_NICE:-}" ]; then
  renice -n "$RELAY_NICE" -p $$ >/dev/null 2>&1 || say "cannot renice to $RELAY_NICE (needs root); running at normal priority"
fi
wait_quiet
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ==== 1. latency and throughput: engine vs pool + miner (vs Portkey) ====
say "latency: $(basename "$BIG"), $THREADS engine thread(s), prompt [$PROMPT_BIG]"
start_pool lat "$BIG" "$BIG_FREE"
start_miner lat-miner "$BIG" "$BIG_FREE" 1 "$THREADS"
wait_slots 1
start_gateway
common=(--model m --free-model f --key "$KEY" --pool-pid "$POOL_PID"
        --max-stall "${RELAY_MAX_STALL:-0.1}" --settle-ms "$SETTLE_MS")
gw=()
[ -n "$GATEWAY_PID" ] && gw=(--gateway "127.0.0.1:$GATEWAY_PORT" --gateway-pid "$GATEWAY_PID")
say "time to first token: $REPS requests of $TOKENS tokens per target, interleaved"
run_client ttft stream --engine "$BIG" --threads "$THREADS" --pool "127.0.0.1:$HTTP" "${gw[@]}" \
  "${common[@]}" --prompt-ids "$PROMPT_BIG" --max-tokens "$TOKENS" --reps "$REPS"
say "throughput: $TPUT_REPS requests of $TPUT_TOKENS tokens per target, interleaved"
run_client tput stream --engine "$BIG" --threads "$THREADS" --pool "127.0.0.1:$HTTP" \
  "${common[@]}" --prompt-ids "$PROMPT_BIG" --max-tokens "$TPUT_TOKENS" --reps "$TPUT_REPS"
say "pool CPU per request: $CPU_REPS one-token requests"
run_client cpu1 stream --pool "127.0.0.1:$HTTP" "${common[@]}" --prompt-ids "$PROMPT_BIG" \
  --max-tokens 1 --reps "$CPU_REPS"
stop "${PIDS[@]}"
MINER_PIDS=()
check_books lat

# ==== 2. request rate: several miners on a tiny model, accounting on and off ====
say "request rate: $MINERS miners x $SLOTS slots on $(basename "$TINY"), $CONC clients, $RATE_ROUNDS rounds of accounting on/off"
start_pool rate "$TINY" "$TINY_FREE"
for i in $(seq "$MINERS"); do start_miner "rate-miner$i" "$TINY" "$TINY_FREE" "$SLOTS" 1; done
wait_slots $((MINERS * SLOTS))
common=(--pool "127.0.0.1:$HTTP" --key "$KEY" --pool-pid "$POOL_PID"
        --prompt-ids "$PROMPT_TINY" --max-tokens 4 --conc "$CONC" --seconds "$SECONDS_RATE")
# rounds alternate which of on and off goes first
for r in $(seq "$RATE_ROUNDS"); do
  for kind in '' _stream; do
    order=(on off)
    [ $((r % 2)) = 0 ] && order=(off on)
    for acct in "${order[@]}"; do
      model=m
      [ "$acct" = off ] && model=f
      run_client "rate${kind}_${acct}_$r" rate "${common[@]}" --model "$model" \
        ${kind:+--stream}
    done
  done
done
stop "${PIDS[@]}"
check_books rate
say "request rate baseline: the same generations in the engine, $NCPU threads"
run_client rate_engine engine-rate --engine "$TINY" --prompt-ids "$PROMPT_TINY" --max-tokens 4 \
  --conc "$NCPU" --seconds "$SECONDS_RATE"

# ==== the table ====
ms() { calc "%.2f" "$1 / 1000"; }
dms() { calc "%+.2f" "($1 - $2) / 1000"; }
mark() { awk "BEGIN { exit !($1) }" && echo "ok" || echo "MISSED"; }
has() { [ "$(get "$1")" != nan ]; }
# med V...: the median of the numbers given (nan when none)
med() {
  printf '%s\n' "$@" | grep -v '^nan$' | sort -g |
    awk '{ a[NR] = $1 } END { if (!NR) print "nan"; else if (NR % 2) print a[(NR + 1) / 2];
                              else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# rounds KIND ACCT KEY: KEY of the pool in every round of a request-rate phase
rounds() {
  local r
  for r in $(seq "$RATE_ROUNDS"); do get "rate$1_$2_$r.pool.$3"; done
}
# miners_per_req KIND ACCT: the miners' CPU per request (us) in every round
miners_per_req() {
  local r ph
  for r in $(seq "$RATE_ROUNDS"); do
    ph=rate$1_$2_$r
    calc "%.1f\n" "$(get "$ph.miners.cpu_share") / $(get "$ph.pool.rps") * 1e6"
  done
}
# round_ratios KIND KEY: on / off in each round
round_ratios() {
  local r
  for r in $(seq "$RATE_ROUNDS"); do
    calc "%.4f\n" "$(get "rate$1_on_$r.pool.$2") / $(get "rate$1_off_$r.pool.$2")"
  done
}
# ttft_row LABEL TARGET: p50, p99 and what they add to the engine's
ttft_row() {
  local p50 p99
  p50=$(get "ttft.$2.ttft_p50_us") p99=$(get "ttft.$2.ttft_p99_us")
  printf '  %-46s %8s ms %8s ms %+9s ms %+9s ms\n' "$1" "$(ms "$p50")" "$(ms "$p99")" \
    "$(dms "$p50" "$e_p50")" "$(dms "$p99" "$e_p99")"
}
tput_row() {
  printf '  %-46s %10.1f %16.1f\n' "$1" "$(get "tput.$2.decode_tps")" "$(get "tput.$2.e2e_tps")"
}
ratio_rows() {
  printf '  %-46s %10s %16s\n' "$1, per-repetition ratio (median)" \
    "$(calc %.3f "$(get "tput.$2.$3decode_ratio_paired")")" "$(calc %.3f "$(get "tput.$2.$3e2e_ratio_paired")")"
  printf '  %-46s %10s %16s\n' "$1, ratio of the medians" \
    "$(calc %.3f "$(get "tput.$2.decode_tps") / $(get "tput.$4.decode_tps")")" \
    "$(calc %.3f "$(get "tput.$2.e2e_tps") / $(get "tput.$4.e2e_tps")")"
}
# cpu_tok TARGET: pool CPU per streamed token, from a long and a one-token request
cpu_tok() {
  calc "%.1f" "($(get "tput.$1.pool_cpu_us_per_req") - $(get "cpu1.$1.pool_cpu_us_per_req")) / ($(get "tput.$1.tokens_per_req") - 1)"
}
# rate_row KIND ACCT LABEL
rate_row() {
  local rps
  # shellcheck disable=SC2046
  rps=$(med $(rounds "$1" "$2" rps))
  # shellcheck disable=SC2046
  printf '  %-32s %8.0f  (%s)  %7.2f / %7.2f ms %9s %9s ms (store %s) %9s ms\n' "$3" "$rps" \
    "$(rounds "$1" "$2" rps | xargs printf '%.0f ' | sed 's/ $//')" \
    "$(calc %.3f "$(med $(rounds "$1" "$2" lat_p50_us)) / 1000")" \
    "$(calc %.3f "$(med $(rounds "$1" "$2" lat_p99_us)) / 1000")" \
    "$(med $(rounds "$1" "$2" pool_cpu_share))" \
    "$(ms "$(med $(rounds "$1" "$2" pool_cpu_us_per_req))")" \
    "$(ms "$(med $(rounds "$1" "$2" store_cpu_us_per_req))")" \
    "$(ms "$(med $(miners_per_req "$1" "$2"))")"
}

# rate_other: other processes' CPU in every request-rate phase
rate_other() {
  local r k a
  for r in $(seq "$RATE_ROUNDS"); do
    for k in '' _stream; do for a in on off; do get "rate${k}_${a}_$r.other.cpu_share"; done; done
  done
}

e_p50=$(get ttft.engine.ttft_p50_us) e_p99=$(get ttft.engine.ttft_p99_us)
p_p50=$(get ttft.pool.ttft_p50_us) p_p99=$(get ttft.pool.ttft_p99_us)
g_p50=$(get ttft.gateway.ttft_p50_us) g_p99=$(get ttft.gateway.ttft_p99_us)
tr_dec=$(calc "%.3f" "$(get tput.pool.decode_ratio_paired)")
add50=$(calc "%.3f" "($p_p50 - $e_p50) / 1000")
add99=$(calc "%.3f" "($p_p99 - $e_p99) / 1000")
# shellcheck disable=SC2046
acct_rate=$(med $(round_ratios '' rps))
# shellcheck disable=SC2046
acct_rate_s=$(med $(round_ratios _stream rps))
acct_cost=$(calc "%.1f" "(1 - $acct_rate) * 100")
errs=0
for ph in ttft tput cpu1; do
  for t in pool pool_free; do
    errs=$((errs + $(get "$ph.$t.errors" | sed 's/nan/0/') + $(get "$ph.$t.mismatches" | sed 's/nan/0/')))
  done
done
rate_errs=0
for r in $(seq "$RATE_ROUNDS"); do
  for ph in "rate_on_$r" "rate_off_$r" "rate_stream_on_$r" "rate_stream_off_$r"; do
    rate_errs=$((rate_errs + $(get "$ph.pool.errors" | sed 's/nan/0/')))
  done
done

cat <<EOF

bench/relay — $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x$NCPU, fief $("$FIEF" --help | head -1 | awk '{print $2}'), load average before: $LOAD0
latency model: generated llama, dim 512, 8 layers, vocab 32000, q8_0 ($(($(stat -c %s "$BIG") >> 20)) MiB); $THREADS engine thread(s) in the baseline and in the miner
prompt $(echo "$PROMPT_BIG" | tr ',' '\n' | wc -l) tokens, greedy; loopback; one client, one request at a time, targets interleaved
accounting on: model m, priced $PRICE credits per million prompt/completion tokens (hold, settlement, signed receipt);
accounting off: model f, the same weights unpriced (a free model never touches the ledger); same pool, same miner

time to first token ($(get ttft.pool.n) requests of $TOKENS tokens each)      p50        p99      added p50   added p99
  engine alone (baseline)                          $(printf '%8s ms %8s ms' "$(ms "$e_p50")" "$(ms "$e_p99")")
$(ttft_row "fief pool + miner, accounting on" pool)
$(ttft_row "fief pool + miner, accounting off" pool_free)
EOF
if has ttft.gateway.n; then
  ttft_row "Portkey -> fief pool + miner (on)" gateway
  printf '    %-44s %33s %+9s ms %+9s ms\n' "Portkey's own share (over the pool)" "" \
    "$(dms "$g_p50" "$p_p50")" "$(dms "$g_p99" "$p_p99")"
fi
cat <<EOF
  median of the differences within each repetition: fief on $(dms "$(get ttft.pool.ttft_added_paired_p50_us)" 0) ms, off $(dms "$(get ttft.pool_free.ttft_added_paired_p50_us)" 0) ms, on over off $(dms "$(get ttft.pool.acct_ttft_added_paired_p50_us)" 0) ms$(has ttft.gateway.n && echo ", Portkey over the pool $(dms "$(get ttft.gateway.ttft_added_paired_p50_us)" 0) ms")

throughput ($(get tput.pool.n) requests of $(get tput.pool.tokens_per_req) tokens each, medians)   decode tok/s   end-to-end tok/s
  engine alone (baseline)                          $(printf '%10.1f %16.1f' "$(get tput.engine.decode_tps)" "$(get tput.engine.e2e_tps)")
$(tput_row "fief pool + miner, accounting on" pool)
$(tput_row "fief pool + miner, accounting off" pool_free)
$(ratio_rows "on / engine" pool "" engine)
$(ratio_rows "off / engine" pool_free "" engine)
$(ratio_rows "on / off" pool acct_ pool_free)

pool CPU time (all its threads)                    accounting on   accounting off
  per request (one-token requests)                 $(printf '%10s ms %13s ms' "$(ms "$(get cpu1.pool.pool_cpu_us_per_req)")" "$(ms "$(get cpu1.pool_free.pool_cpu_us_per_req)")")
    of which the store's write thread              $(printf '%10s ms %13s ms' "$(ms "$(get cpu1.pool.store_cpu_us_per_req)")" "$(ms "$(get cpu1.pool_free.store_cpu_us_per_req)")")
  per streamed token                               $(printf '%10s us %13s us' "$(cpu_tok pool)" "$(cpu_tok pool_free)")
EOF
has ttft.gateway.n && cat <<EOF
  Portkey's own CPU per request ($TOKENS tokens)        $(ms "$(get ttft.gateway.gateway_cpu_us_per_req)") ms   (the pool's in the same requests: $(ms "$(get ttft.gateway.pool_cpu_us_per_req)") ms)
EOF
cat <<EOF

request rate ($MINERS miners x $SLOTS slots, 1 thread each, tiny model, $CONC clients, max_tokens 4, ${SECONDS_RATE}s x $RATE_ROUNDS rounds; medians)
                                   requests/s  (each round)   latency p50 / p99    pool: CPUs  per request   miners: per request
$(rate_row '' on "non-streaming, accounting on")
$(rate_row '' off "non-streaming, accounting off")
$(rate_row _stream on "streaming, accounting on")
$(rate_row _stream off "streaming, accounting off")
  engine alone, $NCPU threads (baseline)    $(printf '%8.0f' "$(get rate_engine.engine.rps)")   ratio non-streaming (on) $(calc %.3f "$(med "$(rounds '' on rps)") / $(get rate_engine.engine.rps)")
  accounting on / off, median of the rounds' ratios: non-streaming $(calc %.3f "$acct_rate") ($(round_ratios '' rps | xargs printf '%.3f ' | sed 's/ $//')), streaming $(calc %.3f "$acct_rate_s") ($(round_ratios _stream rps | xargs printf '%.3f ' | sed 's/ $//'))
  errors: $rate_errs; books after each pool (fief ledger check): $([ "$BOOKS_BAD" = 0 ] && echo balanced || echo "FAILED")

goals: throughput ratio >= 0.99: $(mark "$tr_dec >= 0.99") ($tr_dec); added time to first token <= 1 ms: p50 $(mark "$add50 <= 1") (${add50} ms), p99 $(mark "$add99 <= 1") (${add99} ms); accounting < 3% of request rate: $(mark "$acct_rate >= 0.97") (${acct_cost}%)
disturbance: repetitions redone because tasks waited for a CPU > $(awk "BEGIN { m = ${RELAY_MAX_STALL:-0.1}; if (m >= 1) print \"(never: RELAY_MAX_STALL=\" m \")\"; else printf \"%.0f%% of the time\", m * 100 }"): ttft $(get ttft.reps.discarded), tput $(get tput.reps.discarded), cpu $(get cpu1.reps.discarded) (CPU pressure in the kept ones: $(get ttft.reps.stall_kept_mean), $(get tput.reps.stall_kept_mean), $(get cpu1.reps.stall_kept_mean))
other processes' CPU during the phases (CPUs busy, not ours): ttft $(get ttft.other.cpu_share), tput $(get tput.other.cpu_share), request rate $(rate_other | sort -g | tail -n 1) at most$([ -n "${RELAY_NICE:-}" ] && echo "; benchmark at nice $RELAY_NICE")
EOF
[ "$errs" = 0 ] || echo "WARNING: $errs failed or mismatched requests through the pool (see $W/results.txt)"
for ph in ttft tput cpu1; do
  awk "BEGIN { exit !($(get $ph.reps.stall_kept_mean) > ${RELAY_MAX_STALL:-0.1}) }" &&
    echo "WARNING: phase $ph stayed disturbed (CPU pressure $(get $ph.reps.stall_kept_mean) in its kept repetitions): its figures are unreliable; run again on a quieter machine"
done
for r in $(seq "$RATE_ROUNDS"); do
  for ph in "rate_on_$r" "rate_off_$r" "rate_stream_on_$r" "rate_stream_off_$r"; do
    awk "BEGIN { exit !($(get "$ph.other.cpu_share") > 0.15) }" &&
      echo "WARNING: phase $ph stayed disturbed ($(get "$ph.other.cpu_share") CPUs used by other processes): its figures are unreliable"
  done
done
exit 0
