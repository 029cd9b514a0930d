/* SPDX-License-Identifier: MIT */
/* Audits (docs/audits.md): drawing parts of ended jobs, lending them to
 * auditors as score requests, judging the answers, and deciding: a pass
 * ends it, a failure goes to a second auditor, a split to a third. What is
 * decided goes to the books in one record (ledger_audit_record); a ban also
 * closes the key's connections (gw_ban).
 *
 * An audited part lives on one of two lists: waiting (for a free auditor
 * slot) or running (its score request is out on apart.mc). */
#include "pool/audit_impl.h"
#include "pool/gw.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SCORERS_CAP 64 /* auditor connections considered per start */

int audit_new(struct pool *p, struct audit **out, char err[FIEF_ERR_LEN])
{
    struct audit *a = xcalloc(1, sizeof *a);
    a->p = p;
    TAILQ_INIT(&a->waiting);
    TAILQ_INIT(&a->running);
    if (rep_load(a)) {
        audit_free(a);
        *out = NULL;
        return fief_errf(err, FIEF_EIO, "cannot read the miners' reputations from the store");
    }
    *out = a;
    return 0;
}

static void part_free(struct apart *ap)
{
    free(ap->seq);
    free(ap->claimed);
    json_decref(ap->evidence);
    free(ap);
}

void audit_free(struct audit *a)
{
    if (!a)
        return;
    struct apart *ap;
    while ((ap = TAILQ_FIRST(&a->waiting))) {
        TAILQ_REMOVE(&a->waiting, ap, link);
        part_free(ap);
    }
    while ((ap = TAILQ_FIRST(&a->running))) {
        TAILQ_REMOVE(&a->running, ap, link);
        part_free(ap);
    }
    rep_free_all(a);
    free(a);
}

void audit_stop(struct audit *a)
{
    a->stopped = true;
}

void audit_stats_get(const struct audit *a, struct audit_stats *out)
{
    *out = a->st;
    out->waiting = out->running = 0;
    const struct apart *ap;
    TAILQ_FOREACH(ap, &a->waiting, link)
    out->waiting++;
    TAILQ_FOREACH(ap, &a->running, link)
    out->running++;
}

/* ---- drawing ---- */

