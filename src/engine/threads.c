/* SPDX-License-Identifier: MIT */
/* A fork-join worker pool for the forward pass: one job at a time, the caller
 * takes part, workers spin for a short while and then sleep. */
#include "engine/threads.h"
#include "common/clock.h"
#include "common/log.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long a worker polls for the next job before sleeping. Decode issues a
 * job every few microseconds, so this keeps the hand-off cheap while a model
 * runs, and costs nothing once it stops. */
#define SPIN_NS 200000u

struct eng_threads {
    int n;                    /* threads in all, caller included */
    pthread_t *tids;          /* (n - 1) workers */
    pthread_mutex_t run_lock; /* held for a whole forward pass */

    thr_fn fn;                /* current job; written before gen is bumped */
    void *arg;
    atomic_uint gen;          /* bumped once per job */
    atomic_int pending;       /* workers still inside the current job */
    atomic_int sleepers;      /* workers blocked on cv */
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct worker_arg {
    struct eng_threads *t;
    int ith;
};

static void wait_for_job(struct eng_threads *t, unsigned seen)
{
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&t->gen, memory_order_acquire) != seen ||
            atomic_load(&t->stop))
            return;
        cpu_relax();
        if ((i & 255) == 0) {
            uint64_t now = clock_mono_ns();
            if (!start)
                start = now;
            else if (now - start > SPIN_NS)
                break;
        }
    }
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add(&t->sleepers, 1);
    while (atomic_load(&t->gen) == seen && !atomic_load(&t->stop))
        pthread_cond_wait(&t->cv, &t->mu);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->mu);
}

static void *worker_main(void *p)
{
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct eng_threads *t = wa.t;
    unsigned seen = 0; /* no job can start before eng_threads_new returns */
    for (;;) {
        wait_for_job(t, seen);
        if (atomic_load(&t->stop))
            return NULL;
        seen = atomic_load_explicit(&t->gen, memory_order_acquire);
        t->fn(t->arg, wa.ith, t->n);
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_release);
    }
}

struct eng_threads *eng_threads_new(int n)
{
    if (n < 1 || n > 1024)
        return NULL;
    struct eng_threads *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->n = n;
    pthread_mutex_init(&t->run_lock, NULL);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->tids = calloc((size_t)n, sizeof *t->tids);
    if (!t->tids)
        goto fail;
    for (int i = 1; i < n; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            goto fail;
        wa->t = t;
        wa->ith = i;
        if (pthread_create(&t->tids[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            log_err("engine: cannot start worker thread %d of %d", i, n);
            t->n = i; /* only i - 1 workers exist */
            goto fail;
        }
    }
    return t;
fail:
    eng_threads_free(t);
    return NULL;
}

void eng_threads_free(struct eng_threads *t)
{
    if (!t)
        return;
    atomic_store(&t->stop, true);
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->tids)
        for (int i = 1; i < t->n; i++)
            pthread_join(t->tids[i - 1], NULL);
    free(t->tids);
    pthread_mutex_destroy(&t->run_lock);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

int eng_threads_count(const struct eng_threads *t)
{
    return t->n;
}

void thr_lock(struct eng_threads *t)
{
    pthread_mutex_lock(&t->run_lock);
}

void thr_unlock(struct eng_threads *t)
{
    pthread_mutex_unlock(&t->run_lock);
}

void thr_run(struct eng_threads *t, thr_fn fn, void *arg)
{
    if (t->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    t->fn = fn;
    t->arg = arg;
    atomic_store(&t->pending, t->n - 1);
    atomic_fetch_add(&t->gen, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->mu);
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
    fn(arg, 0, t->n);
    for (unsigned i = 0; atomic_load_explicit(&t->pending, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if ((i & 1023) == 1023)
            sched_yield(); /* a worker may be descheduled on a busy machine */
    }
}

void thr_range(size_t n, int ith, int nth, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)ith / (size_t)nth;
    *hi = n * (size_t)(ith + 1) / (size_t)nth;
}
