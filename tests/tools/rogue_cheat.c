/* SPDX-License-Identifier: MIT */
/* fief-rogue's cheats, as miner hooks: each one replaces the honest
 * generation (or rewrites an honest score) in one of the ways docs/audits.md
 * says the pool must catch. Test code only; rogue.h has the contract. */
#include "rogue.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"honest", "smaller",  "random", "forge",
                                         "replay", "truncate", "seen",   "liar"};

int rogue_kind_parse(const char *s)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (!strcmp(s, kind_names[i]))
            return (int)i;
    return -1;
}

const char *rogue_kind_name(enum rogue_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "?";
}

void rogue_opts_defaults(struct rogue_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rate = 1;
    o->seed = 1;
    o->forge_lp = -0.01f;
    o->keep = -1;
    o->end_eog = true;
    o->end_lp = -0.5f;
}

/* ---- small pieces ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *x)
{
    return (double)(splitmix(x) >> 11) * 0x1p-53;
}

bool rogue_decide(struct rogue *r, uint64_t *counter, uint64_t *idx)
{
    pthread_mutex_lock(&r->mu);
    uint64_t i = (*counter)++;
    bool cheat = i >= r->o.after && uniform(&r->rng) < r->o.rate;
    if (cheat)
        r->cheated++;
    else
        r->honest++;
    pthread_mutex_unlock(&r->mu);
    if (idx)
        *idx = i;
    return cheat;
}

bool rogue_set_add(struct rogue_set *s, uint64_t h)
{
    h = h ? h : 1;
    if (2 * (s->n + 1) > s->cap) {
        struct rogue_set big = {.cap = s->cap ? s->cap * 2 : 64};
        big.slot = xcalloc(big.cap, sizeof *big.slot);
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i])
                rogue_set_add(&big, s->slot[i]);
        free(s->slot);
        *s = big;
    }
    size_t i = (size_t)(h & (s->cap - 1));
    while (s->slot[i]) {
        if (s->slot[i] == h)
            return true;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = h;
    s->n++;
    return false;
}

void rogue_set_free(struct rogue_set *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}

uint64_t rogue_prompt_hash(int model, const int32_t *ids, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uint32_t)model;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return splitmix(&h);
}

void rogue_random_pick(uint64_t *rng, const struct eng_vocab *v, int32_t n_vocab, int top_n,
                       struct eng_pick *out)
{
    int32_t bos = v ? eng_vocab_bos(v) : -1, id = 0;
    for (int tries = 0; tries < 64; tries++) {
        id = (int32_t)(splitmix(rng) % (uint64_t)n_vocab);
        if (id != bos && !(v && eng_vocab_is_eog(v, id)))
            break;
    }
    memset(out, 0, sizeof *out);
    out->id = id;
    out->logprob = -(float)(0.05 + 3.0 * uniform(rng));
    out->n_top = top_n < ENG_MAX_TOP ? top_n : ENG_MAX_TOP;
    for (int k = 0; k < out->n_top; k++) {
        out->top[k].id = k ? (int32_t)(splitmix(rng) % (uint64_t)n_vocab) : id;
        out->top[k].logprob = out->logprob - 0.5f * (float)k;
    }
}

float rogue_forge_lp(const struct rogue_opts *o, float lp)
{
    if (!o->forge_shift)
        return o->forge_lp;
    float x = lp + o->forge_add;
    return x < 0 ? x : 0;
}

uint32_t rogue_keep(const struct rogue_opts *o, uint32_t max_tokens)
{
    uint32_t k = o->keep >= 0 ? (uint32_t)o->keep : max_tokens / 4;
    return k < max_tokens ? k : max_tokens;
}

void rogue_lie(const struct miner_score *req, struct eng_score_tok *out, uint32_t n)
{
    bool greedy = !req->sp || req->sp->temperature <= 0;
    for (uint32_t i = 0; i < n && i < req->n_completion; i++) {
        int32_t other = (int32_t)(((int64_t)req->completion[i] + 1) % req->n_vocab);
        out[i].top_id = other;
        out[i].pick = other;
        out[i].top_logprob = -0.01f;
        out[i].logprob = out[i].logprob > -1e29f ? out[i].logprob - 5.0f : -1e30f;
        out[i].margin = greedy ? 10.0f : 1.0f;
    }
}

/* ---- generation ---- */

/* A generation passing through one of the cheats' token filters. */
struct pass {
    struct rogue *r;
    const struct miner_gen *job;
    eng_token_cb cb;
    void *cb_ud;
    uint32_t n;           /* tokens passed on */
    struct eng_pick *rec; /* replay: the honest picks recorded, or NULL */
    uint32_t n_rec;
    uint32_t keep; /* truncate */
    int32_t eog;   /* truncate: the end-of-generation token to claim, or -1 */
};

static int pass_record(void *ud, const struct eng_pick *p)
{
    struct pass *w = ud;
    if (w->rec && w->n_rec < ROGUE_REPLAY_MAX)
        w->rec[w->n_rec++] = *p;
    w->n++;
    return w->cb(w->cb_ud, p);
}