/* A uniform draw in [0, 1) the audited miner cannot predict. */
static double draw(void)
{
    uint64_t x;
    randombytes_buf(&x, sizeof x);
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

static void take_part(struct audit *a, const struct audit_job *j, uint32_t part, uint32_t from)
{
    const struct store_job_part *pt = &j->parts[part];
    struct apart *ap = xcalloc(1, sizeof *ap);
    snprintf(ap->job, sizeof ap->job, "%s", j->job);
    ap->part = part;
    ap->model = j->model;
    snprintf(ap->miner, sizeof ap->miner, "%s", pt->pubkey);
    ap->n_prompt = j->n_prompt;
    ap->from = from;
    ap->n = pt->tokens;
    size_t len = (size_t)j->n_prompt + from + pt->tokens;
    ap->seq = xmalloc(len * sizeof *ap->seq);
    memcpy(ap->seq, j->prompt, j->n_prompt * sizeof *ap->seq);
    memcpy(ap->seq + j->n_prompt, j->toks, ((size_t)from + pt->tokens) * sizeof *ap->seq);
    ap->claimed = xmalloc(pt->tokens * sizeof *ap->claimed);
    memcpy(ap->claimed, j->lps + from, pt->tokens * sizeof *ap->claimed);
    ap->greedy = !(j->temperature > 0);
    ap->sampling = (struct proto_sampling){.temperature = j->temperature,
                                           .top_k = j->top_k,
                                           .top_p = j->top_p,
                                           .min_p = j->min_p,
                                           .repeat_penalty = j->repeat_penalty,
                                           .seed = j->seed};
    ap->evidence = json_array();
    ap->since_ns = clock_mono_ns();
    TAILQ_INSERT_TAIL(&a->waiting, ap, link);
}

static uint32_t n_waiting(const struct audit *a)
{
    uint32_t n = 0;
    const struct apart *ap;
    TAILQ_FOREACH(ap, &a->waiting, link)
    n++;
    return n;
}

void audit_job_ended(struct audit *a, const struct audit_job *j)
{
    if (a->stopped)
        return;
    uint32_t from = 0;
    for (uint32_t i = 0; i < j->n_parts; i++) {
        const struct store_job_part *pt = &j->parts[i];
        uint32_t at = from;
        from += pt->tokens;
        if (!pt->tokens || from > j->n || audit_banned(a, pt->pubkey, NULL, 0) ||
            draw() >= audit_rate_of(a, pt->pubkey))
            continue;
        a->st.drawn++;
        if (n_waiting(a) >= pool_get_cfg(a->p)->audit_queue) {
            a->st.skipped++;
            log_warn("audit: queue full, part %u of job %s not audited", i, j->job);
            continue;
        }
        take_part(a, j, i, at);
    }
    audit_slots_free(a);
}

/* ---- auditors ---- */

static bool used(const struct apart *ap, const char *key)
{
    if (!strcmp(ap->miner, key))
        return true; /* never the audited key itself */
    for (uint32_t i = 0; i < ap->n_auditors; i++)
        if (!strcmp(ap->auditors[i], key))
            return true; /* each verdict from an independent key */
    for (uint32_t i = 0; i < ap->n_tried; i++)
        if (!strcmp(ap->tried[i], key))
            return true;
    return false;
}

/* An auditor for ap among the connections that can score it now: a trusted
 * validator first when a failure is being confirmed or decided, otherwise
 * any at random (so that no miner can arrange to audit a friend). */
static struct mconn *choose(struct audit *a, const struct apart *ap)
{
    struct mconn *all[SCORERS_CAP], *ok[SCORERS_CAP], *trusted[SCORERS_CAP];
    uint32_t n_ok = 0, n_trusted = 0;
    uint32_t positions = ap->n_prompt + ap->from + ap->n;
    uint32_t n = disp_scorers(pool_disp(a->p), ap->model, positions, all, SCORERS_CAP);
    for (uint32_t i = 0; i < n; i++) {
        const char *key = mconn_pubkey(all[i]);
        if (used(ap, key) || audit_banned(a, key, NULL, 0))
            continue;
        ok[n_ok++] = all[i];
        if (audit_is_validator(a, key))
            trusted[n_trusted++] = all[i];
    }
    if (ap->stage != ST_FIRST && n_trusted)
        return trusted[randombytes_uniform(n_trusted)];
    return n_ok ? ok[randombytes_uniform(n_ok)] : NULL;
}

/* Send ap's score request to mc. False when mc could not take it. */
static bool send_score(struct audit *a, struct apart *ap, struct mconn *mc)
{
    struct disp *d = pool_disp(a->p);
    if (!disp_score_reserve(d, mc, ap->model))
        return false;
    /* A fresh name: the auditor learns nothing about the job or its miner. */
    snprintf(ap->wire_job, sizeof ap->wire_job, "audit-%llu", (unsigned long long)++a->next_score);
    struct proto_score s = {.prompt = ap->seq,
                            .n_prompt = ap->n_prompt + ap->from,
                            .completion = ap->seq + ap->n_prompt + ap->from,
                            .n_completion = ap->n,
                            .has_sampling = true,
                            .sampling = ap->sampling};
    snprintf(s.job, sizeof s.job, "%s", ap->wire_job);
    snprintf(s.model, sizeof s.model, "%s", ap->model->name);
    uint64_t id = mconn_send_score(mc, &s); /* s borrows ap's arrays: never cleared */
    if (!id) {
        disp_score_release(d, mc, ap->model);
        return false;
    }
    ap->mc = mc;
    ap->req_id = id;
    ap->timed_out = false;
    ap->due_ns = clock_mono_ns() + (uint64_t)pool_get_cfg(a->p)->audit_timeout_ms * 1000000u;
    a->st.scores++;
    return true;
}

/* Lend free auditor slots to waiting parts, oldest first. */
static void start_waiting(struct audit *a)
{
    if (a->in_start)
        return; /* a slot released inside this walk: the walk goes on anyway */
    a->in_start++;
    struct apart *ap, *next;
    for (ap = TAILQ_FIRST(&a->waiting); ap; ap = next) {
        next = TAILQ_NEXT(ap, link);
        struct mconn *mc = choose(a, ap);
        if (!mc || !send_score(a, ap, mc))
            continue;
        TAILQ_REMOVE(&a->waiting, ap, link);
        TAILQ_INSERT_TAIL(&a->running, ap, link);
    }
    a->in_start--;
}

void audit_slots_free(struct audit *a)
{
    if (!TAILQ_EMPTY(&a->waiting))
        start_waiting(a);
}

/* ap's score is over without a verdict (the auditor failed, left or was
 * late): it waits for another auditor, this one excluded. */
static void requeue(struct audit *a, struct apart *ap, bool exclude)
{
    TAILQ_REMOVE(&a->running, ap, link);
    if (exclude && ap->n_tried < sizeof ap->tried / sizeof ap->tried[0]) {
        snprintf(ap->tried[ap->n_tried++], sizeof ap->tried[0], "%s", mconn_pubkey(ap->mc));
        /* Another auditor gets the whole wait again, a few times: a stalled
         * auditor must not turn a failed part into an undecided one. */
        ap->since_ns = clock_mono_ns();
    }
    ap->mc = NULL;
    ap->req_id = 0;
    TAILQ_INSERT_HEAD(&a->waiting, ap, link);
}

void audit_miner_gone(struct audit *a, struct mconn *mc)
{
    struct apart *ap, *next;
    for (ap = TAILQ_FIRST(&a->running); ap; ap = next) {
        next = TAILQ_NEXT(ap, link);
        if (ap->mc == mc)
            requeue(a, ap, true); /* its slot went with its offers */
    }
}

bool audit_owns_request(struct audit *a, const struct mconn *mc, uint64_t req_id)
{
    const struct apart *ap;
    TAILQ_FOREACH(ap, &a->running, link)
    if (ap->mc == mc && ap->req_id == req_id)
        return true;
    return false;
}

/* ---- deciding ---- */

static struct ledger_rep_delta *delta_for(struct ledger_audit *r, const char *key)
{
    for (uint32_t i = 0; i < r->n_deltas; i++)
        if (!strcmp(r->deltas[i].pubkey, key))
            return &r->deltas[i];
    struct ledger_rep_delta *d = &r->deltas[r->n_deltas++];
    memset(d, 0, sizeof *d);
    snprintf(d->pubkey, sizeof d->pubkey, "%s", key);
    return d;
}

/* Apply a delta to the key's reputation in memory (the record writes it
 * through); mark the ban. */
static void apply_delta(struct audit *a, const struct ledger_rep_delta *d)
{
    struct rep *r = rep_get(a, d->pubkey);
    r->passed += d->passed;
    r->failed += d->failed;
    r->confirmed += d->confirmed;
    r->agreed += d->agreed;
    r->disagreed += d->disagreed;
    if (d->ban && !r->banned) {
        r->banned = true;
        snprintf(r->ban_reason, sizeof r->ban_reason, "%s", d->reason);
        a->st.bans++;
    }
}

/* The auditors' votes, once decided: the majority agreed, the minority
 * disagreed; an auditor outvoted audit_strikes times is banned as a cheater
 * (never the operator's validators). */
static void vote(struct audit *a, const struct apart *ap, bool majority_pass,
                 struct ledger_audit *r)
{
    for (uint32_t i = 0; i < ap->n_auditors; i++) {
        struct ledger_rep_delta *d = delta_for(r, ap->auditors[i]);
        if (ap->pass[i] == majority_pass) {
            d->agreed++;
            continue;
        }
        d->disagreed++;
        const struct rep *rp = rep_find(a, ap->auditors[i]);
        int64_t strikes = (rp ? rp->disagreed : 0) + d->disagreed;
        if (strikes >= pool_get_cfg(a->p)->audit_strikes &&
            !audit_is_validator(a, ap->auditors[i])) {
            d->ban = true;
            snprintf(d->reason, sizeof d->reason,
                     "as an auditor, outvoted by other auditors %lld times (last: job %s)",
                     (long long)strikes, ap->job);
        }
    }
}

static void finish(struct audit *a, struct apart *ap, enum ledger_audit_outcome outcome)
{
    struct ledger_audit r = {.part = ap->part,
                             .from = ap->from,
                             .n = ap->n,
                             .positions = ap->n_prompt + ap->from + ap->n,
                             .outcome = outcome,
                             .n_auditors = ap->n_auditors};
    snprintf(r.job, sizeof r.job, "%s", ap->job);
    snprintf(r.model, sizeof r.model, "%s", ap->model->name);
    snprintf(r.miner, sizeof r.miner, "%s", ap->miner);
    for (uint32_t i = 0; i < ap->n_auditors; i++)
        snprintf(r.auditors[i], sizeof r.auditors[i], "%s", ap->auditors[i]);
    struct ledger_rep_delta *m = delta_for(&r, ap->miner);
    switch (outcome) {
    case LAO_PASSED:
        m->passed = 1;
        a->st.passed++;
        if (ap->n_auditors > 1)
            vote(a, ap, true, &r); /* a recheck that agreed */
        break;
    case LAO_CLEARED:
        m->passed = 1;
        m->failed = !ap->pass[0]; /* its first auditor failed it (not a recheck) */
        a->st.cleared++;
        vote(a, ap, true, &r);
        break;
    case LAO_CONFIRMED:
        m->failed = 1;
        m->confirmed = 1;
        m->ban = true;
        snprintf(m->reason, sizeof m->reason,
                 "confirmed fraud: part %u of job %s (model %s) failed %u independent audits",
                 ap->part, ap->job, ap->model->name, ap->n_auditors);
        a->st.confirmed++;
        vote(a, ap, false, &r);
        break;
    case LAO_UNDECIDED:
        m->failed = 1; /* seen failing once; punishes nobody */
        a->st.undecided++;
        break;
    case LAO_ABANDONED:
        a->st.abandoned++;
        break;
    }
    json_t *ev = json_pack("{s:O, s:b, s:s}", "verdicts", ap->evidence, "greedy", ap->greedy,
                           "outcome", ledger_audit_outcome_name((int)outcome));
    char *text = json_dumps(ev, JSON_COMPACT);
    r.evidence = text;
    for (uint32_t i = 0; i < r.n_deltas; i++)
        apply_delta(a, &r.deltas[i]);
    ledger_audit_record(pool_store(a->p), &r);
    /* Passes and audits no auditor took are routine; the rest an operator reads. */
    log_at(outcome == LAO_PASSED || outcome == LAO_ABANDONED ? LOG_LVL_INFO : LOG_LVL_NOTICE,
           "audit: job %s part %u by miner %.16s: %s after %u auditor(s)", ap->job, ap->part,
           ap->miner, ledger_audit_outcome_name((int)outcome), ap->n_auditors);
    for (uint32_t i = 0; i < r.n_deltas; i++)
        if (r.deltas[i].ban) {
            log_warn("audit: miner %.16s banned: %s", r.deltas[i].pubkey, r.deltas[i].reason);
            gw_ban(pool_gw(a->p), r.deltas[i].pubkey, r.deltas[i].reason);
        }
    free(text);
    json_decref(ev);
    part_free(ap);
}

/* Verdicts so far that failed the part. */
static uint32_t fails_of(const struct apart *ap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ap->n_auditors; i++)
        n += !ap->pass[i];
    return n;
}

