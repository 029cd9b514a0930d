/* SPDX-License-Identifier: MIT */
/* The scheduler: per-model queues of jobs, miners' offers (slots), attempts
 * (a job running on one miner), deadlines and failover. A job that loses its
 * miner goes back to the front of its queue with the tokens delivered so far
 * appended to its prompt: same seed, absolute sampling positions, so the next
 * miner continues exactly where the first one stopped. */
#include "pool/disp_impl.h"
#include "pool/audit.h"
#include "pool/gw.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ledger/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

static void dispatch(struct disp *d, struct dmodel *dm);
static void job_end(struct pjob *j, enum pjob_end end, const char *msg);

/* ---- lifecycle ---- */

struct disp *disp_new(struct pool *p)
{
    struct disp *d = xcalloc(1, sizeof *d);
    d->p = p;
    struct pool_models *ms = pool_models(p);
    d->n_models = models_count(ms);
    d->models = xcalloc(d->n_models ? d->n_models : 1, sizeof *d->models);
    for (size_t i = 0; i < d->n_models; i++) {
        d->models[i].m = models_at(ms, i);
        TAILQ_INIT(&d->models[i].queue);
        TAILQ_INIT(&d->models[i].offers);
    }
    TAILQ_INIT(&d->attempts);
    TAILQ_INIT(&d->running);
    d->rate_t0_ns = clock_mono_ns();
    return d;
}

static void job_free(struct pjob *j)
{
    free(j->prompt);
    free(j->toks);
    free(j->lps);
    free(j->alts);
    free(j);
}

void disp_free(struct disp *d)
{
    if (!d)
        return;
    struct attempt *a;
    while ((a = TAILQ_FIRST(&d->attempts))) {
        TAILQ_REMOVE(&d->attempts, a, link);
        free(a);
    }
    struct pjob *j;
    while ((j = TAILQ_FIRST(&d->running))) {
        TAILQ_REMOVE(&d->running, j, rlink);
        job_free(j);
    }
    for (size_t i = 0; i < d->n_models; i++) {
        struct dmodel *dm = &d->models[i];
        while ((j = TAILQ_FIRST(&dm->queue))) {
            TAILQ_REMOVE(&dm->queue, j, qlink);
            job_free(j);
        }
        struct offer *o;
        while ((o = TAILQ_FIRST(&dm->offers))) {
            TAILQ_REMOVE(&dm->offers, o, link);
            free(o);
        }
    }
    free(d->models);
    free(d);
}

struct dmodel *disp_find_dm(struct disp *d, const struct pool_model *m)
{
    for (size_t i = 0; i < d->n_models; i++)
        if (d->models[i].m == m)
            return &d->models[i];
    return NULL;
}

/* ---- records ---- */

static void add_part(struct pjob *j, const char *pubkey, uint32_t n)
{
    if (j->n_parts && !strcmp(j->parts[j->n_parts - 1].pubkey, pubkey)) {
        j->parts[j->n_parts - 1].tokens += n;
        return;
    }
    if (j->n_parts == MAX_PARTS) /* more miners than we keep: fold into the last */
        j->parts[MAX_PARTS - 1].tokens += n;
    else {
        snprintf(j->parts[j->n_parts].pubkey, sizeof j->parts[0].pubkey, "%s", pubkey);
        j->parts[j->n_parts++].tokens = n;
    }
}

static void record(struct pjob *j, enum store_job_status st)
{
    struct store_job r = {0};
    snprintf(r.id, sizeof r.id, "%s", j->id);
    r.key_id = j->p.key_id;
    snprintf(r.model, sizeof r.model, "%s", j->dm->m->name);
    r.status = st;
    r.prompt_tokens = j->p.n_prompt;
    r.completion_tokens = j->n_out;
    r.created_ms = j->created_ms;
    r.finished_ms = (int64_t)clock_wall_ms();
    r.n_parts = j->n_parts;
    memcpy(r.parts, j->parts, sizeof j->parts);
    store_job_finish_async(pool_store(j->d->p), &r);
}

/* Every ended job, whatever its end, goes to the audits with what the pool
 * received of it (they copy what they keep). */
