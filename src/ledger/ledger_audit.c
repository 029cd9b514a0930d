/* SPDX-License-Identifier: MIT */
/* Audits' writes, queued like settlements: a finished audit's record with
 * the reputation it changes and the bans, forfeits and refunds it decides,
 * all in one transaction; an auditor's pay; the sweep of what banned keys
 * earned after their ban. And the reads behind the pool's reputation cache,
 * /api/miners/{id} and /metrics. */
#include "ledger/ledger_impl.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MAX 1024 /* banned keys forfeited per sweep; the next minute does the rest */

static const char sql_audit_insert[] =
    "INSERT INTO audits (job, part, model, miner, tok_from, tok_n, positions, outcome, auditors,"
    " evidence, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id";
static const char sql_audit_txns[] = "UPDATE audits SET txns = ?2 WHERE id = ?1";
static const char sql_rep_add[] =
    "INSERT INTO reputation (pubkey, passed, failed, confirmed, agreed, disagreed, updated_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (pubkey) DO UPDATE SET"
    " passed = reputation.passed + excluded.passed,"
    " failed = reputation.failed + excluded.failed,"
    " confirmed = reputation.confirmed + excluded.confirmed,"
    " agreed = reputation.agreed + excluded.agreed,"
    " disagreed = reputation.disagreed + excluded.disagreed, updated_ms = excluded.updated_ms";
/* A key banned before keeps its first ban (and the audit that decided it). */
static const char sql_ban[] =
    "INSERT INTO miners (pubkey, payout, worker, first_seen_ms, last_seen_ms, banned, ban_reason,"
    " banned_ms, ban_audit) VALUES (?1, '', '', ?3, ?3, 1, ?2, ?3, ?4) ON CONFLICT (pubkey)"
    " DO UPDATE SET banned = 1, ban_reason = excluded.ban_reason, banned_ms = excluded.banned_ms,"
    " ban_audit = excluded.ban_audit WHERE miners.banned = 0";
static const char sql_ban_audit[] = "SELECT ban_audit FROM miners WHERE pubkey = ?1";
static const char sql_pay_total[] =
    "UPDATE audit_totals SET auditor_pay = auditor_pay + ?1 WHERE id = 1";
static const char sql_earning[] =
    "INSERT INTO earnings (pubkey, amount, txn_id, created_ms) VALUES (?1, ?2, ?3, ?4)";
static const char sql_sweep[] =
    "SELECT DISTINCT m.pubkey, m.ban_audit FROM miners m JOIN earnings e ON e.pubkey = m.pubkey"
    " WHERE m.banned <> 0 AND e.matured_txn = 0 ORDER BY m.pubkey LIMIT ?1";
static const char sql_rep_load[] =
    "SELECT r.pubkey, r.passed, r.failed, r.confirmed, r.agreed, r.disagreed,"
    " COALESCE(m.banned, 0), COALESCE(m.ban_reason, ''), COALESCE(m.banned_ms, 0),"
    " COALESCE(m.ban_audit, 0) FROM reputation r LEFT JOIN miners m ON m.pubkey = r.pubkey"
    " UNION ALL SELECT m.pubkey, 0, 0, 0, 0, 0, m.banned, m.ban_reason, m.banned_ms, m.ban_audit"
    " FROM miners m WHERE m.banned <> 0"
    " AND NOT EXISTS (SELECT 1 FROM reputation r WHERE r.pubkey = m.pubkey)";
static const char sql_totals_get[] =
    "SELECT forfeited, refunded, auditor_pay FROM audit_totals WHERE id = 1";
static const char sql_audits_of[] =
    "SELECT id, job, part, tok_from, tok_n, model, outcome, auditors, created_ms FROM audits"
    " WHERE miner = ?1 ORDER BY id DESC LIMIT ?2";

const char *ledger_audit_outcome_name(int outcome)
{
    static const char *const names[] = {"?",         "passed",    "cleared",
                                        "confirmed", "undecided", "abandoned"};
    return outcome >= LAO_PASSED && outcome <= LAO_ABANDONED ? names[outcome] : names[0];
}

/* ---- the record of an audit ---- */

struct record_op {
    struct store_op op;
    struct ledger_audit a; /* evidence points at ev */
    char ev[];
};