/* A verdict came in: decide, or wait for the next auditor. ap is on no list. */
static void judged(struct audit *a, struct apart *ap, bool pass)
{
    uint32_t k = ap->n_auditors - 1, fails = fails_of(ap);
    if (k == 0 && !pass)
        a->st.failed++;
    /* A pass is checked again now and then, so that an auditor covering a
     * cheater's work (a colluding key) is outvoted too. */
    if (k == 0 && pass && draw() >= pool_get_cfg(a->p)->audit_recheck) {
        finish(a, ap, LAO_PASSED);
        return;
    }
    if (k == 1 && fails == 0) { /* a pass, and its recheck agreed */
        finish(a, ap, LAO_PASSED);
        return;
    }
    if (fails >= 2 || (k == 2 && fails < 2)) {
        finish(a, ap, fails >= 2 ? LAO_CONFIRMED : LAO_CLEARED);
        return;
    }
    ap->stage = k == 0 ? ST_CONFIRM : ST_DECIDE;
    ap->n_tried = 0;
    ap->since_ns = clock_mono_ns();
    TAILQ_INSERT_HEAD(&a->waiting, ap, link);
    log_info("audit: job %s part %u: auditor %u of 3 %s it; asking another", ap->job, ap->part,
             k + 1, pass ? "passed" : "failed");
}

