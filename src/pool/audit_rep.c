/* SPDX-License-Identifier: MIT */
/* Reputation per miner key: what the audits decided, in memory for the
 * scheduler's every pick, loaded from the store at start and written
 * through (ledger_audit_record) with every finished audit. */
#include "pool/audit_impl.h"
#include "pool/pool.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static uint32_t key_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a: keys are random already, any mix will do */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % AUDIT_REP_BUCKETS;
}

struct rep *rep_find(struct audit *a, const char *pubkey)
{
    for (struct rep *r = a->reps[key_hash(pubkey)]; r; r = r->next)
        if (!strcmp(r->pubkey, pubkey))
            return r;
    return NULL;
}

struct rep *rep_get(struct audit *a, const char *pubkey)
{
    struct rep *r = rep_find(a, pubkey);
    if (r)
        return r;
    r = xcalloc(1, sizeof *r);
    snprintf(r->pubkey, sizeof r->pubkey, "%s", pubkey);
    uint32_t h = key_hash(pubkey);
    r->next = a->reps[h];
    a->reps[h] = r;
    return r;
}

void rep_free_all(struct audit *a)
{
    for (size_t i = 0; i < AUDIT_REP_BUCKETS; i++)
        for (struct rep *r = a->reps[i], *next; r; r = next) {
            next = r->next;
            free(r);
        }
}

static int load_one(void *ud, const struct ledger_rep *lr)
{
    struct rep *r = rep_get(ud, lr->pubkey);
    r->passed = lr->passed;
    r->failed = lr->failed;
    r->confirmed = lr->confirmed;
    r->agreed = lr->agreed;
    r->disagreed = lr->disagreed;
    r->banned = lr->banned;
    snprintf(r->ban_reason, sizeof r->ban_reason, "%s", lr->ban_reason);
    return 0;
}

int rep_load(struct audit *a)
{
    return ledger_rep_load(pool_store(a->p), load_one, a);
}

bool audit_is_validator(const struct audit *a, const char *pubkey)
{
    const struct pool_cfg *c = pool_get_cfg(a->p);
    for (uint32_t i = 0; i < c->n_validators; i++)
        if (!strcmp(c->validators[i], pubkey))
            return true;
    return false;
}

double audit_rate_formula(double rate0, uint32_t half, double floor, int64_t passed)
{
    if (passed < 0)
        passed = 0;
    double r = rate0 * (double)half / ((double)half + (double)passed);
    return r > floor ? r : floor;
}

bool audit_banned(struct audit *a, const char *pubkey, char *reason, size_t cap)
{
    const struct rep *r = rep_find(a, pubkey);
    if (!r || !r->banned)
        return false;
    if (reason && cap)
        snprintf(reason, cap, "%s", r->ban_reason[0] ? r->ban_reason : "(no reason recorded)");
    return true;
}

double audit_rate_of(struct audit *a, const char *pubkey)
{
    const struct pool_cfg *c = pool_get_cfg(a->p);
    const struct rep *r = rep_find(a, pubkey);
    return audit_rate_formula(c->audit_rate, c->audit_half, c->audit_floor, r ? r->passed : 0);
}

double audit_pick_factor(struct audit *a, const char *pubkey)
{
    const struct rep *r = rep_find(a, pubkey);
    double passed = r ? (double)r->passed : 0;
    return 0.5 + 0.5 * passed / (passed + (double)pool_get_cfg(a->p)->audit_half);
}

json_t *audit_rep_json(struct audit *a, const char *pubkey)
{
    const struct rep *r = rep_find(a, pubkey);
    struct rep none = {0};
    if (!r)
        r = &none;
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:b, s:b}", "passed",
                          (json_int_t)r->passed, "failed", (json_int_t)r->failed, "confirmed",
                          (json_int_t)r->confirmed, "agreed", (json_int_t)r->agreed, "disagreed",
                          (json_int_t)r->disagreed, "audit_rate", audit_rate_of(a, pubkey),
                          "validator", audit_is_validator(a, pubkey), "banned", r->banned);
    if (r->banned)
        json_object_set_new(o, "ban_reason", json_string(r->ban_reason));
    return o;
}

json_t *audit_policy_json(struct audit *a)
{
    const struct pool_cfg *c = pool_get_cfg(a->p);
    return json_pack(
        "{s:f, s:I, s:f, s:s, s:f, s:f, s:f, s:f, s:I, s:f, s:I, s:I, s:I, s:I, s:f, s:s}", "rate",
        c->audit_rate, "half", (json_int_t)c->audit_half, "floor", c->audit_floor, "formula",
        "max(floor, rate * half / (half + passed))", "greedy_margin", c->greedy_margin,
        "sample_margin", c->sample_margin, "logprob_tol", c->logprob_tol, "tie_tol", c->tie_tol,
        "slack", (json_int_t)c->audit_slack, "slack_rate", c->audit_slack_rate, "strikes",
        (json_int_t)c->audit_strikes, "timeout_ms", (json_int_t)c->audit_timeout_ms, "queue",
        (json_int_t)c->audit_queue, "validators", (json_int_t)c->n_validators, "recheck",
        c->audit_recheck, "auditor_pay", "the model's input price for every position scored");
}
