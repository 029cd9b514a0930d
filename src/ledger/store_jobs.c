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

static const char sql_miner_seen[] =
    "INSERT INTO miners (pubkey, payout, worker, first_seen_ms, last_seen_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (pubkey) DO UPDATE SET"
    " payout = excluded.payout, worker = excluded.worker, last_seen_ms ="
    " CASE WHEN miners.last_seen_ms > excluded.last_seen_ms THEN miners.last_seen_ms"
    " ELSE excluded.last_seen_ms END";
/* A job part may name a miner whose sighting was lost; keep its work. */
static const char sql_miner_work[] =
    "INSERT INTO miners (pubkey, payout, worker, first_seen_ms, last_seen_ms, jobs, tokens)"
    " VALUES (?1, '', '', ?2, ?2, ?3, ?4) ON CONFLICT (pubkey) DO UPDATE SET"
    " jobs = miners.jobs + excluded.jobs, tokens = miners.tokens + excluded.tokens RETURNING id";
static const char sql_miner_get[] =
    "SELECT payout, worker, first_seen_ms, last_seen_ms, jobs, tokens, banned, ban_reason,"
    " banned_ms, ban_audit FROM miners WHERE pubkey = ?1";
/* DO NOTHING: a job recorded twice (a retried write) counts once. */
static const char sql_job_insert[] =
    "INSERT INTO jobs (id, key_id, model, status, prompt_tokens, completion_tokens, created_ms,"
    " finished_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING";
static const char sql_job_part[] =
    "INSERT INTO job_parts (job_id, seq, miner_id, tokens) VALUES (?1, ?2, ?3, ?4)";
static const char sql_usage_add[] =
    "INSERT INTO key_usage (key_id, requests, prompt_tokens, completion_tokens)"
    " VALUES (?1, 1, ?2, ?3) ON CONFLICT (key_id) DO UPDATE SET"
    " requests = key_usage.requests + 1,"
    " prompt_tokens = key_usage.prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = key_usage.completion_tokens + excluded.completion_tokens";
static const char sql_usage_get[] =
    "SELECT requests, prompt_tokens, completion_tokens FROM key_usage WHERE key_id = ?1";
static const char sql_totals_add[] =
    "UPDATE totals SET requests = requests + 1, prompt_tokens = prompt_tokens + ?1,"
    " completion_tokens = completion_tokens + ?2 WHERE id = 1";
static const char sql_totals_get[] =
    "SELECT requests, prompt_tokens, completion_tokens FROM totals WHERE id = 1";

/* ---- queued writes ---- */

struct miner_op {
    struct store_op op;
    struct store_miner m; /* pubkey, payout, worker, last_seen_ms */
};

struct job_op {
    struct store_op op;
    struct store_job j;
};

static int miner_apply(struct db *c, const struct store_op *op)
{
    const struct store_miner *m = &((const struct miner_op *)op)->m;
    struct db_stmt *st = db_sql(c, sql_miner_seen);
    if (!st)
        return FIEF_EIO;
    db_bind_textn(st, 1, m->pubkey, sizeof m->pubkey);
    db_bind_textn(st, 2, m->payout, sizeof m->payout);
    db_bind_textn(st, 3, m->worker, sizeof m->worker);
    db_bind_i64(st, 4, m->last_seen_ms);
    return db_exec(st);
}

void store_miner_seen_async(struct store *s, const char *pubkey, const char *payout,
                            const char *worker, int64_t now_ms)
{
    struct miner_op *o = xcalloc(1, sizeof *o);
    struct store_miner *m = &o->m;
    if (!pubkey || !*pubkey || !store_fit(m->pubkey, sizeof m->pubkey, pubkey) ||
        !store_fit(m->payout, sizeof m->payout, payout) ||
        !store_fit(m->worker, sizeof m->worker, worker)) {
        log_err("store: bug: miner record with a missing or over-long field dropped");
        free(o);
        return;
    }
    m->last_seen_ms = now_ms;
    o->op.what = "miner";
    o->op.apply = miner_apply;
    store_op_push(s, &o->op);
}

