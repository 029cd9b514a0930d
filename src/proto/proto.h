/* SPDX-License-Identifier: MIT */
/* The pool <-> miner wire protocol: one JSON object per line over TCP.
 *
 *   request       {"id":N,"method":"M","params":{...}}
 *   reply         {"id":N,"result":{...}}  or  {"id":N,"error":{"code":C,"message":S}}
 *   notification  {"method":"M","params":{...}}            (no id, no reply)
 *
 * docs/protocol.md is the normative description (every message, with
 * examples); this header is its C face. Everything here is a pure function
 * over bytes or jansson values: no I/O, so unit tests and the fuzzer drive it
 * directly. Every limit a peer could abuse is a named constant below; a
 * decoder rejects a value past its limit with FIEF_EPROTO (or FIEF_ELIMIT for
 * an over-long line) and a message naming the field, which the caller sends
 * back as an error reply before it disconnects. Which code to send:
 *
 *   proto_parse   FIEF_ELIMIT, FIEF_EFORMAT -> PROTO_ERR_PARSE
 *                 FIEF_EPROTO               -> PROTO_ERR_REQUEST
 *                 (the line has no usable id: reply with id PROTO_NO_ID)
 *   *_decode      FIEF_EPROTO               -> PROTO_ERR_PARAMS
 *                 FIEF_EUNSUPPORTED         -> PROTO_ERR_VERSION (hello only)
 *
 * Unknown fields are ignored everywhere (forward compatibility); duplicate
 * keys, wrong types and out-of-range values are errors.
 *
 * Ownership: decoded structs that hold arrays own them (free with the
 * matching *_clear); strings in decoded structs are copied into fixed arrays.
 * Encoders append exactly one line, '\n' included, to a caller's buf. */
#ifndef FIEF_PROTO_H
#define FIEF_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define PROTO_VERSION 1

/* ---- limits ---- */
/* Bytes in one line, newline excluded. 4 MiB, not 1: the largest legal
 * messages (a job or score at PROTO_MAX_PROMPT ids, a full tokens batch with
 * PROTO_MAX_TOP alternatives) encode to 1.2-2.3 MB, and every legal message
 * must fit in a line. */
#define PROTO_MAX_LINE (1u << 22)
#define PROTO_MAX_DEPTH 32             /* nesting of arrays/objects, checked before parsing */
#define PROTO_MAX_ID ((1ull << 53) - 1) /* request ids and seeds: exact in any JSON */
#define PROTO_MAX_NAME 64              /* model, worker, agent names; job ids */
#define PROTO_MAX_TEXT 512             /* payout account, messages, URLs */
#define PROTO_MAX_MODELS 16            /* models in one offer */
#define PROTO_MAX_SLOTS 64             /* concurrent jobs a miner may offer per model */
#define PROTO_MAX_PROMPT 131072        /* token ids in a job's or score's prompt */
#define PROTO_MAX_GEN 32768            /* max_tokens of one job; ids in one score completion */
#define PROTO_MAX_BATCH 4096           /* tokens in one "tokens" notification */
#define PROTO_MAX_TOP 20               /* alternatives per token */
#define PROTO_MAX_TOKEN_ID ((1 << 24) - 1)
#define PROTO_MAX_CTX (1u << 24)       /* positions a miner may offer per job */
#define PROTO_MAX_CAPS 8               /* capability names in one offered model */
#define PROTO_MAX_RECEIPT 16384        /* bytes of a receipt object, compact (a receipt
                                          naming 8 miners is about 1.5 KB) */

/* The id of an error reply about a line that had no usable id ("id":null). */
#define PROTO_NO_ID UINT64_MAX

/* The repetition penalty looks at the last 64 tokens of the sequence (prompt
 * included). Fixed by the protocol, so every miner and auditor agrees. */
#define PROTO_REPEAT_LAST_N 64

