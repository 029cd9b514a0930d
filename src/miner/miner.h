/* SPDX-License-Identifier: MIT */
/* The miner agent: serves the models on this machine to one pool at a time,
 * chosen from a priority list, over the wire protocol of src/proto.
 *
 * miner_new loads the identity key (creating it on first run), the models
 * (digest, load, a short speed measurement) and the slots; miner_run then
 * connects, authenticates, offers the models and serves jobs until
 * miner_stop. Pools that go away are retried with backoff, in priority
 * order; while on a backup pool the better ones are probed and returned to.
 *
 * Threads: miner_run runs the event loop on the calling thread; each slot
 * has a worker thread; all slots share one engine thread pool. */
#ifndef FIEF_MINER_H
#define FIEF_MINER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define MINER_MAX_POOLS 16  /* -o URLs */
#define MINER_MAX_MODELS 16 /* -m models (= PROTO_MAX_MODELS) */

struct miner_hooks; /* miner/hooks.h: test tools only */

struct miner_model_cfg {
    const char *name; /* the miner's own name for it; NULL: the file name without .gguf */
    const char *path; /* GGUF file */
};

/* Everything is borrowed for the duration of miner_new only (it copies),
 * except hooks. */
struct miner_cfg {
    const char *urls[MINER_MAX_POOLS]; /* "fief+tcp://HOST[:PORT]" or "HOST:PORT", priority order */
    int n_urls;
    const char *payout; /* payout account, printable ASCII */
    const char *worker; /* NULL: the host name */
    struct miner_model_cfg models[MINER_MAX_MODELS];
    int n_models;
    int slots;            /* concurrent jobs per model, 1..PROTO_MAX_SLOTS (default 1) */
    int threads;          /* engine threads shared by all slots; 0: one per CPU */
    int n_ctx;            /* positions per slot; 0: min(model's, 4096) */
    const char *data_dir; /* NULL: ~/.fief/miner (holds miner.key) */
    double max_fee_pct;   /* leave pools charging more; < 0: no limit (default) */
    bool handle_signals;  /* SIGINT/SIGTERM stop miner_run (the CLI sets it) */
    bool validator;       /* offer only the score capability: an auditor the pool may
                             trust (its config lists the key); jobs are refused */
    bool no_simd;         /* portable kernels only (quant_set_simd(false), for the whole
                             process): cross-checks between kernel paths */
    /* Timings in seconds. The defaults are what a pool expects; tests shorten them. */
    double ping_s;        /* ping a pool silent this long (15) */
    double silence_s;     /* drop a pool silent this long, or a handshake this slow (45) */
    double backoff_min_s; /* first reconnect delay, doubled per failed round (1) */
    double backoff_max_s; /* its ceiling (30) */
    double probe_s;       /* while on a backup pool, probe the better ones this often (30) */
    int bench_tokens;     /* tokens of the start-up speed measurement (16); 0: skip, tps 0 */
    /* NULL (the fief binary): honest work. Test tools that cheat on purpose set
     * it (miner/hooks.h); borrowed until miner_free returns. */
    const struct miner_hooks *hooks;
};

void miner_cfg_defaults(struct miner_cfg *c);

/* Check a configuration without loading anything (URLs, names, ranges): 0 or
 * FIEF_EINVAL/FIEF_EUNSUPPORTED with err saying which setting is wrong. The
 * CLI calls it to tell usage errors from failures; miner_new calls it too. */
int miner_cfg_check(const struct miner_cfg *c, char err[FIEF_ERR_LEN]);

struct miner;

/* Validate cfg, load the key and models, start the slots. Returns 0 and
 * *out (free with miner_free), or FIEF_EINVAL (bad cfg), FIEF_EIO/EFORMAT
 * (key file or model), FIEF_ENOMEM with err saying what and where. */
int miner_new(const struct miner_cfg *cfg, struct miner **out, char err[FIEF_ERR_LEN]);

/* Run the event loop on this thread until miner_stop (or a signal when
 * cfg.handle_signals). SIGPIPE is blocked on this thread while it runs.
 * Returns 0 on a clean stop. Call at most once. */
int miner_run(struct miner *m);

/* Ask miner_run to return: jobs are cancelled, the connection closed. Safe
 * from any thread, also before miner_run starts. */
void miner_stop(struct miner *m);

/* Free after miner_run has returned (or instead of running it). NULL is a no-op. */
void miner_free(struct miner *m);

/* The identity: the public key as 64 lowercase hex characters. Valid while m lives. */
const char *miner_pubkey(const struct miner *m);

/* Counters for tests and logs (thread-safe snapshot). */
struct miner_stats {
    uint64_t sessions; /* sessions that reached serving */
    uint64_t jobs;     /* jobs finished (any reason) */
    uint64_t tokens;   /* tokens sent */
    /* Token latency inside the miner, in microseconds: from the engine's
     * callback to the event loop taking the token (wake), and to its line
     * being written to the socket (relay). Quantiles to ~19%. */
    uint64_t relay_n; /* token lines timed */
    double relay_mean_us, relay_p50_us, relay_p99_us, relay_max_us;
    double wake_mean_us, wake_p50_us, wake_p99_us;
};
void miner_get_stats(struct miner *m, struct miner_stats *out);

#endif
