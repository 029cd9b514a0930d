/* SPDX-License-Identifier: MIT */
/* Hooks into a miner's work, for test tools that misbehave on purpose
 * (tests/tools/rogue.c: miners that cheat, so the pool's audits can be shown
 * to catch them). The fief binary never sets them: miner_cfg.hooks is NULL
 * and the miner generates and scores honestly.
 *
 * Ownership: the hooks struct and its ud are the caller's; the miner borrows
 * them from miner_new until miner_free returns. Everything a hook is handed
 * (the job, the context, the prompt) is borrowed for the call only.
 *
 * Threads: hooks run on the slot worker threads, several at a time when there
 * are several slots (one call per slot at a time). Shared state in ud needs
 * its own lock; a hook may keep per-slot state indexed by slot without one. */
#ifndef FIEF_MINER_HOOKS_H
#define FIEF_MINER_HOOKS_H

#include <stdint.h>

#include "engine/engine.h"

/* One generation job, as the honest miner would run it. */
struct miner_gen {
    int slot;                       /* exec slot: 0..slots * models - 1 */
    int model;                      /* index of the -m model */
    const struct eng_model *engine; /* that model (its weights, its vocab) */
    int32_t n_vocab;
    int32_t n_ctx;                 /* positions of ctx */
    struct eng_ctx *ctx;           /* the slot's context */
    struct eng_sampler *sampler;   /* the slot's sampler (n_vocab) */
    struct eng_threads *threads;   /* the engine thread pool all slots share */
    const struct eng_sampling *sp; /* the job's sampling, protocol penalty window included */
    const int32_t *prompt;
    uint32_t n_prompt;
    uint32_t max_tokens;
    int top_n; /* alternatives per token the pool asked for */
};

/* One score request (an audit), after the honest scoring pass. */
struct miner_score {
    int slot, model;
    int32_t n_vocab;
    const struct eng_sampling *sp; /* the audited job's sampling; NULL: greedy */
    const int32_t *prompt;
    uint32_t n_prompt;
    const int32_t *completion;
    uint32_t n_completion;
};

struct miner_hooks {
    void *ud; /* passed to every hook */
    /* Replaces eng_generate for a job (NULL: eng_generate). It reports each
     * token through cb(cb_ud, pick) as eng_generate does, stops as soon as
     * cb returns non-zero (the pool cancelled), never reports more than
     * max_tokens tokens nor any after an end-of-generation token, and only
     * ids in [0, n_vocab). The job's finish follows from what was reported:
     * "eog" when the last token is an end-of-generation token, "cancelled"
     * when cb asked to stop, else "length". Returns 0 or an engine error
     * (the job then fails with error 9). st may be left zero. */
    int (*generate)(void *ud, const struct miner_gen *job, eng_token_cb cb, void *cb_ud,
                    struct eng_gen_stats *st);
    /* Called after a successful scoring pass with its n = n_completion
     * results, which it may rewrite before they are sent (NULL: none). */
    void (*scored)(void *ud, const struct miner_score *req, struct eng_score_tok *out, uint32_t n);
};

#endif
