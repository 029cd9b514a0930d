#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A pool and two real miners on the shared stories260K model, asked by curl and
# by the official openai npm package: chat and completions, streamed and not,
# logprobs in both formats, n=2, stop sequences, stream_options.include_usage.
# The text must be what `fief run` gives for the same prompt and settings, and
# usage must count what `fief tokenize` and the delivered tokens say.
source "$(dirname "$0")/lib.sh"
need_models "pool + miners on stories260K not run"
M="$MODELS/stories260K.gguf"
setup_openai

start_pool pool --model "stories=$M"
KEY=$(new_key pool)
start_miner m1 "$M"
start_miner m2 "$M"
check "both miners serve the model (GET /api/models)" model_stat_is stories miners 2

# ---- references from the engine itself ----
PROMPT="Once upon a time"
CHATQ="Tell me a story about a dog."
N=48
R="$FIEF run -m $M -t 1"
$R -p "$PROMPT" --temp 0 -n $N >"$TMP/ref_cmpl.txt" 2>/dev/null
$R -p "$PROMPT" --temp 0 -n $N --json --logprobs 2 >"$TMP/ref_cmpl.jsonl" 2>/dev/null
$R -p "$CHATQ" --chat --temp 0 -n $N >"$TMP/ref_chat.txt" 2>/dev/null
$R -p "$CHATQ" --chat --temp 0 -n $N --json --logprobs 2 >"$TMP/ref_chat.jsonl" 2>/dev/null
SAMPLE="--temp 0.8 --top-k 0 --top-p 1 --min-p 0"  # the API's defaults: no filters
for s in 7 8; do $R -p "$PROMPT" $SAMPLE --seed $s -n 24 --json >"$TMP/ref_cmpl_s$s.jsonl" 2>/dev/null; done
for s in 21 22; do $R -p "$CHATQ" --chat $SAMPLE --seed $s -n 24 --json >"$TMP/ref_chat_s$s.jsonl" 2>/dev/null; done
"$FIEF" tokenize -m "$M" --ids "$PROMPT" >"$TMP/ref_prompt_ids"
cat >"$TMP/ref.py" <<PY
import json, os
T = os.environ.get('TMP', '$TMP')
def jl(name): return [json.loads(l) for l in open(T + '/' + name) if l.strip()]
def txt(name): return open(T + '/' + name, encoding='utf-8').read()
CMPL, CHAT = jl('ref_cmpl.jsonl'), jl('ref_chat.jsonl')
CMPL_TEXT, CHAT_TEXT = txt('ref_cmpl.txt'), txt('ref_chat.txt')
CMPL_PROMPT = len(open(T + '/ref_prompt_ids').read().split())
CHAT_PROMPT = CHAT[0]['pos']          # the first generated position = the prompt's length
N = $N
SAMPLED = {k: jl('ref_%s.jsonl' % k) for k in ('cmpl_s7', 'cmpl_s8', 'chat_s21', 'chat_s22')}
def text_of(toks): return ''.join(t['text'] for t in toks)
def close(a, b): return abs(a - b) < 1e-4
PY
pycheck "references: fief run gives $N greedy tokens, text = pieces" <<'PY'
from ref import *
assert len(CMPL) == N and len(CHAT) == N, (len(CMPL), len(CHAT))
assert text_of(CMPL) == CMPL_TEXT and text_of(CHAT) == CHAT_TEXT
assert CMPL_PROMPT == 5 and CMPL[0]['pos'] == CMPL_PROMPT
assert all(len(v) == 24 for v in SAMPLED.values())
PY

