/* SPDX-License-Identifier: MIT */
/* The verdict of one auditor on one part: each position disagrees or not by
 * docs/audits.md's three rules, the part fails past its slack, and the most
 * severe disagreements are kept as evidence. Pure arithmetic. */
#include "pool/verdict.h"

#include <math.h>
#include <string.h>

/* A threshold of 0 still ranks what exceeds it: divide by a tiny number. */
#define MIN_THRESHOLD 1e-9

uint32_t verdict_limit(const struct verdict_cfg *c, uint32_t n)
{
    /* The product of a decimal rate and a count is often a hair above the
     * integer it means (0.01 * 100 = 1.0000000000000002): round that away
     * before the ceiling, so a setting does what its decimal says. */
    double r = ceil(c->slack_rate * (double)n - 1e-9);
    uint32_t by_rate = r <= 0 ? 0 : r >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)r;
    return by_rate > c->slack ? by_rate : c->slack;
}

static bool lp_ok(float lp)
{
    return isfinite(lp) && lp <= 0.0f;
}

/* What an auditor may not answer, whatever the claim. */
static int check_answer(bool greedy, const struct verdict_pos *p, uint32_t i, char *err)
{
    if (!lp_ok(p->lp) || !lp_ok(p->top_lp))
        return fief_errf(err, FIEF_EPROTO,
                         "position %u: log-prob %g / top %g is not a "
                         "finite number <= 0",
                         i, (double)p->lp, (double)p->top_lp);
    if (!isfinite(p->margin) || p->margin < 0.0f || (!greedy && p->margin > 1.0f))
        return fief_errf(err, FIEF_EPROTO,
                         "position %u: margin %g is not a finite number in "
                         "%s",
                         i, (double)p->margin, greedy ? "[0, inf)" : "[0, 1]");
    if (!isnan(p->pick_lp) && !lp_ok(p->pick_lp))
        return fief_errf(err, FIEF_EPROTO,
                         "position %u: the pick's log-prob %g is not a "
                         "finite number <= 0",
                         i, (double)p->pick_lp);
    if (p->pick < 0 || p->top_id < 0)
        return fief_errf(err, FIEF_EPROTO, "position %u: negative token id", i);
    return 0;
}

/* The disagreement bits of one position and their severity (0 when none). */
static uint32_t judge_one(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *p,
                          double *severity)
{
    /* Compared in float, the precision of the wire: a margin of 0.05 sent
     * as a float is at a threshold of 0.05, not above it. */
    uint32_t why = 0;
    double sev = 0;
    float thr = (float)(greedy ? c->greedy_margin : c->sample_margin);
    bool pick_off = greedy ? p->token != p->pick && p->margin > thr : p->margin > thr;
    /* Sampled: two near-tied candidates can swap places between machines
     * whose kernels round differently, and a draw that lands on one lands on
     * the other: a claim as likely as the pick (to tie_tol) is no evidence. */
    if (pick_off && !greedy && p->token != p->pick && isfinite(p->pick_lp) &&
        p->pick_lp - p->lp <= (float)c->tie_tol)
        pick_off = false;
    if (pick_off) {
        why |= VERDICT_PICK;
        sev = p->margin / fmax(thr, MIN_THRESHOLD);
    }
    float dlp = fabsf(p->claimed_lp - p->lp);
    /* A claimed log-prob the pool accepted is finite; anything else is off. */
    if (!(dlp <= (float)c->logprob_tol)) {
        why |= VERDICT_LOGPROB;
        double s = isfinite(dlp) ? dlp / fmax(c->logprob_tol, MIN_THRESHOLD) : HUGE_VAL;
        sev = fmax(sev, s);
    }
    *severity = sev;
    return why;
}

bool verdict_forged_end(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *last)
{
    double severity;
    return judge_one(c, greedy, last, &severity) != 0;
}

/* Keep b among the VERDICT_WORST most severe, most severe first (an
 * earlier position wins a tie, so the evidence is deterministic). */
static void keep_worst(struct verdict *v, const struct verdict_bad *b)
{
    uint32_t k = v->n_worst < VERDICT_WORST ? v->n_worst++ : VERDICT_WORST;
    if (k == VERDICT_WORST && !(b->severity > v->worst[VERDICT_WORST - 1].severity))
        return;
    if (k == VERDICT_WORST)
        k--;
    while (k > 0 && b->severity > v->worst[k - 1].severity) {
        v->worst[k] = v->worst[k - 1];
        k--;
    }
    v->worst[k] = *b;
}

int verdict_judge(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *p, uint32_t n,
                  struct verdict *out, char err[FIEF_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return fief_errf(err, FIEF_EPROTO, "nothing to judge");
    for (uint32_t i = 0; i < n; i++) {
        int rc = check_answer(greedy, &p[i], i, err);
        if (rc)
            return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct verdict_bad b = {.i = i, .pos = p[i]};
        b.why = judge_one(c, greedy, &p[i], &b.severity);
        if (!b.why)
            continue;
        out->disagree++;
        keep_worst(out, &b);
    }
    out->positions = n;
    out->limit = verdict_limit(c, n);
    out->pass = out->disagree <= out->limit;
    return 0;
}

/* A float as JSON: finite values only (a claimed log-prob is always finite;
 * the auditor's were checked). */
static json_t *num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *bad_json(const struct verdict_bad *b, uint32_t first)
{
    const struct verdict_pos *p = &b->pos;
    json_t *why = json_array();
    if (b->why & VERDICT_PICK)
        json_array_append_new(why, json_string("pick"));
    if (b->why & VERDICT_LOGPROB)
        json_array_append_new(why, json_string("logprob"));
    return json_pack("{s:I, s:o, s:o, s:i, s:o, s:o, s:i, s:o, s:i, s:o}", "i",
                     (json_int_t)(first + b->i), "why", why, "severity", num(b->severity), "token",
                     (int)p->token, "claimed_lp", num(p->claimed_lp), "lp", num(p->lp), "pick",
                     (int)p->pick, "margin", num(p->margin), "top_id", (int)p->top_id, "top_lp",
                     num(p->top_lp));
}

json_t *verdict_json(const struct verdict *v, uint32_t first)
{
    json_t *worst = json_array();
    for (uint32_t i = 0; i < v->n_worst; i++)
        json_array_append_new(worst, bad_json(&v->worst[i], first));
    return json_pack("{s:b, s:I, s:I, s:I, s:o}", "pass", v->pass, "positions",
                     (json_int_t)v->positions, "disagree", (json_int_t)v->disagree, "limit",
                     (json_int_t)v->limit, "worst", worst);
}
