/* SPDX-License-Identifier: MIT */
/* Audits (docs/audits.md): when a job ends the scheduler hands over what
 * the pool received of it; each miner's part is drawn for an audit with its
 * key's rate, and an audited part waits (bounded, with a deadline) for an
 * auditor: another key's free slot on the same model with the score
 * capability. Its score is judged (verdict.h); a failure is confirmed by a
 * second auditor and a split decided by a third; confirmed fraud is punished
 * in the books (ledger_audit.h) and at the gateway (the key is banned).
 * Auditors are paid per score; reputation per key lives in memory, loaded at
 * start and written through with every audit.
 *
 * Everything here runs on the pool's event-loop thread. */
#ifndef FIEF_POOL_AUDIT_H
#define FIEF_POOL_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ledger/store.h"

struct audit;
struct pool;
struct mconn;
struct pool_model;
struct proto_msg;

/* The pool's audits, reputations loaded from its store. 0, or FIEF_EIO
 * with err set. Free with audit_free (NULL is a no-op). */
int audit_new(struct pool *p, struct audit **out, char err[FIEF_ERR_LEN]);
void audit_free(struct audit *a);
/* No new audits from now on (shutdown: the jobs cancelled then are not
 * worth an auditor's time). */
void audit_stop(struct audit *a);

/* ---- from the scheduler ---- */

/* A job as it ended, borrowed for the call: what the pool received (only
 * tokens actually delivered) and who produced which part of it. */
struct audit_job {
    const char *job;               /* the pool's job id */
    struct pool_model *model;
    const int32_t *prompt;
    uint32_t n_prompt;
    const int32_t *toks;           /* the completion received, n tokens */
    const float *lps;              /* their claimed log-probs */
    uint32_t n;
    float temperature;             /* the job's sampling parameters and seed */
    int32_t top_k;
    float top_p, min_p, repeat_penalty;
    uint64_t seed;
    const struct store_job_part *parts; /* in order; their tokens add up to n */
    uint32_t n_parts;
};
void audit_job_ended(struct audit *a, const struct audit_job *j);

/* Slots may have come free (a job or score ended, a miner offered). */
void audit_slots_free(struct audit *a);
/* mc is gone (its offers already are): its scores go to other auditors. */
void audit_miner_gone(struct audit *a, struct mconn *mc);
/* Deadlines: audits waiting too long, auditors answering too slowly. */
void audit_tick(struct audit *a);

/* ---- from the gateway ---- */

/* Whether req_id is a score request outstanding on mc. */
bool audit_owns_request(struct audit *a, const struct mconn *mc, uint64_t req_id);
/* Its reply (a result or an error). A reply that breaks the protocol gets
 * the auditor kicked; the audit goes to another one. */
void audit_on_reply(struct audit *a, struct mconn *mc, const struct proto_msg *m);

/* ---- reputation (audit_rep.c) ---- */

/* Whether pubkey is banned; reason (cap bytes) gets why. */
bool audit_banned(struct audit *a, const char *pubkey, char *reason, size_t cap);
/* The probability that a part by pubkey is audited now. */
double audit_rate_of(struct audit *a, const char *pubkey);
/* What the scheduler multiplies a miner's score by: 0.5 for a key without
 * passes, rising to 1 as it passes audits (half way after audit_half). */
double audit_pick_factor(struct audit *a, const char *pubkey);
/* A key's reputation for /api/miners (a new object). */
json_t *audit_rep_json(struct audit *a, const char *pubkey);
/* The policy for /api/pool's "audit" (a new object). */
json_t *audit_policy_json(struct audit *a);

/* rate = max(floor, rate0 * half / (half + passed)): pure, for tests. */
double audit_rate_formula(double rate0, uint32_t half, double floor, int64_t passed);

struct audit_stats { /* since start, for /metrics */
    uint64_t drawn;     /* parts drawn for an audit */
    uint64_t skipped;   /* ... not queued: the queue was full */
    uint64_t scores;    /* score requests sent */
    uint64_t passed, failed, confirmed, cleared, undecided, abandoned; /* by first verdict
                           (failed) and by outcome */
    uint64_t bans;
    uint32_t waiting;   /* audits waiting for an auditor now */
    uint32_t running;   /* scores in flight now */
};
void audit_stats_get(const struct audit *a, struct audit_stats *out);

#endif
