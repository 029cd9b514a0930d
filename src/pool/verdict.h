/* SPDX-License-Identifier: MIT */
/* An audit's verdict: one part of a job (what a miner claimed, token by
 * token) against one auditor's teacher-forced score of it. Pure functions,
 * no I/O: docs/audits.md "The verdict" is the rule, test_verdict.c pins every
 * threshold. Any thread. */
#ifndef FIEF_POOL_VERDICT_H
#define FIEF_POOL_VERDICT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* The pool's settings that judge a part (pool_cfg.h has the defaults). */
struct verdict_cfg {
    double greedy_margin; /* greedy: a pick other than the claim is forgiven up to this logit gap */
    double sample_margin; /* sampled: probability mass between the draw and the claim's interval */
    double logprob_tol;   /* |claimed log-prob - auditor's| allowed, natural log */
    double tie_tol;       /* sampled: a claim within this of the pick's log-prob is a near-tie */
    uint32_t slack;       /* disagreeing positions always forgiven */
    double slack_rate;    /* ... or this share of the positions, rounded up, if more */
};

/* One completion position: the miner's claim and the auditor's answer. */
struct verdict_pos {
    int32_t token;    /* claimed token id */
    float claimed_lp; /* the miner's log-prob of it */
    float lp;         /* the auditor's log-prob of the claimed token */
    int32_t top_id;   /* the auditor's most likely token */
    float top_lp;     /* and its log-prob */
    int32_t pick;     /* the auditor's seeded sampler's choice (top_id for old auditors) */
    float margin;     /* how far the claim is from being picked (docs/audits.md) */
    float pick_lp;    /* the auditor's log-prob of its pick; NAN when it did not say */
};

enum { VERDICT_PICK = 1, VERDICT_LOGPROB = 2 }; /* why a position disagrees (bits) */

#define VERDICT_WORST 8 /* disagreeing positions kept as evidence */

struct verdict_bad {
    uint32_t i;             /* index in the part */
    uint32_t why;           /* VERDICT_* bits */
    double severity;        /* the worst ratio of a measure to its threshold */
    struct verdict_pos pos; /* what was compared */
};

struct verdict {
    bool pass;
    uint32_t positions; /* judged */
    uint32_t disagree;  /* positions that disagree */
    uint32_t limit;     /* more than this many disagreeing positions fail the part */
    uint32_t n_worst;
    struct verdict_bad worst[VERDICT_WORST]; /* most severe first */
};

/* The most disagreeing positions a part of n positions may have and still
 * pass: max(slack, ceil(slack_rate * n)). */
uint32_t verdict_limit(const struct verdict_cfg *c, uint32_t n);

/* Judge n >= 1 positions; greedy when the job's temperature was 0. Returns
 * 0 and *out, or FIEF_EPROTO with err naming the first position the auditor
 * answered impossibly (a log-prob that is NaN, infinite or above 0; a
 * margin that is NaN, infinite, negative, or above 1 at a sampled position;
 * a token id below 0): the auditor, not the miner, is at fault then.
 * Claims are the pool's own records and are trusted. */
int verdict_judge(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *p, uint32_t n,
                  struct verdict *out, char err[FIEF_ERR_LEN]);

/* Whether last, a part's final position that claims an end-of-generation
 * token (the caller knows the vocabulary), disagrees on its own, with no
 * slack: a miner that stops a job early must invent that token, and one
 * invented token is within any slack. last was judged by verdict_judge
 * first, so its answer is possible. */
bool verdict_forged_end(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *last);

/* The verdict as evidence (a new object): pass, positions, disagree, limit
 * and the worst positions, their indices offset by first (the part's first
 * completion index). */
json_t *verdict_json(const struct verdict *v, uint32_t first);

#endif
