/* SPDX-License-Identifier: MIT */
/* The engine's worker pool (struct eng_threads, public lifecycle in engine.h).
 * thr_run() runs fn(arg, ith, nth) on every thread of the pool, the calling
 * thread being ith 0, and returns when all have finished. Workers spin briefly
 * after a job (the next matrix product usually follows within microseconds)
 * and then sleep on a condition variable, so an idle pool costs no CPU. */
#ifndef FIEF_THREADS_H
#define FIEF_THREADS_H

#include "engine/engine.h"

typedef void (*thr_fn)(void *arg, int ith, int nth);

/* Run fn on all threads. Only one thread may call thr_run on a pool at a time:
 * hold thr_lock() around a whole forward pass. */
void thr_run(struct eng_threads *t, thr_fn fn, void *arg);

/* Serialise forward passes of several contexts sharing one pool. */
void thr_lock(struct eng_threads *t);
void thr_unlock(struct eng_threads *t);

/* Split n items among nth threads: [*lo, *hi) for thread ith. */
void thr_range(size_t n, int ith, int nth, size_t *lo, size_t *hi);

#endif
