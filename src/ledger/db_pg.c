/* SPDX-License-Identifier: MIT */
/* The PostgreSQL driver (libpq): server-side prepared statements per
 * connection, parameters sent as text (blobs as binary), whole results
 * fetched at once, a reconnect when the server went away between
 * transactions, and the schema version in the table fief_schema. */
#include "ledger/db_impl.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock migrations take: 'fief' again. */
#define MIGRATE_LOCK 0x66696566LL
/* Type oids of the columns we read (pg_type.dat). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_NUMERIC 1700

struct pg_state {
    unsigned gen;       /* bumped on every (re)connect: prepared statements are gone */
    unsigned next_name; /* statement names s1, s2, ... */
    char sqlstate[6];   /* of the last failure; "08000" for a lost connection */
    char msg[512];
    int64_t changes;
};

struct pg_param {
    char *buf; /* owned copy of a text or integer value */
    size_t cap;
};

struct pg_stmt {
    struct db_stmt base;
    char name[16];
    char *sql;   /* translated, kept to prepare again after a reconnect */
    unsigned gen; /* the connection generation it is prepared in */
    int n;
    const char **vals;
    int *lens, *fmts;
    struct pg_param *params;
    PGresult *res;
    int row, nrows;
    unsigned char *blob; /* the last bytea column read, decoded */
    size_t blob_cap;
};

static PGconn *conn(struct db *d)
{
    return d->conn;
}

static struct pg_state *state(struct db *d)
{
    return d->drv_data;
}

static struct pg_stmt *pst(struct db_stmt *st)
{
    return (struct pg_stmt *)st;
}

