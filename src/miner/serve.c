/* SPDX-License-Identifier: MIT */
/* A session's work: checking the pool's job and score requests against what
 * this miner can do (model, context, ids, free slot), starting them on exec
 * slots, streaming tokens back as "tokens" notifications and replying when
 * they end. Hostile requests get an error reply; nothing here can crash on
 * what a pool sends. */
#include "miner/link_impl.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ---- */

/* A free slot for pool model `name` (known to be accepted), or -1 after
 * replying busy. Models the pool accepted under that name are tried in offer
 * order (two files with one digest share the name). */
static int pick_slot(struct link *l, uint64_t req, const char *name, int *model)
{
    for (int i = 0; i < exec_n_models(l->env.ex); i++) {
        if (!l->accepted[i] || strcmp(l->pool_name[i], name))
            continue;
        int s = exec_slot_acquire(l->env.ex, i, l->tag);
        if (s >= 0) {
            *model = i;
            return s;
        }
    }
    link_send_error(l, req, PROTO_ERR_BUSY, "all slots for model \"%s\" are busy", name);
    return -1;
}

/* Index of the first id outside the vocabulary, or -1. */
static long bad_id(const int32_t *ids, uint32_t n, int32_t n_vocab)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return (long)i;
    return -1;
}

/* The model the request names must exist here before sizes are checked
 * against its context; returns that model or NULL after replying. */
static const struct exec_model *find_model(struct link *l, uint64_t req, const char *name)
{
    for (int i = 0; i < exec_n_models(l->env.ex); i++)
        if (l->accepted[i] && !strcmp(l->pool_name[i], name))
            return exec_model(l->env.ex, i);
    link_send_error(l, req, PROTO_ERR_MODEL, "model \"%s\" is not served here", name);
    return NULL;
}

static bool check_ids(struct link *l, uint64_t req, const char *what, const int32_t *ids,
                      uint32_t n, const struct exec_model *m)
{
    long i = bad_id(ids, n, m->n_vocab);
    if (i < 0)
        return true;
    link_send_error(l, req, PROTO_ERR_PARAMS,
                    "%s[%ld] = %d is not a token of this model "
                    "(vocabulary %d)",
                    what, i, ids[i], m->n_vocab);
    return false;
}

static bool job_running(const struct link *l, const char *name)
{
    for (int i = 0; i < l->n_jobs; i++)
        if (l->jobs[i].active && !strcmp(l->jobs[i].name, name))
            return true;
    return false;
}

static struct ljob *start_ljob(struct link *l, int slot, uint64_t req, const char *name, bool score)
{
    struct ljob *j = &l->jobs[slot];
    j->active = true;
    j->score = score;
    j->req = req;
    snprintf(j->name, sizeof j->name, "%s", name);
    j->seq = j->nb = 0;
    j->top_n = 0;
    return j;
}

/* The engine's parameters for the wire's, with the protocol's fixed penalty
 * window, so generation and an audit of it sample alike. */
static struct eng_sampling engine_sampling(float temperature, int32_t top_k, float top_p,
                                           float min_p, float repeat_penalty, uint64_t seed)
{
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    sp.temperature = temperature;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sp.repeat_penalty = repeat_penalty;
    sp.seed = seed;
    sp.repeat_last_n = PROTO_REPEAT_LAST_N;
    return sp;
}

/* ---- requests ---- */