static int audit_insert(struct db *d, const struct ledger_audit *a, int64_t *id)
{
    char auditors[LEDGER_AUDITORS * 66] = "";
    for (uint32_t i = 0; i < a->n_auditors; i++)
        snprintf(auditors + strlen(auditors), sizeof auditors - strlen(auditors), "%s%s",
                 i ? "," : "", a->auditors[i]);
    struct db_stmt *st = db_sql(d, sql_audit_insert);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, a->job);
    db_bind_i64(st, 2, a->part);
    db_bind_text(st, 3, a->model);
    db_bind_text(st, 4, a->miner);
    db_bind_i64(st, 5, a->from);
    db_bind_i64(st, 6, a->n);
    db_bind_i64(st, 7, a->positions);
    db_bind_i64(st, 8, a->outcome);
    db_bind_text(st, 9, auditors);
    db_bind_text(st, 10, a->evidence);
    db_bind_i64(st, 11, a->created_ms);
    int rc = db_step(st);
    *id = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int rep_add(struct db *d, const struct ledger_rep_delta *r, int64_t now)
{
    struct db_stmt *st = db_sql(d, sql_rep_add);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, r->pubkey);
    db_bind_i64(st, 2, r->passed);
    db_bind_i64(st, 3, r->failed);
    db_bind_i64(st, 4, r->confirmed);
    db_bind_i64(st, 5, r->agreed);
    db_bind_i64(st, 6, r->disagreed);
    db_bind_i64(st, 7, now);
    return db_exec(st);
}

/* Ban pubkey (unless it is already) and read back the audit its ban names. */
static int ban(struct db *d, const char *pubkey, const char *reason, int64_t audit, int64_t now,
               int64_t *ban_audit)
{
    struct db_stmt *st = db_sql(d, sql_ban);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    db_bind_text(st, 2, reason);
    db_bind_i64(st, 3, now);
    db_bind_i64(st, 4, audit);
    int rc = db_exec(st);
    if (rc || !(st = db_sql(d, sql_ban_audit)))
        return rc ? rc : FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    rc = db_step(st);
    *ban_audit = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int audit_txns(struct db *d, int64_t id, const char *json)
{
    struct db_stmt *st = db_sql(d, sql_audit_txns);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, id);
    db_bind_text(st, 2, json);
    return db_exec(st);
}

/* Each banned key of the audit: the ban, its forfeit and refunds; the
 * transactions go to the audit's row as {"forfeit":[..],"refunds":[..]}. */
static int punish_all(struct db *d, const struct ledger_audit *a, int64_t id)
{
    struct buf forfeits, refunds;
    buf_init(&forfeits);
    buf_init(&refunds);
    int rc = 0;
    for (uint32_t i = 0; i < a->n_deltas && !rc; i++) {
        const struct ledger_rep_delta *r = &a->deltas[i];
        int64_t ban_audit = 0;
        struct ledger_forfeit_out o = {.txns = &refunds};
        if (!r->ban)
            continue;
        if (!(rc = ban(d, r->pubkey, r->reason, id, a->created_ms, &ban_audit)))
            rc = ledger_forfeit_key(d, r->pubkey, ban_audit, a->created_ms, &o);
        if (!rc && o.forfeit_txn)
            buf_printf(&forfeits, "%s%lld", forfeits.len ? "," : "", (long long)o.forfeit_txn);
    }
    if (!rc && (forfeits.len || refunds.len)) {
        struct buf j;
        buf_init(&j);
        buf_printf(&j, "{\"forfeit\":[%s],\"refunds\":[%s]}", forfeits.len ? forfeits.data : "",
                   refunds.len ? refunds.data : "");
        rc = audit_txns(d, id, j.data);
        buf_deinit(&j);
    }
    buf_deinit(&forfeits);
    buf_deinit(&refunds);
    return rc;
}

static int record_apply(struct db *d, const struct store_op *op)
{
    const struct ledger_audit *a = &((const struct record_op *)op)->a;
    int64_t id;
    int rc = audit_insert(d, a, &id);
    for (uint32_t i = 0; i < a->n_deltas && !rc; i++)
        rc = rep_add(d, &a->deltas[i], a->created_ms);
    return rc ? rc : punish_all(d, a, id);
}

