/* SPDX-License-Identifier: MIT */
/* What the store's own files (store*.c, and later the ledger) see of each
 * other: a connection with its cache of prepared statements, the queue of
 * writes for the write thread, and the schema migrations. Not for the pool. */
#ifndef FIEF_STORE_IMPL_H
#define FIEF_STORE_IMPL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "ledger/store.h"

/* Every statement the store runs, prepared once per connection on first use
 * (SQLITE_PREPARE_PERSISTENT). Add new ones at the end, with their SQL in
 * store_sql.c. */
enum store_stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_KEY_INSERT,
    ST_KEY_BY_HASH,
    ST_KEY_BY_ID,
    ST_KEY_BY_PREFIX,
    ST_KEY_LIST,
    ST_KEY_REVOKE,
    ST_MINER_SEEN,
    ST_MINER_WORK,
    ST_MINER_GET,
    ST_JOB_INSERT,
    ST_JOB_PART,
    ST_USAGE_ADD,
    ST_USAGE_GET,
    ST_TOTALS_ADD,
    ST_TOTALS_GET,
    ST_COUNT
};

/* One SQLite connection. Used by one thread at a time: the caller's thread
 * for the read connection, the write thread for the write connection. */
struct store_conn {
    sqlite3 *db;
    const char *name; /* "read" or "write", for log lines */
    sqlite3_stmt *st[ST_COUNT];
};

/* Open path with the settings every fief connection uses (WAL, busy
 * timeout, durable commits). 0, FIEF_EIO or FIEF_EFORMAT with err set. */
int store_conn_open(struct store_conn *c, const char *path, const char *name,
                    char err[FIEF_ERR_LEN]);
/* Finalize the cached statements and close. Idempotent. */
void store_conn_close(struct store_conn *c);
/* The cached statement id, reset and unbound, ready to bind; NULL (logged) if
 * it cannot be prepared. */
sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt_id id);
/* Step a statement that returns no rows, then reset it. 0; FIEF_EINVAL when
 * the data broke a constraint (the write itself is wrong); FIEF_EIO for
 * anything else (disk, lock, corruption: the transaction is worth retrying). */
int store_exec_stmt(struct store_conn *c, sqlite3_stmt *st);
/* Step a bound query once: 0 when a row is ready to read, FIEF_ENOTFOUND
 * when there is none, or as store_exec_stmt on failure. Does not reset: the
 * caller reads the row (or steps again), then calls store_stmt_done. */
int store_step_row(struct store_conn *c, sqlite3_stmt *st);
/* Reset and unbind a cached statement after use. */
void store_stmt_done(sqlite3_stmt *st);
/* Copy a text column into dst (cap bytes, truncating, always terminated). */
void store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
/* Map the connection's last error to FIEF_EINVAL/FIEF_EIO as above and log
 * it with what (a short description of the operation). */
int store_sql_fail(struct store_conn *c, const char *what);

/* Bring the schema up to date (PRAGMA user_version counts the migrations
 * applied). FIEF_EFORMAT when the database is newer than this fief, or not a
 * fief database. */
int store_migrate(struct store_conn *c, const char *path, char err[FIEF_ERR_LEN]);
/* The schema version this build writes. */
int store_schema_version(void);

/* ---- the write queue ----
 * A queued write: callers embed struct store_op first in their own struct,
 * malloc it, and hand it to store_op_push, which takes ownership. The write
 * thread calls apply inside the group's transaction and then free()s the
 * whole struct. apply returns 0, FIEF_EINVAL (the data broke a constraint:
 * the group is rolled back and run again with a savepoint per op, so only
 * this write is dropped) or FIEF_EIO (roll the group back and retry it). An
 * op may therefore be applied more than once before it commits: apply must
 * only write through the connection, never change other state. */
struct store_op {
    struct store_op *next;
    const char *what; /* for log lines: "job", "miner" ... */
    int (*apply)(struct store_conn *wr, const struct store_op *op);
};
/* Queue op; returns at once unless more than STORE_QUEUE_MAX writes are
 * waiting (a dead disk), where it waits rather than lose the books. */
void store_op_push(struct store *s, struct store_op *op);
#define STORE_QUEUE_MAX (1u << 20)

/* The caller-thread connection. */
struct store_conn *store_rconn(struct store *s);

/* Bind helpers: text from a fixed-size field (never reads past cap). */
int store_bind_text(sqlite3_stmt *st, int i, const char *s, size_t cap);
/* strnlen(s, cap) < cap: the field is NUL-terminated inside its array. */
bool store_field_ok(const char *s, size_t cap);

#endif