/* ---- error codes (the "code" of an error reply) ---- */
enum {
    PROTO_ERR_PARSE = -32700,   /* not JSON, or a line over PROTO_MAX_LINE */
    PROTO_ERR_REQUEST = -32600, /* JSON, but not a request/reply/notification */
    PROTO_ERR_METHOD = -32601,  /* unknown method */
    PROTO_ERR_PARAMS = -32602,  /* a field missing, of the wrong type, or past a limit */
    PROTO_ERR_VERSION = 1,      /* protocol version not supported */
    PROTO_ERR_AUTH = 2,         /* bad signature, or a call before auth */
    PROTO_ERR_STATE = 3,        /* call not valid now (second hello, job before offer) */
    PROTO_ERR_JOB = 4,          /* unknown job, or not assigned to this miner */
    PROTO_ERR_BUSY = 5,         /* no free slot */
    PROTO_ERR_MODEL = 6,        /* model not served / not accepted */
    PROTO_ERR_TOO_LARGE = 7,    /* prompt + max_tokens beyond the miner's context */
    PROTO_ERR_BANNED = 8,       /* key refused by the pool */
    PROTO_ERR_INTERNAL = 9,     /* the replying side failed; not the caller's fault */
};

enum proto_kind { PROTO_REQUEST = 1, PROTO_REPLY, PROTO_NOTIFY };

enum proto_method {
    PM_UNKNOWN = 0,
    PM_HELLO,  /* miner -> pool, request */
    PM_AUTH,   /* miner -> pool, request */
    PM_OFFER,  /* miner -> pool, request */
    PM_JOB,    /* pool -> miner, request; replied when the job ends */
    PM_TOKENS, /* miner -> pool, notification */
    PM_CANCEL, /* pool -> miner, notification */
    PM_SCORE,  /* pool -> miner, request */
    PM_PING,   /* either way, request */
    PM_NOTICE, /* pool -> miner, notification */
    PM_RECEIPT, /* pool -> miner, notification: a settled request's signed receipt */
};

const char *proto_method_name(enum proto_method m); /* "hello" ...; "?" for unknown */

/* One parsed line. */
struct proto_msg {
    enum proto_kind kind;
    enum proto_method method; /* requests and notifications */
    uint64_t id;              /* requests and replies */
    json_t *params;           /* requests and notifications: an object (borrowed from root) */
    json_t *result;           /* successful replies (borrowed from root) */
    bool is_error;            /* replies: an error reply */
    int err_code;             /* error replies */
    char err_msg[PROTO_MAX_TEXT + 1];
    json_t *root;             /* owned; proto_msg_clear releases it */
};

/* Parse one line (without its '\n'). Returns 0, FIEF_ELIMIT (len >
 * PROTO_MAX_LINE), FIEF_EFORMAT (not JSON, not an object, nested deeper than
 * PROTO_MAX_DEPTH, a duplicate key) or FIEF_EPROTO (bad envelope: id not an
 * integer in [0, PROTO_MAX_ID], params or result not an object, both or
 * neither of result and error, a known method sent as the wrong kind ...),
 * with err set. An unknown method is NOT an error here: method = PM_UNKNOWN,
 * so the caller can answer PROTO_ERR_METHOD to a request. Absent params
 * become an empty object. An error reply's message is truncated to
 * PROTO_MAX_TEXT bytes and control characters are replaced by '?'; its id is
 * PROTO_NO_ID when the peer sent "id":null. On error *out is empty. */
int proto_parse(const char *line, size_t len, struct proto_msg *out, char err[FIEF_ERR_LEN]);
void proto_msg_clear(struct proto_msg *m);

/* Where the next line ends in data[0..len): returns the length of the line
 * (index of '\n'; a preceding '\r' is part of the line and tolerated by
 * proto_parse), -1 when no newline is there yet, or FIEF_ELIMIT when there is
 * none within PROTO_MAX_LINE bytes (the peer must be dropped). */
long proto_frame(const char *data, size_t len);

/* ---- envelopes: encoders append one line to out ---- */
void proto_put_request(struct buf *out, uint64_t id, enum proto_method m, json_t *params);
void proto_put_notify(struct buf *out, enum proto_method m, json_t *params);
void proto_put_result(struct buf *out, uint64_t id, json_t *result);
void proto_put_error(struct buf *out, uint64_t id, int code, const char *msg);
/* The json_t arguments are borrowed (the caller keeps its reference); NULL
 * params or result are sent as {}. proto_put_error writes "id":null for
 * PROTO_NO_ID, and cleans msg (truncated to PROTO_MAX_TEXT bytes on a
 * character boundary, invalid UTF-8 and control characters replaced by '?'). */

