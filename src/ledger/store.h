/* SPDX-License-Identifier: MIT */
/* The pool's persistent state: API keys (stored hashed), miners, jobs and
 * usage, and the ledger's tables (ledger.h). SQLite (WAL) in the data
 * directory by default; PostgreSQL when the pool's `store` setting is a
 * postgres:// URL. The same SQL runs on both (db.h).
 *
 * Threads: each struct store has a write thread with its own connection.
 * Writes that the event loop must not wait for (job records, miner
 * sightings, holds and settlements) are queued with the *_async calls and
 * committed in groups on that thread. Reads and the few synchronous writes
 * (key management, deposits, payouts) run on the calling thread through the
 * store's other connection, so apart from the *_async calls a store is used
 * by one thread at a time. Several processes may open the same store (the
 * pool and `fief keys`): SQLite's WAL and busy timeout, or PostgreSQL's
 * transactions, arbitrate.
 *
 * Errors: 0 or a negative FIEF_E* code; err gets a message for the user. */
#ifndef FIEF_STORE_H
#define FIEF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct store;

/* Open (creating if needed, mode 0700, parents too) the data directory dir
 * and the database: dir/pool.db (created 0600) when url is NULL or empty,
 * else the PostgreSQL database url names ("postgres://..." or
 * "postgresql://...", as libpq reads it). Creates or migrates the schema
 * and starts the write thread. Returns 0, FIEF_EIO (cannot create, open or
 * connect), FIEF_EFORMAT (a database from a newer fief, or not fief's),
 * FIEF_EUNSUPPORTED (another URL scheme) with err set. The caller frees the
 * store with store_close. */
int store_open_url(const char *dir, const char *url, struct store **out, char err[FIEF_ERR_LEN]);
/* store_open_url(dir, NULL, ...): SQLite in dir. */
int store_open(const char *dir, struct store **out, char err[FIEF_ERR_LEN]);
/* Which database the store uses: "sqlite" or "postgres". */
const char *store_backend(struct store *s);
/* Flushes queued writes, then closes. NULL is a no-op. */
void store_close(struct store *s);
/* Block until every write queued so far is committed (tests, shutdown). */
void store_flush(struct store *s);

/* The write thread's counters (for /metrics). Any thread. */
struct store_stats {
    uint64_t queued;    /* writes waiting now */
    uint64_t committed; /* writes committed since open */
    uint64_t dropped;   /* writes refused by the database (a bug, or a replayed settlement)
                           or given up on at close */
    uint64_t batches;   /* group commits */
};
void store_stats_get(struct store *s, struct store_stats *out);

/* ---- API keys ----
 * A key is "fief-" followed by 43 base64url characters (256 random bits).
 * Only a BLAKE2b hash of it is stored; the key itself is shown once. */
#define STORE_KEY_LEN 48
#define STORE_KEY_NAME 64

struct store_key {
    int64_t id;                  /* stable row id */
    char name[STORE_KEY_NAME + 1];
    char prefix[13];             /* first 12 characters of the key, for listings */
    int64_t created_ms;
    int64_t revoked_ms;          /* 0 while active */
};

/* Create a key named name (may be empty). key_out gets the key text. */
int store_key_create(struct store *s, const char *name, char key_out[STORE_KEY_LEN + 1],
                     struct store_key *info, char err[FIEF_ERR_LEN]);
/* Check a presented key: 0 and *info (may be NULL) when it exists and is
 * active; FIEF_ENOTFOUND when malformed, unknown or revoked (the caller
 * answers 401 either way); FIEF_EIO when the database fails (answer 500).
 * One hash and one indexed read, a few microseconds; sees keys created or
 * revoked by other processes at once. */
int store_key_check(struct store *s, const char *key, size_t len, struct store_key *info);
/* List keys, oldest first; cb returns non-zero to stop. cb must not call
 * store_key_list itself. 0 or FIEF_EIO. */
int store_key_list(struct store *s, int (*cb)(void *ud, const struct store_key *k), void *ud);
/* Find a key by id (decimal), by unique prefix (starting "fief-", at most
 * 12 characters) or by the whole key, revoked or not. 0 and *info,
 * FIEF_ENOTFOUND, FIEF_EINVAL (ambiguous prefix, or neither form), FIEF_EIO
 * with err set. */
int store_key_find(struct store *s, const char *id_or_prefix, struct store_key *info,
                   char err[FIEF_ERR_LEN]);
/* Revoke by id (decimal), by unique prefix (starting "fief-", at most 12
 * characters) or by the whole key. FIEF_ENOTFOUND, FIEF_EINVAL (ambiguous
 * prefix, or neither form) with err set; revoking twice is a no-op. *info
 * (may be NULL) gets the key as it now is. */