static void hand_to_audit(const struct pjob *j)
{
    struct audit_job a = {
        .job = j->id, .model = j->dm->m, .prompt = j->prompt, .n_prompt = j->p.n_prompt,
        .toks = j->toks, .lps = j->lps, .n = j->n_out, .temperature = j->p.temperature,
        .top_k = j->p.top_k, .top_p = j->p.top_p, .min_p = j->p.min_p,
        .repeat_penalty = j->p.repeat_penalty, .seed = j->p.seed, .parts = j->parts,
        .n_parts = j->n_parts};
    audit_job_ended(pool_audit(j->d->p), &a);
}

/* ---- attempts ---- */

/* The job stops waiting for its attempt; the attempt stays until the miner
 * answers (its slot is busy until then). */
static void detach(struct pjob *j, bool tell_miner)
{
    struct attempt *a = j->cur;
    if (!a)
        return;
    if (tell_miner)
        mconn_send_cancel(a->mc, a->wire_id);
    a->job = NULL;
    a->detached_ns = clock_mono_ns();
    j->cur = NULL;
    TAILQ_REMOVE(&j->d->running, j, rlink);
}

static void release_attempt(struct disp *d, struct attempt *a)
{
    if (a->offer && a->offer->busy)
        a->offer->busy--;
    TAILQ_REMOVE(&d->attempts, a, link);
    free(a);
}

static bool avoided(const struct pjob *j, const struct mconn *mc)
{
    for (uint32_t i = 0; i < j->attempts && i < MAX_ATTEMPTS; i++)
        if (!strcmp(j->avoid[i], mconn_pubkey(mc)))
            return true;
    return false;
}

bool disp_offer_generates(const struct offer *o)
{
    return (o->caps & PROTO_CAP_GENERATE) != 0;
}

static bool any_generator(const struct dmodel *dm)
{
    const struct offer *o;
    TAILQ_FOREACH(o, &dm->offers, link)
        if (disp_offer_generates(o))
            return true;
    return false;
}

/* The free slot to use: fastest per slot, scaled by how idle the miner is
 * and by its reputation (audit_pick_factor: a new key counts half). */
static struct offer *pick(struct disp *d, struct dmodel *dm, const struct pjob *j)
{
    struct offer *best = NULL;
    double best_score = -1;
    struct offer *o;
    TAILQ_FOREACH(o, &dm->offers, link) {
        if (o->busy >= o->slots || !disp_offer_generates(o) || !mconn_ready(o->mc) ||
            avoided(j, o->mc) ||
            (uint64_t)j->p.n_prompt + j->p.max_tokens > o->ctx)
            continue;
        double score = (o->tps > 0 ? o->tps : 1.0) * (double)(o->slots - o->busy) / o->slots *
                       audit_pick_factor(pool_audit(d->p), mconn_pubkey(o->mc));
        if (score > best_score) {
            best = o;
            best_score = score;
        }
    }
    return best;
}

static int start(struct disp *d, struct pjob *j, struct offer *o)
{
    const struct pool_cfg *cfg = pool_get_cfg(d->p);
    struct proto_job pj = {0};
    snprintf(pj.job, sizeof pj.job, "%s.%u", j->id, j->attempts);
    snprintf(pj.model, sizeof pj.model, "%s", j->dm->m->name);
    pj.n_prompt = j->p.n_prompt + j->n_out;
    pj.prompt = xmalloc(pj.n_prompt * sizeof *pj.prompt);
    memcpy(pj.prompt, j->prompt, j->p.n_prompt * sizeof *pj.prompt);
    if (j->n_out) /* a continuation: the tokens already delivered extend the prompt */
        memcpy(pj.prompt + j->p.n_prompt, j->toks, j->n_out * sizeof *pj.prompt);
    pj.max_tokens = j->p.max_tokens - j->n_out;
    pj.temperature = j->p.temperature;
    pj.top_k = j->p.top_k;
    pj.top_p = j->p.top_p;
    pj.min_p = j->p.min_p;
    pj.repeat_penalty = j->p.repeat_penalty;
    pj.seed = j->p.seed;
    pj.top_n = j->p.top_n;
    uint64_t req = mconn_send_job(o->mc, &pj);
    free(pj.prompt);
    if (!req)
        return FIEF_EIO;
    struct attempt *a = xcalloc(1, sizeof *a);
    a->job = j;
    a->mc = o->mc;
    a->offer = o;
    a->req_id = req;
    snprintf(a->wire_id, sizeof a->wire_id, "%s", pj.job);
    TAILQ_INSERT_TAIL(&d->attempts, a, link);
    o->busy++;
    j->cur = a;
    j->deadline_ns = clock_mono_ns() + (uint64_t)cfg->first_token_ms * 1000000u;
    TAILQ_INSERT_TAIL(&d->running, j, rlink);
    log_debug("job %s -> miner %s (attempt %u, from token %u)", j->id, mconn_id(o->mc),
              j->attempts, j->n_out);
    return 0;
}

