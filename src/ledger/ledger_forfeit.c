/* SPDX-License-Identifier: MIT */
/* What confirmed fraud costs, inside the caller's database transaction: a
 * banned key's unmatured earnings move PENDING -> FORFEIT, and each request
 * they were earned on gets back the key's share and the fee on it
 * (FORFEIT, POOL_FEE -> CUSTOMER), with a refunds row naming the audit. */
#include "ledger/ledger_impl.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* Claim with a mark (-2) no other transaction sees, like maturity's -1: a
 * `fief payouts create` maturing at the same time (PostgreSQL) waits for
 * the rows or skips them, never both forfeits and matures one. */
static const char sql_claim[] =
    "UPDATE earnings SET matured_txn = -2 WHERE pubkey = ?1 AND matured_txn = 0";
static const char sql_claimed[] =
    "SELECT e.amount, COALESCE(s.req, ''), COALESCE(s.key_id, 0), COALESCE(s.cost, 0),"
    " COALESCE(s.fee, 0) FROM earnings e LEFT JOIN settlements s ON s.txn_id = e.txn_id"
    " WHERE e.pubkey = ?1 AND e.matured_txn = -2 ORDER BY e.id";
static const char sql_stamp[] =
    "UPDATE earnings SET matured_txn = ?1, forfeit_txn = ?1 WHERE pubkey = ?2"
    " AND matured_txn = -2";
static const char sql_refund[] =
    "INSERT INTO refunds (req, pubkey, audit_id, key_id, share, fee, txn_id, created_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sql_totals[] =
    "UPDATE audit_totals SET forfeited = forfeited + ?1, refunded = refunded + ?2 WHERE id = 1";

int64_t ledger_refund_fee(int64_t share, int64_t cost, int64_t fee)
{
    if (share <= 0 || fee <= 0 || cost <= fee)
        return 0;
    u128 f = (u128)fee * (uint64_t)share / (uint64_t)(cost - fee);
    return f > (u128)fee ? fee : (int64_t)f;
}

/* One claimed earning: its amount and, when a settlement paid it, the request. */
struct earning {
    int64_t amount;
    char req[65];
    int64_t key_id, cost, fee;
};

static int claimed(struct db *d, const char *pubkey, struct earning **out, size_t *n)
{
    struct db_stmt *st = db_sql(d, sql_claimed);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    size_t cap = 16, k = 0;
    struct earning *v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = db_step(st)) == 0) {
        if (k == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k].amount = db_col_i64(st, 0);
        db_col_copy(st, 1, v[k].req, sizeof v[k].req);
        v[k].key_id = db_col_i64(st, 2);
        v[k].cost = db_col_i64(st, 3);
        v[k++].fee = db_col_i64(st, 4);
    }
    db_reset(st);
    *out = v;
    *n = k;
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

static int refund_row(struct db *d, const struct earning *e, const char *pubkey, int64_t audit,
                      int64_t fee, int64_t txn_id, int64_t now)
{
    struct db_stmt *st = db_sql(d, sql_refund);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, e->req);
    db_bind_text(st, 2, pubkey);
    db_bind_i64(st, 3, audit);
    db_bind_i64(st, 4, e->key_id);
    db_bind_i64(st, 5, e->amount);
    db_bind_i64(st, 6, fee);
    db_bind_i64(st, 7, txn_id);
    db_bind_i64(st, 8, now);
    return db_exec(st);
}

/* FORFEIT -share, POOL_FEE -fee, CUSTOMER +both for the request of e. */
static int refund(struct db *d, const struct earning *e, const char *pubkey, int64_t audit,
                  int64_t now, struct ledger_forfeit_out *o)
{
    int64_t fee = ledger_refund_fee(e->amount, e->cost, e->fee);
    char owner[LEDGER_OWNER_LEN], memo[128];
    ledger_key_owner(e->key_id, owner);
    snprintf(memo, sizeof memo, "audit %lld: miner %.16s", (long long)audit, pubkey);
    struct ledger_posting p[3];
    ledger_posting_set(&p[0], LA_FORFEIT, NULL, -e->amount);
    ledger_posting_set(&p[1], LA_POOL_FEE, NULL, -fee);
    ledger_posting_set(&p[2], LA_CUSTOMER, owner, e->amount + fee);
    struct ledger_txn t = {"refund", e->req, memo, now, p, 3};
    int64_t txn_id;
    int rc = ledger_txn_write(d, &t, &txn_id);
    if (!rc)
        rc = refund_row(d, e, pubkey, audit, fee, txn_id, now);
    if (!rc) {
        o->refunded += e->amount + fee;
        o->n_refunds++;
        if (o->txns)
            buf_printf(o->txns, "%s%lld", o->txns->len ? "," : "", (long long)txn_id);
    }
    return rc;
}

static int stamp(struct db *d, const char *pubkey, int64_t txn_id)
{
    struct db_stmt *st = db_sql(d, sql_stamp);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, txn_id);
    db_bind_text(st, 2, pubkey);
    return db_exec(st);
}

static int add_totals(struct db *d, int64_t forfeited, int64_t refunded)
{
    struct db_stmt *st = db_sql(d, sql_totals);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, forfeited);
    db_bind_i64(st, 2, refunded);
    return db_exec(st);
}

/* The forfeit transaction of v's total, its earnings stamped with it. */
static int forfeit_txn(struct db *d, const char *pubkey, int64_t audit, int64_t total, size_t n,
                       int64_t now, struct ledger_forfeit_out *o)
{
    char ref[24], memo[128];
    snprintf(ref, sizeof ref, "%lld", (long long)audit);
    snprintf(memo, sizeof memo, "miner %.16s: %zu unmatured earning(s)", pubkey, n);
    struct ledger_posting p[2];
    ledger_posting_set(&p[0], LA_PENDING, pubkey, -total);
    ledger_posting_set(&p[1], LA_FORFEIT, NULL, total);
    struct ledger_txn t = {"forfeit", ref, memo, now, p, 2};
    int64_t txn_id;
    int rc = ledger_txn_write(d, &t, &txn_id);
    if (!rc)
        rc = stamp(d, pubkey, txn_id);
    if (!rc) {
        o->forfeited += total;
        o->forfeit_txn = txn_id;
    }
    return rc;
}

int ledger_forfeit_key(struct db *d, const char *pubkey, int64_t audit, int64_t now,
                       struct ledger_forfeit_out *o)
{
    struct db_stmt *st = db_sql(d, sql_claim);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, pubkey);
    int rc = db_exec(st);
    if (rc || db_changes(d) == 0)
        return rc;
    struct earning *v = NULL;
    size_t n = 0;
    int64_t total = 0, refunded0 = o->refunded, forfeited0 = o->forfeited;
    rc = claimed(d, pubkey, &v, &n);
    for (size_t i = 0; i < n; i++)
        total += v[i].amount;
    if (!rc)
        rc = forfeit_txn(d, pubkey, audit, total, n, now, o);
    for (size_t i = 0; i < n && !rc; i++)
        if (v[i].req[0]) /* an auditor's pay has no customer to refund */
            rc = refund(d, &v[i], pubkey, audit, now, o);
    if (!rc)
        rc = add_totals(d, o->forfeited - forfeited0, o->refunded - refunded0);
    free(v);
    return rc;
}
