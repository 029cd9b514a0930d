/* SPDX-License-Identifier: MIT */
/* Parsing and validating OpenAI request bodies (/v1/chat/completions and
 * /v1/completions) into one struct, and turning a parsed request into the
 * prompt's token ids for a model. Every rejection is an api_err that names the
 * field, ready to be sent in OpenAI's error shape.
 *
 * Pure: no I/O, no clock, no randomness (a request without a seed says so and
 * the caller picks one). */
#ifndef FIEF_POOL_API_REQ_H
#define FIEF_POOL_API_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "pool/textout.h"

enum api_kind { API_CHAT = 1, API_COMPLETION = 2 };

#define API_MAX_N 8             /* choices per request */
#define API_MAX_TOP_LOGPROBS 20 /* chat: top_logprobs */
#define API_MAX_LEGACY_LOGPROBS 5 /* completions: logprobs */
#define API_MAX_MESSAGES 65536
#define API_MAX_MODEL 64        /* bytes in a model name */
#define API_MAX_IDEM 128        /* bytes in an Idempotency-Key */

/* An error for the customer: HTTP status plus OpenAI's error fields. */
struct api_err {
    int status;        /* 400, 401, 404, ... */
    const char *type;  /* "invalid_request_error", "server_error", ... (static) */
    char param[64];    /* offending field ("messages[1].role"), "" for null */
    char code[48];     /* machine-readable code, "" for null */
    char message[512];
};

/* Fill e; returns FIEF_EINVAL so a failure path can be one line. param and
 * code may be NULL. */
int api_err_set(struct api_err *e, int status, const char *type, const char *param,
                const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

struct api_req {
    enum api_kind kind;
    char model[API_MAX_MODEL + 1];

    /* chat: messages with roles mapped to system/user/assistant */
    struct eng_chat_msg *msgs;  /* role: static string; content: owned */
    size_t n_msgs;

    /* completions: exactly one of text or ids */
    char *prompt;               /* owned, NUL-terminated, or NULL */
    size_t prompt_len;
    int32_t *prompt_ids;        /* owned, or NULL */
    size_t n_prompt_ids;

    uint32_t max_tokens;        /* 0: not given (the pool's default applies) */
    float temperature;          /* [0, 2], default 1 */
    float top_p;                /* (0, 1], default 1 */
    int32_t top_k;              /* extension: 0 = off */
    float min_p;                /* extension: [0, 1], 0 = off */
    float repeat_penalty;       /* extension: (0, 10], 1 = off */
    bool has_seed;
    uint64_t seed;              /* reduced into [0, PROTO_MAX_ID] */
    size_t n_stops;
    char *stops[TEXTOUT_MAX_STOPS]; /* owned */
    size_t stop_lens[TEXTOUT_MAX_STOPS];
    bool logprobs;
    uint32_t top_logprobs;      /* alternatives per token: chat 0..20, legacy 0..5 */
    uint32_t n;                 /* choices, 1..API_MAX_N */
    bool stream;
    bool include_usage;         /* stream_options.include_usage */
};

/* Parse body (len bytes) as a request of the given kind. Returns 0 and fills
 * r (free it with api_req_free), or FIEF_EINVAL with e set (status 400) and r
 * left empty. Unknown fields are ignored; known ones are validated. */
int api_req_parse(enum api_kind kind, const char *body, size_t len, struct api_req *r,
                  struct api_err *e);
void api_req_free(struct api_req *r);

/* The Idempotency-Key header's value h (NULL: no header): 0 and the key in
 * out ("" without one), or FIEF_EINVAL with e set (400,
 * code "invalid_idempotency_key") when it is empty, longer than
 * API_MAX_IDEM bytes or holds anything but printable ASCII. */
int api_req_idem(const char *h, char out[API_MAX_IDEM + 1], struct api_err *e);

/* Reduce any int64 seed into [0, PROTO_MAX_ID], deterministically. */
uint64_t api_seed_reduce(int64_t seed);

/* The prompt's token ids for vocabulary v (chat: rendered in family f, then
 * tokenized with special tokens and BOS as docs/chat-templates.md says), and
 * the max_tokens to use: the request's, or max_default capped to what is left
 * of the context n_ctx (<= 0: only the protocol's limits apply). *ids is
 * malloc'd (caller frees). Returns 0, or FIEF_EINVAL with e set (400: empty
 * prompt, token id out of range, context exceeded with the numbers). */
int api_req_prompt(const struct api_req *r, const struct eng_vocab *v, enum eng_chat_family f,
                   int32_t n_ctx, uint32_t max_default, int32_t **ids, uint32_t *n_ids,
                   uint32_t *max_tokens, struct api_err *e);

#endif