/* Keep a failure's SQLSTATE and message (one line) for errmsg/error_code. */
static void set_error(struct db *d, const char *sqlstate, const char *msg)
{
    struct pg_state *ps = state(d);
    snprintf(ps->sqlstate, sizeof ps->sqlstate, "%s", sqlstate ? sqlstate : "XX000");
    snprintf(ps->msg, sizeof ps->msg, "%s", msg && *msg ? msg : "unknown error");
    for (char *p = ps->msg; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ' ' : 0;
}

static void result_error(struct db *d, PGresult *r)
{
    if (r)
        set_error(d, PQresultErrorField(r, PG_DIAG_SQLSTATE), PQresultErrorMessage(r));
    else
        set_error(d, "08000", PQerrorMessage(conn(d)));
}

/* Run sql without parameters; 0 or FIEF_EIO with the error kept. */
static int run(struct db *d, const char *sql)
{
    PGresult *r = PQexec(conn(d), sql);
    ExecStatusType es = PQresultStatus(r);
    int rc = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? 0 : FIEF_EIO;
    if (rc)
        result_error(d, r);
    PQclear(r);
    return rc;
}

/* ---- connection ---- */

static void quiet(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres: %s", message);
}

/* Session settings, after every (re)connect. */
static int session_setup(struct db *d)
{
    PQsetNoticeProcessor(conn(d), quiet, NULL);
    state(d)->gen++;
    return run(d, "SET client_min_messages = warning");
}

static int pg_open(struct db *d, const char *url, char err[FIEF_ERR_LEN])
{
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
    const char *vals[] = {url, "fief", "10", NULL};
    d->drv_data = xcalloc(1, sizeof(struct pg_state));
    d->conn = PQconnectdbParams(keys, vals, 1);
    int rc = 0;
    if (!d->conn || PQstatus(conn(d)) != CONNECTION_OK) {
        set_error(d, "08000", d->conn ? PQerrorMessage(conn(d)) : "out of memory");
        rc = fief_errf(err, FIEF_EIO, "cannot connect to PostgreSQL at %s: %s", d->target,
                       state(d)->msg);
    } else if (session_setup(d)) {
        rc = fief_errf(err, FIEF_EIO, "%s: %s", d->target, state(d)->msg);
    }
    if (rc) {
        PQfinish(conn(d));
        free(d->drv_data);
    }
    return rc;
}

static void pg_close(struct db *d)
{
    PQfinish(conn(d));
    free(d->drv_data);
}

/* Outside a transaction, a connection the server dropped (restart,
 * failover) is opened again; inside one, the transaction is lost anyway and
 * the caller retries it from BEGIN. */
static int ensure_conn(struct db *d)
{
    if (PQstatus(conn(d)) == CONNECTION_OK)
        return 0;
    log_warn("store (%s): lost the connection to %s; reconnecting", d->name, d->target);
    PQreset(conn(d));
    if (PQstatus(conn(d)) != CONNECTION_OK) {
        set_error(d, "08000", PQerrorMessage(conn(d)));
        return FIEF_EIO;
    }
    return session_setup(d);
}

/* ---- statements ---- */

static int server_prepare(struct db *d, struct pg_stmt *st)
{
    PGresult *r = PQprepare(conn(d), st->name, st->sql, st->n, NULL);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : FIEF_EIO;
    if (rc)
        result_error(d, r);
    else
        st->gen = state(d)->gen;
    PQclear(r);
    return rc;
}

static struct db_stmt *pg_prepare(struct db *d, const char *sql, int n_params)
{
    struct pg_stmt *st = xcalloc(1, sizeof *st);
    snprintf(st->name, sizeof st->name, "s%u", ++state(d)->next_name);
    st->sql = xstrdup(sql);
    st->n = n_params;
    size_t n = n_params ? (size_t)n_params : 1;
    st->vals = xcalloc(n, sizeof *st->vals);
    st->lens = xcalloc(n, sizeof *st->lens);
    st->fmts = xcalloc(n, sizeof *st->fmts);
    st->params = xcalloc(n, sizeof *st->params);
    if (ensure_conn(d) == 0 && server_prepare(d, st) == 0)
        return &st->base;
    free(st->sql);
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    free(st->params);
    free(st);
    return NULL;
}

static void pg_finalize(struct db_stmt *base)
{
    struct pg_stmt *st = pst(base);
    PQclear(st->res);
    for (int i = 0; i < st->n; i++)
        free(st->params[i].buf);
    free(st->params);
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    free(st->blob);
    free(st->sql);
    free(st);
}

/* Copy n bytes into parameter i's own buffer, terminated. */
static const char *param_copy(struct pg_stmt *st, int i, const void *p, size_t n)
{
    struct pg_param *pp = &st->params[i];
    if (pp->cap < n + 1) {
        pp->cap = n + 1 < 32 ? 32 : n + 1;
        pp->buf = xrealloc(pp->buf, pp->cap);
    }
    memcpy(pp->buf, p, n);
    pp->buf[n] = 0;
    return pp->buf;
}

static void pg_bind(struct db_stmt *base, int i, const struct db_value *v)
{
    struct pg_stmt *st = pst(base);
    char num[24];
    i--;
    st->fmts[i] = 0;
    st->lens[i] = 0;
    switch (v->type) {
    case DBV_NULL:
        st->vals[i] = NULL;
        break;
    case DBV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        st->vals[i] = param_copy(st, i, num, strlen(num));
        break;
    case DBV_TEXT:
        st->vals[i] = param_copy(st, i, v->p, v->n);
        break;
    case DBV_BLOB: /* binary: bytes as they are, borrowed until the reset */
        st->vals[i] = v->n ? v->p : "";
        st->lens[i] = (int)v->n;
        st->fmts[i] = 1;
        break;
    }
}

static int execute(struct db *d, struct pg_stmt *st)
{
    if (ensure_conn(d) || (st->gen != state(d)->gen && server_prepare(d, st)))
        return FIEF_EIO;
    PGresult *r = PQexecPrepared(conn(d), st->name, st->n, st->vals, st->lens, st->fmts, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
        result_error(d, r);
        PQclear(r);
        return FIEF_EIO;
    }
    st->res = r;
    st->row = -1;
    st->nrows = PQntuples(r);
    const char *n = PQcmdTuples(r);
    state(d)->changes = *n ? strtoll(n, NULL, 10) : 0;
    return 0;
}

static int pg_step(struct db_stmt *base)
{
    struct pg_stmt *st = pst(base);
    if (!st->res) {
        int rc = execute(base->d, st);
        if (rc)
            return rc;
    }
    return ++st->row < st->nrows ? 0 : FIEF_ENOTFOUND;
}

static void pg_reset(struct db_stmt *base)
{
    struct pg_stmt *st = pst(base);
    PQclear(st->res);
    st->res = NULL;
    for (int i = 0; i < st->n; i++) {
        st->vals[i] = NULL;
        st->fmts[i] = st->lens[i] = 0;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* bytea in text form is "\x" and hex digits (bytea_output = hex, the
 * default since PostgreSQL 9.0). */
static void bytea_decode(struct pg_stmt *st, const char *t, size_t len, struct db_value *out)
{
    size_t n = len >= 2 && t[0] == '\\' && t[1] == 'x' ? (len - 2) / 2 : 0;
    if (st->blob_cap < n + 1) {
        st->blob_cap = n + 1;
        st->blob = xrealloc(st->blob, st->blob_cap);
    }
    for (size_t i = 0; i < n; i++)
        st->blob[i] = (unsigned char)(hexval(t[2 + 2 * i]) << 4 | hexval(t[3 + 2 * i]));
    out->type = DBV_BLOB;
    out->p = st->blob;
    out->n = n;
}

static void pg_column(struct db_stmt *base, int col, struct db_value *out)
{
    struct pg_stmt *st = pst(base);
    if (!st->res || st->row < 0 || st->row >= st->nrows || col >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, col)) {
        out->type = DBV_NULL;
        return;
    }
    const char *t = PQgetvalue(st->res, st->row, col);
    size_t len = (size_t)PQgetlength(st->res, st->row, col);
    switch (PQftype(st->res, col)) {
    case OID_INT8:
    case OID_INT4:
    case OID_INT2:
    case OID_NUMERIC: /* SUM() of BIGINT; always a whole number here */
        out->type = DBV_INT;
        out->i = strtoll(t, NULL, 10);
        return;
    case OID_BOOL:
        out->type = DBV_INT;
        out->i = t[0] == 't';
        return;
    case OID_BYTEA:
        bytea_decode(st, t, len, out);
        return;
    default:
        out->type = DBV_TEXT;
        out->p = t;
        out->n = len;
    }
}

static int64_t pg_changes(struct db *d)
{
    return state(d)->changes;
}

/* ---- transactions and schema ---- */

static bool pg_in_txn(struct db *d)
{
    PGTransactionStatusType t = PQtransactionStatus(conn(d));
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

static int pg_script(struct db *d, const char *sql)
{
    if (!pg_in_txn(d) && ensure_conn(d))
        return FIEF_EIO;
    return run(d, sql);
}

static int pg_lock(struct db *d, int64_t id)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)id);
    return run(d, sql);
}

