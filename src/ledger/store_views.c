/* SPDX-License-Identifier: MIT */
/* Reads behind the pool's public and customer views: a request's settlement
 * (GET /api/receipts/{req}), a key's latest settlements (/api/account), and a
 * miner's work by model and its latest jobs (/api/miners/{id}). Committed
 * rows only, on the caller's connection; each result is copied out before
 * the statement is reset, so no callback runs while a statement is open. */
#include "ledger/store_impl.h"

#include <stdio.h>
#include <string.h>

#define SETTLED_COLS                                                                               \
    "SELECT req, key_id, model, prompt_tokens, completion_tokens, cost, fee, created_ms"
static const char sql_settled_get[] = SETTLED_COLS " FROM settlements WHERE req = ?1";
static const char sql_settled_recent[] =
    SETTLED_COLS " FROM settlements WHERE key_id = ?1 ORDER BY created_ms DESC, req DESC LIMIT ?2";
/* A miner's short id is the start of its key; the table holds a row per
 * miner ever seen, so a scan is fine. LIMIT 2 tells a unique match from an
 * ambiguous one. */
static const char sql_miner_find[] =
    "SELECT pubkey FROM miners WHERE SUBSTR(pubkey, 1, ?2) = ?1 ORDER BY pubkey LIMIT 2";
static const char sql_miner_models[] =
    "SELECT j.model, COUNT(DISTINCT j.id), SUM(p.tokens) FROM job_parts p"
    " JOIN miners m ON m.id = p.miner_id JOIN jobs j ON j.id = p.job_id"
    " WHERE m.pubkey = ?1 GROUP BY j.model ORDER BY j.model LIMIT ?2";
static const char sql_miner_jobs[] =
    "SELECT j.id, j.model, SUM(p.tokens), j.status, j.finished_ms FROM job_parts p"
    " JOIN miners m ON m.id = p.miner_id JOIN jobs j ON j.id = p.job_id"
    " WHERE m.pubkey = ?1 GROUP BY j.id, j.model, j.status, j.finished_ms"
    " ORDER BY j.finished_ms DESC, j.id DESC LIMIT ?2";

static void read_settled(struct db_stmt *st, struct store_settled *o)
{
    memset(o, 0, sizeof *o);
    db_col_copy(st, 0, o->req, sizeof o->req);
    o->key_id = db_col_i64(st, 1);
    db_col_copy(st, 2, o->model, sizeof o->model);
    o->prompt_tokens = (uint32_t)db_col_i64(st, 3);
    o->completion_tokens = (uint32_t)db_col_i64(st, 4);
    o->cost = db_col_i64(st, 5);
    o->fee = db_col_i64(st, 6);
    o->created_ms = db_col_i64(st, 7);
}

int store_settled_get(struct store *s, const char *req, struct store_settled *out)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_settled_get);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, req);
    int rc = db_step(st);
    if (rc == 0)
        read_settled(st, out);
    db_reset(st);
    return rc;
}

/* Step st to its end, copying each row with read into out[0..cap). */
static int read_rows(struct db_stmt *st, void *out, size_t size, uint32_t cap, uint32_t *n,
                     void (*read)(struct db_stmt *st, void *row))
{
    int rc = 0;
    *n = 0;
    while (*n < cap && (rc = db_step(st)) == 0)
        read(st, (char *)out + (size_t)(*n)++ * size);
    db_reset(st);
    return *n == cap || rc == FIEF_ENOTFOUND ? 0 : rc;
}

static void read_settled_row(struct db_stmt *st, void *row)
{
    read_settled(st, row);
}

int store_settled_recent(struct store *s, int64_t key_id, struct store_settled *out, uint32_t cap,
                         uint32_t *n)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_settled_recent);
    *n = 0;
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, key_id);
    db_bind_i64(st, 2, cap);
    return read_rows(st, out, sizeof *out, cap, n, read_settled_row);
}

int store_miner_find(struct store *s, const char *id, char pubkey[65])
{
    size_t len = strlen(id);
    if (len < 8 || len > 64 || strspn(id, "0123456789abcdef") != len)
        return FIEF_ENOTFOUND; /* not a key or a key's start: nobody has it */
    struct db_stmt *st = db_sql(store_rconn(s), sql_miner_find);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, id);
    db_bind_i64(st, 2, (int64_t)len);
    int rc = db_step(st);
    if (rc == 0) {
        db_col_copy(st, 0, pubkey, 65);
        if (db_step(st) == 0)
            rc = FIEF_EINVAL; /* two miners start so: ambiguous */
    }
    db_reset(st);
    return rc;
}

static void read_model_work(struct db_stmt *st, void *row)
{
    struct store_model_work *w = row;
    memset(w, 0, sizeof *w);
    db_col_copy(st, 0, w->model, sizeof w->model);
    w->jobs = (uint64_t)db_col_i64(st, 1);
    w->tokens = (uint64_t)db_col_i64(st, 2);
}

int store_miner_models(struct store *s, const char *pubkey, struct store_model_work *out,
                       uint32_t cap, uint32_t *n)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_miner_models);
    *n = 0;
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    db_bind_i64(st, 2, cap);
    return read_rows(st, out, sizeof *out, cap, n, read_model_work);
}

static void read_miner_job(struct db_stmt *st, void *row)
{
    struct store_miner_job *j = row;
    memset(j, 0, sizeof *j);
    db_col_copy(st, 0, j->job, sizeof j->job);
    db_col_copy(st, 1, j->model, sizeof j->model);
    j->tokens = (uint32_t)db_col_i64(st, 2);
    j->status = (enum store_job_status)db_col_i64(st, 3);
    j->finished_ms = db_col_i64(st, 4);
}

int store_miner_jobs(struct store *s, const char *pubkey, struct store_miner_job *out, uint32_t cap,
                     uint32_t *n)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_miner_jobs);
    *n = 0;
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    db_bind_i64(st, 2, cap);
    return read_rows(st, out, sizeof *out, cap, n, read_miner_job);
}
