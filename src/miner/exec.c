/* SPDX-License-Identifier: MIT */
/* Slots: each one an engine context and a worker thread that runs one job
 * (generation or scoring) at a time and reports tokens and completions to the
 * event loop through one mutex-protected FIFO. The loop decides which slot
 * runs what; a worker only ever touches its own slot's work and the queue. */
#include "miner/exec.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CTX 4096 /* positions per slot unless asked: bounds KV memory per slot */

enum work_kind { WORK_NONE = 0, WORK_GEN, WORK_SCORE };

struct work {
    enum work_kind kind;
    int32_t *prompt; /* owned */
    uint32_t n_prompt;
    int32_t *completion; /* owned (score) */
    uint32_t n_completion;
    uint32_t max_tokens;
    int top_n;
    struct eng_sampling sp;
    bool sampled; /* score: sp applies (else greedy scoring) */
};

struct slot {
    struct exec *ex;
    int idx;
    struct exec_model *m;        /* borrowed */
    struct eng_ctx *ctx;         /* owned */
    struct eng_sampler *sampler; /* owned */
    pthread_t tid;
    bool started;       /* tid is a live thread */
    pthread_mutex_t mu; /* guards work and quit */
    pthread_cond_t cv;
    struct work work; /* handed to the worker; WORK_NONE when idle */
    bool quit;
    atomic_bool cancel; /* set by the loop, read by the worker per token */
    /* loop thread only */
    uint64_t owner; /* 0: free */
};

struct exec {
    struct eng_threads *threads; /* owned, shared by all slots */
    struct exec_model models[PROTO_MAX_MODELS];
    int n_models;
    struct slot *slots; /* owned, n_slots */
    int n_slots;
    void (*wake)(void *ud);
    void *wake_ud;
    const struct miner_hooks *hooks; /* borrowed; NULL: honest */
    pthread_mutex_t qmu;             /* guards the event queue */
    struct exec_ev *head, *tail;
};

/* ---- the event queue (any thread) ---- */

static void push(struct exec *ex, struct exec_ev *ev)
{
    ev->next = NULL;
    ev->t_ns = clock_mono_ns();
    pthread_mutex_lock(&ex->qmu);
    bool was_empty = ex->head == NULL;
    if (ex->tail)
        ex->tail->next = ev;
    else
        ex->head = ev;
    ex->tail = ev;
    pthread_mutex_unlock(&ex->qmu);
    /* One wake per batch: the loop drains everything queued when it runs. */
    if (was_empty)
        ex->wake(ex->wake_ud);
}

struct exec_ev *exec_take(struct exec *ex)
{
    pthread_mutex_lock(&ex->qmu);
    struct exec_ev *list = ex->head;
    ex->head = ex->tail = NULL;
    pthread_mutex_unlock(&ex->qmu);
    return list;
}

void exec_ev_free(struct exec_ev *list)
{
    while (list) {
        struct exec_ev *next = list->next;
        free(list->scored);
        free(list);
        list = next;
    }
}

/* ---- worker threads ---- */

struct gen_state {
    struct slot *s;
    uint32_t n;
    bool eog, cancelled;
};

static int on_token(void *ud, const struct eng_pick *pick)
{
    struct gen_state *g = ud;
    if (atomic_load_explicit(&g->s->cancel, memory_order_relaxed)) {
        g->cancelled = true; /* this token is dropped: the pool stopped wanting it */
        return 1;
    }
    struct exec_ev *ev = xcalloc(1, sizeof *ev);
    ev->kind = EXEC_TOKEN;
    ev->slot = g->s->idx;
    ev->pick = *pick;
    g->n++;
    g->eog = eng_vocab_is_eog(g->s->m->vocab, pick->id);
    push(g->s->ex, ev);
    return 0;
}

