/* SPDX-License-Identifier: MIT */
/* The scheduler's state, shared by its files: disp.c (jobs, attempts,
 * failover) and disp_read.c (views of jobs and capacity, and the slots
 * audits borrow for score requests). Not for other modules. */
#ifndef FIEF_POOL_DISP_IMPL_H
#define FIEF_POOL_DISP_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "pool/disp.h"
#include "proto/proto.h"

struct mconn;

#define MAX_ATTEMPTS 4          /* miners a job may try before it fails */
#define CANCEL_GRACE_NS 30000000000ull /* a cancelled job must be answered within */
#define MAX_PARTS STORE_JOB_MAX_PARTS

struct dmodel;

struct offer {
    struct mconn *mc;
    struct dmodel *dm;
    uint32_t slots, busy;
    double tps;
    uint32_t caps;
    uint32_t ctx;          /* positions per job on this miner */
    TAILQ_ENTRY(offer) link;
};

/* One job on one miner. Lives from the job request to the miner's reply (or
 * its disconnect), even when the job itself has moved on or ended. */
struct attempt {
    struct pjob *job;      /* NULL once the job no longer waits for this attempt */
    struct mconn *mc;
    struct offer *offer;   /* NULL once the offer is gone */
    uint64_t req_id;
    char wire_id[PROTO_MAX_NAME + 1];
    uint32_t received;     /* tokens this attempt delivered */
    uint64_t detached_ns;  /* when the pool stopped waiting for it */
    TAILQ_ENTRY(attempt) link;
};

struct pjob {
    char id[24];
    struct disp *d;
    struct dmodel *dm;
    struct pjob_params p;      /* p.prompt points at prompt[] */
    int32_t *prompt;
    int32_t *toks;             /* (cap) completion */
    float *lps;                /* (cap) */
    struct pjob_alt *alts;     /* (cap * top_n) */
    uint32_t n_out, cap;
    const struct pjob_sink *sink;
    void *ud;
    struct attempt *cur;       /* the attempt that feeds it, or NULL while queued */
    uint64_t deadline_ns;      /* queued: give up; running: next token due */
    int64_t created_ms;
    uint32_t attempts;
    char avoid[MAX_ATTEMPTS][PROTO_KEY_HEX + 1]; /* miners that failed it */
    uint32_t n_parts;
    struct store_job_part parts[MAX_PARTS];
    int in_cb;                 /* inside a sink callback */
    bool cancel_requested;     /* disp_cancel called inside a callback */
    bool queued;
    TAILQ_ENTRY(pjob) qlink;   /* dm->queue */
    TAILQ_ENTRY(pjob) rlink;   /* d->running */
};

struct dmodel {
    struct pool_model *m;
    TAILQ_HEAD(, pjob) queue;
    uint32_t n_queued;
    TAILQ_HEAD(, offer) offers;
};

struct disp {
    struct pool *p;
    struct dmodel *models;
    size_t n_models;
    TAILQ_HEAD(, attempt) attempts;
    TAILQ_HEAD(, pjob) running;
    uint64_t jobs_total, tokens_total;
    uint64_t rate_tokens, rate_t0_ns; /* tokens since rate_t0 */
    double rate;                      /* smoothed tokens/s */
};

/* The model's scheduler state, or NULL for a model the pool does not know. */
struct dmodel *disp_find_dm(struct disp *d, const struct pool_model *m);
/* Give the model's waiting jobs the free slots (disp.c). */
void disp_dispatch(struct disp *d, struct dmodel *dm);
/* Whether the offer may run customer jobs. */
bool disp_offer_generates(const struct offer *o);

#endif