static void unqueue(struct pjob *j)
{
    if (j->queued) {
        TAILQ_REMOVE(&j->dm->queue, j, qlink);
        j->dm->n_queued--;
        j->queued = false;
    }
}

static void enqueue(struct pjob *j, bool front)
{
    const struct pool_cfg *cfg = pool_get_cfg(j->d->p);
    if (front)
        TAILQ_INSERT_HEAD(&j->dm->queue, j, qlink);
    else
        TAILQ_INSERT_TAIL(&j->dm->queue, j, qlink);
    j->dm->n_queued++;
    j->queued = true;
    j->deadline_ns = clock_mono_ns() + (uint64_t)cfg->first_token_ms * 1000000u;
}

void disp_dispatch(struct disp *d, struct dmodel *dm)
{
    dispatch(d, dm);
}

static void dispatch(struct disp *d, struct dmodel *dm)
{
    struct pjob *j, *next;
    for (j = TAILQ_FIRST(&dm->queue); j; j = next) {
        next = TAILQ_NEXT(j, qlink);
        struct offer *o = pick(d, dm, j);
        if (!o) {
            if (!any_generator(dm))
                break;
            continue; /* every free slot belongs to a miner that failed this job */
        }
        unqueue(j);
        if (start(d, j, o) != 0)
            enqueue(j, true); /* that connection is closing; it will be removed */
    }
}

/* The job's miner failed it: try another one from where it stopped. */
static void fail_over(struct pjob *j, const char *why, bool tell_miner)
{
    struct attempt *a = j->cur;
    if (a) {
        log_notice("job %s: miner %s %s; %u tokens delivered, moving on", j->id,
                   mconn_id(a->mc), why, j->n_out);
        if (j->attempts < MAX_ATTEMPTS)
            snprintf(j->avoid[j->attempts], sizeof j->avoid[0], "%s", mconn_pubkey(a->mc));
        detach(j, tell_miner);
    }
    j->attempts++;
    if (j->attempts >= MAX_ATTEMPTS) {
        job_end(j, PJOB_FAILED, "no miner could finish the job");
        return;
    }
    enqueue(j, true);
    dispatch(j->d, j->dm);
}

/* ---- the job's end ---- */

static void job_end(struct pjob *j, enum pjob_end end, const char *msg)
{
    struct disp *d = j->d;
    detach(j, end == PJOB_FAILED);
    unqueue(j);
    record(j, end == PJOB_FAILED ? STORE_JOB_FAILED : STORE_JOB_DONE);
    hand_to_audit(j);
    d->jobs_total++;
    j->in_cb++;
    if (j->sink && j->sink->on_done)
        j->sink->on_done(j->ud, j, end, msg);
    job_free(j);
}

static bool is_complete(const struct pjob *j, enum pjob_end *end)
{
    if (j->n_out && eng_vocab_is_eog(j->dm->m->vocab, j->toks[j->n_out - 1])) {
        *end = PJOB_EOG;
        return true;
    }
    if (j->n_out >= j->p.max_tokens) {
        *end = PJOB_LENGTH;
        return true;
    }
    return false;
}

/* ---- public: submit / cancel ---- */