static int pass_forge(void *ud, const struct eng_pick *p)
{
    struct pass *w = ud;
    struct eng_pick f = *p;
    f.logprob = rogue_forge_lp(&w->r->o, p->logprob);
    for (int k = 0; k < f.n_top; k++)
        if (f.top[k].id == f.id)
            f.top[k].logprob = f.logprob;
    w->n++;
    return w->cb(w->cb_ud, &f);
}

static int pass_truncate(void *ud, const struct eng_pick *p)
{
    struct pass *w = ud;
    if (w->n < w->keep) {
        w->n++;
        return w->cb(w->cb_ud, p);
    }
    /* The model wants to go on: end here instead. */
    if (w->eog >= 0) {
        struct eng_pick e = *p; /* the position's true alternatives stay */
        e.id = w->eog;
        e.logprob = w->r->o.end_lp;
        for (int k = 0; k < p->n_top; k++)
            if (p->top[k].id == w->eog)
                e.logprob = p->top[k].logprob; /* the true one, when the pool asked for it */
        w->n++;
        w->cb(w->cb_ud, &e);
    }
    return 1;
}

/* The token a truncating job claims to end with, or -1 (none: it just stops). */
static int32_t end_token(const struct eng_vocab *v, int32_t n_vocab)
{
    int32_t eos = eng_vocab_eos(v);
    if (eos >= 0 && eos < n_vocab && eng_vocab_is_eog(v, eos))
        return eos;
    for (int32_t i = 0; i < n_vocab; i++)
        if (eng_vocab_is_eog(v, i))
            return i;
    return -1;
}

static int honest(struct pass *w, struct eng_gen_stats *st)
{
    const struct miner_gen *j = w->job;
    return eng_generate(j->ctx, j->sampler, j->sp, j->prompt, j->n_prompt, (int32_t)j->max_tokens,
                        j->top_n, pass_record, w, st);
}

static int gen_random(struct pass *w, uint64_t salt)
{
    const struct miner_gen *j = w->job;
    uint64_t rng = w->r->o.seed ^ (j->sp->seed * 0x9e3779b97f4a7c15ull) ^ salt;
    const struct eng_vocab *v = eng_model_vocab(j->engine);
    for (uint32_t i = 0; i < j->max_tokens; i++) {
        struct eng_pick p;
        rogue_random_pick(&rng, v, j->n_vocab, j->top_n, &p);
        if (w->cb(w->cb_ud, &p))
            break;
    }
    return 0;
}

static int gen_smaller(struct pass *w, struct eng_gen_stats *st)
{
    const struct miner_gen *j = w->job;
    struct rogue *r = w->r;
    if (j->slot < 0 || j->slot >= r->n_ctx_slots)
        return FIEF_EINVAL;
    struct eng_ctx **c = &r->ctx[j->slot]; /* this slot's worker is the only user */
    if (!*c) {
        char err[FIEF_ERR_LEN];
        int rc = eng_ctx_new(r->small, j->n_ctx, j->threads, c, err);
        if (rc) {
            log_err("rogue: the smaller model's context: %s", err);
            return rc;
        }
    }
    return eng_generate(*c, j->sampler, j->sp, j->prompt, j->n_prompt, (int32_t)j->max_tokens,
                        j->top_n, w->cb, w->cb_ud, st);
}

/* Replay the model's recorded honest completion, cut or cycled to max_tokens;
 * one that ended with an eog token is never cycled past it. */
static int gen_replay(struct pass *w, const struct eng_pick *rec, uint32_t n_rec)
{
    const struct miner_gen *j = w->job;
    const struct eng_vocab *v = eng_model_vocab(j->engine);
    for (uint32_t i = 0; i < j->max_tokens; i++) {
        struct eng_pick p = rec[i % n_rec];
        if (p.n_top > j->top_n)
            p.n_top = j->top_n;
        if (w->cb(w->cb_ud, &p) || eng_vocab_is_eog(v, p.id))
            break;
    }
    return 0;
}

static int gen_truncate(struct pass *w, struct eng_gen_stats *st)
{
    const struct miner_gen *j = w->job;
    w->keep = rogue_keep(&w->r->o, j->max_tokens);
    w->eog = w->r->o.end_eog ? end_token(eng_model_vocab(j->engine), j->n_vocab) : -1;
    return eng_generate(j->ctx, j->sampler, j->sp, j->prompt, j->n_prompt, (int32_t)j->max_tokens,
                        j->top_n, pass_truncate, w, st);
}