void serve_job(struct link *l, const struct proto_msg *msg)
{
    struct proto_job pj = {0};
    char err[FIEF_ERR_LEN];
    const struct exec_model *m;
    int model, slot;
    if (proto_job_decode(msg->params, &pj, err)) {
        link_send_error(l, msg->id, PROTO_ERR_PARAMS, "%s", err);
    } else if (!(m = find_model(l, msg->id, pj.model))) {
        /* replied */
    } else if (!(l->env.caps & PROTO_CAP_GENERATE)) {
        link_send_error(l, msg->id, PROTO_ERR_MODEL,
                        "model \"%s\" is offered for scoring only (a validator)", pj.model);
    } else if ((uint64_t)pj.n_prompt + pj.max_tokens > (uint64_t)m->n_ctx) {
        link_send_error(l, msg->id, PROTO_ERR_TOO_LARGE,
                        "prompt (%u) + max_tokens (%u) "
                        "exceed this miner's context of %d",
                        pj.n_prompt, pj.max_tokens, m->n_ctx);
    } else if (!check_ids(l, msg->id, "prompt", pj.prompt, pj.n_prompt, m)) {
        /* replied */
    } else if (job_running(l, pj.job)) {
        link_send_error(l, msg->id, PROTO_ERR_PARAMS, "job \"%s\" is already running", pj.job);
    } else if ((slot = pick_slot(l, msg->id, pj.model, &model)) >= 0) {
        struct ljob *j = start_ljob(l, slot, msg->id, pj.job, false);
        m = exec_model(l->env.ex, model);
        j->top_n = pj.top_n < (uint32_t)m->n_vocab ? pj.top_n : (uint32_t)m->n_vocab;
        struct eng_sampling sp = engine_sampling(pj.temperature, pj.top_k, pj.top_p, pj.min_p,
                                                 pj.repeat_penalty, pj.seed);
        log_info("%s: job %s: model %s, prompt %u, max_tokens %u, temperature %g", l->url, pj.job,
                 m->name, pj.n_prompt, pj.max_tokens, (double)pj.temperature);
        exec_generate(l->env.ex, slot, pj.prompt, pj.n_prompt, pj.max_tokens, &sp, (int)j->top_n);
        pj.prompt = NULL; /* handed to the slot */
    }
    proto_job_clear(&pj);
}

void serve_score(struct link *l, const struct proto_msg *msg)
{
    struct proto_score ps = {0};
    char err[FIEF_ERR_LEN];
    const struct exec_model *m;
    int model, slot;
    if (proto_score_decode(msg->params, &ps, err)) {
        link_send_error(l, msg->id, PROTO_ERR_PARAMS, "%s", err);
    } else if (!(m = find_model(l, msg->id, ps.model))) {
        /* replied */
    } else if ((uint64_t)ps.n_prompt + ps.n_completion - 1 > (uint64_t)m->n_ctx) {
        link_send_error(l, msg->id, PROTO_ERR_TOO_LARGE,
                        "prompt (%u) + completion (%u) "
                        "exceed this miner's context of %d",
                        ps.n_prompt, ps.n_completion, m->n_ctx);
    } else if (!check_ids(l, msg->id, "prompt", ps.prompt, ps.n_prompt, m) ||
               !check_ids(l, msg->id, "completion", ps.completion, ps.n_completion, m)) {
        /* replied */
    } else if ((slot = pick_slot(l, msg->id, ps.model, &model)) >= 0) {
        start_ljob(l, slot, msg->id, ps.job, true);
        const struct proto_sampling *q = &ps.sampling;
        struct eng_sampling sp = engine_sampling(q->temperature, q->top_k, q->top_p, q->min_p,
                                                 q->repeat_penalty, q->seed);
        log_info("%s: score %s: model %s, prompt %u, completion %u, %s", l->url, ps.job,
                 exec_model(l->env.ex, model)->name, ps.n_prompt, ps.n_completion,
                 ps.has_sampling ? "sampled" : "greedy");
        exec_score(l->env.ex, slot, ps.prompt, ps.n_prompt, ps.completion, ps.n_completion,
                   ps.has_sampling ? &sp : NULL);
        ps.prompt = ps.completion = NULL; /* handed to the slot */
    }
    proto_score_clear(&ps);
}