static int check_params(const struct pjob_params *p, char *err)
{
    if (!p->model || !p->prompt || p->n_prompt == 0 || p->n_prompt > PROTO_MAX_PROMPT)
        return fief_errf(err, FIEF_EINVAL, "the prompt must hold 1..%u tokens", PROTO_MAX_PROMPT);
    if (p->max_tokens == 0 || p->max_tokens > PROTO_MAX_GEN)
        return fief_errf(err, FIEF_EINVAL, "max_tokens must be 1..%u", PROTO_MAX_GEN);
    if ((int64_t)p->n_prompt + p->max_tokens > p->model->n_ctx_train)
        return fief_errf(err, FIEF_EINVAL, "prompt (%u tokens) + max_tokens (%u) exceed the "
                         "model's context of %d", p->n_prompt, p->max_tokens,
                         p->model->n_ctx_train);
    if (p->top_n > PROTO_MAX_TOP || p->seed > PROTO_MAX_ID)
        return fief_errf(err, FIEF_EINVAL, "bad logprobs count or seed");
    return 0;
}

int disp_submit(struct disp *d, const struct pjob_params *p, const struct pjob_sink *sink,
                void *ud, struct pjob **out, char err[FIEF_ERR_LEN])
{
    int rc = check_params(p, err);
    if (rc)
        return rc;
    struct dmodel *dm = disp_find_dm(d, p->model);
    if (!dm)
        return fief_errf(err, FIEF_EINVAL, "unknown model");
    if (!any_generator(dm)) /* an auditor alone serves no customer */
        return fief_errf(err, FIEF_ENOTFOUND, "no miner serves model %s right now", dm->m->name);
    if (dm->n_queued >= pool_get_cfg(d->p)->queue_max)
        return fief_errf(err, FIEF_ELIMIT, "the queue for model %s is full", dm->m->name);
    struct pjob *j = xcalloc(1, sizeof *j);
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    j->id[0] = 'j';
    hex_encode(rnd, sizeof rnd, j->id + 1);
    j->d = d;
    j->dm = dm;
    j->p = *p;
    j->prompt = xmalloc(p->n_prompt * sizeof *j->prompt);
    memcpy(j->prompt, p->prompt, p->n_prompt * sizeof *j->prompt);
    j->p.prompt = j->prompt;
    j->sink = sink;
    j->ud = ud;
    j->created_ms = (int64_t)clock_wall_ms();
    enqueue(j, false);
    *out = j;
    dispatch(d, dm);
    return 0;
}

static void cancel_now(struct pjob *j)
{
    detach(j, true);
    unqueue(j);
    record(j, STORE_JOB_CANCELLED);
    hand_to_audit(j);
    j->d->jobs_total++;
    job_free(j);
}

void disp_cancel(struct disp *d, struct pjob *j)
{
    (void)d;
    if (!j)
        return;
    if (j->in_cb) { /* finish after the callback returns */
        j->cancel_requested = true;
        j->sink = NULL;
        return;
    }
    cancel_now(j);
}

/* ---- from the gateway ---- */

static struct attempt *find_attempt(struct disp *d, const struct mconn *mc, const char *wire,
                                    uint64_t req)
{
    struct attempt *a;
    TAILQ_FOREACH(a, &d->attempts, link)
        if (a->mc == mc && (wire ? !strcmp(a->wire_id, wire) : a->req_id == req))
            return a;
    return NULL;
}

static void grow(struct pjob *j, uint32_t need)
{
    if (need <= j->cap)
        return;
    uint32_t cap = j->cap ? j->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > j->p.max_tokens)
        cap = j->p.max_tokens;
    j->toks = xrealloc(j->toks, cap * sizeof *j->toks);
    j->lps = xrealloc(j->lps, cap * sizeof *j->lps);
    if (j->p.top_n)
        j->alts = xrealloc(j->alts, (size_t)cap * j->p.top_n * sizeof *j->alts);
    j->cap = cap;
}