# ---- curl ----
U='"model":"stories","max_tokens":'$N',"temperature":0'
MSG='"messages":[{"role":"user","content":"'"$CHATQ"'"}]'
sse_post /v1/chat/completions "$KEY" "{$U,$MSG,\"logprobs\":true,\"top_logprobs\":2}" "$TMP/c1"
sse_post /v1/chat/completions "$KEY" "{$U,$MSG,\"stream\":true,\"logprobs\":true,\"stream_options\":{\"include_usage\":true}}" "$TMP/c2"
sse_post /v1/completions "$KEY" "{$U,\"prompt\":\"$PROMPT\",\"logprobs\":2}" "$TMP/c3"
sse_post /v1/completions "$KEY" "{$U,\"prompt\":\"$PROMPT\",\"stream\":true,\"logprobs\":1,\"stream_options\":{\"include_usage\":true}}" "$TMP/c4"
sse_post /v1/completions "$KEY" "{$U,\"prompt\":\"$PROMPT\",\"stream\":true}" "$TMP/c5"
sse_post /v1/completions "$KEY" "{\"model\":\"stories\",\"prompt\":\"$PROMPT\",\"max_tokens\":24,\"temperature\":0.8,\"seed\":7,\"n\":2}" "$TMP/c6"
sse_post /v1/chat/completions "$KEY" "{\"model\":\"stories\",$MSG,\"max_tokens\":24,\"temperature\":0.8,\"seed\":21,\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" "$TMP/c7"
sse_post /v1/completions "$KEY" "{$U,\"prompt\":\"$PROMPT\",\"stop\":\" little\"}" "$TMP/c8"
sse_post /v1/completions "$KEY" "{$U,\"prompt\":\"$PROMPT\",\"stop\":[\"zzz\",\"d Li\"],\"stream\":true,\"stream_options\":{\"include_usage\":true}}" "$TMP/c9"
sse_post /v1/chat/completions "$KEY" "{$U,$MSG,\"stop\":[\"boy\"],\"stream\":true}" "$TMP/c10"
# the prompt as token ids, and two requests at once (one per miner)
IDS=$(tr ' ' ',' <"$TMP/ref_prompt_ids" | tr -d '\n')
sse_post /v1/completions "$KEY" "{$U,\"prompt\":[$IDS]}" "$TMP/c11" &
p1=$!
sse_post /v1/completions "$KEY" "{$U,\"prompt\":[[$IDS]],\"stream\":true}" "$TMP/c12" &
p2=$!
wait $p1 $p2

pycheck "curl chat, not streamed: text = fief run --chat, usage, finish, logprobs (chat format)" "$TMP/c1" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
assert r['status'] == 200, r
b = r['body']
assert b['object'] == 'chat.completion' and b['id'].startswith('chatcmpl-') and b['model'] == 'stories', b
assert b['system_fingerprint'].startswith('fief-')
assert r['headers'].get('x-fief-job', '').startswith('j'), r['headers']
c, = b['choices']
assert c['index'] == 0 and c['message'] == {'role': 'assistant', 'content': CHAT_TEXT, 'refusal': None}, (c['message'], CHAT_TEXT)
assert c['finish_reason'] == 'length'
assert b['usage'] == {'prompt_tokens': CHAT_PROMPT, 'completion_tokens': N, 'total_tokens': CHAT_PROMPT + N}, b['usage']
lp = c['logprobs']
assert lp['refusal'] is None and len(lp['content']) == N
for e, ref in zip(lp['content'], CHAT):
    assert e['id'] == ref['id'] and e['token'] == ref['text'] and close(e['logprob'], ref['logprob']), (e, ref)
    assert bytes(e['bytes']).decode() == e['token']
    assert [t['id'] for t in e['top_logprobs']] == [t['id'] for t in ref['top']], (e, ref)
    assert all(close(t['logprob'], rt['logprob']) for t, rt in zip(e['top_logprobs'], ref['top']))
    assert set(e['top_logprobs'][0]) == {'id', 'token', 'logprob', 'bytes'}
PY

pycheck "curl chat, streamed: role chunk, deltas = fief run --chat, include_usage, logprobs" "$TMP/c2" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=True)
c = ch[0]
assert list(ch) == [0] and c['text'] == CHAT_TEXT and c['finish'] == 'length', c
assert usage == {'prompt_tokens': CHAT_PROMPT, 'completion_tokens': N, 'total_tokens': CHAT_PROMPT + N}, usage
assert all('usage' in e for e in r['events']) and all(e['usage'] is None for e in r['events'][:-1])
assert r['events'][-1]['choices'] == [] and r['events'][-1]['usage'] == usage
assert [e['id'] for e in c['lp']] == [t['id'] for t in CHAT], 'logprob ids differ'
assert len(c['lp']) == usage['completion_tokens'], 'tokens received != completion_tokens'
assert all(e['top_logprobs'] == [] for e in c['lp'])
assert c['events'] > 10, 'the text came in %d events, not token by token' % c['events']
PY

