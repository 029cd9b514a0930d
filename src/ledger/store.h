/* SPDX-License-Identifier: MIT */
/* The pool's persistent state in SQLite (WAL) under the data directory: API
 * keys (stored hashed), miners, jobs and usage. The ledger (postings,
 * balances, payouts) will live here too.
 *
 * Threads: each struct store has a write thread with its own connection.
 * Writes that the event loop must not wait for (job records, miner
 * sightings) are queued with the store_*_async calls and committed in groups
 * on that thread. Reads and the few synchronous writes (key management) run on
 * the calling thread through the store's other connection, so apart from the
 * *_async calls a store is used by one thread at a time. Several processes may
 * open the same directory (the pool and `fief keys`): SQLite's WAL and a busy
 * timeout arbitrate.
 *
 * Errors: 0 or a negative FIEF_E* code; err gets a message for the user. */
#ifndef FIEF_STORE_H
#define FIEF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct store;

/* Open (creating if needed, mode 0700) the data directory dir and its
 * database dir/pool.db, creating or migrating the schema, and start the write
 * thread. Returns 0, FIEF_EIO (cannot create or
 * open), FIEF_EFORMAT (a database from a newer fief) with err set. */
int store_open(const char *dir, struct store **out, char err[FIEF_ERR_LEN]);
/* Flushes queued writes, then closes. NULL is a no-op. */
void store_close(struct store *s);
/* Block until every write queued so far is committed (tests, shutdown). */
void store_flush(struct store *s);

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
/* Check a presented key: 0 and *info when it exists and is active;
 * FIEF_ENOTFOUND when unknown or revoked (the caller answers 401 either way).
 * Constant work per call, no I/O beyond an indexed read. */
int store_key_check(struct store *s, const char *key, size_t len, struct store_key *info);
/* List keys, oldest first; cb returns non-zero to stop. */
int store_key_list(struct store *s, int (*cb)(void *ud, const struct store_key *k), void *ud);
/* Revoke by id (decimal) or by prefix (unique). FIEF_ENOTFOUND, FIEF_EINVAL
 * (ambiguous prefix) with err set; revoking twice is a no-op. */
int store_key_revoke(struct store *s, const char *id_or_prefix, char err[FIEF_ERR_LEN]);

/* ---- miners ---- */
struct store_miner {
    char pubkey[65];      /* hex ed25519 key: the miner's identity */
    char payout[513];
    char worker[65];
    int64_t first_seen_ms, last_seen_ms;
    uint64_t jobs, tokens; /* totals served */
    bool banned;
};
/* Record a miner's authenticated session (insert or update payout, worker,
 * last_seen). Queued. */
void store_miner_seen_async(struct store *s, const char *pubkey, const char *payout,
                            const char *worker, int64_t now_ms);
/* 0 and *out, or FIEF_ENOTFOUND. */
int store_miner_get(struct store *s, const char *pubkey, struct store_miner *out);

/* ---- jobs and usage ---- */
enum store_job_status { STORE_JOB_DONE = 1, STORE_JOB_CANCELLED, STORE_JOB_FAILED };

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
    struct store_job_part parts[8];
};
/* Record a finished job and add its usage to the key and the miners. Queued;
 * committed in a group with other writes. */
void store_job_finish_async(struct store *s, const struct store_job *j);

struct store_usage {
    uint64_t requests, prompt_tokens, completion_tokens;
};
/* Totals for a key (all time). */
int store_usage_for_key(struct store *s, int64_t key_id, struct store_usage *out);
/* Pool-wide totals (jobs, tokens) for /api/pool. */
int store_totals(struct store *s, struct store_usage *out);

#endif