static void run_gen(struct slot *s, struct work *w, struct exec_ev *done)
{
    struct gen_state g = {.s = s};
    struct eng_gen_stats st = {0};
    const struct miner_hooks *h = s->ex->hooks;
    done->rc = 0;
    if (atomic_load(&s->cancel)) {
        g.cancelled = true;
    } else if (h && h->generate) {
        struct miner_gen job = {.slot = s->idx,
                                .model = (int)(s->m - s->ex->models),
                                .engine = s->m->model,
                                .n_vocab = s->m->n_vocab,
                                .n_ctx = s->m->n_ctx,
                                .ctx = s->ctx,
                                .sampler = s->sampler,
                                .threads = s->ex->threads,
                                .sp = &w->sp,
                                .prompt = w->prompt,
                                .n_prompt = w->n_prompt,
                                .max_tokens = w->max_tokens,
                                .top_n = w->top_n};
        done->rc = h->generate(h->ud, &job, on_token, &g, &st);
    } else {
        done->rc = eng_generate(s->ctx, s->sampler, &w->sp, w->prompt, w->n_prompt,
                                (int32_t)w->max_tokens, w->top_n, on_token, &g, &st);
    }
    done->finish = g.cancelled ? PROTO_FIN_CANCELLED : g.eog ? PROTO_FIN_EOG : PROTO_FIN_LENGTH;
    done->n = g.n;
    done->prompt_ms = st.prompt_s * 1e3;
    done->gen_ms = st.gen_s * 1e3;
}

static void run_score(struct slot *s, struct work *w, struct exec_ev *done)
{
    done->scored = malloc(w->n_completion * sizeof *done->scored);
    if (!done->scored) {
        done->rc = FIEF_ENOMEM;
        return;
    }
    done->n_scored = w->n_completion;
    double t0 = clock_mono_s();
    done->rc = eng_score(s->ctx, s->sampler, w->sampled ? &w->sp : NULL, w->prompt, w->n_prompt,
                         w->completion, w->n_completion, done->scored);
    done->prompt_ms = (clock_mono_s() - t0) * 1e3;
    const struct miner_hooks *h = s->ex->hooks;
    if (!done->rc && h && h->scored) {
        struct miner_score req = {.slot = s->idx,
                                  .model = (int)(s->m - s->ex->models),
                                  .n_vocab = s->m->n_vocab,
                                  .sp = w->sampled ? &w->sp : NULL,
                                  .prompt = w->prompt,
                                  .n_prompt = w->n_prompt,
                                  .completion = w->completion,
                                  .n_completion = w->n_completion};
        h->scored(h->ud, &req, done->scored, done->n_scored);
    }
}

static void *slot_main(void *arg)
{
    struct slot *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->work.kind == WORK_NONE && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        struct work w = s->work;
        s->work = (struct work){0};
        pthread_mutex_unlock(&s->mu);

        struct exec_ev *done = xcalloc(1, sizeof *done);
        done->kind = EXEC_DONE;
        done->slot = s->idx;
        if (w.kind == WORK_GEN)
            run_gen(s, &w, done);
        else
            run_score(s, &w, done);
        free(w.prompt);
        free(w.completion);
        push(s->ex, done);
    }
}

/* ---- loop-thread API ---- */

int exec_slot_acquire(struct exec *ex, int model, uint64_t owner)
{
    const struct exec_model *m = &ex->models[model];
    for (int i = m->first_slot; i < m->first_slot + m->n_slots; i++) {
        if (!ex->slots[i].owner) {
            ex->slots[i].owner = owner;
            atomic_store(&ex->slots[i].cancel, false);
            return i;
        }
    }
    return -1;
}

uint64_t exec_slot_owner(const struct exec *ex, int slot)
{
    return ex->slots[slot].owner;
}

void exec_slot_release(struct exec *ex, int slot)
{
    ex->slots[slot].owner = 0;
}