static bool record_ok(const struct ledger_audit *a)
{
    if (!a->job[0] || !store_field_ok(a->job, sizeof a->job) ||
        !store_field_ok(a->model, sizeof a->model) || !a->miner[0] ||
        !store_field_ok(a->miner, sizeof a->miner) || a->n_auditors > LEDGER_AUDITORS ||
        a->n_deltas > sizeof a->deltas / sizeof a->deltas[0] || a->outcome < LAO_PASSED ||
        a->outcome > LAO_ABANDONED)
        return false;
    for (uint32_t i = 0; i < a->n_auditors; i++)
        if (!store_field_ok(a->auditors[i], sizeof a->auditors[i]))
            return false;
    for (uint32_t i = 0; i < a->n_deltas; i++)
        if (!a->deltas[i].pubkey[0] ||
            !store_field_ok(a->deltas[i].pubkey, sizeof a->deltas[i].pubkey) ||
            !store_field_ok(a->deltas[i].reason, sizeof a->deltas[i].reason))
            return false;
    return true;
}

void ledger_audit_record(struct store *s, const struct ledger_audit *a)
{
    if (!record_ok(a)) {
        log_err("ledger: bug: malformed audit record dropped");
        return;
    }
    const char *ev = a->evidence ? a->evidence : "{}";
    size_t n = strlen(ev);
    struct record_op *o = xcalloc(1, sizeof *o + n + 1);
    o->a = *a;
    memcpy(o->ev, ev, n + 1);
    o->a.evidence = o->ev;
    if (!o->a.created_ms)
        o->a.created_ms = (int64_t)clock_wall_ms();
    o->op.what = "audit";
    o->op.apply = record_apply;
    store_op_push(s, &o->op);
}

/* ---- auditors' pay ---- */

struct pay_op {
    struct store_op op;
    char auditor[65];
    char ref[65];
    int64_t amount, now;
};

static int earning_insert(struct db *d, const char *pubkey, int64_t amount, int64_t txn_id,
                          int64_t now)
{
    struct db_stmt *st = db_sql(d, sql_earning);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    db_bind_i64(st, 2, amount);
    db_bind_i64(st, 3, txn_id);
    db_bind_i64(st, 4, now);
    return db_exec(st);
}

static int pay_apply(struct db *d, const struct store_op *op)
{
    const struct pay_op *o = (const struct pay_op *)op;
    int64_t fees;
    int rc = ledger_account_get(d, LA_POOL_FEE, "", &fees);
    if (rc)
        return rc;
    int64_t x = fees < 0 ? 0 : fees < o->amount ? fees : o->amount;
    if (x < o->amount) /* may repeat if the group is retried; the books do not */
        log_warn("ledger: audit %s: the pool's fee account holds %lld micro-credits, so auditor "
                 "%.16s gets %lld of %lld",
                 o->ref, (long long)fees, o->auditor, (long long)x, (long long)o->amount);
    if (x == 0)
        return 0;
    struct ledger_posting p[2];
    ledger_posting_set(&p[0], LA_POOL_FEE, NULL, -x);
    ledger_posting_set(&p[1], LA_PENDING, o->auditor, x);
    struct ledger_txn t = {"audit_pay", o->ref, "", o->now, p, 2};
    int64_t txn_id;
    struct db_stmt *st;
    if ((rc = ledger_txn_write(d, &t, &txn_id)) ||
        (rc = earning_insert(d, o->auditor, x, txn_id, o->now)))
        return rc;
    if (!(st = db_sql(d, sql_pay_total)))
        return FIEF_EIO;
    db_bind_i64(st, 1, x);
    return db_exec(st);
}

void ledger_audit_pay(struct store *s, const char *auditor, int64_t amount, const char *ref)
{
    if (amount <= 0 || amount > LEDGER_MAX_AMOUNT || !auditor || !*auditor || !ref) {
        log_err("ledger: bug: auditor pay of %lld dropped", (long long)amount);
        return;
    }
    struct pay_op *o = xcalloc(1, sizeof *o);
    if (!store_fit(o->auditor, sizeof o->auditor, auditor) ||
        !store_fit(o->ref, sizeof o->ref, ref)) {
        log_err("ledger: bug: auditor pay with an over-long key or reference dropped");
        free(o);
        return;
    }
    o->amount = amount;
    o->now = (int64_t)clock_wall_ms();
    o->op.what = "audit pay";
    o->op.apply = pay_apply;
    store_op_push(s, &o->op);
}