static int check_tokens(const struct pjob *j, const struct attempt *a,
                        const struct proto_tokens *t, char *err)
{
    int32_t nv = eng_vocab_size(j->dm->m->vocab);
    if (t->seq != a->received)
        return fief_errf(err, FIEF_EPROTO, "tokens for %s: seq %u, expected %u", a->wire_id,
                         t->seq, a->received);
    if (t->n > j->p.max_tokens - j->n_out)
        return fief_errf(err, FIEF_EPROTO, "tokens for %s: %u more than max_tokens allows",
                         a->wire_id, t->n);
    if (t->n && t->top_n != j->p.top_n)
        return fief_errf(err, FIEF_EPROTO, "tokens for %s: %u alternatives, asked for %u",
                         a->wire_id, t->top_n, j->p.top_n);
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->ids[i] >= nv)
            return fief_errf(err, FIEF_EPROTO, "tokens for %s: id %d is not in the vocabulary",
                             a->wire_id, t->ids[i]);
        bool after_end = i ? eng_vocab_is_eog(j->dm->m->vocab, t->ids[i - 1])
                           : j->n_out && eng_vocab_is_eog(j->dm->m->vocab, j->toks[j->n_out - 1]);
        if (after_end)
            return fief_errf(err, FIEF_EPROTO, "tokens for %s: tokens after the end of "
                             "generation", a->wire_id);
    }
    return 0;
}

static void append(struct pjob *j, const struct proto_tokens *t)
{
    grow(j, j->n_out + t->n);
    if (t->n == 0)
        return;
    memcpy(j->toks + j->n_out, t->ids, t->n * sizeof *t->ids);
    memcpy(j->lps + j->n_out, t->logprobs, t->n * sizeof *t->logprobs);
    for (uint32_t i = 0; i < t->n && j->p.top_n; i++)
        for (uint32_t k = 0; k < j->p.top_n; k++) {
            struct pjob_alt *alt = &j->alts[(size_t)(j->n_out + i) * j->p.top_n + k];
            alt->id = t->top_ids[(size_t)i * t->top_n + k];
            alt->logprob = t->top_logprobs[(size_t)i * t->top_n + k];
        }
    j->n_out += t->n;
}

int disp_on_tokens(struct disp *d, struct mconn *mc, const struct proto_tokens *t,
                   char err[FIEF_ERR_LEN])
{
    struct attempt *a = find_attempt(d, mc, t->job, 0);
    if (!a)
        return fief_errf(err, FIEF_EPROTO, "tokens for job \"%s\", which is not yours",
                         t->job);
    if (!a->job) { /* cancelled or moved on: late tokens are expected, not an offence */
        a->received += t->n;
        return 0;
    }
    struct pjob *j = a->job;
    int rc = check_tokens(j, a, t, err);
    if (rc)
        return rc;
    uint32_t from = j->n_out;
    append(j, t);
    a->received += t->n;
    add_part(j, mconn_pubkey(mc), t->n);
    mconn_add_tokens(mc, t->n);
    d->tokens_total += t->n;
    d->rate_tokens += t->n;
    j->deadline_ns = clock_mono_ns() + (uint64_t)pool_get_cfg(d->p)->token_ms * 1000000u;
    j->in_cb++;
    if (j->sink && j->sink->on_tokens)
        j->sink->on_tokens(j->ud, j, from, t->n);
    j->in_cb--;
    enum pjob_end end;
    if (j->cancel_requested)
        cancel_now(j);
    else if (is_complete(j, &end))
        job_end(j, end, NULL);
    return 0;
}

int disp_owns_request(struct disp *d, struct mconn *mc, uint64_t req_id)
{
    return find_attempt(d, mc, NULL, req_id) != NULL;
}

int disp_on_job_reply(struct disp *d, struct mconn *mc, uint64_t req_id,
                      const struct proto_job_done *done, int err_code, const char *err_msg,
                      char err[FIEF_ERR_LEN])
{
    struct attempt *a = find_attempt(d, mc, NULL, req_id);
    if (!a)
        return fief_errf(err, FIEF_EPROTO, "reply to request %llu, which was not sent to you",
                         (unsigned long long)req_id);
    struct pjob *j = a->job;
    struct dmodel *dm = a->offer ? a->offer->dm : NULL;
    if (j) {
        char why[PROTO_MAX_TEXT + 64];
        if (err_code)
            snprintf(why, sizeof why, "refused the job (%d: %s)", err_code, err_msg);
        else
            snprintf(why, sizeof why, "stopped after %u tokens (%s) before the job was done",
                     a->received, done->finish == PROTO_FIN_CANCELLED ? "cancelled" : "finished");
        fail_over(j, why, false);
    }
    release_attempt(d, a);
    if (dm)
        dispatch(d, dm);
    audit_slots_free(pool_audit(d->p)); /* what customers left */
    return 0;
}

