/* SPDX-License-Identifier: MIT */
/* The store's SQL: the schema as a list of migrations (PRAGMA user_version
 * counts those applied), every statement the store runs, and the connection
 * setup and prepared-statement cache they share. */
#include "ledger/store_impl.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 'fief' in PRAGMA application_id: tells our database from any other SQLite
 * file someone points --data at. */
#define STORE_APP_ID 0x66696566
/* How long a connection waits for another's lock (the pool's write thread,
 * or a `fief keys` in another process) before reporting busy. */
#define STORE_BUSY_MS 10000

/* ---- schema ----
 * Append a migration for every change; never edit one that has shipped, or
 * databases created by an older fief would miss the edit. Money tables
 * (postings, holds, payouts) arrive with the ledger as migration 2 onward. */
static const char *const migrations[] = {
    /* 1: keys, miners, jobs and usage */
    "PRAGMA application_id = 1718183270;" /* STORE_APP_ID */
    "CREATE TABLE keys ("
    "  id INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE," /* BLAKE2b-256 of the key text */
    "  prefix TEXT NOT NULL,"      /* first 12 characters, for listings */
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE miners ("
    "  id INTEGER PRIMARY KEY,"
    "  pubkey TEXT NOT NULL UNIQUE," /* hex ed25519 key: the identity */
    "  payout TEXT NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  first_seen_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  jobs INTEGER NOT NULL DEFAULT 0,"
    "  tokens INTEGER NOT NULL DEFAULT 0,"
    "  banned INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY,"
    "  key_id INTEGER NOT NULL,"
    "  model TEXT NOT NULL,"
    "  status INTEGER NOT NULL," /* enum store_job_status */
    "  prompt_tokens INTEGER NOT NULL,"
    "  completion_tokens INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX jobs_by_key ON jobs(key_id, finished_ms);"
    "CREATE TABLE job_parts (" /* who produced a job's tokens, in order */
    "  job_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  miner_id INTEGER NOT NULL," /* miners.id */
    "  tokens INTEGER NOT NULL,"
    "  PRIMARY KEY (job_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX job_parts_by_miner ON job_parts(miner_id);"
    "CREATE TABLE key_usage ("
    "  key_id INTEGER PRIMARY KEY,"
    "  requests INTEGER NOT NULL,"
    "  prompt_tokens INTEGER NOT NULL,"
    "  completion_tokens INTEGER NOT NULL);"
    "CREATE TABLE totals ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  requests INTEGER NOT NULL,"
    "  prompt_tokens INTEGER NOT NULL,"
    "  completion_tokens INTEGER NOT NULL);"
    "INSERT INTO totals VALUES (1, 0, 0, 0);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

#define KEY_COLS "SELECT id, name, prefix, created_ms, revoked_ms FROM keys "

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO op",
    [ST_KEY_INSERT] = "INSERT INTO keys (hash, prefix, name, created_ms) VALUES (?1, ?2, ?3, ?4)",
    [ST_KEY_BY_HASH] = KEY_COLS "WHERE hash = ?1",
    [ST_KEY_BY_ID] = KEY_COLS "WHERE id = ?1",
    /* substr, not LIKE: '_' is a base64url character and a LIKE wildcard. */
    [ST_KEY_BY_PREFIX] = KEY_COLS "WHERE substr(prefix, 1, length(?1)) = ?1 ORDER BY id LIMIT 2",
    [ST_KEY_LIST] = KEY_COLS "ORDER BY id",
    [ST_KEY_REVOKE] = "UPDATE keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0",
    [ST_MINER_SEEN] = "INSERT INTO miners (pubkey, payout, worker, first_seen_ms, last_seen_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (pubkey) DO UPDATE SET"
                      " payout = excluded.payout, worker = excluded.worker,"
                      " last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
    /* A job part may name a miner whose sighting was lost; keep its work. */
    [ST_MINER_WORK] =
        "INSERT INTO miners (pubkey, payout, worker, first_seen_ms, last_seen_ms, jobs, tokens)"
        " VALUES (?1, '', '', ?2, ?2, ?3, ?4) ON CONFLICT (pubkey) DO UPDATE SET"
        " jobs = jobs + excluded.jobs, tokens = tokens + excluded.tokens RETURNING id",
    [ST_MINER_GET] = "SELECT payout, worker, first_seen_ms, last_seen_ms, jobs, tokens, banned"
                     " FROM miners WHERE pubkey = ?1",
    /* OR IGNORE: a job recorded twice (a retried write) counts once. */
    [ST_JOB_INSERT] = "INSERT OR IGNORE INTO jobs (id, key_id, model, status, prompt_tokens,"
                      " completion_tokens, created_ms, finished_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_JOB_PART] = "INSERT INTO job_parts (job_id, seq, miner_id, tokens) VALUES (?1, ?2, ?3, ?4)",
    [ST_USAGE_ADD] =
        "INSERT INTO key_usage (key_id, requests, prompt_tokens, completion_tokens)"
        " VALUES (?1, 1, ?2, ?3) ON CONFLICT (key_id) DO UPDATE SET requests = requests + 1,"
        " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
        " completion_tokens = completion_tokens + excluded.completion_tokens",
    [ST_USAGE_GET] =
        "SELECT requests, prompt_tokens, completion_tokens FROM key_usage WHERE key_id = ?1",
    [ST_TOTALS_ADD] = "UPDATE totals SET requests = requests + 1,"
                      " prompt_tokens = prompt_tokens + ?1,"
                      " completion_tokens = completion_tokens + ?2 WHERE id = 1",
    [ST_TOTALS_GET] = "SELECT requests, prompt_tokens, completion_tokens FROM totals WHERE id = 1",
};

int store_schema_version(void)
{
    return N_MIGRATIONS;
}

/* ---- connections ---- */

static bool is_format_error(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* Run a one-row query (a PRAGMA) and copy its first column as text. */
static int query_text(struct store_conn *c, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        snprintf(out, cap, "%s", t ? (const char *)t : "");
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Turn SQLite's rc into FIEF_EFORMAT (not a database) or FIEF_EIO, with err. */
static int db_fail(struct store_conn *c, const char *path, int rc, const char *what,
                   char err[FIEF_ERR_LEN])
{
    const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    if (is_format_error(rc))
        return fief_errf(err, FIEF_EFORMAT, "%s is not a fief database (%s)", path, msg);
    return fief_errf(err, FIEF_EIO, "%s: %s: %s", path, what, msg);
}

/* db_fail for store_conn_open, which leaves nothing open on failure. */
static int conn_fail(struct store_conn *c, const char *path, int rc, const char *what,
                     char err[FIEF_ERR_LEN])
{
    rc = db_fail(c, path, rc, what, err);
    store_conn_close(c);
    return rc;
}

int store_conn_open(struct store_conn *c, const char *path, const char *name,
                    char err[FIEF_ERR_LEN])
{
    memset(c, 0, sizeof *c);
    c->name = name;
    /* NOMUTEX: each connection has one user at a time (see store.h), so
     * SQLite's per-call mutex would be pure overhead on the key check. */
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return conn_fail(c, path, rc, "cannot open", err);
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
    char mode[16];
    rc = query_text(c, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if (rc != SQLITE_OK)
        return conn_fail(c, path, rc, "cannot enable WAL", err);
    if (strcmp(mode, "wal") != 0) {
        store_conn_close(c);
        return fief_errf(err, FIEF_EIO,
                         "%s: the file system does not support SQLite's WAL mode (got \"%s\"); "
                         "put --data on a local disk",
                         path, mode);
    }
    /* synchronous FULL: each group commit is fsynced, so a committed job
     * survives a power cut, not only a crash; grouping keeps that affordable.
     * A 64 MiB page cache keeps a large group from spilling pages to the WAL
     * mid-transaction; temp_store MEMORY keeps savepoint journals off disk. */
    rc = sqlite3_exec(c->db,
                      "PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;"
                      " PRAGMA temp_store = MEMORY",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return conn_fail(c, path, rc, "cannot configure", err);
    return 0;
}

void store_conn_close(struct store_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt_id id)
{
    sqlite3_stmt *st = c->st[id];
    if (st)
        return st;
    int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        log_err("store (%s): cannot prepare \"%s\": %s", c->name, stmt_sql[id],
                sqlite3_errmsg(c->db));
        return NULL;
    }
    c->st[id] = st;
    return st;
}

int store_sql_fail(struct store_conn *c, const char *what)
{
    int rc = sqlite3_extended_errcode(c->db) & 0xff;
    log_err("store (%s): %s: %s", c->name, what, sqlite3_errmsg(c->db));
    switch (rc) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return FIEF_EINVAL;
    default:
        return FIEF_EIO;
    }
}

int store_exec_stmt(struct store_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_sql_fail(c, sqlite3_sql(st));
    store_stmt_done(st);
    return ret;
}

int store_step_row(struct store_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? FIEF_ENOTFOUND : store_sql_fail(c, sqlite3_sql(st));
}

void store_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = 0;
}

int store_bind_text(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
    return sqlite3_bind_text(st, i, s, (int)strnlen(s, cap), SQLITE_STATIC);
}

bool store_field_ok(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/* ---- migrations ---- */

static int user_version(struct store_conn *c, int *v)
{
    char text[32];
    int rc = query_text(c, "PRAGMA user_version", text, sizeof text);
    *v = rc == SQLITE_OK ? (int)strtol(text, NULL, 10) : 0;
    return rc;
}

static int check_identity(struct store_conn *c, const char *path, int version,
                          char err[FIEF_ERR_LEN])
{
    char text[32];
    int rc = query_text(c, "PRAGMA application_id", text, sizeof text);
    if (rc != SQLITE_OK)
        return db_fail(c, path, rc, "cannot read", err);
    long app = strtol(text, NULL, 10);
    if (app != 0 && app != STORE_APP_ID)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s is some other program's SQLite database, "
                         "not fief's; choose another --data directory",
                         path);
    if (version > N_MIGRATIONS)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s has schema version %d, but this fief (%s) knows versions up to %d: "
                         "it was written by a newer fief; upgrade fief to use it",
                         path, version, FIEF_VERSION, N_MIGRATIONS);
    return 0;
}

/* Apply migrations from the current version on, in one transaction. The
 * version is read again under the write lock: another process (the pool and
 * `fief keys` starting together) may have migrated in between. */
static int migrate_locked(struct store_conn *c, const char *path, char err[FIEF_ERR_LEN])
{
    int v, rc = user_version(c, &v);
    if (rc != SQLITE_OK)
        return db_fail(c, path, rc, "cannot read the schema version", err);
    if ((rc = check_identity(c, path, v, err)))
        return rc;
    for (; v < N_MIGRATIONS; v++) {
        char *msg = NULL;
        char bump[48];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(c->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(c->db, bump, NULL, NULL, &msg) != SQLITE_OK) {
            rc = fief_errf(err, FIEF_EFORMAT, "%s: cannot migrate the schema to version %d: %s",
                           path, v + 1, msg ? msg : "unknown error");
            sqlite3_free(msg);
            return rc;
        }
    }
    return 0;
}

int store_migrate(struct store_conn *c, const char *path, char err[FIEF_ERR_LEN])
{
    int v, rc = user_version(c, &v);
    if (rc != SQLITE_OK)
        return db_fail(c, path, rc, "cannot read the schema version", err);
    if ((rc = check_identity(c, path, v, err)))
        return rc;
    if (v == N_MIGRATIONS)
        return 0;
    if ((rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
        return db_fail(c, path, rc, "cannot lock for the schema migration", err);
    rc = migrate_locked(c, path, err);
    if (rc == 0 && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fief_errf(err, FIEF_EIO, "%s: cannot commit the schema migration: %s", path,
                       sqlite3_errmsg(c->db));
    if (rc)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0)
        log_info("store: %s: schema at version %d", path, N_MIGRATIONS);
    return rc;
}