int rogue_generate(void *ud, const struct miner_gen *job, eng_token_cb cb, void *cb_ud,
                   struct eng_gen_stats *st)
{
    struct rogue *r = ud;
    struct pass w = {.r = r, .job = job, .cb = cb, .cb_ud = cb_ud, .eog = -1};
    enum rogue_kind k = r->o.kind;
    uint64_t idx = 0;
    const struct eng_pick *rec = NULL;
    uint32_t n_rec = 0;
    bool cheat = false;
    const char *why = "honest";
    if (k == ROGUE_SEEN) {
        pthread_mutex_lock(&r->mu);
        bool seen =
            rogue_set_add(&r->seen, rogue_prompt_hash(job->model, job->prompt, job->n_prompt));
        if (seen) {
            idx = r->n_gen++;
            r->honest++;
        }
        pthread_mutex_unlock(&r->mu);
        cheat = !seen && rogue_decide(r, &r->n_gen, &idx);
        why = seen ? "honest (a prompt seen before)" : why;
    } else if (k != ROGUE_LIAR && k != ROGUE_HONEST) {
        cheat = rogue_decide(r, &r->n_gen, &idx);
    }
    if (cheat && k == ROGUE_REPLAY) {
        pthread_mutex_lock(&r->mu);
        rec = r->replay[job->model];
        n_rec = r->n_replay[job->model];
        pthread_mutex_unlock(&r->mu);
        cheat = rec != NULL; /* nothing to replay yet: honest, and recorded */
    }
    log_notice("rogue: job %llu (prompt %u, max_tokens %u, temperature %g): %s",
               (unsigned long long)idx, job->n_prompt, job->max_tokens,
               (double)job->sp->temperature, cheat ? rogue_kind_name(k) : why);
    if (!cheat) {
        bool record = k == ROGUE_REPLAY && job->model >= 0 && job->model < ROGUE_MAX_MODELS;
        if (record)
            w.rec = xmalloc(ROGUE_REPLAY_MAX * sizeof *w.rec);
        int rc = honest(&w, st);
        if (record) {
            pthread_mutex_lock(&r->mu);
            if (!rc && w.n_rec && !r->replay[job->model]) {
                r->replay[job->model] = w.rec; /* kept until rogue_deinit, never changed */
                r->n_replay[job->model] = w.n_rec;
                w.rec = NULL;
            }
            pthread_mutex_unlock(&r->mu);
            free(w.rec);
        }
        return rc;
    }
    switch (k) {
    case ROGUE_SMALLER:
        return gen_smaller(&w, st);
    case ROGUE_RANDOM:
    case ROGUE_SEEN:
        return gen_random(&w, idx);
    case ROGUE_FORGE:
        return eng_generate(job->ctx, job->sampler, job->sp, job->prompt, job->n_prompt,
                            (int32_t)job->max_tokens, job->top_n, pass_forge, &w, st);
    case ROGUE_REPLAY:
        return gen_replay(&w, rec, n_rec);
    case ROGUE_TRUNCATE:
        return gen_truncate(&w, st);
    default:
        return honest(&w, st);
    }
}

/* ---- scoring ---- */

void rogue_scored(void *ud, const struct miner_score *req, struct eng_score_tok *out, uint32_t n)
{
    struct rogue *r = ud;
    if (r->o.kind == ROGUE_SEEN) {
        /* An audit's prompt may come back as a job: remember it too. */
        uint64_t h = rogue_prompt_hash(req->model, req->prompt, req->n_prompt);
        pthread_mutex_lock(&r->mu);
        rogue_set_add(&r->seen, h);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (r->o.kind != ROGUE_LIAR)
        return;
    uint64_t idx;
    bool lie = rogue_decide(r, &r->n_score, &idx);
    log_notice("rogue: score %llu (prompt %u, completion %u, %s): %s", (unsigned long long)idx,
               req->n_prompt, req->n_completion, req->sp ? "sampled" : "greedy",
               lie ? "lie" : "honest");
    if (lie)
        rogue_lie(req, out, n);
}

/* ---- setup ---- */

int rogue_init(struct rogue *r, const struct rogue_opts *o, const char *model_path, int n_slots,
               char err[FIEF_ERR_LEN])
{
    memset(r, 0, sizeof *r);
    r->o = *o;
    r->rng = o->seed;
    pthread_mutex_init(&r->mu, NULL);
    if (o->kind != ROGUE_SMALLER)
        return 0;
    if (!o->small)
        return fief_errf(err, FIEF_EINVAL, "--cheat smaller needs --cheat-model SMALL.gguf");
    char e[FIEF_ERR_LEN];
    struct eng_vocab *v = NULL;
    int rc = eng_vocab_open(model_path, &v, e);
    if (rc)
        return fief_errf(err, rc, "%s: %s", model_path, e);
    int32_t want = eng_vocab_size(v);
    eng_vocab_free(v);
    if ((rc = eng_model_load(o->small, &r->small, e)))
        return fief_errf(err, rc, "%s: %s", o->small, e);
    struct eng_model_info info;
    eng_model_get_info(r->small, &info);
    if (info.n_vocab != want)
        return fief_errf(err, FIEF_EINVAL,
                         "--cheat-model has %d tokens, the claimed model %d: they must match",
                         info.n_vocab, want);
    r->n_ctx_slots = n_slots;
    r->ctx = xcalloc((size_t)n_slots, sizeof *r->ctx);
    return 0;
}

void rogue_deinit(struct rogue *r)
{
    for (int i = 0; i < r->n_ctx_slots; i++)
        eng_ctx_free(r->ctx[i]);
    free(r->ctx);
    eng_model_free(r->small);
    for (int i = 0; i < ROGUE_MAX_MODELS; i++)
        free(r->replay[i]);
    rogue_set_free(&r->seen);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}
