/* SPDX-License-Identifier: MIT */
/* Miners, finished jobs and usage: the writes the event loop queues (miner
 * sightings, job records) and the reads behind /api/pool, /api/miners and
 * /api/account. A job's rows and its usage counters are one write (one op),
 * so the totals always equal the sum of the recorded jobs. */
#include "ledger/store_impl.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- queued writes ---- */

struct miner_op {
    struct store_op op;
    struct store_miner m; /* pubkey, payout, worker, last_seen_ms */
};

struct job_op {
    struct store_op op;
    struct store_job j;
};

static int miner_apply(struct store_conn *c, const struct store_op *op)
{
    const struct store_miner *m = &((const struct miner_op *)op)->m;
    sqlite3_stmt *st = store_stmt(c, ST_MINER_SEEN);
    if (!st)
        return FIEF_EIO;
    store_bind_text(st, 1, m->pubkey, sizeof m->pubkey);
    store_bind_text(st, 2, m->payout, sizeof m->payout);
    store_bind_text(st, 3, m->worker, sizeof m->worker);
    sqlite3_bind_int64(st, 4, m->last_seen_ms);
    return store_exec_stmt(c, st);
}

/* Copy src into a field of cap bytes; false when it does not fit. */
static bool fit(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, src ? src : "", n + 1);
    return true;
}

void store_miner_seen_async(struct store *s, const char *pubkey, const char *payout,
                            const char *worker, int64_t now_ms)
{
    struct miner_op *o = xcalloc(1, sizeof *o);
    struct store_miner *m = &o->m;
    if (!pubkey || !*pubkey || !fit(m->pubkey, sizeof m->pubkey, pubkey) ||
        !fit(m->payout, sizeof m->payout, payout) || !fit(m->worker, sizeof m->worker, worker)) {
        log_err("store: bug: miner record with a missing or over-long field dropped");
        free(o);
        return;
    }
    m->last_seen_ms = now_ms;
    o->op.what = "miner";
    o->op.apply = miner_apply;
    store_op_push(s, &o->op);
}

static int bind_job(sqlite3_stmt *st, const struct store_job *j)
{
    store_bind_text(st, 1, j->id, sizeof j->id);
    sqlite3_bind_int64(st, 2, j->key_id);
    store_bind_text(st, 3, j->model, sizeof j->model);
    sqlite3_bind_int(st, 4, (int)j->status);
    sqlite3_bind_int64(st, 5, j->prompt_tokens);
    sqlite3_bind_int64(st, 6, j->completion_tokens);
    sqlite3_bind_int64(st, 7, j->created_ms);
    return sqlite3_bind_int64(st, 8, j->finished_ms);
}

/* Whether part i's miner already appeared earlier in the job. */
static bool part_seen_before(const struct store_job *j, uint32_t i)
{
    for (uint32_t k = 0; k < i; k++)
        if (strcmp(j->parts[k].pubkey, j->parts[i].pubkey) == 0)
            return true;
    return false;
}