static void bind_job(struct db_stmt *st, const struct store_job *j)
{
    db_bind_textn(st, 1, j->id, sizeof j->id);
    db_bind_i64(st, 2, j->key_id);
    db_bind_textn(st, 3, j->model, sizeof j->model);
    db_bind_i64(st, 4, (int64_t)j->status);
    db_bind_i64(st, 5, j->prompt_tokens);
    db_bind_i64(st, 6, j->completion_tokens);
    db_bind_i64(st, 7, j->created_ms);
    db_bind_i64(st, 8, j->finished_ms);
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
static int miner_work_apply(struct db *c, const struct store_job *j, uint32_t i,
                            int64_t *miner_id)
{
    const struct store_job_part *p = &j->parts[i];
    struct db_stmt *st = db_sql(c, sql_miner_work);
    if (!st)
        return FIEF_EIO;
    db_bind_textn(st, 1, p->pubkey, sizeof p->pubkey);
    db_bind_i64(st, 2, j->finished_ms);
    db_bind_i64(st, 3, part_seen_before(j, i) ? 0 : 1);
    db_bind_i64(st, 4, p->tokens);
    int rc = db_step(st); /* RETURNING id */
    if (rc == 0)
        *miner_id = db_col_i64(st, 0);
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int part_apply(struct db *c, const struct store_job *j, uint32_t i)
{
    int64_t miner_id;
    int rc = miner_work_apply(c, j, i, &miner_id);
    struct db_stmt *st = rc ? NULL : db_sql(c, sql_job_part);
    if (!st)
        return rc ? rc : FIEF_EIO;
    db_bind_textn(st, 1, j->id, sizeof j->id);
    db_bind_i64(st, 2, (int64_t)i);
    db_bind_i64(st, 3, miner_id);
    db_bind_i64(st, 4, j->parts[i].tokens);
    return db_exec(st);
}

static int usage_apply(struct db *c, const struct store_job *j)
{
    struct db_stmt *st = db_sql(c, sql_usage_add);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, j->key_id);
    db_bind_i64(st, 2, j->prompt_tokens);
    db_bind_i64(st, 3, j->completion_tokens);
    int rc = db_exec(st);
    if (rc || !(st = db_sql(c, sql_totals_add)))
        return rc ? rc : FIEF_EIO;
    db_bind_i64(st, 1, j->prompt_tokens);
    db_bind_i64(st, 2, j->completion_tokens);
    return db_exec(st);
}

static int job_apply(struct db *c, const struct store_op *op)
{
    const struct store_job *j = &((const struct job_op *)op)->j;
    struct db_stmt *st = db_sql(c, sql_job_insert);
    if (!st)
        return FIEF_EIO;
    bind_job(st, j);
    int rc = db_exec(st);
    if (rc)
        return rc;
    if (db_changes(c) == 0) {
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
    struct job_op *o = xcalloc(1, sizeof *o);
    o->j = *j;
    o->op.what = "job";
    o->op.apply = job_apply;
    store_op_push(s, &o->op);
}

/* ---- reads (the caller's connection) ---- */

int store_miner_get(struct store *s, const char *pubkey, struct store_miner *out)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_miner_get);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    int rc = db_step(st);
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        snprintf(out->pubkey, sizeof out->pubkey, "%s", pubkey);
        db_col_copy(st, 0, out->payout, sizeof out->payout);
        db_col_copy(st, 1, out->worker, sizeof out->worker);
        out->first_seen_ms = db_col_i64(st, 2);
        out->last_seen_ms = db_col_i64(st, 3);
        out->jobs = (uint64_t)db_col_i64(st, 4);
        out->tokens = (uint64_t)db_col_i64(st, 5);
        out->banned = db_col_i64(st, 6) != 0;
        db_col_copy(st, 7, out->ban_reason, sizeof out->ban_reason);
        out->banned_ms = db_col_i64(st, 8);
        out->ban_audit = db_col_i64(st, 9);
    }
    db_reset(st);
    return rc;
}

/* Read (requests, prompt, completion) from a bound statement; zeros for no
 * row. */
static int read_usage(struct db_stmt *st, struct store_usage *out)
{
    memset(out, 0, sizeof *out);
    int rc = db_step(st);
    if (rc == 0) {
        out->requests = (uint64_t)db_col_i64(st, 0);
        out->prompt_tokens = (uint64_t)db_col_i64(st, 1);
        out->completion_tokens = (uint64_t)db_col_i64(st, 2);
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

int store_usage_for_key(struct store *s, int64_t key_id, struct store_usage *out)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_usage_get);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, key_id);
    return read_usage(st, out);
}

int store_totals(struct store *s, struct store_usage *out)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_totals_get);
    return st ? read_usage(st, out) : FIEF_EIO;
}