/* A one-value query's first column as an integer (0 for no row or NULL). */
static int query_int(struct db *d, const char *sql, long long *v)
{
    PGresult *r = PQexec(conn(d), sql);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : FIEF_EIO;
    if (rc)
        result_error(d, r);
    *v = !rc && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                          : 0;
    PQclear(r);
    return rc;
}

static int pg_version_get(struct db *d, int *v)
{
    long long exists = 0, x = 0;
    *v = 0;
    if (ensure_conn(d) ||
        query_int(d, "SELECT CAST(to_regclass('fief_schema') IS NOT NULL AS INT)", &exists))
        return FIEF_EIO;
    if (exists && query_int(d, "SELECT max(version) FROM fief_schema", &x))
        return FIEF_EIO;
    *v = (int)x;
    return 0;
}

static int pg_version_set(struct db *d, int v)
{
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM fief_schema; INSERT INTO fief_schema VALUES (%d)", v);
    return run(d, sql);
}

/* Two processes starting on one database at once migrate one after the
 * other: the advisory lock is held until the migration commits. */
static int pg_migrate_begin(struct db *d)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%lld);"
             " CREATE TABLE IF NOT EXISTS fief_schema (version BIGINT NOT NULL)",
             MIGRATE_LOCK);
    return ensure_conn(d) ? FIEF_EIO : run(d, sql);
}

static int pg_identity(struct db *d, bool claim)
{
    (void)d;
    (void)claim;
    return 0; /* a foreign table with one of our names fails the migration instead */
}

/* SQLSTATE classes 23 (integrity constraint) and 22 (data exception): the
 * write itself is wrong. Everything else may pass on a retry. */
static int pg_error_code(struct db *d)
{
    const char *s = state(d)->sqlstate;
    return !strncmp(s, "23", 2) || !strncmp(s, "22", 2) ? FIEF_EINVAL : FIEF_EIO;
}

static const char *pg_errmsg(struct db *d)
{
    return state(d)->msg;
}

const struct db_driver db_pg_driver = {
    .name = "postgres",
    .dollar_params = true,
    .ddl_id = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .ddl_blob = "BYTEA",
    .ddl_norow = "",
    .begin_sql = "BEGIN",
    .open = pg_open,
    .close = pg_close,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind = pg_bind,
    .step = pg_step,
    .reset = pg_reset,
    .column = pg_column,
    .changes = pg_changes,
    .script = pg_script,
    .in_txn = pg_in_txn,
    .lock = pg_lock,
    .version_get = pg_version_get,
    .version_set = pg_version_set,
    .migrate_begin = pg_migrate_begin,
    .identity = pg_identity,
    .error_code = pg_error_code,
    .errmsg = pg_errmsg,
};