static void give(struct slot *s, const struct work *w)
{
    pthread_mutex_lock(&s->mu);
    s->work = *w;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void exec_generate(struct exec *ex, int slot, int32_t *prompt, uint32_t n_prompt,
                   uint32_t max_tokens, const struct eng_sampling *sp, int top_n)
{
    struct work w = {.kind = WORK_GEN,
                     .prompt = prompt,
                     .n_prompt = n_prompt,
                     .max_tokens = max_tokens,
                     .top_n = top_n,
                     .sp = *sp};
    give(&ex->slots[slot], &w);
}

void exec_score(struct exec *ex, int slot, int32_t *prompt, uint32_t n_prompt, int32_t *completion,
                uint32_t n_completion, const struct eng_sampling *sp)
{
    struct work w = {.kind = WORK_SCORE,
                     .prompt = prompt,
                     .n_prompt = n_prompt,
                     .completion = completion,
                     .n_completion = n_completion,
                     .sampled = sp != NULL};
    if (sp)
        w.sp = *sp;
    give(&ex->slots[slot], &w);
}

void exec_cancel(struct exec *ex, int slot)
{
    atomic_store(&ex->slots[slot].cancel, true);
}

void exec_cancel_owner(struct exec *ex, uint64_t owner)
{
    for (int i = 0; i < ex->n_slots; i++)
        if (ex->slots[i].owner == owner)
            exec_cancel(ex, i);
}

int exec_n_models(const struct exec *ex)
{
    return ex->n_models;
}

const struct exec_model *exec_model(const struct exec *ex, int i)
{
    return &ex->models[i];
}

int exec_n_slots(const struct exec *ex)
{
    return ex->n_slots;
}

const struct exec_model *exec_slot_model(const struct exec *ex, int slot)
{
    return ex->slots[slot].m;
}

/* ---- setup ---- */

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Decode speed of one slot alone: a short greedy generation (eog ignored, so
 * the count is fixed) after a one-token prompt. The pool uses it to prefer
 * fast miners; it is a hint, the pool measures real jobs itself. */
static double measure_tps(struct eng_ctx *c, const struct exec_model *m, int n)
{
    float *logits = malloc((size_t)m->n_vocab * sizeof *logits);
    if (!logits || n <= 0) {
        free(logits);
        return 0;
    }
    int32_t bos = eng_vocab_bos(m->vocab), tok = bos >= 0 ? bos : 0;
    int done = 0;
    eng_ctx_truncate(c, 0);
    int rc = eng_decode(c, &tok, 1, logits);
    double t0 = clock_mono_s();
    while (!rc && done < n && eng_ctx_pos(c) < eng_ctx_size(c)) {
        tok = argmax(logits, m->n_vocab);
        if (!(rc = eng_decode(c, &tok, 1, logits)))
            done++;
    }
    double dt = clock_mono_s() - t0;
    eng_ctx_truncate(c, 0);
    free(logits);
    return done && dt > 0 ? done / dt : 0;
}

static int load_model(struct exec *ex, const struct exec_opts *o, int i, char err[FIEF_ERR_LEN])
{
    struct exec_model *m = &ex->models[i];
    char e[FIEF_ERR_LEN];
    snprintf(m->name, sizeof m->name, "%s", o->names[i]);
    m->path = xstrdup(o->paths[i]);
    log_info("model %s: hashing %s", m->name, m->path);
    int rc = digest_file(m->path, m->digest, e);
    if (!rc)
        rc = eng_model_load(m->path, &m->model, e);
    if (rc)
        return fief_errf(err, rc, "model %s: %s", m->name, e);
    struct eng_model_info info;
    eng_model_get_info(m->model, &info);
    m->vocab = eng_model_vocab(m->model);
    m->n_vocab = info.n_vocab;
    int32_t train = info.n_ctx_train > 0 ? info.n_ctx_train : DEFAULT_CTX;
    m->n_ctx = o->n_ctx > 0 ? o->n_ctx : (train < DEFAULT_CTX ? train : DEFAULT_CTX);
    if (m->n_ctx > ENG_MAX_CTX)
        m->n_ctx = ENG_MAX_CTX;
    if (m->n_ctx > train)
        log_warn("model %s: --ctx %d is beyond the %d positions it was trained for", m->name,
                 m->n_ctx, train);
    return 0;
}

static int make_slot(struct exec *ex, struct exec_model *m, int idx, char err[FIEF_ERR_LEN])
{
    struct slot *s = &ex->slots[idx];
    char e[FIEF_ERR_LEN];
    s->ex = ex;
    s->idx = idx;
    s->m = m;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->cancel, false);
    int rc = eng_ctx_new(m->model, m->n_ctx, ex->threads, &s->ctx, e);
    if (rc)
        return fief_errf(err, rc, "model %s, slot %d: %s", m->name, idx, e);
    if (!(s->sampler = eng_sampler_new(m->n_vocab)))
        return fief_errf(err, FIEF_ENOMEM, "model %s: no memory for a sampler", m->name);
    return 0;
}