/* Add part i's tokens to its miner; *miner_id gets the miner's row id. */
static int miner_work_apply(struct store_conn *c, const struct store_job *j, uint32_t i,
                            int64_t *miner_id)
{
    const struct store_job_part *p = &j->parts[i];
    sqlite3_stmt *st = store_stmt(c, ST_MINER_WORK);
    if (!st)
        return FIEF_EIO;
    store_bind_text(st, 1, p->pubkey, sizeof p->pubkey);
    sqlite3_bind_int64(st, 2, j->finished_ms);
    sqlite3_bind_int(st, 3, part_seen_before(j, i) ? 0 : 1);
    sqlite3_bind_int64(st, 4, p->tokens);
    int rc = store_step_row(c, st); /* RETURNING id */
    if (rc == 0)
        *miner_id = sqlite3_column_int64(st, 0);
    store_stmt_done(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int part_apply(struct store_conn *c, const struct store_job *j, uint32_t i)
{
    int64_t miner_id;
    int rc = miner_work_apply(c, j, i, &miner_id);
    sqlite3_stmt *st = rc ? NULL : store_stmt(c, ST_JOB_PART);
    if (!st)
        return rc ? rc : FIEF_EIO;
    store_bind_text(st, 1, j->id, sizeof j->id);
    sqlite3_bind_int(st, 2, (int)i);
    sqlite3_bind_int64(st, 3, miner_id);
    sqlite3_bind_int64(st, 4, j->parts[i].tokens);
    return store_exec_stmt(c, st);
}

static int usage_apply(struct store_conn *c, const struct store_job *j)
{
    sqlite3_stmt *st = store_stmt(c, ST_USAGE_ADD);
    if (!st)
        return FIEF_EIO;
    sqlite3_bind_int64(st, 1, j->key_id);
    sqlite3_bind_int64(st, 2, j->prompt_tokens);
    sqlite3_bind_int64(st, 3, j->completion_tokens);
    int rc = store_exec_stmt(c, st);
    if (rc || !(st = store_stmt(c, ST_TOTALS_ADD)))
        return rc ? rc : FIEF_EIO;
    sqlite3_bind_int64(st, 1, j->prompt_tokens);
    sqlite3_bind_int64(st, 2, j->completion_tokens);
    return store_exec_stmt(c, st);
}

static int job_apply(struct store_conn *c, const struct store_op *op)
{
    const struct store_job *j = &((const struct job_op *)op)->j;
    sqlite3_stmt *st = store_stmt(c, ST_JOB_INSERT);
    if (!st)
        return FIEF_EIO;
    bind_job(st, j);
    int rc = store_exec_stmt(c, st);
    if (rc)
        return rc;
    if (sqlite3_changes(c->db) == 0) {
        log_warn("store: job %s was already recorded; the repeat is ignored", j->id);
        return 0;
    }
    for (uint32_t i = 0; i < j->n_parts && !rc; i++)
        rc = part_apply(c, j, i);
    return rc ? rc : usage_apply(c, j);
}

static bool job_valid(const struct store_job *j)
{
    if (!j->id[0] || !store_field_ok(j->id, sizeof j->id) ||
        !store_field_ok(j->model, sizeof j->model) || j->n_parts > STORE_JOB_MAX_PARTS)
        return false;
    for (uint32_t i = 0; i < j->n_parts; i++)
        if (!j->parts[i].pubkey[0] ||
            !store_field_ok(j->parts[i].pubkey, sizeof j->parts[i].pubkey))
            return false;
    return true;
}

void store_job_finish_async(struct store *s, const struct store_job *j)
{
    if (!job_valid(j)) {
        log_err("store: bug: malformed job record dropped (empty id, unterminated field or "
                "more than %d parts)",
                STORE_JOB_MAX_PARTS);
        return;
    }
    struct job_op *o = xmalloc(sizeof *o);
    o->j = *j;
    o->op.what = "job";
    o->op.apply = job_apply;
    store_op_push(s, &o->op);
}

/* ---- reads (the caller's connection) ---- */

int store_miner_get(struct store *s, const char *pubkey, struct store_miner *out)
{
    struct store_conn *c = store_rconn(s);
    sqlite3_stmt *st = store_stmt(c, ST_MINER_GET);
    if (!st)
        return FIEF_EIO;
    sqlite3_bind_text(st, 1, pubkey, -1, SQLITE_STATIC);
    int rc = store_step_row(c, st);
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        snprintf(out->pubkey, sizeof out->pubkey, "%s", pubkey);
        store_column_text(st, 0, out->payout, sizeof out->payout);
        store_column_text(st, 1, out->worker, sizeof out->worker);
        out->first_seen_ms = sqlite3_column_int64(st, 2);
        out->last_seen_ms = sqlite3_column_int64(st, 3);
        out->jobs = (uint64_t)sqlite3_column_int64(st, 4);
        out->tokens = (uint64_t)sqlite3_column_int64(st, 5);
        out->banned = sqlite3_column_int(st, 6) != 0;
    }
    store_stmt_done(st);
    return rc;
}

/* Read (requests, prompt, completion) from a bound statement; zeros for no
 * row. */
static int read_usage(struct store_conn *c, sqlite3_stmt *st, struct store_usage *out)
{
    memset(out, 0, sizeof *out);
    int rc = store_step_row(c, st);
    if (rc == 0) {
        out->requests = (uint64_t)sqlite3_column_int64(st, 0);
        out->prompt_tokens = (uint64_t)sqlite3_column_int64(st, 1);
        out->completion_tokens = (uint64_t)sqlite3_column_int64(st, 2);
    }
    store_stmt_done(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

int store_usage_for_key(struct store *s, int64_t key_id, struct store_usage *out)
{
    struct store_conn *c = store_rconn(s);
    sqlite3_stmt *st = store_stmt(c, ST_USAGE_GET);
    if (!st)
        return FIEF_EIO;
    sqlite3_bind_int64(st, 1, key_id);
    return read_usage(c, st, out);
}

int store_totals(struct store *s, struct store_usage *out)
{
    struct store_conn *c = store_rconn(s);
    sqlite3_stmt *st = store_stmt(c, ST_TOTALS_GET);
    return st ? read_usage(c, st, out) : FIEF_EIO;
}