pycheck "curl completions, not streamed: text = fief run, usage = fief tokenize + tokens, legacy logprobs" "$TMP/c3" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
b = r['body']
assert r['status'] == 200 and b['object'] == 'text_completion' and b['id'].startswith('cmpl-'), r
c, = b['choices']
assert c['text'] == CMPL_TEXT and c['finish_reason'] == 'length' and c['index'] == 0, c
assert b['usage'] == {'prompt_tokens': CMPL_PROMPT, 'completion_tokens': N, 'total_tokens': CMPL_PROMPT + N}
lp = c['logprobs']
assert lp['tokens'] == [t['text'] for t in CMPL] and ''.join(lp['tokens']) == c['text']
assert all(close(a, t['logprob']) for a, t in zip(lp['token_logprobs'], CMPL))
off = 0
for i, t in enumerate(lp['tokens']):
    assert lp['text_offset'][i] == off, (i, lp['text_offset'][i], off)
    off += len(t)
for top, t in zip(lp['top_logprobs'], CMPL):
    assert len(top) == 2 and list(top) == [x['text'] for x in t['top']], (top, t['top'])
    assert all(close(top[x['text']], x['logprob']) for x in t['top'])
PY

pycheck "curl completions, streamed with logprobs and include_usage" "$TMP/c4" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=False)
c = ch[0]
assert c['text'] == CMPL_TEXT and c['finish'] == 'length'
assert usage == {'prompt_tokens': CMPL_PROMPT, 'completion_tokens': N, 'total_tokens': CMPL_PROMPT + N}, usage
toks = [t for lp in c['lp'] for t in lp['tokens']]
assert toks == [t['text'] for t in CMPL], toks
assert len(toks) == usage['completion_tokens']
offs = [o for lp in c['lp'] for o in lp['text_offset']]
assert offs == [len(text_of(CMPL[:i])) for i in range(N)], 'text_offset across chunks'
assert all(len(d) == 1 for lp in c['lp'] for d in lp['top_logprobs'])
PY

pycheck "curl completions, streamed without usage: no usage field, text, [DONE]" "$TMP/c5" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=False)
assert usage is None and all('usage' not in e for e in r['events']), r['events'][0]
assert ch[0]['text'] == CMPL_TEXT and ch[0]['finish'] == 'length'
assert r['events'][-1]['choices'][0]['text'] == '' and r['events'][-1]['choices'][0]['finish_reason'] == 'length'
PY

pycheck "curl n=2 sampled (seed 7): choice i = fief run --seed 7+i, usage counts both" "$TMP/c6" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
b = r['body']
assert r['status'] == 200, r
cs = sorted(b['choices'], key=lambda c: c['index'])
assert [c['index'] for c in cs] == [0, 1]
assert cs[0]['text'] == text_of(SAMPLED['cmpl_s7']), (cs[0]['text'], text_of(SAMPLED['cmpl_s7']))
assert cs[1]['text'] == text_of(SAMPLED['cmpl_s8'])
assert cs[0]['text'] != cs[1]['text']
assert b['usage'] == {'prompt_tokens': CMPL_PROMPT, 'completion_tokens': 48, 'total_tokens': CMPL_PROMPT + 48}, b['usage']
assert len(r['headers']['x-fief-job'].split(',')) == 2
PY

pycheck "curl chat n=2 streamed (seed 21): interleaved choices = fief run --chat --seed 21/22" "$TMP/c7" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=True)
assert sorted(ch) == [0, 1]
assert ch[0]['text'] == text_of(SAMPLED['chat_s21']), (ch[0]['text'], text_of(SAMPLED['chat_s21']))
assert ch[1]['text'] == text_of(SAMPLED['chat_s22'])
assert usage == {'prompt_tokens': CHAT_PROMPT, 'completion_tokens': 48, 'total_tokens': CHAT_PROMPT + 48}, usage
PY

