/* SPDX-License-Identifier: MIT */
/* The driver-independent half of the SQL layer: choosing a driver by target,
 * the statement cache, placeholder translation for PostgreSQL, DDL template
 * expansion, and the calls that simply dispatch to the driver. */
#include "ledger/db_impl.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MIN 64 /* statement slots; the cache doubles when half full */

bool db_is_pg_url(const char *target)
{
    return target &&
           (!strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13));
}

void db_redact(const char *target, char *out, size_t cap)
{
    const char *scheme = target ? strstr(target, "://") : NULL;
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, cap, "%s", target ? target : "");
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - target), target, at);
}

int db_open(const char *target, const char *name, struct db **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    const struct db_driver *drv = &db_sqlite_driver;
    if (db_is_pg_url(target))
        drv = &db_pg_driver;
    else if (strstr(target, "://"))
        return fief_errf(err, FIEF_EUNSUPPORTED,
                         "\"%s\": unknown store URL; use postgres://... or postgresql://... "
                         "(PostgreSQL), or leave it empty for SQLite in the data directory",
                         target);
    struct db *d = xcalloc(1, sizeof *d);
    d->drv = drv;
    snprintf(d->name, sizeof d->name, "%s", name);
    db_redact(target, d->target, sizeof d->target);
    int rc = drv->open(d, target, err);
    if (rc) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void db_close(struct db *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cache_cap; i++)
        if (d->cache[i])
            d->drv->finalize(d->cache[i]);
    free(d->cache);
    d->drv->close(d);
    free(d);
}

enum db_kind db_kind(const struct db *d)
{
    return d->drv == &db_pg_driver ? DB_PG : DB_SQLITE;
}

const char *db_name(const struct db *d)
{
    return d->name;
}

const char *db_target(const struct db *d)
{
    return d->target;
}

/* ---- placeholders ---- */

/* Copy sql, turning "?N" into "$N" and each bare "?" into the next number
 * (for PostgreSQL), skipping quoted strings; *n_params gets the highest
 * number. SQLite takes the text unchanged. */
static char *translate(const char *sql, bool dollar, int *n_params)
{
    size_t n = strlen(sql);
    char *out = xmalloc(n * 4 + 1); /* "?" may become "$999" */
    char *o = out;
    int next = 0, max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
            *o++ = *p;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
            continue;
        }
        if (*p != '?') {
            *o++ = *p;
            continue;
        }
        int num = isdigit((unsigned char)p[1]) ? (int)strtol(p + 1, NULL, 10) : ++next;
        while (isdigit((unsigned char)p[1]))
            p++;
        max = num > max ? num : max;
        o += dollar ? sprintf(o, "$%d", num) : sprintf(o, "?%d", num);
    }
    *o = 0;
    *n_params = max;
    return out;
}

/* ---- the statement cache ---- */

static size_t slot_of(const struct db *d, const char *key)
{
    uintptr_t h = (uintptr_t)key;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (d->cache_cap - 1);
}

static void cache_put(struct db *d, struct db_stmt *st);

static void cache_grow(struct db *d)
{
    struct db_stmt **old = d->cache;
    size_t old_cap = d->cache_cap;
    d->cache_cap = old_cap ? old_cap * 2 : CACHE_MIN;
    d->cache = xcalloc(d->cache_cap, sizeof *d->cache);
    d->cache_n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            cache_put(d, old[i]);
    free(old);
}

static void cache_put(struct db *d, struct db_stmt *st)
{
    if ((d->cache_n + 1) * 2 > d->cache_cap)
        cache_grow(d);
    size_t i = slot_of(d, st->key);
    while (d->cache[i])
        i = (i + 1) & (d->cache_cap - 1);
    d->cache[i] = st;
    d->cache_n++;
}

struct db_stmt *db_sql(struct db *d, const char *sql)
{
    if (d->cache_cap) {
        for (size_t i = slot_of(d, sql); d->cache[i]; i = (i + 1) & (d->cache_cap - 1))
            if (d->cache[i]->key == sql)
                return d->cache[i];
    }
    int n_params;
    char *text = translate(sql, d->drv->dollar_params, &n_params);
    struct db_stmt *st = d->drv->prepare(d, text, n_params);
    if (!st) {
        log_err("store (%s): cannot prepare \"%s\": %s", d->name, sql, d->drv->errmsg(d));
        free(text);
        return NULL;
    }
    free(text);
    st->d = d;
    st->key = sql;
    st->n_params = n_params;
    cache_put(d, st);
    return st;
}

/* ---- binding, stepping, columns ---- */

static void bind(struct db_stmt *st, int i, struct db_value v)
{
    if (i >= 1 && i <= st->n_params)
        st->d->drv->bind(st, i, &v);
    else
        log_err("store: bug: parameter %d of a statement with %d", i, st->n_params);
}

void db_bind_i64(struct db_stmt *st, int i, int64_t v)
{
    bind(st, i, (struct db_value){.type = DBV_INT, .i = v});
}

void db_bind_text(struct db_stmt *st, int i, const char *s)
{
    bind(st, i, (struct db_value){.type = DBV_TEXT, .p = s, .n = strlen(s)});
}

