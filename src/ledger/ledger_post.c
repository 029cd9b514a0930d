/* SPDX-License-Identifier: MIT */
/* Double entry: a transaction is a txns row and postings that sum to zero,
 * and each posting moves its account's balance in the same database
 * transaction, so a balance is always the sum of its postings. Also the
 * helper that runs a synchronous bookkeeping write on the caller's
 * connection. */
#include "ledger/ledger_impl.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_txn[] =
    "INSERT INTO txns (type, ref, memo, created_ms) VALUES (?1, ?2, ?3, ?4) RETURNING id";
/* Creates the account on its first posting; RETURNING gives its id either way. */
static const char sql_account_add[] =
    "INSERT INTO accounts (kind, owner, balance) VALUES (?1, ?2, ?3) ON CONFLICT (kind, owner)"
    " DO UPDATE SET balance = accounts.balance + excluded.balance RETURNING id";
static const char sql_posting[] =
    "INSERT INTO postings (txn_id, seq, account_id, amount) VALUES (?1, ?2, ?3, ?4)";
static const char sql_account_get[] = "SELECT balance FROM accounts WHERE kind = ?1 AND owner = ?2";

const char *ledger_kind_name(enum ledger_kind k)
{
    static const char *const names[] = {
        [LA_CUSTOMER] = "CUSTOMER", [LA_HELD] = "HELD",         [LA_PENDING] = "PENDING",
        [LA_AVAILABLE] = "AVAILABLE", [LA_PAYING] = "PAYING",   [LA_POOL_FEE] = "POOL_FEE",
        [LA_DEPOSITS] = "DEPOSITS", [LA_PAYOUTS] = "PAYOUTS",   [LA_FORFEIT] = "FORFEIT",
    };
    return k >= LA_CUSTOMER && k <= LA_FORFEIT ? names[k] : "?";
}

void ledger_key_owner(int64_t key_id, char owner[LEDGER_OWNER_LEN])
{
    snprintf(owner, LEDGER_OWNER_LEN, "%lld", (long long)key_id);
}

void ledger_posting_set(struct ledger_posting *p, enum ledger_kind kind, const char *owner,
                        int64_t amount)
{
    p->kind = kind;
    snprintf(p->owner, sizeof p->owner, "%s", owner ? owner : "");
    p->amount = amount;
}

/* The postings must balance, and no amount may be beyond LEDGER_MAX_AMOUNT,
 * so no sum of a transaction's postings can overflow. */
static bool balanced(const struct ledger_txn *t)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        int64_t a = t->p[i].amount;
        if (a > LEDGER_MAX_AMOUNT || a < -LEDGER_MAX_AMOUNT)
            return false;
        sum += a;
        if (sum > LEDGER_MAX_AMOUNT || sum < -LEDGER_MAX_AMOUNT)
            return false;
    }
    return sum == 0;
}

static int insert_txn(struct db *d, const struct ledger_txn *t, int64_t *txn_id)
{
    struct db_stmt *st = db_sql(d, sql_txn);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, t->type);
    db_bind_text(st, 2, t->ref ? t->ref : "");
    db_bind_text(st, 3, t->memo ? t->memo : "");
    db_bind_i64(st, 4, t->created_ms);
    int rc = db_step(st);
    *txn_id = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

/* Add p's amount to its account's balance; *account_id gets the account. */
static int account_add(struct db *d, const struct ledger_posting *p, int64_t *account_id)
{
    struct db_stmt *st = db_sql(d, sql_account_add);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, p->kind);
    db_bind_textn(st, 2, p->owner, sizeof p->owner);
    db_bind_i64(st, 3, p->amount);
    int rc = db_step(st);
    *account_id = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int insert_posting(struct db *d, int64_t txn_id, uint32_t seq, int64_t account_id,
                          int64_t amount)
{
    struct db_stmt *st = db_sql(d, sql_posting);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, txn_id);
    db_bind_i64(st, 2, seq);
    db_bind_i64(st, 3, account_id);
    db_bind_i64(st, 4, amount);
    return db_exec(st);
}

static int cmp_account(const struct ledger_posting *a, const struct ledger_posting *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return strcmp(a->owner, b->owner);
}

/* Postings are applied in account order rather than as given, so two
 * PostgreSQL transactions touching the same accounts lock their rows in the
 * same order and cannot deadlock. Insertion sort: a transaction has a few
 * postings, or a payout batch's already sorted ones. */
static void sort_order(const struct ledger_txn *t, uint32_t *order)
{
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t j = i;
        while (j > 0 && cmp_account(&t->p[order[j - 1]], &t->p[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

int ledger_txn_write(struct db *d, const struct ledger_txn *t, int64_t *txn_id)
{
    if (!balanced(t)) {
        log_err("ledger: bug: a %s transaction (%s) does not balance; refused", t->type,
                t->ref ? t->ref : "");
        return FIEF_EINVAL;
    }
    int rc = insert_txn(d, t, txn_id);
    uint32_t *order = malloc((t->n ? t->n : 1) * sizeof *order);
    if (!order)
        return FIEF_ENOMEM;
    sort_order(t, order);
    for (uint32_t k = 0; k < t->n && !rc; k++) {
        const struct ledger_posting *p = &t->p[order[k]];
        int64_t account_id;
        if (p->amount == 0)
            continue;
        rc = account_add(d, p, &account_id);
        if (!rc)
            rc = insert_posting(d, *txn_id, order[k], account_id, p->amount);
    }
    free(order);
    return rc;
}

int ledger_account_get(struct db *d, enum ledger_kind kind, const char *owner, int64_t *out)
{
    struct db_stmt *st = db_sql(d, sql_account_get);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, kind);
    db_bind_text(st, 2, owner ? owner : "");
    int rc = db_step(st);
    *out = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

int64_t ledger_balance(struct store *s, enum ledger_kind kind, const char *owner)
{
    int64_t v;
    return ledger_account_get(store_rconn(s), kind, owner, &v) ? 0 : v;
}

/* ---- synchronous bookkeeping ---- */

int ledger_sync(struct store *s, bool lock, int (*body)(struct db *d, void *ud), void *ud,
                char err[FIEF_ERR_LEN])
{
    struct db *d = store_rconn(s);
    int rc = db_begin(d);
    if (!rc && lock)
        rc = db_lock(d, LEDGER_LOCK_BOOKS);
    if (rc)
        return fief_errf(err, FIEF_EIO, "%s: cannot start a transaction: %s", db_target(d),
                         db_errmsg(d));
    rc = body(d, ud);
    if (rc == 0 && db_commit(d))
        rc = fief_errf(err, FIEF_EIO, "%s: cannot commit: %s", db_target(d), db_errmsg(d));
    if (rc && db_in_txn(d))
        db_rollback(d);
    return rc;
}
