/* SPDX-License-Identifier: MIT */
/* A generation request's money (ledger.h): before dispatch, a hold for the
 * most it can cost (402 when the key cannot afford it); at its end, exactly
 * once, the settlement of what was delivered, paid to the miners who
 * produced it; and the Idempotency-Key: a retry gets the stored response
 * back and is never charged twice. A free model (both prices 0) never
 * touches the ledger. Loop thread only. */
#ifndef FIEF_POOL_API_BILL_H
#define FIEF_POOL_API_BILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ledger/store.h"
#include "pool/api_req.h"

struct api;
struct evhttp_request;
struct pool_model;

/* The most response an idempotent request keeps for its retries. A larger
 * one is replaced by a 409 error that says so: the retry is still not
 * charged again, but gets no copy. */
#define API_IDEM_MAX_BODY (4u << 20)

struct api_bill {
    char req[65]; /* the request id (chatcmpl-...): the hold's name */
    int64_t key_id;
    char idem[API_MAX_IDEM + 1]; /* the Idempotency-Key, "" for none */
    const struct pool_model *m;  /* prices and digest; borrowed */
    uint32_t fee_ppm;            /* the pool's fee when the request came */
    int64_t hold;                /* micro-credits held; 0: free, no ledger */
    int64_t created_ms;
    bool settled;
    uint32_t n_parts; /* who produced the delivered tokens, merged by */
    struct store_job_part parts[STORE_JOB_MAX_PARTS]; /* miner over the choices */
    struct buf saved;                                 /* idempotent streams: the SSE text sent */
    bool saved_over;                                  /*   past API_IDEM_MAX_BODY: not kept */
};

/* ---- pure (unit-tested) ---- */

/* The most a request can cost: the prompt once and n choices of max_tokens
 * each, at prices in micro-credits per million tokens (what the settlement
 * charges at most: ledger_cost rounds the sum up once). 0, or FIEF_ERANGE
 * when that is beyond any balance (LEDGER_MAX_AMOUNT). */
int api_bill_max(uint64_t price_in, uint64_t price_out, uint32_t n_prompt, uint32_t max_tokens,
                 uint32_t n, int64_t *max);
/* One choice's share: of its job's parts (in production order), the first
 * delivered tokens; merged into b->parts by miner, in order of first
 * appearance; past STORE_JOB_MAX_PARTS miners the rest goes to the last
 * part, as the scheduler does. */
void api_bill_add_parts(struct api_bill *b, const struct store_job_part *parts, uint32_t n,
                        uint32_t delivered);
/* What the settlement will charge for these counts (0 for a free model). */
int64_t api_bill_cost(const struct api_bill *b, uint32_t prompt_tokens, uint32_t completion_tokens);

/* ---- the request's life ---- */

void api_bill_init(struct api_bill *b, const char *req, int64_t key_id, const char *idem,
                   const struct pool_model *m, uint32_t fee_ppm);
void api_bill_deinit(struct api_bill *b);

/* Idempotency-Key idem of key key_id seen before? 1: the stored response
 * was sent as the reply; 0: not seen, go on; FIEF_EINVAL: e says why not
 * (409 while the first request runs, 500 when the store fails). */
int api_bill_replay(struct api *a, struct evhttp_request *req, int64_t key_id, const char *idem,
                    struct api_err *e);

/* Hold the most the request can cost. 0 (free models hold nothing), or
 * FIEF_EINVAL with e set: 402 insufficient_credit with the numbers, 409 for
 * an Idempotency-Key in use, 500. */
int api_bill_hold(struct api *a, struct api_bill *b, uint32_t n_prompt, uint32_t max_tokens,
                  uint32_t n, struct api_err *e);

/* A stream's text as it is sent (kept only for an idempotent request). */
void api_bill_save(struct api_bill *b, const char *data, size_t len);

/* Settle (once; later calls do nothing): prompt_tokens counted once,
 * completion_tokens delivered in all choices, the parts added so far, and
 * for an idempotent request the response (a stream's body is what
 * api_bill_save kept; pass body NULL). No-op for a free model. */
void api_bill_settle(struct api *a, struct api_bill *b, uint32_t prompt_tokens,
                     uint32_t completion_tokens, int status, const char *ctype, const char *body,
                     size_t len);

#endif