static int build(struct exec *ex, const struct exec_opts *o, char err[FIEF_ERR_LEN])
{
    if (!(ex->threads = eng_threads_new(o->threads)))
        return fief_errf(err, FIEF_ENOMEM, "cannot start %d engine threads", o->threads);
    ex->slots = xcalloc((size_t)o->n_models * (size_t)o->slots, sizeof *ex->slots);
    for (int i = 0; i < o->n_models; i++) {
        int rc = load_model(ex, o, i, err);
        ex->n_models = i + 1;
        if (rc)
            return rc;
        struct exec_model *m = &ex->models[i];
        m->first_slot = ex->n_slots;
        m->n_slots = o->slots;
        for (int k = 0; k < o->slots; k++) {
            ex->n_slots++; /* counted before make_slot so exec_free cleans a half-made one */
            if ((rc = make_slot(ex, m, m->first_slot + k, err)))
                return rc;
        }
        m->tps = measure_tps(ex->slots[m->first_slot].ctx, m, o->bench_tokens);
        log_notice("model %s: %s, ctx %d, %d slot(s), %.1f tok/s", m->name, m->digest, m->n_ctx,
                   m->n_slots, m->tps);
    }
    for (int i = 0; i < ex->n_slots; i++) {
        if (pthread_create(&ex->slots[i].tid, NULL, slot_main, &ex->slots[i]) != 0)
            return fief_errf(err, FIEF_ENOMEM, "cannot start a slot thread");
        ex->slots[i].started = true;
    }
    return 0;
}

int exec_new(const struct exec_opts *o, struct exec **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    if (o->threads < 1 || o->slots < 1 || o->n_models < 1 || o->n_models > PROTO_MAX_MODELS ||
        !o->wake)
        return fief_errf(err, FIEF_EINVAL, "exec: bad options");
    struct exec *ex = xcalloc(1, sizeof *ex);
    ex->wake = o->wake;
    ex->wake_ud = o->wake_ud;
    ex->hooks = o->hooks;
    pthread_mutex_init(&ex->qmu, NULL);
    int rc = build(ex, o, err);
    if (rc) {
        exec_free(ex);
        return rc;
    }
    *out = ex;
    return 0;
}

static void stop_slot(struct slot *s)
{
    if (!s->started)
        return;
    atomic_store(&s->cancel, true);
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->tid, NULL);
}

void exec_free(struct exec *ex)
{
    if (!ex)
        return;
    for (int i = 0; i < ex->n_slots; i++)
        stop_slot(&ex->slots[i]);
    for (int i = 0; i < ex->n_slots; i++) {
        struct slot *s = &ex->slots[i];
        free(s->work.prompt); /* work given but never taken */
        free(s->work.completion);
        eng_ctx_free(s->ctx);
        eng_sampler_free(s->sampler);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    for (int i = 0; i < ex->n_models; i++) {
        eng_model_free(ex->models[i].model);
        free(ex->models[i].path);
    }
    free(ex->slots);
    eng_threads_free(ex->threads);
    exec_ev_free(exec_take(ex));
    pthread_mutex_destroy(&ex->qmu);
    free(ex);
}
