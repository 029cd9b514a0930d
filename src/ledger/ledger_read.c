/* SPDX-License-Identifier: MIT */
/* The operator's view of the books: transactions with their postings,
 * filtered by account, and payout batches. */
#include "ledger/ledger_admin.h"
#include "ledger/ledger_impl.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_DEFAULT 50
#define LIST_MAX 1000

/* CAST: PostgreSQL must know the parameters' types where they only meet
 * constants. */
static const char sql_txns[] =
    "SELECT t.id, t.type, t.ref, t.memo, t.created_ms FROM txns t"
    " WHERE (CAST(?1 AS BIGINT) = 0 OR EXISTS (SELECT 1 FROM postings p JOIN accounts a"
    " ON a.id = p.account_id WHERE p.txn_id = t.id AND a.kind = ?1"
    " AND (CAST(?2 AS BIGINT) = 0 OR a.owner = ?3)))"
    " AND (CAST(?4 AS BIGINT) = 0 OR t.id < ?4) ORDER BY t.id DESC LIMIT ?5";
static const char sql_postings[] =
    "SELECT a.kind, a.owner, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id"
    " WHERE p.txn_id = ?1 ORDER BY p.seq";
#define BATCH_COLS "SELECT id, state, total, n_lines, created_ms, closed_ms FROM payout_batches"
static const char sql_batches[] = BATCH_COLS " ORDER BY id DESC";
static const char sql_batch[] = BATCH_COLS " WHERE id = ?1";

int ledger_kind_parse(const char *name, enum ledger_kind *out)
{
    for (int k = LA_CUSTOMER; k <= LA_FORFEIT; k++)
        if (!strcasecmp(name, ledger_kind_name((enum ledger_kind)k))) {
            *out = (enum ledger_kind)k;
            return 0;
        }
    return FIEF_EINVAL;
}

const char *ledger_batch_state_name(int state)
{
    static const char *const names[] = {"?", "created", "confirmed", "cancelled"};
    return state >= LB_CREATED && state <= LB_CANCELLED ? names[state] : names[0];
}

/* ---- transactions ---- */

static int read_txns(struct db *d, const struct ledger_txn_filter *f, struct ledger_txn_info **out,
                     size_t *n)
{
    struct db_stmt *st = db_sql(d, sql_txns);
    if (!st)
        return FIEF_EIO;
    uint32_t limit = f->limit ? f->limit : LIST_DEFAULT;
    limit = limit > LIST_MAX ? LIST_MAX : limit;
    db_bind_i64(st, 1, f->kind);
    db_bind_i64(st, 2, f->owner != NULL);
    db_bind_text(st, 3, f->owner ? f->owner : "");
    db_bind_i64(st, 4, f->before);
    db_bind_i64(st, 5, limit);
    struct ledger_txn_info *v = xcalloc(limit, sizeof *v);
    size_t k = 0;
    int rc;
    while ((rc = db_step(st)) == 0 && k < limit) {
        v[k].id = db_col_i64(st, 0);
        db_col_copy(st, 1, v[k].type, sizeof v[k].type);
        db_col_copy(st, 2, v[k].ref, sizeof v[k].ref);
        db_col_copy(st, 3, v[k].memo, sizeof v[k].memo);
        v[k++].created_ms = db_col_i64(st, 4);
    }
    db_reset(st);
    *out = v;
    *n = k;
    return rc == FIEF_ENOTFOUND || rc == 0 ? 0 : rc;
}

/* A transaction's postings into *p (grown as needed). */
static int read_postings(struct db *d, int64_t txn_id, struct ledger_post_info **p, uint32_t *cap,
                         uint32_t *n)
{
    struct db_stmt *st = db_sql(d, sql_postings);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, txn_id);
    int rc;
    *n = 0;
    while ((rc = db_step(st)) == 0) {
        if (*n == *cap)
            *p = xrealloc(*p, (*cap = *cap ? *cap * 2 : 16) * sizeof **p);
        struct ledger_post_info *x = &(*p)[(*n)++];
        x->kind = (enum ledger_kind)db_col_i64(st, 0);
        db_col_copy(st, 1, x->owner, sizeof x->owner);
        x->amount = db_col_i64(st, 2);
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

int ledger_txn_list(struct store *s, const struct ledger_txn_filter *f,
                    int (*cb)(void *ud, const struct ledger_txn_info *t,
                              const struct ledger_post_info *p, uint32_t n),
                    void *ud)
{
    struct db *d = store_rconn(s);
    struct ledger_txn_info *t = NULL;
    struct ledger_post_info *p = NULL;
    size_t n_txns = 0;
    uint32_t cap = 0, n = 0;
    /* All the transactions first: a statement is not stepped while another
     * runs on the same connection. */
    int rc = read_txns(d, f, &t, &n_txns);
    for (size_t i = 0; i < n_txns && !rc; i++)
        if (!(rc = read_postings(d, t[i].id, &p, &cap, &n)) && cb(ud, &t[i], p, n))
            break;
    free(t);
    free(p);
    return rc;
}

/* ---- payout batches ---- */

static void batch_row(struct db_stmt *st, struct ledger_batch_info *b)
{
    b->id = db_col_i64(st, 0);
    b->state = (int)db_col_i64(st, 1);
    b->total = db_col_i64(st, 2);
    b->n_lines = (uint32_t)db_col_i64(st, 3);
    b->created_ms = db_col_i64(st, 4);
    b->closed_ms = db_col_i64(st, 5);
}

int ledger_payout_list(struct store *s, int (*cb)(void *ud, const struct ledger_batch_info *b),
                       void *ud)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_batches);
    if (!st)
        return FIEF_EIO;
    struct ledger_batch_info b;
    int rc;
    while ((rc = db_step(st)) == 0) {
        batch_row(st, &b);
        if (cb(ud, &b))
            break;
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND || rc == 0 ? 0 : rc;
}

int ledger_payout_get(struct store *s, int64_t id, struct ledger_batch_info *out)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_batch);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, id);
    int rc = db_step(st);
    if (rc == 0)
        batch_row(st, out);
    db_reset(st);
    return rc;
}
