// SPDX-License-Identifier: MIT
// The official `openai` npm package, unchanged, against a fief pool: every
// call test_openai.sh checks. It prints one JSON object with what the SDK
// returned (or raised) per call; the shell test compares it with `fief run`.
//
// env: FIEF_URL (http://127.0.0.1:PORT/v1), FIEF_KEY, FIEF_MODEL, FIEF_PROMPT,
//      FIEF_CHAT (the user message), FIEF_N (max_tokens)
import OpenAI from 'openai';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const model = env('FIEF_MODEL');
const prompt = env('FIEF_PROMPT');
const messages = [{ role: 'user', content: env('FIEF_CHAT') }];
const n = Number(env('FIEF_N'));
const client = new OpenAI({ baseURL: env('FIEF_URL'), apiKey: env('FIEF_KEY'), maxRetries: 0, timeout: 60000 });

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

function errorOf(e) {
  return {
    error: true,
    class: e?.constructor?.name,
    isAPIError: e instanceof OpenAI.APIError,
    status: e?.status ?? null,
    code: e?.code ?? null,
    type: e?.type ?? null,
    param: e?.param ?? null,
    message: String(e?.message ?? e),
  };
}

const out = { node: process.version };
const calls = {
  // non-streamed chat with logprobs in OpenAI's chat format
  chat: () => client.chat.completions.create({
    model, messages, max_tokens: n, temperature: 0, logprobs: true, top_logprobs: 2 }),
  // streamed chat with usage at the end
  chat_stream: async () => collect(await client.chat.completions.create({
    model, messages, max_tokens: n, temperature: 0, stream: true,
    stream_options: { include_usage: true } })),
  // the SDK's stream helper assembles the chunks itself
  chat_helper: async () => {
    const s = client.beta.chat.completions.stream({ model, messages, max_tokens: n, temperature: 0 });
    return s.finalChatCompletion();
  },
  // two sampled choices, streamed and interleaved
  chat_n2: async () => collect(await client.chat.completions.create({
    model, messages, max_tokens: 24, temperature: 0.8, seed: 21, n: 2, stream: true })),
  // legacy completions: logprobs in the legacy format
  cmpl: () => client.completions.create({
    model, prompt, max_tokens: n, temperature: 0, logprobs: 2 }),
  cmpl_stream: async () => collect(await client.completions.create({
    model, prompt, max_tokens: n, temperature: 0, stream: true,
    stream_options: { include_usage: true }, logprobs: 0 })),
  cmpl_n2: () => client.completions.create({ model, prompt, max_tokens: 24, temperature: 0.8, seed: 7, n: 2 }),
  cmpl_stop: () => client.completions.create({ model, prompt, max_tokens: n, temperature: 0, stop: [' little'] }),
  models: async () => {
    const list = [];
    for await (const m of client.models.list()) list.push(m);
    return list;
  },
  model_one: () => client.models.retrieve(model),
  // errors come back as the SDK's typed exceptions
  err_model: () => client.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 4 }),
  err_key: () => new OpenAI({ baseURL: env('FIEF_URL'), apiKey: 'fief-not-a-key-at-all-0000000000000', maxRetries: 0 })
    .completions.create({ model, prompt, max_tokens: 4 }),
  err_value: () => client.completions.create({ model, prompt, max_tokens: 4, temperature: 5 }),
  // with_raw_response: the headers the pool adds
  raw: async () => {
    const { data, response } = await client.completions.create({ model, prompt, max_tokens: 4, temperature: 0 }).withResponse();
    return { status: response.status, job: response.headers.get('x-fief-job'), text: data.choices[0].text };
  },
};
for (const [name, f] of Object.entries(calls)) {
  try {
    out[name] = await f();
  } catch (e) {
    out[name] = errorOf(e);
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
