/* SPDX-License-Identifier: MIT */
/* The SQLite driver: a database file in WAL mode with durable commits, a
 * busy timeout for the other connections (the pool's write thread, a `fief`
 * command in another process), and PRAGMA user_version / application_id for
 * the schema's version and identity. */
#include "ledger/db_impl.h"

#include "common/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 'fief' in PRAGMA application_id: tells our database from any other SQLite
 * file someone points --data at. */
#define APP_ID 0x66696566
/* How long a connection waits for another's lock before reporting busy. */
#define BUSY_MS 10000

struct lite_stmt {
    struct db_stmt base;
    sqlite3_stmt *st;
};

static sqlite3 *conn(struct db *d)
{
    return d->conn;
}

static sqlite3_stmt *raw(struct db_stmt *st)
{
    return ((struct lite_stmt *)st)->st;
}

/* ---- connection ---- */

static bool is_format_error(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* Run a one-row query (a PRAGMA) and copy its first column as text. */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        snprintf(out, cap, "%s", t ? (const char *)t : "");
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* SQLite's rc as FIEF_EFORMAT (not a database) or FIEF_EIO, with err; the
 * connection is closed. */
static int open_fail(struct db *d, int rc, const char *what, char err[FIEF_ERR_LEN])
{
    const char *msg = conn(d) ? sqlite3_errmsg(conn(d)) : sqlite3_errstr(rc);
    if (is_format_error(rc))
        rc = fief_errf(err, FIEF_EFORMAT, "%s is not a fief database (%s)", d->target, msg);
    else
        rc = fief_errf(err, FIEF_EIO, "%s: %s: %s", d->target, what, msg);
    sqlite3_close(conn(d));
    d->conn = NULL;
    return rc;
}

static int lite_open(struct db *d, const char *path, char err[FIEF_ERR_LEN])
{
    sqlite3 *db = NULL;
    /* NOMUTEX: each connection has one user at a time (see db.h), so
     * SQLite's per-call mutex would be pure overhead on the key check. */
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    d->conn = db;
    if (rc != SQLITE_OK)
        return open_fail(d, rc, "cannot open", err);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_MS);
    char mode[16];
    if ((rc = query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode)) != SQLITE_OK)
        return open_fail(d, rc, "cannot enable WAL", err);
    if (strcmp(mode, "wal") != 0) {
        sqlite3_close(db);
        return fief_errf(err, FIEF_EIO,
                         "%s: the file system does not support SQLite's WAL mode (got \"%s\"); "
                         "put --data on a local disk",
                         path, mode);
    }
    /* synchronous FULL: each group commit is fsynced, so a committed job
     * survives a power cut, not only a crash; grouping keeps that affordable.
     * A 64 MiB page cache keeps a large group from spilling pages to the WAL
     * mid-transaction; temp_store MEMORY keeps savepoint journals off disk. */
    rc = sqlite3_exec(db,
                      "PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;"
                      " PRAGMA temp_store = MEMORY",
                      NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : open_fail(d, rc, "cannot configure", err);
}

static void lite_close(struct db *d)
{
    sqlite3_close(conn(d));
}

/* ---- statements ---- */

static struct db_stmt *lite_prepare(struct db *d, const char *sql, int n_params)
{
    (void)n_params;
    sqlite3_stmt *raw_st;
    if (sqlite3_prepare_v3(conn(d), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw_st, NULL) !=
        SQLITE_OK)
        return NULL;
    struct lite_stmt *st = xcalloc(1, sizeof *st);
    st->st = raw_st;
    return &st->base;
}

static void lite_finalize(struct db_stmt *st)
{
    sqlite3_finalize(raw(st));
    free(st);
}

static void lite_bind(struct db_stmt *st, int i, const struct db_value *v)
{
    switch (v->type) {
    case DBV_NULL:
        sqlite3_bind_null(raw(st), i);
        break;
    case DBV_INT:
        sqlite3_bind_int64(raw(st), i, v->i);
        break;
    case DBV_TEXT:
        sqlite3_bind_text(raw(st), i, v->p, (int)v->n, SQLITE_STATIC);
        break;
    case DBV_BLOB:
        sqlite3_bind_blob(raw(st), i, v->p, (int)v->n, SQLITE_STATIC);
        break;
    }
}