/* ---- messages ----
 * Each *_decode reads a params/result object, validates every field against
 * the limits, and returns 0 or FIEF_EPROTO with err naming the field. Each
 * *_encode returns a new json_t object (caller json_decref's it). Encoders do
 * not validate: they trust the struct (free text is cleaned like
 * proto_put_error's msg), and the receiving decoder checks everything.
 *
 * Character sets: names (worker, session, job ids, capability and scheme
 * names) are [A-Za-z0-9._-]; model names also allow ':' and '/' (OpenAI-style
 * names such as "org/model" or "model:tag"); agent, payout, pool name and URLs
 * are printable ASCII; free text (messages, reasons) is UTF-8 without control
 * characters. Lengths are in bytes. Hex is decoded in either case and stored
 * lowercase. A required string must not be empty. */

#define PROTO_KEY_HEX 64   /* ed25519 public key, hex */
#define PROTO_SIG_HEX 128  /* ed25519 signature, hex */
#define PROTO_NONCE_HEX 64 /* challenge, hex */
#define PROTO_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct proto_hello {
    uint32_t version;
    char agent[PROTO_MAX_NAME + 1];   /* free text, printable ASCII */
    char pubkey[PROTO_KEY_HEX + 1];   /* lowercase hex */
    char worker[PROTO_MAX_NAME + 1];  /* [A-Za-z0-9._-]+ */
    char payout[PROTO_MAX_TEXT + 1];  /* printable ASCII, non-empty */
};
/* A version other than PROTO_VERSION gives FIEF_EUNSUPPORTED with out->version
 * set (checked before the other fields, which another version may lay out
 * differently). */
int proto_hello_decode(json_t *params, struct proto_hello *out, char err[FIEF_ERR_LEN]);
json_t *proto_hello_encode(const struct proto_hello *h);

/* What a pool publishes to miners (hello reply and GET /api/pool). */
struct proto_terms {
    char pool[PROTO_MAX_NAME + 1]; /* printable ASCII */
    uint32_t fee_ppm;        /* pool fee, parts per million of each job's price, 0..1000000 */
    char scheme[16];         /* payout scheme name, "PPS" */
    uint32_t maturity_s;     /* seconds before earnings can be paid out */
    double audit_rate;       /* share of jobs re-scored, for a new miner, 0..1 */
    char pool_key[PROTO_KEY_HEX + 1]; /* optional: the pool's receipt-signing ed25519
                                         public key, lowercase hex; "" when not sent */
};

struct proto_welcome {
    uint32_t version;                   /* the pool's protocol version */
    char session[PROTO_MAX_NAME + 1];   /* opaque id for logs */
    char challenge[PROTO_NONCE_HEX + 1];
    struct proto_terms terms;
};
/* Like hello: FIEF_EUNSUPPORTED when the pool speaks another version. */
int proto_welcome_decode(json_t *result, struct proto_welcome *out, char err[FIEF_ERR_LEN]);
json_t *proto_welcome_encode(const struct proto_welcome *w);

/* The bytes a miner signs to prove its key: a fixed domain tag, then the
 * challenge hex, so a signature can never be replayed in another context. */
#define PROTO_AUTH_TAG "fief-auth-v1:"
/* Writes PROTO_AUTH_TAG + challenge (in lowercase) and a NUL into msg (cap >=
 * 14 + 64); returns the length to sign (77), or 0 when the challenge is not
 * PROTO_NONCE_HEX hex digits or cap is too small. */
size_t proto_auth_message(const char *challenge_hex, char *msg, size_t cap);

struct proto_auth {
    char signature[PROTO_SIG_HEX + 1];
};
int proto_auth_decode(json_t *params, struct proto_auth *out, char err[FIEF_ERR_LEN]);
json_t *proto_auth_encode(const struct proto_auth *a);

/* Reply to auth: the id the pool knows this miner by (logs, GET /api/miners). */
struct proto_authed {
    char miner[PROTO_MAX_NAME + 1]; /* [A-Za-z0-9._-]+ */
};
int proto_authed_decode(json_t *result, struct proto_authed *out, char err[FIEF_ERR_LEN]);
json_t *proto_authed_encode(const struct proto_authed *a);

enum { PROTO_CAP_GENERATE = 1, PROTO_CAP_SCORE = 2 };

/* The pool matches offered models by digest, not by name: a miner names its
 * files as it likes, and the verdict tells it the pool's name for each. */