/* The auditor's answer as verdict positions, or an error naming what is
 * wrong with it (the auditor's fault). */
static int read_score(const struct apart *ap, const struct proto_msg *m, struct verdict_pos *pos,
                      char err[FIEF_ERR_LEN])
{
    struct proto_scored s = {0};
    int rc = proto_scored_decode(m->result, &s, err);
    if (!rc && s.n != ap->n)
        rc = fief_errf(err, FIEF_EPROTO, "scored %u positions, %u were asked", s.n, ap->n);
    for (uint32_t i = 0; !rc && i < ap->n; i++)
        pos[i] = (struct verdict_pos){.token = ap->seq[ap->n_prompt + ap->from + i],
                                      .claimed_lp = ap->claimed[i],
                                      .lp = s.logprobs[i],
                                      .top_id = s.top_ids[i],
                                      .top_lp = s.top_logprobs[i],
                                      .pick = s.picks ? s.picks[i] : s.top_ids[i],
                                      .margin = s.margins ? s.margins[i] : 0,
                                      .pick_lp = s.pick_logprobs ? s.pick_logprobs[i] : NAN};
    proto_scored_clear(&s);
    return rc;
}

static void pay_auditor(struct audit *a, const struct apart *ap, const char *auditor)
{
    uint64_t positions = (uint64_t)ap->n_prompt + ap->from + ap->n;
    int64_t amount = (int64_t)(ap->model->price_in * positions / 1000000u);
    char ref[96];
    snprintf(ref, sizeof ref, "score:%s:%u:%u", ap->job, ap->part, ap->n_auditors);
    if (amount > 0)
        ledger_audit_pay(pool_store(a->p), auditor, amount, ref);
}