static int lite_step(struct db_stmt *st)
{
    int rc = sqlite3_step(raw(st));
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? FIEF_ENOTFOUND : FIEF_EIO;
}

static void lite_reset(struct db_stmt *st)
{
    sqlite3_reset(raw(st));
    sqlite3_clear_bindings(raw(st));
}

static void lite_column(struct db_stmt *st, int col, struct db_value *out)
{
    sqlite3_stmt *s = raw(st);
    switch (sqlite3_column_type(s, col)) {
    case SQLITE_NULL:
        out->type = DBV_NULL;
        return;
    case SQLITE_INTEGER:
        out->type = DBV_INT;
        out->i = sqlite3_column_int64(s, col);
        return;
    case SQLITE_BLOB:
        out->type = DBV_BLOB;
        out->p = sqlite3_column_blob(s, col);
        out->n = (size_t)sqlite3_column_bytes(s, col);
        return;
    case SQLITE_TEXT:
        out->type = DBV_TEXT;
        out->p = sqlite3_column_text(s, col);
        out->n = (size_t)sqlite3_column_bytes(s, col);
        return;
    default: /* a real number: fief never stores one; read its integer part */
        out->type = DBV_INT;
        out->i = sqlite3_column_int64(s, col);
        return;
    }
}

static int64_t lite_changes(struct db *d)
{
    return sqlite3_changes(conn(d));
}

static int lite_script(struct db *d, const char *sql)
{
    return sqlite3_exec(conn(d), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : FIEF_EIO;
}

static bool lite_in_txn(struct db *d)
{
    return sqlite3_get_autocommit(conn(d)) == 0;
}

static int lite_lock(struct db *d, int64_t id)
{
    (void)d;
    (void)id;
    return 0; /* BEGIN IMMEDIATE holds the only write lock there is */
}

/* ---- schema ---- */

static int pragma_int(struct db *d, const char *sql, long *v)
{
    char text[32];
    int rc = query_text(conn(d), sql, text, sizeof text);
    *v = rc == SQLITE_OK ? strtol(text, NULL, 10) : 0;
    return rc == SQLITE_OK ? 0 : FIEF_EIO;
}

static int lite_version_get(struct db *d, int *v)
{
    long x;
    int rc = pragma_int(d, "PRAGMA user_version", &x);
    *v = (int)x;
    return rc;
}

static int lite_version_set(struct db *d, int v)
{
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    return lite_script(d, sql);
}

static int lite_migrate_begin(struct db *d)
{
    return lite_script(d, "BEGIN IMMEDIATE");
}

static int lite_identity(struct db *d, bool claim)
{
    long app;
    if (pragma_int(d, "PRAGMA application_id", &app))
        return FIEF_EIO;
    if (app != 0 && app != APP_ID)
        return FIEF_EFORMAT;
    if (claim && app == 0)
        return lite_script(d, "PRAGMA application_id = 1718183270"); /* APP_ID */
    return 0;
}

/* ---- errors ---- */

static int lite_error_code(struct db *d)
{
    switch (sqlite3_extended_errcode(conn(d)) & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return FIEF_EINVAL;
    default:
        return FIEF_EIO;
    }
}

static const char *lite_errmsg(struct db *d)
{
    return conn(d) ? sqlite3_errmsg(conn(d)) : "not open";
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite",
    .dollar_params = false,
    .ddl_id = "INTEGER PRIMARY KEY",
    .ddl_blob = "BLOB",
    .ddl_norow = " WITHOUT ROWID",
    .begin_sql = "BEGIN IMMEDIATE",
    .open = lite_open,
    .close = lite_close,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .bind = lite_bind,
    .step = lite_step,
    .reset = lite_reset,
    .column = lite_column,
    .changes = lite_changes,
    .script = lite_script,
    .in_txn = lite_in_txn,
    .lock = lite_lock,
    .version_get = lite_version_get,
    .version_set = lite_version_set,
    .migrate_begin = lite_migrate_begin,
    .identity = lite_identity,
    .error_code = lite_error_code,
    .errmsg = lite_errmsg,
};