pycheck "curl stop sequence (string): cut before it, finish stop, usage up to the stopping token" "$TMP/c8" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
b = r['body']
c, = b['choices']
cut = CMPL_TEXT.index(' little')
k = next(i for i in range(1, N + 1) if ' little' in text_of(CMPL[:i]))
assert c['text'] == CMPL_TEXT[:cut] and c['finish_reason'] == 'stop', c
assert b['usage']['completion_tokens'] == k, (b['usage'], k)
PY

pycheck "curl stop sequence across tokens, streamed: nothing of it is ever sent" "$TMP/c9" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=False)
cut = CMPL_TEXT.index('d Li')
k = next(i for i in range(1, N + 1) if 'd Li' in text_of(CMPL[:i]))
assert text_of(CMPL[:k - 1]).find('d Li') < 0 and not CMPL[k - 1]['text'].startswith('d Li'), 'stop must span tokens'
assert ch[0]['text'] == CMPL_TEXT[:cut] and ch[0]['finish'] == 'stop', ch[0]
assert usage['completion_tokens'] == k, (usage, k)
PY

pycheck "curl chat stop sequence, streamed" "$TMP/c10" <<'PY'
import sys
from fiefcheck import *
from ref import *
r = curl_res(sys.argv[1])
ch, usage = stream_choices(r, chat=True)
assert "boy" in CHAT_TEXT, CHAT_TEXT
assert ch[0]['text'] == CHAT_TEXT[:CHAT_TEXT.index("boy")] and ch[0]['finish'] == 'stop', ch[0]
PY

pycheck "curl prompt as token ids (flat and nested), two requests at once" "$TMP/c11" "$TMP/c12" <<'PY'
import sys
from fiefcheck import *
from ref import *
a = curl_res(sys.argv[1])
assert a['status'] == 200 and a['body']['choices'][0]['text'] == CMPL_TEXT, a
assert a['body']['usage']['prompt_tokens'] == CMPL_PROMPT
ch, _ = stream_choices(curl_res(sys.argv[2]), chat=False)
assert ch[0]['text'] == CMPL_TEXT
PY

api GET /v1/models -H "Authorization: Bearer $KEY"
pycheck "GET /v1/models lists stories with 2 miners" "$TMP/body" <<'PY'
import sys, json
j = json.load(open(sys.argv[1]))
assert j['object'] == 'list'
m, = j['data']
assert m['id'] == 'stories' and m['object'] == 'model' and m['miners'] == 2 and m['slots'] == 2, m
assert isinstance(m['created'], int) and m['owned_by'], m
PY
pycheck "both miners served jobs (GET /api/miners)" <<PY
import json, urllib.request
ms = json.load(urllib.request.urlopen('http://127.0.0.1:$HTTP/api/miners'))
assert len(ms) == 2 and all(m['jobs'] > 0 and m['tokens'] > 0 for m in ms), ms
PY

# ---- the official openai package ----
if FIEF_URL="http://127.0.0.1:$HTTP/v1" FIEF_KEY="$KEY" FIEF_MODEL=stories FIEF_PROMPT="$PROMPT" \
   FIEF_CHAT="$CHATQ" FIEF_N=$N run_node openai_client.mjs >"$TMP/sdk.json" 2>"$TMP/sdk.log"; then
  ok "openai SDK script ran"
else
  bad "openai SDK script failed: $(tail -c 1500 "$TMP/sdk.log")"
