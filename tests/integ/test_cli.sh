#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The engine's commands end to end: run/score/tokenize/gen-model on real and
# generated models, reproducibility, and the errors users see.
source "$(dirname "$0")/lib.sh"

# ---- generated models (no shared files needed) ----
"$FIEF" gen-model -o "$TMP/a.gguf" --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 \
  --vocab 600 --ctx 256 --type q8_0 --seed 3
"$FIEF" gen-model -o "$TMP/b.gguf" --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 \
  --vocab 600 --ctx 256 --type q8_0 --seed 3
check "gen-model is deterministic" cmp -s "$TMP/a.gguf" "$TMP/b.gguf"
for t in f32 f16 bf16 q4_0; do
  "$FIEF" gen-model -o "$TMP/$t.gguf" --dim 64 --layers 1 --heads 4 --kv-heads 4 --ffn 64 \
    --vocab 300 --type $t
  check "gen-model --type $t runs" "$FIEF" run -m "$TMP/$t.gguf" -p "hello" -n 8 --temp 0 -t 1
done
"$FIEF" run -m "$TMP/a.gguf" -p "the king" -n 20 --temp 1 --seed 9 >"$TMP/s1" 2>/dev/null
"$FIEF" run -m "$TMP/a.gguf" -p "the king" -n 20 --temp 1 --seed 9 -t 1 >"$TMP/s2" 2>/dev/null
check "same seed, same text (1 vs 2 threads)" cmp -s "$TMP/s1" "$TMP/s2"
"$FIEF" run -m "$TMP/a.gguf" -p "the king" -n 5 --temp 0 2>"$TMP/timing" >/dev/null
check "timing summary on stderr" grep -q "tok/s" "$TMP/timing"

# ---- errors ----
expect_exit 1 "missing model file" "$FIEF" run -m "$TMP/nope.gguf" -p x
expect_exit 2 "unknown option" "$FIEF" run -m "$TMP/a.gguf" -p x --bogus
expect_exit 2 "bad number" "$FIEF" run -m "$TMP/a.gguf" -p x -n -4
expect_exit 2 "unknown command" "$FIEF" frobnicate
expect_exit 2 "gen-model bad shape" "$FIEF" gen-model -o "$TMP/x.gguf" --dim 60 --heads 7
head -c 3000 "$TMP/a.gguf" >"$TMP/trunc.gguf"
expect_exit 1 "truncated GGUF" "$FIEF" run -m "$TMP/trunc.gguf" -p x
printf 'GGUF\x01\x00\x00\x00' >"$TMP/v1.gguf"
expect_exit 1 "GGUF version 1" "$FIEF" tokenize -m "$TMP/v1.gguf" hi

# ---- the shared stories260K model against llama.cpp's reference ----
if ! have_models; then
  models_missing "reference checks not run"
  finish
fi
M="$MODELS/stories260K.gguf"
"$FIEF" run -m "$M" -p "Once upon a time" -n 64 --temp 0 --json --logprobs 2 >"$TMP/run.jsonl" 2>/dev/null
"$FIEF" run -m "$M" -p "Once upon a time" -n 64 --temp 0 >"$TMP/run.txt" 2>/dev/null
python3 - "$MODELS/reference.json" "$TMP/run.jsonl" "$TMP/run.txt" <<'PY' && ok "fief run --temp 0 equals llama.cpp (ids, logprobs, text)" || bad "fief run vs reference.json"
import json, sys
ref = json.load(open(sys.argv[1]))["cases"][0]
toks = [json.loads(l) for l in open(sys.argv[2])]
assert [t["id"] for t in toks] == ref["ids"], "ids differ"
d = [abs(t["logprob"] - r) for t, r in zip(toks, ref["logprobs"])]
assert sum(d) / len(d) < 1e-4 and max(d) < 2e-3, "logprobs differ"  # f16 attention noise, see test_model.c
assert all(len(t["top"]) == 2 and t["top"][0]["id"] == t["id"] for t in toks)
assert open(sys.argv[3], encoding="utf-8").read() == ref["text"], "text differs"
PY

ids=$(python3 -c 'import json,sys; print(",".join(str(json.loads(l)["id"]) for l in open(sys.argv[1])))' "$TMP/run.jsonl")
"$FIEF" score -m "$M" --prompt-ids 1,403,407,261,378 --completion-ids "$ids" --json >"$TMP/score.json"
python3 - "$TMP/run.jsonl" "$TMP/score.json" <<'PY' && ok "fief score reproduces run's logprobs and top-1" || bad "score vs run"
import json, sys
run = [json.loads(l) for l in open(sys.argv[1])]
sc = json.load(open(sys.argv[2]))
assert sc["prompt_tokens"] == 5 and len(sc["tokens"]) == len(run)
for r, s in zip(run, sc["tokens"]):
    assert r["id"] == s["id"] == s["top_id"], (r, s)
    assert abs(r["logprob"] - s["logprob"]) < 1e-4, (r, s)
PY

"$FIEF" score -m "$M" --prompt "Once upon a time" --completion ", there was a little girl" >"$TMP/score.txt"
check "score with text completion" grep -q "sum_logprob" "$TMP/score.txt"
out=$("$FIEF" tokenize -m "$M" --ids "Once upon a time")
check "tokenize ids" test "$out" = "1 403 407 261 378"
"$FIEF" run -m "$M" -p "Once upon a time" -n 40 --temp 0.8 --seed 11 >"$TMP/r1" 2>/dev/null
"$FIEF" run -m "$M" -p "Once upon a time" -n 40 --temp 0.8 --seed 11 --no-simd -t 1 >"$TMP/r2" 2>/dev/null
check "seeded sampling: same text with portable kernels, 1 thread" cmp -s "$TMP/r1" "$TMP/r2"
finish
