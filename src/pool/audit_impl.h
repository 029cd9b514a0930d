/* SPDX-License-Identifier: MIT */
/* The audits' state, shared by audit.c (drawing, scoring, deciding) and
 * audit_rep.c (reputation). Not for other modules. */
#ifndef FIEF_POOL_AUDIT_IMPL_H
#define FIEF_POOL_AUDIT_IMPL_H

#include <sys/queue.h>

#include "ledger/ledger_audit.h"
#include "pool/audit.h"
#include "pool/verdict.h"
#include "proto/proto.h"

#define AUDIT_REP_BUCKETS 4096

struct rep {
    char pubkey[65];
    int64_t passed, failed, confirmed, agreed, disagreed;
    bool banned;
    char ban_reason[LEDGER_BAN_REASON + 1];
    struct rep *next; /* hash chain */
};

enum stage { ST_FIRST, ST_CONFIRM, ST_DECIDE }; /* which auditor the part waits for */

/* One audited part of a job: what the miner claimed, and the verdicts so far. */
struct apart {
    char job[24];
    uint32_t part; /* index among the job's parts */
    struct pool_model *model;
    char miner[65];    /* the audited key */
    int32_t *seq;      /* prompt + completion up to the part's end */
    uint32_t n_prompt; /* the job's prompt */
    uint32_t from, n;  /* the part: completion tokens [from, from + n) */
    float *claimed;    /* (n) the miner's log-probs */
    bool greedy;
    struct proto_sampling sampling;
    enum stage stage;
    uint32_t n_auditors; /* verdicts so far */
    char auditors[LEDGER_AUDITORS][65];
    bool pass[LEDGER_AUDITORS];
    json_t *evidence;  /* array: one verdict_json per auditor */
    char tried[4][65]; /* auditors that failed to answer this stage */
    uint32_t n_tried;
    uint64_t since_ns; /* entered its stage (the wait's deadline counts from it) */
    /* while a score runs: */
    struct mconn *mc; /* NULL while waiting */
    uint64_t req_id, due_ns;
    char wire_job[PROTO_MAX_NAME + 1];
    bool timed_out; /* the auditor was kicked for being late */
    TAILQ_ENTRY(apart) link;
};

struct audit {
    struct pool *p;
    bool stopped;
    int in_start;                /* inside start_waiting */
    uint64_t next_score;         /* score request names */
    TAILQ_HEAD(, apart) waiting; /* for an auditor */
    TAILQ_HEAD(, apart) running; /* a score request out */
    struct audit_stats st;
    struct rep *reps[AUDIT_REP_BUCKETS];
};

struct rep *rep_find(struct audit *a, const char *pubkey);
struct rep *rep_get(struct audit *a, const char *pubkey); /* created with zeros */
void rep_free_all(struct audit *a);
int rep_load(struct audit *a); /* 0 or FIEF_EIO */
bool audit_is_validator(const struct audit *a, const char *pubkey);

#endif