void serve_cancel(struct link *l, const struct proto_msg *msg)
{
    struct proto_cancel c;
    char err[FIEF_ERR_LEN];
    if (proto_cancel_decode(msg->params, &c, err)) {
        log_warn("%s: malformed cancel ignored: %s", l->url, err);
        return;
    }
    for (int i = 0; i < l->n_jobs; i++) {
        if (l->jobs[i].active && !l->jobs[i].score && !strcmp(l->jobs[i].name, c.job)) {
            log_info("%s: job %s: cancel", l->url, c.job);
            exec_cancel(l->env.ex, i);
            return;
        }
    }
    /* It may have ended while the cancel was on its way: not an error. */
    log_debug("%s: cancel of job %s, which is not running", l->url, c.job);
}

/* ---- tokens ---- */

/* A log-prob the wire accepts: finite and <= 0. A token of probability zero
 * (or a model gone numerically wrong) reports -1e30, as the protocol asks. */
static float wire_lp(float x)
{
    return x >= -1e30f ? (x < 0 ? x : 0) : -1e30f; /* NaN fails the first test */
}

/* A margin the wire accepts: finite and >= 0 (the engine's already are). */
static float wire_margin(float x)
{
    return x >= 0 ? (x <= FLT_MAX ? x : FLT_MAX) : (x < 0 ? 0 : FLT_MAX); /* NaN: the largest */
}

static void grow(struct ljob *j)
{
    uint32_t cap = j->cap ? j->cap * 2 : 16;
    if (cap > PROTO_MAX_BATCH)
        cap = PROTO_MAX_BATCH;
    j->ids = xrealloc(j->ids, cap * sizeof *j->ids);
    j->lps = xrealloc(j->lps, cap * sizeof *j->lps);
    j->tids = xrealloc(j->tids, (size_t)cap * PROTO_MAX_TOP * sizeof *j->tids);
    j->tlps = xrealloc(j->tlps, (size_t)cap * PROTO_MAX_TOP * sizeof *j->tlps);
    j->cap = cap;
}

static void flush_job(struct link *l, struct ljob *j)
{
    if (!j->nb)
        return;
    struct proto_tokens t = {.seq = j->seq,
                             .n = j->nb,
                             .ids = j->ids,
                             .logprobs = j->lps,
                             .top_n = j->top_n,
                             .top_ids = j->top_n ? j->tids : NULL,
                             .top_logprobs = j->top_n ? j->tlps : NULL};
    snprintf(t.job, sizeof t.job, "%s", j->name);
    bool written = link_send_notify(l, PM_TOKENS, proto_tokens_encode(&t)); /* arrays stay ours */
    link_relay_note(l, j->t_first, written);
    j->seq += j->nb;
    j->nb = 0;
}

static void add_token(struct link *l, struct ljob *j, const struct exec_ev *ev)
{
    if (j->nb == PROTO_MAX_BATCH)
        flush_job(l, j);
    if (j->nb == j->cap)
        grow(j);
    const struct eng_pick *p = &ev->pick;
    if (!j->nb)
        j->t_first = ev->t_ns;
    j->ids[j->nb] = p->id;
    j->lps[j->nb] = wire_lp(p->logprob);
    for (uint32_t k = 0; k < j->top_n; k++) {
        /* The sampler fills top_n entries whenever the vocabulary has them
         * (top_n was capped at its size); the fallback only keeps memory defined. */
        bool have = (int32_t)k < p->n_top;
        j->tids[j->nb * j->top_n + k] = have ? p->top[k].id : p->id;
        j->tlps[j->nb * j->top_n + k] = wire_lp(have ? p->top[k].logprob : p->logprob);
    }
    j->nb++;
}