/* ---- late earnings of banned keys ---- */

struct banned {
    char pubkey[65];
    int64_t audit;
};

static int sweep_list(struct db *d, struct banned **out, size_t *n)
{
    struct db_stmt *st = db_sql(d, sql_sweep);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, SWEEP_MAX);
    size_t cap = 4, k = 0;
    struct banned *v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = db_step(st)) == 0) {
        if (k == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        db_col_copy(st, 0, v[k].pubkey, sizeof v[k].pubkey);
        v[k++].audit = db_col_i64(st, 1);
    }
    db_reset(st);
    *out = v;
    *n = k;
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

static int sweep_apply(struct db *d, const struct store_op *op)
{
    (void)op;
    struct banned *v = NULL;
    size_t n = 0;
    int64_t now = (int64_t)clock_wall_ms();
    int rc = sweep_list(d, &v, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        struct ledger_forfeit_out o = {0};
        rc = ledger_forfeit_key(d, v[i].pubkey, v[i].audit, now, &o);
        if (!rc && o.forfeited)
            log_notice("ledger: banned miner %.16s earned %lld micro-credits after its ban: "
                       "forfeited, %u request(s) refunded",
                       v[i].pubkey, (long long)o.forfeited, o.n_refunds);
    }
    free(v);
    return rc;
}

void ledger_forfeit_sweep_async(struct store *s)
{
    struct store_op *o = xcalloc(1, sizeof *o);
    o->what = "forfeit sweep";
    o->apply = sweep_apply;
    store_op_push(s, o);
}

/* ---- reads ---- */

int ledger_rep_load(struct store *s, int (*cb)(void *ud, const struct ledger_rep *r), void *ud)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_rep_load);
    if (!st)
        return FIEF_EIO;
    int rc;
    while ((rc = db_step(st)) == 0) {
        struct ledger_rep r = {0};
        db_col_copy(st, 0, r.pubkey, sizeof r.pubkey);
        r.passed = db_col_i64(st, 1);
        r.failed = db_col_i64(st, 2);
        r.confirmed = db_col_i64(st, 3);
        r.agreed = db_col_i64(st, 4);
        r.disagreed = db_col_i64(st, 5);
        r.banned = db_col_i64(st, 6) != 0;
        db_col_copy(st, 7, r.ban_reason, sizeof r.ban_reason);
        r.banned_ms = db_col_i64(st, 8);
        r.ban_audit = db_col_i64(st, 9);
        if (cb(ud, &r))
            break;
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND || rc == 0 ? 0 : rc;
}

int ledger_audit_totals(struct store *s, struct ledger_audit_totals *out)
{
    memset(out, 0, sizeof *out);
    struct db_stmt *st = db_sql(store_rconn(s), sql_totals_get);
    if (!st)
        return FIEF_EIO;
    int rc = db_step(st);
    if (rc == 0) {
        out->forfeited = db_col_i64(st, 0);
        out->refunded = db_col_i64(st, 1);
        out->auditor_pay = db_col_i64(st, 2);
    }
    db_reset(st);
    return rc;
}

static uint32_t count_keys(const char *list)
{
    uint32_t n = *list ? 1 : 0;
    for (; *list; list++)
        n += *list == ',';
    return n;
}

int ledger_audits_of(struct store *s, const char *pubkey, struct ledger_audit_info *out,
                     uint32_t cap, uint32_t *n)
{
    *n = 0;
    struct db_stmt *st = db_sql(store_rconn(s), sql_audits_of);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    db_bind_i64(st, 2, cap);
    int rc = 0;
    while (*n < cap && (rc = db_step(st)) == 0) {
        struct ledger_audit_info *a = &out[(*n)++];
        memset(a, 0, sizeof *a);
        a->id = db_col_i64(st, 0);
        db_col_copy(st, 1, a->job, sizeof a->job);
        a->part = (uint32_t)db_col_i64(st, 2);
        a->from = (uint32_t)db_col_i64(st, 3);
        a->n = (uint32_t)db_col_i64(st, 4);
        db_col_copy(st, 5, a->model, sizeof a->model);
        a->outcome = (int)db_col_i64(st, 6);
        a->n_auditors = count_keys(db_col_text(st, 7));
        a->created_ms = db_col_i64(st, 8);
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND || rc == 0 ? 0 : rc;
}
