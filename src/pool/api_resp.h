/* SPDX-License-Identifier: MIT */
/* Builders for OpenAI response bodies: chat.completion and its stream chunks,
 * text_completion and its chunks, logprobs in each API's own format, usage,
 * model objects and error objects. Pure: every builder returns a new jansson
 * reference (the caller decrefs) and reads nothing but its arguments. */
#ifndef FIEF_POOL_API_RESP_H
#define FIEF_POOL_API_RESP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool/api_req.h"

struct pjob_alt;
struct disp_model_stats;
struct buf;

/* What every object of one response shares. */
struct resp_meta {
    enum api_kind kind;
    const char *id;          /* "chatcmpl-..." or "cmpl-..." */
    int64_t created;         /* unix seconds */
    const char *model;
    const char *fingerprint; /* system_fingerprint: "fief-<version>" */
    bool usage_null;         /* streams with include_usage: "usage": null in chunks */
};

struct resp_usage {
    uint64_t prompt_tokens;     /* the prompt as the pool tokenized it (once for n choices) */
    uint64_t completion_tokens; /* all choices */
};

/* One completion token and its alternatives (best first). */
struct resp_tok {
    int32_t id;
    float logprob;
    const struct pjob_alt *top;
    uint32_t n_top;
};

/* ---- logprobs ---- */

/* An empty logprobs object: chat {"content":[],"refusal":null}; completions
 * {"tokens":[],"token_logprobs":[],"top_logprobs":[] or null,"text_offset":[]}
 * (top_logprobs is null when no alternatives were asked for). */
json_t *resp_logprobs_new(enum api_kind kind, bool with_top);
/* Append token t (at most n_top alternatives). End-of-generation tokens are
 * skipped: they have no text. *text_offset is the completions API's running
 * character offset (updated; unused for chat). */
void resp_logprobs_add(json_t *lp, enum api_kind kind, const struct eng_vocab *v,
                       const struct resp_tok *t, uint32_t n_top, size_t *text_offset);
/* Whether lp holds any token (chat content or completions tokens). */
bool resp_logprobs_empty(const json_t *lp, enum api_kind kind);

/* ---- streaming ---- */

/* One chunk for choice index: chat {"delta":{"role"?, "content"?}} or
 * completions {"text"}; role may be NULL (only the first chat chunk has it),
 * text may be NULL (no content key; for completions ""). logprobs is stolen
 * (NULL: null). finish is "stop"/"length" or NULL (null). */
json_t *resp_chunk(const struct resp_meta *m, uint32_t index, const char *role, const char *text,
                   size_t len, json_t *logprobs, const char *finish);
/* The last chunk of a stream with include_usage: empty choices, usage. */
json_t *resp_usage_chunk(const struct resp_meta *m, const struct resp_usage *u);

/* ---- whole responses ---- */

struct resp_choice {
    const char *text; /* valid UTF-8 */
    size_t len;
    json_t *logprobs; /* stolen; NULL: null */
    const char *finish;
};
/* chat.completion or text_completion with n choices (index = position). */
json_t *resp_full(const struct resp_meta *m, struct resp_choice *c, size_t n,
                  const struct resp_usage *u);

/* {"error":{"message","type","param","code"}} */
json_t *resp_error(const struct api_err *e);

/* A /v1/models entry: OpenAI's fields plus fief's (prices in credits per
 * million tokens, capacity). */
json_t *resp_model(const char *id, int64_t created, const char *owned_by, uint64_t price_in,
                   uint64_t price_out, const struct disp_model_stats *st);

/* ---- money ---- */

/* An amount as fief's API shows every amount: {"micro":1800,"credits":"0.001800"}
 * (credits with all 6 decimals, receipt_credits).
 * Also the "cost" of a completion: what the request was charged. */
json_t *resp_amount(int64_t micro);
/* Add "cost" (resp_amount) to a completion object or chunk o; returns o. */
json_t *resp_with_cost(json_t *o, int64_t micro);

/* Serialize compactly (floats to 9 significant digits: enough for a float)
 * and append to out, as an SSE event ("data: ...\n\n") when sse is set.
 * Consumes the reference j. */
void resp_dump(json_t *j, bool sse, struct buf *out);

#endif
