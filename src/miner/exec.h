/* SPDX-License-Identifier: MIT */
/* The miner's execution side: the loaded models and their slots. A slot is
 * one engine context with its own worker thread; every slot shares one engine
 * thread pool, so forward passes of concurrent jobs take turns on it.
 *
 * Threads: the event-loop thread owns slot assignment (acquire, start,
 * cancel, release); worker threads only run the work they were given and
 * report through a mutex-protected event queue. When that queue goes from
 * empty to non-empty, the worker calls the wake callback (which must be safe
 * from any thread: the agent uses event_active) and the loop drains it with
 * exec_take. Nothing here knows about sockets or the wire. */
#ifndef FIEF_MINER_EXEC_H
#define FIEF_MINER_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/digest.h"
#include "engine/engine.h"
#include "miner/hooks.h"
#include "proto/proto.h"

struct exec;

/* A served model; read-only after exec_new, valid until exec_free. */
struct exec_model {
    char name[PROTO_MAX_NAME + 1]; /* the miner's name for it */
    char digest[DIGEST_LEN + 1];   /* "sha256:..." of the file */
    char *path;                    /* owned */
    struct eng_model *model;       /* owned */
    const struct eng_vocab *vocab; /* borrowed from model */
    int32_t n_vocab;
    int32_t n_ctx;           /* positions per slot */
    double tps;              /* measured decode tokens/s (one slot alone) */
    int first_slot, n_slots; /* its slots: [first_slot, first_slot + n_slots) */
};

struct exec_opts {
    int threads;      /* engine threads, >= 1 */
    int slots;        /* slots per model, >= 1 */
    int n_ctx;        /* 0: min(model's, 4096) */
    int bench_tokens; /* speed measurement length; 0: skip */
    int n_models;
    const char *names[PROTO_MAX_MODELS]; /* valid names */
    const char *paths[PROTO_MAX_MODELS];
    void (*wake)(void *ud); /* called from worker threads; see above */
    void *wake_ud;
    const struct miner_hooks *hooks; /* NULL: honest; else borrowed until exec_free */
};

/* Load every model (digest, mmap, speed), make the contexts, start the
 * workers. Returns 0 and *out, or FIEF_EIO/EFORMAT/EUNSUPPORTED/ENOMEM with
 * err naming the model. Slow: hashes and touches every model file. */
int exec_new(const struct exec_opts *o, struct exec **out, char err[FIEF_ERR_LEN]);
/* Cancel running work, join the workers, free everything. NULL: no-op. */
void exec_free(struct exec *ex);

int exec_n_models(const struct exec *ex);
const struct exec_model *exec_model(const struct exec *ex, int i);
int exec_n_slots(const struct exec *ex);
const struct exec_model *exec_slot_model(const struct exec *ex, int slot);

/* ---- loop thread ---- */

/* Reserve a free slot of model i for owner (an opaque non-zero tag: the
 * session). Returns the slot index or -1 when all are busy. The slot stays
 * reserved until exec_slot_release, even after its work ended. */
int exec_slot_acquire(struct exec *ex, int model, uint64_t owner);
uint64_t exec_slot_owner(const struct exec *ex, int slot);
/* Free a slot after its EXEC_DONE event was handled (or if no work was given). */
void exec_slot_release(struct exec *ex, int slot);

/* Start a generation on a reserved slot. Takes ownership of prompt (malloc'd).
 * Ids must be valid and n_prompt + max_tokens <= the model's n_ctx (the
 * caller checked). Tokens come as EXEC_TOKEN events, then one EXEC_DONE. */
void exec_generate(struct exec *ex, int slot, int32_t *prompt, uint32_t n_prompt,
                   uint32_t max_tokens, const struct eng_sampling *sp, int top_n);
/* Start teacher-forced scoring; takes ownership of prompt and completion.
 * sp (copied; NULL: greedy, no penalty) is the audited job's sampling: the
 * results then carry its sampler's picks and margins (eng_score). One
 * EXEC_DONE event carries the result. */
void exec_score(struct exec *ex, int slot, int32_t *prompt, uint32_t n_prompt, int32_t *completion,
                uint32_t n_completion, const struct eng_sampling *sp);
/* Stop the slot's work at its next token (EXEC_DONE follows, cancelled). */
void exec_cancel(struct exec *ex, int slot);
/* Cancel the work of every slot reserved by owner. */
void exec_cancel_owner(struct exec *ex, uint64_t owner);

enum exec_ev_kind { EXEC_TOKEN = 1, EXEC_DONE };

struct exec_ev {
    struct exec_ev *next;
    enum exec_ev_kind kind;
    int slot;
    uint64_t t_ns;        /* clock_mono_ns when the worker queued it */
    struct eng_pick pick; /* EXEC_TOKEN */
    /* EXEC_DONE */
    int rc;                   /* 0, or the engine's error */
    enum proto_finish finish; /* generation: why it ended */
    uint32_t n;               /* generation: tokens reported */
    double prompt_ms, gen_ms;
    struct eng_score_tok *scored; /* score: n_scored results, picks and margins included
                                     (owned by the event), else NULL */
    uint32_t n_scored;
};

/* Detach every queued event, oldest first (NULL when none). The caller owns
 * the list and frees it with exec_ev_free. */
struct exec_ev *exec_take(struct exec *ex);
void exec_ev_free(struct exec_ev *list);

#endif
