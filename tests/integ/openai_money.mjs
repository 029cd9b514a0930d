// SPDX-License-Identifier: MIT
// The official `openai` npm package against a pool that charges: the `cost`
// fief adds to every completion (beside `usage`) must not disturb the SDK,
// a 402 must arrive as its typed APIError, and an Idempotency-Key passes
// through its per-request headers. Prints one JSON object: what the SDK
// returned (or raised) per call; test_money.sh checks the numbers.
//
// env: FIEF_URL (http://127.0.0.1:PORT/v1), FIEF_KEY, FIEF_POOR_KEY (a key
//      with almost no credit), FIEF_MODEL
import OpenAI from 'openai';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const model = env('FIEF_MODEL');
const messages = [{ role: 'user', content: 'Tell me a story' }];
const client = new OpenAI({ baseURL: env('FIEF_URL'), apiKey: env('FIEF_KEY'), maxRetries: 0, timeout: 60000 });
const poor = new OpenAI({ baseURL: env('FIEF_URL'), apiKey: env('FIEF_POOR_KEY'), maxRetries: 0, timeout: 60000 });

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

const out = {};
const calls = {
  chat: () => client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 }),
  // usage and cost on the last chunk
  stream_usage: async () => collect(await client.chat.completions.create({
    model, messages, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true } })),
  // no usage asked for: the cost rides on the final chunk
  stream_plain: async () => collect(await client.completions.create({
    model, prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true })),
  // the SDK's stream helper assembles chunks that carry an unknown field
  helper: async () => client.beta.chat.completions
    .stream({ model, messages, max_tokens: 12, temperature: 0 }).finalChatCompletion(),
  poor: () => poor.chat.completions.create({ model, messages, max_tokens: 200 }),
  idem: async () => {
    const opts = { headers: { 'Idempotency-Key': `sdk-${process.pid}` } };
    const body = { model, prompt: 'The king', max_tokens: 8, temperature: 0.9 };
    const a = await client.completions.create(body, opts).withResponse();
    const b = await client.completions.create(body, opts).withResponse();
    return {
      first: a.data, again: b.data,
      request: a.response.headers.get('x-fief-request'),
      replayed: b.response.headers.get('idempotent-replayed'),
    };
  },
};
for (const [name, f] of Object.entries(calls)) {
  try {
    out[name] = await f();
  } catch (e) {
    out[name] = { error: true, isAPIError: e instanceof OpenAI.APIError, status: e?.status ?? null,
                  code: e?.code ?? null, type: e?.type ?? null, message: String(e?.message ?? e) };
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