int store_key_revoke(struct store *s, const char *id_or_prefix, struct store_key *info,
                     char err[FIEF_ERR_LEN]);

/* ---- miners ---- */
struct store_miner {
    char pubkey[65];      /* hex ed25519 key: the miner's identity */
    char payout[513];
    char worker[65];
    int64_t first_seen_ms, last_seen_ms;
    uint64_t jobs, tokens; /* totals served */
    bool banned;           /* by an audit (ledger_audit.h): its connections are refused */
    char ban_reason[257];
    int64_t banned_ms;
    int64_t ban_audit;     /* the audit that decided the ban (audits.id) */
};
/* Record a miner's authenticated session (insert or update payout, worker,
 * last_seen). Queued; strings longer than their store_miner field are a
 * caller bug, logged and dropped. */
void store_miner_seen_async(struct store *s, const char *pubkey, const char *payout,
                            const char *worker, int64_t now_ms);
/* 0 and *out, FIEF_ENOTFOUND, or FIEF_EIO. */
int store_miner_get(struct store *s, const char *pubkey, struct store_miner *out);

/* ---- jobs and usage ---- */
enum store_job_status { STORE_JOB_DONE = 1, STORE_JOB_CANCELLED, STORE_JOB_FAILED };

#define STORE_JOB_MAX_PARTS 8 /* parts kept per job: the pool folds later failovers into the last */

struct store_job_part { /* the share of a job one miner produced */
    char pubkey[65];
    uint32_t tokens;
};

struct store_job {
    char id[65];               /* the pool's job id */
    int64_t key_id;            /* customer key */
    char model[65];
    enum store_job_status status;
    uint32_t prompt_tokens;    /* as the pool counted them */
    uint32_t completion_tokens;
    int64_t created_ms, finished_ms;
    uint32_t n_parts;          /* miners that produced tokens, in order (failover) */
    struct store_job_part parts[STORE_JOB_MAX_PARTS];
};
/* Record a finished job and add its usage to the key, the miners and the
 * pool totals. Queued (j is copied); committed in a group with other writes,
 * a job's rows and counters all or none. A job id recorded before is
 * ignored, so a retried write never counts twice. A miner may appear in
 * several parts (it came back after a failover): its job count grows by one.
 * A malformed record (empty id, unterminated string, n_parts above
 * STORE_JOB_MAX_PARTS) is a caller bug, logged and dropped. */
void store_job_finish_async(struct store *s, const struct store_job *j);

struct store_usage {
    uint64_t requests, prompt_tokens, completion_tokens;
};
/* Totals for a key (all time; zeros for a key with no jobs). 0 or FIEF_EIO. */
int store_usage_for_key(struct store *s, int64_t key_id, struct store_usage *out);
/* Pool-wide totals (jobs, tokens) for /api/pool. 0 or FIEF_EIO. */
int store_totals(struct store *s, struct store_usage *out);

/* ---- views (store_views.c): committed rows, the caller's thread ---- */

struct store_settled { /* one settled request (ledger.h) */
    char req[65];
    int64_t key_id;
    char model[65];
    uint32_t prompt_tokens, completion_tokens;
    int64_t cost, fee; /* micro-credits */
    int64_t created_ms;
};
/* The settlement of request req: 0 and *out, FIEF_ENOTFOUND (unknown, not
 * settled yet, or it produced nothing and was only released), FIEF_EIO. */
int store_settled_get(struct store *s, const char *req, struct store_settled *out);
/* A key's latest settlements, newest first: at most cap into out, *n of
 * them. 0 or FIEF_EIO. */
int store_settled_recent(struct store *s, int64_t key_id, struct store_settled *out, uint32_t cap,
                         uint32_t *n);

/* The miner whose key is id or starts with id (8 to 64 lowercase hex
 * digits, e.g. the 16-digit short id): 0 and pubkey, FIEF_ENOTFOUND,
 * FIEF_EINVAL (several miners start so), FIEF_EIO. */
int store_miner_find(struct store *s, const char *id, char pubkey[65]);

struct store_model_work { /* what a miner served of one model, all time */
    char model[65];
    uint64_t jobs, tokens;
};
/* Per model, by name: at most cap rows. 0 or FIEF_EIO. */
int store_miner_models(struct store *s, const char *pubkey, struct store_model_work *out,
                       uint32_t cap, uint32_t *n);

struct store_miner_job { /* one job a miner worked on */
    char job[65];
    char model[65];
    uint32_t tokens;             /* the tokens this miner produced for it */
    enum store_job_status status;
    int64_t finished_ms;
};
/* A miner's latest jobs, newest first: at most cap rows. 0 or FIEF_EIO. */
int store_miner_jobs(struct store *s, const char *pubkey, struct store_miner_job *out,
                     uint32_t cap, uint32_t *n);

#endif