void audit_on_reply(struct audit *a, struct mconn *mc, const struct proto_msg *m)
{
    struct apart *ap;
    TAILQ_FOREACH(ap, &a->running, link)
    if (ap->mc == mc && ap->req_id == m->id)
        break;
    if (!ap)
        return;
    char err[FIEF_ERR_LEN];
    disp_score_release(pool_disp(a->p), mc, ap->model);
    if (m->is_error) {
        log_info("audit: auditor %s could not score job %s part %u: %s", mconn_id(mc), ap->job,
                 ap->part, m->err_msg);
        requeue(a, ap, true);
        return;
    }
    struct verdict_pos *pos = xmalloc(ap->n * sizeof *pos);
    struct verdict v;
    const struct pool_cfg *c = pool_get_cfg(a->p);
    struct verdict_cfg vc = {.greedy_margin = c->greedy_margin,
                             .sample_margin = c->sample_margin,
                             .logprob_tol = c->logprob_tol,
                             .tie_tol = c->tie_tol,
                             .slack = c->audit_slack,
                             .slack_rate = c->audit_slack_rate};
    bool forged_end = false;
    int rc = read_score(ap, m, pos, err);
    if (!rc)
        rc = verdict_judge(&vc, ap->greedy, pos, ap->n, &v, err);
    const struct verdict_pos *last = &pos[ap->n - 1];
    if (!rc && v.pass && eng_vocab_is_eog(ap->model->vocab, last->token) &&
        verdict_forged_end(&vc, ap->greedy, last)) {
        v.pass = false; /* slack forgives a stray token, not an invented end */
        forged_end = true;
    }
    free(pos);
    if (rc) {
        log_warn("audit: auditor %s answered impossibly, dropping it: %s", mconn_id(mc), err);
        requeue(a, ap, true);
        mconn_kick(mc, PROTO_ERR_PARAMS, err);
        return;
    }
    TAILQ_REMOVE(&a->running, ap, link);
    pay_auditor(a, ap, mconn_pubkey(mc));
    uint32_t k = ap->n_auditors++;
    snprintf(ap->auditors[k], sizeof ap->auditors[k], "%s", mconn_pubkey(mc));
    ap->pass[k] = v.pass;
    json_t *vj = verdict_json(&v, ap->from);
    if (forged_end)
        json_object_set_new(vj, "forged_end", json_true());
    json_object_set_new(vj, "auditor", json_string(mconn_pubkey(mc)));
    json_array_append_new(ap->evidence, vj);
    ap->mc = NULL;
    judged(a, ap, v.pass);
    start_waiting(a);
}

void audit_tick(struct audit *a)
{
    uint64_t now = clock_mono_ns(),
             wait_ns = (uint64_t)pool_get_cfg(a->p)->audit_timeout_ms * 1000000u;
    struct apart *ap, *next;
    for (ap = TAILQ_FIRST(&a->running); ap; ap = next) {
        next = TAILQ_NEXT(ap, link);
        if (now > ap->due_ns && !ap->timed_out) {
            ap->timed_out = true; /* its close requeues the part (audit_miner_gone) */
            log_warn("audit: auditor %s did not answer in time, dropping it", mconn_id(ap->mc));
            mconn_kick(ap->mc, PROTO_ERR_INTERNAL, "a score request was not answered in time");
        }
    }
    for (ap = TAILQ_FIRST(&a->waiting); ap; ap = next) {
        next = TAILQ_NEXT(ap, link);
        if (now - ap->since_ns <= wait_ns)
            continue;
        TAILQ_REMOVE(&a->waiting, ap, link);
        /* No (further) independent auditor: a failure unconfirmed punishes
         * nobody, a pass not rechecked stands. */
        finish(a, ap, !ap->n_auditors ? LAO_ABANDONED : fails_of(ap) ? LAO_UNDECIDED : LAO_PASSED);
    }
    audit_slots_free(a);
}
