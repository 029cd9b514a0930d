/* SPDX-License-Identifier: MIT */
/* The HTTP API: OpenAI-compatible /v1 endpoints for customers (billed through
 * the books), the pool's public /api views, the customer's /api/account and
 * receipts, the operator's /admin, and /metrics, on libevent's HTTP server. */
#ifndef FIEF_POOL_API_H
#define FIEF_POOL_API_H

#include <stdint.h>

#include "common/err.h"

struct pool;
struct api;

/* Bind listen ("HOST:PORT"; port 0 picks one) on the pool's event base and
 * serve. Returns 0 or FIEF_EIO with err set (address in use, ...). */
int api_start(struct pool *p, const char *listen, struct api **out, char err[FIEF_ERR_LEN]);
/* The bound port. */
int api_port(const struct api *a);
/* Stop accepting; end every open stream (the jobs are cancelled). */
void api_free(struct api *a);
/* The settlement of request req_id committed (ledger_settled_poll): its
 * reply, if it waits for that, goes out now. */
void api_settled(struct api *a, const char *req_id);

/* Counters since start, for /metrics. Loop thread only. */
struct api_stats {
    uint64_t requests;          /* HTTP requests received, all routes */
    uint64_t completions;       /* generation requests accepted (chat + completions) */
    uint64_t streams;           /*   of which streamed */
    uint64_t cancelled;         /*   of which the customer left before the end */
    uint64_t errors_4xx;        /* replies with a 4xx status */
    uint64_t errors_5xx;        /* replies with a 5xx status (and failed streams) */
    uint64_t prompt_tokens;     /* usage billed: prompts as the pool tokenized them */
    uint64_t completion_tokens; /* usage billed: tokens delivered, all choices */
    uint32_t open;              /* generation requests in flight now */
    uint64_t payment_required;  /* 402 replies: not enough credit */
    uint64_t idem_replays;      /* stored responses sent again for an Idempotency-Key */
    uint64_t charged_micro;     /* micro-credits charged by the settlements queued */
    uint64_t ledger_ops;        /* holds and settlements placed (loop thread) */
    uint64_t ledger_ns;         /*   and the time they took there, nanoseconds */
};
void api_get_stats(const struct api *a, struct api_stats *out);

#endif