struct proto_offer_model {
    char name[PROTO_MAX_NAME + 1];     /* the miner's own name for the file */
    char digest[PROTO_DIGEST_LEN + 1]; /* "sha256:<64 lowercase hex>" of the GGUF file */
    uint32_t ctx;                      /* positions per job, 1..PROTO_MAX_CTX */
    uint32_t slots;                    /* 1..PROTO_MAX_SLOTS */
    double tps;                        /* measured generation tokens/s per slot, 0..1e6 */
    uint32_t caps;                     /* PROTO_CAP_*; unknown names are ignored */
};
struct proto_offer {
    uint32_t n;
    struct proto_offer_model m[PROTO_MAX_MODELS];
};
int proto_offer_decode(json_t *params, struct proto_offer *out, char err[FIEF_ERR_LEN]);
json_t *proto_offer_encode(const struct proto_offer *o);

/* Reply to offer: one verdict per offered model, in order. */
struct proto_verdict {
    char name[PROTO_MAX_NAME + 1];   /* accepted: the pool's model name, used in jobs;
                                        rejected: the offered name */
    bool accepted;
    char reason[PROTO_MAX_TEXT + 1]; /* why not, when rejected */
};
struct proto_verdicts {
    uint32_t n;
    struct proto_verdict v[PROTO_MAX_MODELS];
};
int proto_verdicts_decode(json_t *result, struct proto_verdicts *out, char err[FIEF_ERR_LEN]);
json_t *proto_verdicts_encode(const struct proto_verdicts *v);

struct proto_job {
    char job[PROTO_MAX_NAME + 1];   /* pool-chosen id, [A-Za-z0-9._-]+ */
    char model[PROTO_MAX_NAME + 1];
    int32_t *prompt;                /* owned; 1..PROTO_MAX_PROMPT ids */
    uint32_t n_prompt;
    uint32_t max_tokens;            /* 1..PROTO_MAX_GEN */
    float temperature;              /* 0..100; 0 = greedy */
    int32_t top_k;                  /* 0..PROTO_MAX_TOKEN_ID + 1; 0 = off (optional) */
    float top_p;                    /* [0, 1]; 1 = off (optional, default 1) */
    float min_p;                    /* [0, 1]; 0 = off (optional) */
    float repeat_penalty;           /* [0.01, 100]; 1 = off (optional, default 1);
                                       window PROTO_REPEAT_LAST_N */
    uint64_t seed;                  /* 0..PROTO_MAX_ID */
    uint32_t top_n;                 /* alternatives per token, 0..PROTO_MAX_TOP (optional) */
};
int proto_job_decode(json_t *params, struct proto_job *out, char err[FIEF_ERR_LEN]);
json_t *proto_job_encode(const struct proto_job *j);
void proto_job_clear(struct proto_job *j);

/* Tokens the miner produced for a job, in order. seq is the index (from 0,
 * within this job as the miner received it) of ids[0]. */
struct proto_tokens {
    char job[PROTO_MAX_NAME + 1];
    uint32_t seq;           /* seq + n <= PROTO_MAX_GEN */
    uint32_t n;             /* 1..PROTO_MAX_BATCH */
    int32_t *ids;           /* owned, n */
    float *logprobs;        /* owned, n; each <= 0 and finite */
    uint32_t top_n;         /* alternatives per token (0 when not requested) */
    int32_t *top_ids;       /* owned, n * top_n (row i: token i's alternatives), or NULL */
    float *top_logprobs;    /* owned, n * top_n, or NULL */
};
int proto_tokens_decode(json_t *params, struct proto_tokens *out, char err[FIEF_ERR_LEN]);
json_t *proto_tokens_encode(const struct proto_tokens *t);
void proto_tokens_clear(struct proto_tokens *t);

/* Reply to a job: why it ended. */
enum proto_finish { PROTO_FIN_LENGTH = 1, PROTO_FIN_EOG, PROTO_FIN_CANCELLED };
struct proto_job_done {
    enum proto_finish finish;
    uint32_t n;          /* tokens generated (the sum of all tokens notifications) */
    double prompt_ms;    /* prefill time, >= 0 */
    double gen_ms;       /* generation time, >= 0 */
};
int proto_job_done_decode(json_t *result, struct proto_job_done *out, char err[FIEF_ERR_LEN]);
json_t *proto_job_done_encode(const struct proto_job_done *d);

struct proto_cancel {
    char job[PROTO_MAX_NAME + 1];
};
int proto_cancel_decode(json_t *params, struct proto_cancel *out, char err[FIEF_ERR_LEN]);
json_t *proto_cancel_encode(const struct proto_cancel *c);