void db_bind_textn(struct db_stmt *st, int i, const char *s, size_t cap)
{
    bind(st, i, (struct db_value){.type = DBV_TEXT, .p = s, .n = strnlen(s, cap)});
}

void db_bind_blob(struct db_stmt *st, int i, const void *p, size_t n)
{
    bind(st, i, (struct db_value){.type = DBV_BLOB, .p = p, .n = n});
}

void db_bind_null(struct db_stmt *st, int i)
{
    bind(st, i, (struct db_value){.type = DBV_NULL});
}

int db_step(struct db_stmt *st)
{
    int rc = st->d->drv->step(st);
    if (rc < 0 && rc != FIEF_ENOTFOUND)
        return db_fail(st->d, st->key);
    return rc;
}

int db_exec(struct db_stmt *st)
{
    int rc = db_step(st);
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

void db_reset(struct db_stmt *st)
{
    if (st)
        st->d->drv->reset(st);
}

static struct db_value column(struct db_stmt *st, int col)
{
    struct db_value v = {.type = DBV_NULL};
    st->d->drv->column(st, col, &v);
    return v;
}

int64_t db_col_i64(struct db_stmt *st, int col)
{
    struct db_value v = column(st, col);
    return v.type == DBV_INT ? v.i : 0;
}

const char *db_col_text(struct db_stmt *st, int col)
{
    struct db_value v = column(st, col);
    return v.type == DBV_TEXT ? v.p : "";
}

const void *db_col_blob(struct db_stmt *st, int col, size_t *len)
{
    struct db_value v = column(st, col);
    *len = v.type == DBV_BLOB || v.type == DBV_TEXT ? v.n : 0;
    return *len ? v.p : "";
}

bool db_col_null(struct db_stmt *st, int col)
{
    return column(st, col).type == DBV_NULL;
}

void db_col_copy(struct db_stmt *st, int col, char *dst, size_t cap)
{
    struct db_value v = column(st, col);
    size_t n = v.type == DBV_TEXT ? v.n : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, v.p, n);
    dst[n] = 0;
}

void db_col_format(struct db_stmt *st, int col, char *dst, size_t cap)
{
    struct db_value v = column(st, col);
    switch (v.type) {
    case DBV_NULL:
        snprintf(dst, cap, "NULL");
        return;
    case DBV_INT:
        snprintf(dst, cap, "%lld", (long long)v.i);
        return;
    case DBV_TEXT:
        db_col_copy(st, col, dst, cap);
        return;
    case DBV_BLOB:
        snprintf(dst, cap, "<%zu bytes>", v.n);
        return;
    }
}

int64_t db_changes(struct db *d)
{
    return d->drv->changes(d);
}

/* ---- transactions ---- */

static int script(struct db *d, const char *sql)
{
    return d->drv->script(d, sql) ? db_fail(d, sql) : 0;
}

int db_script(struct db *d, const char *sql)
{
    return script(d, sql);
}

int db_begin(struct db *d)
{
    return script(d, d->drv->begin_sql);
}

int db_commit(struct db *d)
{
    return script(d, "COMMIT");
}

int db_rollback(struct db *d)
{
    return script(d, "ROLLBACK");
}

int db_savepoint(struct db *d)
{
    return script(d, "SAVEPOINT op");
}

int db_release(struct db *d)
{
    return script(d, "RELEASE op");
}

int db_rollback_to(struct db *d)
{
    return script(d, "ROLLBACK TO op");
}

bool db_in_txn(struct db *d)
{
    return d->drv->in_txn(d);
}

int db_lock(struct db *d, int64_t lock_id)
{
    return d->drv->lock(d, lock_id) ? db_fail(d, "lock") : 0;
}

/* ---- DDL and schema versions ---- */

char *db_ddl(const struct db *d, const char *tmpl)
{
    static const char *const marks[] = {"@ID", "@BLOB", "@NOROWID"};
    const char *repl[] = {d->drv->ddl_id, d->drv->ddl_blob, d->drv->ddl_norow};
    struct buf b;
    buf_init(&b);
    for (const char *p = tmpl; *p;) {
        size_t k = 0;
        while (k < 3 && strncmp(p, marks[k], strlen(marks[k])) != 0)
            k++;
        if (k == 3) {
            buf_putc(&b, *p++);
            continue;
        }
        buf_puts(&b, repl[k]);
        p += strlen(marks[k]);
    }
    return buf_steal(&b);
}

int db_version_get(struct db *d, int *version)
{
    return d->drv->version_get(d, version);
}

int db_version_set(struct db *d, int version)
{
    return d->drv->version_set(d, version);
}

int db_migrate_begin(struct db *d)
{
    return d->drv->migrate_begin(d);
}

int db_identity(struct db *d, bool claim)
{
    return d->drv->identity(d, claim);
}

/* ---- errors ---- */

const char *db_errmsg(struct db *d)
{
    return d->drv->errmsg(d);
}

int db_fail(struct db *d, const char *what)
{
    log_err("store (%s): %s: %s", d->name, what, d->drv->errmsg(d));
    return d->drv->error_code(d);
}
