/* SPDX-License-Identifier: MIT */
/* fief-rogue's cheats: a miner's hooks (miner/hooks.h) that misbehave in one
 * chosen way, for tests that prove the pool's audits catch each cheat. Test
 * code only, never part of the fief binary. rogue.c is the command line;
 * this is the part tests/unit/test_rogue.c drives directly.
 *
 * On the wire (what the pool and its auditors see):
 *   smaller   offer: -m's name and digest; tokens: the small model's ids and
 *             its log-probs, finish as it ends (auditors: picks and log-probs
 *             disagree nearly everywhere)
 *   random    n = max_tokens random ids (never eog or BOS), log-probs in
 *             [-3.05, -0.05], finish "length", prompt_ms 0
 *   forge     honest ids, every log-prob -0.01 (or true + shift): only the
 *             log-prob rule can catch it
 *   replay    the first honest job's ids and log-probs, for another prompt
 *   truncate  K honest tokens, then an eog id with a claimed log-prob (the
 *             true one when top_n shows it, else -0.5): finish "eog", n = K+1;
 *             one disagreeing position, the last, where the auditor's sampler
 *             would not pick eog. --truncate-end length: K tokens, finish
 *             "length" with n < max_tokens (visible without an audit)
 *   seen      random (as above) on a new prompt, honest on a repeated one
 *   liar      honest jobs; score results: picks and top_ids another token
 *             than the claimed one, log-probs 5 nats lower, margins 10
 *             (greedy) or 1 (sampled): every position disagrees
 *
 * Threads: rogue_generate and rogue_scored run on the miner's slot workers,
 * several at once; shared state is under rogue.mu. */
#ifndef FIEF_ROGUE_H
#define FIEF_ROGUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/engine.h"
#include "miner/hooks.h"

enum rogue_kind {
    ROGUE_HONEST = 0, /* no cheat (a control) */
    ROGUE_SMALLER,    /* generates with --cheat-model, claims the -m model */
    ROGUE_RANDOM,     /* random ids, plausible log-probs, no engine at all */
    ROGUE_FORGE,      /* honest ids, forged log-probs */
    ROGUE_REPLAY,     /* the tokens of an earlier honest job */
    ROGUE_TRUNCATE,   /* honest, then an early end (a fake eog, or just stopping) */
    ROGUE_SEEN,       /* honest on prompts seen before, random on new ones */
    ROGUE_LIAR,       /* honest jobs; as an auditor, scores that fail honest work */
};

/* "smaller", "random", ... -> kind; -1 when unknown. */
int rogue_kind_parse(const char *s);
const char *rogue_kind_name(enum rogue_kind k);

struct rogue_opts {
    enum rogue_kind kind;
    uint64_t after;    /* honest for the first `after` jobs (score requests for liar) */
    double rate;       /* then cheat on this share of them, 0..1 (default 1) */
    uint64_t seed;     /* rate draws and random tokens (default 1) */
    const char *small; /* smaller: the model to really generate with */
    float forge_lp;    /* forge: every claimed log-prob is this (default -0.01)... */
    bool forge_shift;  /* ...or, when set, the true one plus forge_add, capped at 0 */
    float forge_add;
    int32_t keep; /* truncate: tokens kept before the end; < 0: max_tokens / 4 */
    bool end_eog; /* truncate: end with an eog token (default) or just stop */
    float end_lp; /* truncate: the log-prob claimed for that eog (default -0.5) */
};
void rogue_opts_defaults(struct rogue_opts *o);

#define ROGUE_REPLAY_MAX 4096 /* tokens of the completion a replayer keeps */
#define ROGUE_MAX_MODELS 16   /* = MINER_MAX_MODELS */

/* A set of 64-bit hashes (open addressing; 0 is stored as 1). */
struct rogue_set {
    uint64_t *slot;
    size_t cap, n;
};

struct rogue {
    struct rogue_opts o;
    pthread_mutex_t mu;                        /* guards everything below but ctx */
    uint64_t n_gen, n_score;                   /* jobs and score requests seen */
    uint64_t cheated, honest;                  /* decisions taken (jobs and scores) */
    uint64_t rng;                              /* rate draws */
    struct rogue_set seen;                     /* seen: prompts (model, ids) */
    struct eng_pick *replay[ROGUE_MAX_MODELS]; /* replay: one honest completion per model */
    uint32_t n_replay[ROGUE_MAX_MODELS];
    struct eng_model *small; /* smaller: owned */
    struct eng_ctx **ctx;    /* smaller: one per slot, made on first use; slot-owned */
    int n_ctx_slots;
};

/* Set r up for o (copied; o->small is loaded, and must share the vocabulary
 * size of model_path, the model whose digest it claims). n_slots bounds
 * miner_gen.slot. 0 or FIEF_E* with err. */
int rogue_init(struct rogue *r, const struct rogue_opts *o, const char *model_path, int n_slots,
               char err[FIEF_ERR_LEN]);
void rogue_deinit(struct rogue *r);

/* The hooks, with ud = r. */
int rogue_generate(void *ud, const struct miner_gen *job, eng_token_cb cb, void *cb_ud,
                   struct eng_gen_stats *st);
void rogue_scored(void *ud, const struct miner_score *req, struct eng_score_tok *out, uint32_t n);

/* ---- pieces, exposed for the unit test ---- */

/* Whether the next unit (counted in *counter, under r->mu; its index in
 * *idx when not NULL) is cheated on: never among the first o.after, then
 * with probability o.rate (drawn from o.seed, so a run is repeatable). */
bool rogue_decide(struct rogue *r, uint64_t *counter, uint64_t *idx);

/* Insert h; returns true when it was already there. */
bool rogue_set_add(struct rogue_set *s, uint64_t h);
void rogue_set_free(struct rogue_set *s);
uint64_t rogue_prompt_hash(int model, const int32_t *ids, uint32_t n);

/* A random token for position i: an id in [0, n_vocab) that is neither an
 * end-of-generation token nor BOS, a log-prob in [-3.05, -0.05] and top_n
 * alternatives (itself first) with falling log-probs. rng is advanced. */
void rogue_random_pick(uint64_t *rng, const struct eng_vocab *v, int32_t n_vocab, int top_n,
                       struct eng_pick *out);
/* The forged log-prob for a true one. */
float rogue_forge_lp(const struct rogue_opts *o, float lp);
/* Tokens kept before a truncated job ends. */
uint32_t rogue_keep(const struct rogue_opts *o, uint32_t max_tokens);
/* Rewrite a scoring pass's results into a lie that fails honest work: every
 * position's pick and top-1 another token than the claimed one, its
 * log-prob 5 nats lower, margins 1 (sampled) or 10 (greedy). */
void rogue_lie(const struct miner_score *req, struct eng_score_tok *out, uint32_t n);

#endif