/* The sampling parameters of a job, as a score request carries them: same
 * names, ranges and defaults as in proto_job. */
struct proto_sampling {
    float temperature;    /* 0..100; 0 = greedy */
    int32_t top_k;        /* 0..PROTO_MAX_TOKEN_ID + 1; 0 = off (optional) */
    float top_p;          /* [0, 1]; 1 = off (optional, default 1) */
    float min_p;          /* [0, 1]; 0 = off (optional) */
    float repeat_penalty; /* [0.01, 100]; 1 = off (optional, default 1) */
    uint64_t seed;        /* 0..PROTO_MAX_ID */
};

/* Audit: teacher-forced scoring of completion after prompt. With sampling,
 * the scorer also says what its seeded sampler picks at each position
 * (positions are absolute: completion[i] is at n_prompt + i) and how far the
 * given token is from that pick; without, the picks are greedy. */
struct proto_score {
    char job[PROTO_MAX_NAME + 1];
    char model[PROTO_MAX_NAME + 1];
    int32_t *prompt;        /* owned, 1..PROTO_MAX_PROMPT */
    uint32_t n_prompt;
    int32_t *completion;    /* owned, 1..PROTO_MAX_GEN */
    uint32_t n_completion;
    bool has_sampling;      /* "sampling" is (to be) sent; false: greedy */
    struct proto_sampling sampling; /* the audited job's parameters and seed */
};
int proto_score_decode(json_t *params, struct proto_score *out, char err[FIEF_ERR_LEN]);
/* "sampling" goes out only when has_sampling is set. */
json_t *proto_score_encode(const struct proto_score *s);
void proto_score_clear(struct proto_score *s);

struct proto_scored {
    uint32_t n;             /* 1..PROTO_MAX_GEN; the caller checks it is the request's
                               n_completion */
    float *logprobs;        /* owned, n: logprob of each given token */
    int32_t *top_ids;       /* owned, n: the scorer's top-1 */
    float *top_logprobs;    /* owned, n */
    int32_t *picks;         /* owned, n: what the scorer's sampler picks (greedy: its
                               argmax after the penalty) */
    float *margins;         /* owned, n: how far each given token is from its pick,
                               finite and >= 0 (eng_score_tok.margin): greedy, a logit
                               gap; sampled, probability mass, 1 = not a candidate */
    float *pick_logprobs;   /* owned, n, or NULL (optional on the wire): the log-prob of
                               each pick, so a judge can tell a near-tie from a wrong token */
};
int proto_scored_decode(json_t *result, struct proto_scored *out, char err[FIEF_ERR_LEN]);
json_t *proto_scored_encode(const struct proto_scored *s);
void proto_scored_clear(struct proto_scored *s);

/* A settled request's receipt (common/receipt.h), sent to every connection of
 * each miner it pays. The receipt is kept as a jansson object: a receiver
 * checks its signature over the canonical form (sorted keys, compact), which
 * does not depend on how the line spelled it. */
struct proto_receipt {
    char request[PROTO_MAX_NAME + 1]; /* [A-Za-z0-9._-]+, the request id */
    json_t *receipt;                  /* decode: owned (proto_receipt_clear); encode: borrowed */
};
/* Checks that receipt is an object of at most PROTO_MAX_RECEIPT bytes
 * (compact) whose "request" is the same request; not its signature (the
 * miner does that, with the key hello gave it). */
int proto_receipt_decode(json_t *params, struct proto_receipt *out, char err[FIEF_ERR_LEN]);
json_t *proto_receipt_encode(const struct proto_receipt *r);
void proto_receipt_clear(struct proto_receipt *r);

enum proto_notice_kind { PROTO_NOTICE_MESSAGE = 1, PROTO_NOTICE_FEE, PROTO_NOTICE_SHUTDOWN,
                         PROTO_NOTICE_REDIRECT };
struct proto_notice {
    enum proto_notice_kind kind;
    char message[PROTO_MAX_TEXT + 1]; /* free text; required for PROTO_NOTICE_MESSAGE */
    char url[PROTO_MAX_TEXT + 1];   /* redirect (required): fief+tcp:// or fief+tls:// URL */
    uint32_t fee_ppm;               /* fee (required): the new fee, 0..1000000 */
};
int proto_notice_decode(json_t *params, struct proto_notice *out, char err[FIEF_ERR_LEN]);
json_t *proto_notice_encode(const struct proto_notice *n);

#endif