void disp_miner_gone(struct disp *d, struct mconn *mc)
{
    /* Its offers go first, so the failovers below cannot land on it again. */
    struct attempt *a, *next;
    TAILQ_FOREACH(a, &d->attempts, link)
        if (a->mc == mc)
            a->offer = NULL;
    for (size_t i = 0; i < d->n_models; i++) {
        struct offer *o, *on;
        for (o = TAILQ_FIRST(&d->models[i].offers); o; o = on) {
            on = TAILQ_NEXT(o, link);
            if (o->mc == mc) {
                TAILQ_REMOVE(&d->models[i].offers, o, link);
                free(o);
            }
        }
    }
    for (a = TAILQ_FIRST(&d->attempts); a; a = next) {
        next = TAILQ_NEXT(a, link);
        if (a->mc != mc)
            continue;
        if (a->job)
            fail_over(a->job, "disconnected", false);
        release_attempt(d, a);
    }
    audit_miner_gone(pool_audit(d->p), mc); /* its score requests go elsewhere */
}

struct offer *disp_offer_add(struct disp *d, struct mconn *mc, struct pool_model *m,
                             uint32_t slots, double tps, uint32_t caps, uint32_t ctx)
{
    struct dmodel *dm = disp_find_dm(d, m);
    if (!dm || slots == 0)
        return NULL;
    struct offer *o = xcalloc(1, sizeof *o);
    o->mc = mc;
    o->dm = dm;
    o->slots = slots;
    o->tps = tps;
    o->caps = caps;
    o->ctx = ctx;
    TAILQ_INSERT_TAIL(&dm->offers, o, link);
    dispatch(d, dm);
    audit_slots_free(pool_audit(d->p));
    return o;
}

/* ---- time ---- */

static void expire_queue(struct dmodel *dm, uint64_t now)
{
    struct pjob *j, *next;
    for (j = TAILQ_FIRST(&dm->queue); j; j = next) {
        next = TAILQ_NEXT(j, qlink);
        if (now > j->deadline_ns)
            job_end(j, PJOB_FAILED, !any_generator(dm) ? "no miner serves this model any more"
                                                       : "no miner took the job in time");
    }
}

/* Miners that never answered a cancelled job. Kicking one frees its
 * attempts, so the offenders are gathered first (connections outlive the
 * kick until the gateway reaps them) and kicked after the walk. */
static void kick_unresponsive(struct disp *d, uint64_t now)
{
    struct mconn *bad[16];
    size_t n = 0;
    struct attempt *a;
    TAILQ_FOREACH(a, &d->attempts, link) {
        if (a->job || a->detached_ns >= now || now - a->detached_ns <= CANCEL_GRACE_NS)
            continue;
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++)
            seen = bad[i] == a->mc;
        if (!seen && n < sizeof bad / sizeof bad[0])
            bad[n++] = a->mc;
    }
    for (size_t i = 0; i < n; i++)
        mconn_kick(bad[i], PROTO_ERR_STATE, "a cancelled job was never answered");
}

void disp_tick(struct disp *d)
{
    uint64_t now = clock_mono_ns();
    struct pjob *j, *jn;
    for (j = TAILQ_FIRST(&d->running); j; j = jn) {
        jn = TAILQ_NEXT(j, rlink);
        if (now > j->deadline_ns)
            fail_over(j, j->cur && j->cur->received ? "stalled between tokens"
                                                     : "sent no first token in time", true);
    }
    kick_unresponsive(d, now);
    for (size_t i = 0; i < d->n_models; i++)
        expire_queue(&d->models[i], now);
    double dt = (double)(now - d->rate_t0_ns) / 1e9;
    if (dt >= 1.0) {
        double r = (double)d->rate_tokens / dt;
        d->rate = d->rate == 0 ? r : 0.7 * d->rate + 0.3 * r;
        d->rate_tokens = 0;
        d->rate_t0_ns = now;
    }
}

