/* SPDX-License-Identifier: MIT */
/* The pool's configuration: one struct, defaults, and one declarative table
 * of settings that both the INI file (-c FILE) and the command-line flags go
 * through, so a value is validated the same way whichever way it came. */
#ifndef FIEF_POOL_CFG_H
#define FIEF_POOL_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define POOL_MAX_MODELS 64
#define POOL_MAX_VALIDATORS 32
#define POOL_CFG_STR 256

struct buf;

struct pool_cfg_model {
    char name[65];              /* [A-Za-z0-9._:-]+, what customers put in "model" */
    char path[POOL_CFG_STR];    /* the GGUF file (only its tokenizer is read) */
    uint64_t price_in;          /* micro-credits per million prompt tokens */
    uint64_t price_out;         /* micro-credits per million completion tokens */
};

struct pool_cfg {
    char name[65];                  /* pool name, published to miners and customers */
    char listen_miners[POOL_CFG_STR]; /* HOST:PORT for miners, default 0.0.0.0:3333 */
    char listen_http[POOL_CFG_STR];   /* HOST:PORT for the HTTP API, default 0.0.0.0:8080 */
    char data_dir[POOL_CFG_STR];    /* state (SQLite), default ~/.fief/pool */
    char store[POOL_CFG_STR];       /* empty: SQLite in data_dir; a postgres:// URL: PostgreSQL */
    char admin_token[POOL_CFG_STR]; /* bearer token for /admin; empty disables /admin */
    uint32_t fee_ppm;               /* pool fee, parts per million (default 20000 = 2%);
                                       at most 500000: a pool keeping more than half of
                                       what miners earn is a typo, not a business */
    uint32_t maturity_s;            /* earnings maturity window, seconds (default 86400) */
    int64_t min_payout;             /* smallest payout, micro-credits (default 1 credit) */
    /* Audits (docs/audits.md): a part of a job by a key that passed P audits
     * is audited with probability max(audit_floor, audit_rate * audit_half /
     * (audit_half + P)). */
    double audit_rate;              /* rate of a new key, published (default 1.0) */
    uint32_t audit_half;            /* passes that halve the rate (default 20) */
    double audit_floor;             /* the lowest rate (default 0.02) */
    double greedy_margin;           /* verdict: logit gap forgiven at a greedy position (0.05) */
    double sample_margin;           /* ... probability mass at a sampled position (0.002) */
    double logprob_tol;             /* ... |claimed - auditor's| log-prob, nats (0.05) */
    double tie_tol;                 /* ... a sampled claim this close to the pick's
                                       log-prob is a near-tie, forgiven (0.1) */
    uint32_t audit_slack;           /* ... disagreeing positions always forgiven (1) */
    double audit_slack_rate;        /* ... or this share of the part's, if more (0.01) */
    uint32_t audit_timeout_ms;      /* an audit waits this long for an auditor, and an
                                       auditor has this long to answer (default 60000) */
    uint32_t audit_queue;           /* audits waiting for an auditor at most (default 256) */
    double audit_recheck;           /* share of passed audits checked by a second auditor
                                       (catches auditors covering cheats; default 0.1) */
    uint32_t audit_strikes;         /* an auditor in the minority this often is punished
                                       as a cheater (default 2) */
    uint32_t n_validators;          /* the operator's trusted auditors (fief miner
                                       --validator), lowercase hex keys */
    char validators[POOL_MAX_VALIDATORS][65];
    uint32_t queue_max;             /* waiting jobs per model before 429 (default 256) */
    uint32_t first_token_ms;        /* deadline for a miner's first token (default 30000) */
    uint32_t token_ms;              /* deadline between tokens (default 10000) */
    uint32_t max_tokens_default;    /* when a request gives none (default 256) */
    uint32_t max_body;              /* HTTP body limit, bytes (default 4 MiB) */
    uint32_t max_miners;            /* miner connections (default 4096) */
    uint32_t max_unauth_per_ip;     /* connections per IP before auth (default 16) */
    uint32_t auth_timeout_ms;       /* hello+auth must finish within (default 10000) */
    uint32_t ping_ms;               /* ping an idle miner after (default 15000); dropped
                                       after 3x without any line from it */
    char log_level[16];             /* err|warn|notice|info|debug */
    uint32_t n_models;
    struct pool_cfg_model models[POOL_MAX_MODELS];
};

/* Defaults as commented above; data_dir is $HOME/.fief/pool, or empty when
 * there is no home directory (pool_cfg_check then asks for --data). */
void pool_cfg_defaults(struct pool_cfg *c);

/* Set one setting by name, from a file or a flag. Names are those of the INI
 * file: "name", "listen_miners", "fee" ("2%", "0.02" or "20000ppm"), ...;
 * '-' may stand for '_', so a flag --listen-http maps to listen_http. A
 * model's settings are "model.NAME.path", "model.NAME.price_in" (credits per
 * million tokens, decimal, e.g. "0.5"; default 0, free), "model.NAME.price_out".
 * Paths expand a leading "~". Returns 0 or FIEF_EINVAL (FIEF_ELIMIT past
 * POOL_MAX_MODELS) with err naming the setting and the accepted values. */
int pool_cfg_set(struct pool_cfg *c, const char *key, const char *value, char err[FIEF_ERR_LEN]);

/* The --model NAME=PATH.gguf flag: model.NAME.path. */
int pool_cfg_set_model_flag(struct pool_cfg *c, const char *arg, char err[FIEF_ERR_LEN]);

/* Append a help line for every setting, as flags ("--listen-http HOST:PORT")
 * with what it does and its default. */
void pool_cfg_help(struct buf *b);

/* Load an INI file: [pool] (or no section) holds the pool settings, [model
 * NAME] sections hold path/price_in/price_out; docs/pool.example.ini shows
 * every one. Relative paths in the file are relative to the file's
 * directory. Lines are at most 198 characters. Errors (unknown section or
 * key, bad value, syntax) name the file, line and setting: FIEF_EINVAL, or
 * FIEF_EIO when the file cannot be read. Values already in c are kept unless
 * the file sets them, so load the file first and apply flags after. */
int pool_cfg_load(struct pool_cfg *c, const char *path, char err[FIEF_ERR_LEN]);

/* Check the whole config after loading (at least one model, distinct
 * listeners, ...). 0 or FIEF_EINVAL with err set. */
int pool_cfg_check(const struct pool_cfg *c, char err[FIEF_ERR_LEN]);

/* "0.5" -> 500000 micro-credits, exactly (no floating point): digits with an
 * optional '.' and 1..6 decimals; no sign, exponent or spaces. At most
 * INT64_MAX micro-credits (what SQL stores). Fees: "2%" (up to 4 decimals),
 * "0.02" (up to 6) or "20000ppm", at most 50%. Exposed for the ledger and
 * tests. 0, FIEF_EINVAL (malformed, too many decimals) or FIEF_ERANGE (too
 * large). */
int pool_cfg_parse_credits(const char *s, uint64_t *micro);
int pool_cfg_parse_fee(const char *s, uint32_t *ppm);

#endif