static void finish_gen(struct link *l, struct ljob *j, const struct exec_ev *ev)
{
    flush_job(l, j);
    if (ev->rc) {
        link_send_error(l, j->req, PROTO_ERR_INTERNAL, "engine: %s", fief_strerror(ev->rc));
        log_warn("%s: job %s failed after %u tokens: %s", l->url, j->name, j->seq,
                 fief_strerror(ev->rc));
    } else {
        struct proto_job_done d = {
            .finish = ev->finish, .n = j->seq, .prompt_ms = ev->prompt_ms, .gen_ms = ev->gen_ms};
        link_send_result(l, j->req, proto_job_done_encode(&d));
        static const char *const why[] = {"?", "length", "eog", "cancelled"};
        log_notice("%s: job %s done: %u tokens, %.1f tok/s, prefill %.0f ms, %s", l->url, j->name,
                   j->seq, ev->gen_ms > 0 ? j->seq / (ev->gen_ms / 1e3) : 0.0, ev->prompt_ms,
                   why[ev->finish <= PROTO_FIN_CANCELLED ? ev->finish : 0]);
    }
    struct link_stats *s = l->env.stats;
    pthread_mutex_lock(&s->mu);
    s->jobs++;
    s->tokens += j->seq;
    pthread_mutex_unlock(&s->mu);
}

static void finish_score(struct link *l, struct ljob *j, const struct exec_ev *ev)
{
    if (ev->rc) {
        link_send_error(l, j->req, ev->rc == FIEF_ELIMIT ? PROTO_ERR_TOO_LARGE : PROTO_ERR_INTERNAL,
                        "engine: %s", fief_strerror(ev->rc));
        return;
    }
    uint32_t n = ev->n_scored;
    size_t k = n ? n : 1;
    struct proto_scored s = {.n = n,
                             .logprobs = xmalloc(k * sizeof *s.logprobs),
                             .top_ids = xmalloc(k * sizeof *s.top_ids),
                             .top_logprobs = xmalloc(k * sizeof *s.top_logprobs),
                             .picks = xmalloc(k * sizeof *s.picks),
                             .margins = xmalloc(k * sizeof *s.margins),
                             .pick_logprobs = xmalloc(k * sizeof *s.pick_logprobs)};
    for (uint32_t i = 0; i < n; i++) {
        const struct eng_score_tok *t = &ev->scored[i];
        s.logprobs[i] = wire_lp(t->logprob);
        s.top_ids[i] = t->top_id;
        s.top_logprobs[i] = wire_lp(t->top_logprob);
        s.picks[i] = t->pick;
        s.margins[i] = wire_margin(t->margin);
        s.pick_logprobs[i] = wire_lp(t->pick_logprob);
    }
    link_send_result(l, j->req, proto_scored_encode(&s));
    proto_scored_clear(&s);
    log_info("%s: score %s done: %u positions in %.0f ms", l->url, j->name, n, ev->prompt_ms);
}

void serve_on_exec(struct link *l, const struct exec_ev *ev)
{
    if (ev->slot < 0 || ev->slot >= l->n_jobs || l->phase == PH_CLOSED)
        return;
    struct ljob *j = &l->jobs[ev->slot];
    if (!j->active)
        return;
    if (ev->kind == EXEC_TOKEN) {
        add_token(l, j, ev);
        return;
    }
    if (j->score)
        finish_score(l, j, ev);
    else
        finish_gen(l, j, ev);
    j->active = false;
}

void serve_flush(struct link *l)
{
    for (int i = 0; i < l->n_jobs; i++)
        if (l->jobs[i].active)
            flush_job(l, &l->jobs[i]);
}

void serve_drop_all(struct link *l)
{
    for (int i = 0; i < l->n_jobs; i++) {
        if (l->jobs[i].active)
            log_info("%s: job %s dropped with the connection", l->url, l->jobs[i].name);
        l->jobs[i].active = false;
        l->jobs[i].nb = 0;
    }
}

void serve_free(struct link *l)
{
    for (int i = 0; i < l->n_jobs; i++) {
        free(l->jobs[i].ids);
        free(l->jobs[i].lps);
        free(l->jobs[i].tids);
        free(l->jobs[i].tlps);
    }
    free(l->jobs);
}
