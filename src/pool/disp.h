/* SPDX-License-Identifier: MIT */
/* The scheduler: a queue per model, jobs assigned to free miner slots, token
 * streams relayed to whoever submitted the job, deadlines, and failover.
 *
 * A job (struct pjob) is one generation: one choice of one customer request.
 * The HTTP layer submits it with a sink; the scheduler calls the sink on the
 * event-loop thread as tokens arrive and once when the job ends. When a miner
 * disconnects or stalls, the job moves to another miner with the tokens
 * already delivered appended to its prompt and the same seed, so the
 * continuation is the one the first miner would have produced and the sink
 * sees one unbroken stream: no gap, no repeat.
 *
 * Everything here runs on the pool's event-loop thread. */
#ifndef FIEF_POOL_DISP_H
#define FIEF_POOL_DISP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "ledger/store.h"
#include "proto/proto.h"

struct disp;
struct pjob;
struct pool_model;

struct pjob_params {
    struct pool_model *model; /* borrowed; outlives the job */
    const int32_t *prompt;    /* copied */
    uint32_t n_prompt;        /* >= 1 */
    uint32_t max_tokens;      /* >= 1; prompt + max_tokens must fit the model's context */
    float temperature;        /* 0 = greedy */
    int32_t top_k;
    float top_p;
    float min_p;
    float repeat_penalty;
    uint64_t seed;            /* <= PROTO_MAX_ID */
    uint32_t top_n;           /* alternatives per token wanted, 0..PROTO_MAX_TOP */
    int64_t key_id;           /* the customer's key: records only; miners never see it */
};

enum pjob_end {
    PJOB_LENGTH = 1,  /* max_tokens reached */
    PJOB_EOG,         /* the model ended its turn (the last token is the end token) */
    PJOB_FAILED,      /* no miner could finish it (msg says why) */
};

struct pjob_sink {
    /* Tokens [from, from + n) of the completion were accepted; read them
     * with pjob_tokens()/pjob_logprobs()/pjob_top(). */
    void (*on_tokens)(void *ud, struct pjob *j, uint32_t from, uint32_t n);
    /* The job ended. The job stays readable during the call and is freed
     * right after it returns. Not called after disp_cancel(). */
    void (*on_done)(void *ud, struct pjob *j, enum pjob_end end, const char *msg);
};

/* Submit a job. Returns 0 and *out (owned by the scheduler), or:
 *   FIEF_ENOTFOUND  no miner serves this model now        (HTTP 503)
 *   FIEF_ELIMIT     the model's queue is full             (HTTP 429)
 *   FIEF_EINVAL     bad parameters (err says which)       (HTTP 400)
 * Sink callbacks never run inside disp_submit. */
int disp_submit(struct disp *d, const struct pjob_params *p, const struct pjob_sink *sink,
                void *ud, struct pjob **out, char err[FIEF_ERR_LEN]);

/* The submitter is no longer interested (stop sequence found, customer gone):
 * the miner is told to stop, the job is recorded as cancelled with the
 * tokens delivered so far, and no callback runs for it again. j must not be
 * used after this call. */
void disp_cancel(struct disp *d, struct pjob *j);

/* ---- reading a job (valid while the job is) ---- */
const char *pjob_id(const struct pjob *j);
uint32_t pjob_n_prompt(const struct pjob *j);
/* The completion so far: *n tokens. */
const int32_t *pjob_tokens(const struct pjob *j, uint32_t *n);
const float *pjob_logprobs(const struct pjob *j); /* one per token */
struct pjob_alt {
    int32_t id;
    float logprob;
};
/* Alternatives of token i: *n entries (0..top_n), best first. */
const struct pjob_alt *pjob_top(const struct pjob *j, uint32_t i, uint32_t *n);
/* Miners that served the job so far (more than one after a failover). */
uint32_t pjob_n_miners(const struct pjob *j);
/* Who produced the completion so far, in order: *n parts (miner key and its
 * tokens; a miner that comes back after a failover gets a new part; past
 * STORE_JOB_MAX_PARTS the rest is folded into the last). Their tokens add up
 * to the completion's length. What the customer is billed for, and each
 * miner paid for. */
const struct store_job_part *pjob_parts(const struct pjob *j, uint32_t *n);

/* ---- capacity, for /v1/models and /api ---- */
struct disp_model_stats { /* miners, slots, busy, tps: those that take customers' jobs */
    uint32_t miners;     /* miners serving the model */
    uint32_t slots;      /* their slots in all */
    uint32_t busy;       /* slots running a job or an audit's score */
    uint32_t queued;     /* jobs waiting */
    double tps;          /* sum of the miners' reported tokens/s per slot x slots */
    uint32_t auditors;   /* offers with the score capability (validators included) */
};
void disp_model_stats(const struct disp *d, const struct pool_model *m,
                      struct disp_model_stats *out);

#endif