fi
pycheck "openai SDK: chat.completions.create (logprobs) = fief run --chat" "$TMP/sdk.json" <<'PY'
import sys, json
from ref import *
o = json.load(open(sys.argv[1]))
c = o['chat']
assert not c.get('error'), c
ch, = c['choices']
assert ch['message']['content'] == CHAT_TEXT and ch['finish_reason'] == 'length', ch
assert c['usage']['prompt_tokens'] == CHAT_PROMPT and c['usage']['completion_tokens'] == N, c['usage']
assert [e['token'] for e in ch['logprobs']['content']] == [t['text'] for t in CHAT]
assert all(len(e['top_logprobs']) == 2 for e in ch['logprobs']['content'])
PY
pycheck "openai SDK: streamed chat with include_usage, and the stream helper's final completion" "$TMP/sdk.json" <<'PY'
import sys, json
from ref import *
o = json.load(open(sys.argv[1]))
s = o['chat_stream']
assert isinstance(s, list), s
text = ''.join((c['choices'][0]['delta'].get('content') or '') for c in s if c['choices'])
assert text == CHAT_TEXT, (text, CHAT_TEXT)
assert s[-1]['choices'] == [] and s[-1]['usage']['completion_tokens'] == N and s[-1]['usage']['prompt_tokens'] == CHAT_PROMPT
fin = [c['choices'][0]['finish_reason'] for c in s if c['choices'] and c['choices'][0]['finish_reason']]
assert fin == ['length'], fin
h = o['chat_helper']
assert not h.get('error'), h
assert h['choices'][0]['message']['content'] == CHAT_TEXT and h['choices'][0]['finish_reason'] == 'length', h
PY
pycheck "openai SDK: chat n=2 streamed = fief run --chat --seed 21/22" "$TMP/sdk.json" <<'PY'
import sys, json
from ref import *
o = json.load(open(sys.argv[1]))
s = o['chat_n2']
assert isinstance(s, list), s
t = {0: '', 1: ''}
for c in s:
    for ch in c['choices']:
        t[ch['index']] += ch['delta'].get('content') or ''
assert t[0] == text_of(SAMPLED['chat_s21']) and t[1] == text_of(SAMPLED['chat_s22']), t
PY
pycheck "openai SDK: completions (legacy logprobs, stream with usage, n=2, stop)" "$TMP/sdk.json" <<'PY'
import sys, json
from ref import *
o = json.load(open(sys.argv[1]))
c = o['cmpl']
assert not c.get('error'), c
assert c['choices'][0]['text'] == CMPL_TEXT and c['usage']['prompt_tokens'] == CMPL_PROMPT
assert c['choices'][0]['logprobs']['tokens'] == [t['text'] for t in CMPL]
s = o['cmpl_stream']
assert ''.join(x['choices'][0]['text'] for x in s if x['choices']) == CMPL_TEXT
assert s[-1]['choices'] == [] and s[-1]['usage']['completion_tokens'] == N
lp = [t for x in s if x['choices'] and x['choices'][0]['logprobs'] for t in x['choices'][0]['logprobs']['tokens']]
assert len(lp) == N and all(x['choices'][0]['logprobs'] is None or x['choices'][0]['logprobs']['top_logprobs'] is None for x in s if x['choices'])
n2 = sorted(o['cmpl_n2']['choices'], key=lambda c: c['index'])
assert [c['text'] for c in n2] == [text_of(SAMPLED['cmpl_s7']), text_of(SAMPLED['cmpl_s8'])], n2
st = o['cmpl_stop']['choices'][0]
assert st['text'] == CMPL_TEXT[:CMPL_TEXT.index(' little')] and st['finish_reason'] == 'stop', st
PY
pycheck "openai SDK: models.list/retrieve, typed errors (404, 401, 400), raw response header" "$TMP/sdk.json" <<'PY'
import sys, json
from ref import *
o = json.load(open(sys.argv[1]))
assert [m['id'] for m in o['models']] == ['stories'], o['models']
assert o['model_one']['id'] == 'stories'
e = o['err_model']
assert e.get('error') and e['class'] == 'NotFoundError' and e['status'] == 404 and e['code'] == 'model_not_found', e
e = o['err_key']
assert e.get('error') and e['class'] == 'AuthenticationError' and e['status'] == 401 and e['code'] == 'invalid_api_key', e
e = o['err_value']
assert e.get('error') and e['class'] == 'BadRequestError' and e['param'] == 'temperature', e
raw = o['raw']
assert raw['status'] == 200 and raw['job'].startswith('j') and raw['text'] == text_of(CMPL[:4]), raw
PY

# the miners lived through it all
check "pool still running" alive "$POOL_PID"
check "miner m1 still running, connected once" test "$(grep -c 'authenticated as' "$TMP/m1.log")" = 1
check "miner m2 still running, connected once" test "$(grep -c 'authenticated as' "$TMP/m2.log")" = 1
finish
