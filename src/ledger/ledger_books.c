/* SPDX-License-Identifier: MIT */
/* Bookkeeping outside a request: deposits of customer credit, miners'
 * earnings maturing into available balances, the release of holds a dead
 * pool left, the one-pool-per-directory lock, and the balances the API
 * shows to customers and miners. */
#include "ledger/ledger_impl.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MEMO_MAX 256 /* bytes of a deposit's memo */

static const char sql_key_state[] = "SELECT revoked_ms FROM keys WHERE id = ?1";
/* Claim the due earnings with a mark (-1) no other transaction can see, sum
 * them per miner, then stamp them with the maturing transaction: a second
 * maturation running at the same time (PostgreSQL) cannot claim them too.
 * A banned key's earnings never mature: they wait for the forfeit sweep
 * (ledger_audit.h). */
static const char sql_mature_claim[] =
    "UPDATE earnings SET matured_txn = -1 WHERE matured_txn = 0 AND created_ms <= ?1"
    " AND pubkey NOT IN (SELECT pubkey FROM miners WHERE banned <> 0)";
static const char sql_mature_sum[] =
    "SELECT pubkey, SUM(amount) FROM earnings WHERE matured_txn = -1 GROUP BY pubkey"
    " ORDER BY pubkey";
static const char sql_mature_stamp[] =
    "UPDATE earnings SET matured_txn = ?1 WHERE matured_txn = -1";
static const char sql_stale_holds[] =
    "SELECT req, key_id, amount FROM holds WHERE state = 1 AND writer <> ?1 ORDER BY req";
static const char sql_hold_release[] =
    "UPDATE holds SET state = 3, closed_ms = ?2 WHERE req = ?1 AND state = 1";
static const char sql_key_spent[] = "SELECT SUM(cost) FROM settlements WHERE key_id = ?1";
static const char sql_key_deposited[] =
    "SELECT SUM(p.amount) FROM postings p JOIN txns t ON t.id = p.txn_id"
    " JOIN accounts a ON a.id = p.account_id"
    " WHERE t.type = 'deposit' AND a.kind = ?1 AND a.owner = ?2";
static const char sql_miner_paid[] =
    "SELECT SUM(l.amount) FROM payout_lines l JOIN payout_batches b ON b.id = l.batch_id"
    " WHERE b.state = 2 AND l.pubkey = ?1";

/* A one-value query with the key or owner bound as ?1 (and ?2). */
static int64_t sum_query(struct db *d, const char *sql, int64_t i1, const char *t1,
                         const char *t2)
{
    struct db_stmt *st = db_sql(d, sql);
    if (!st)
        return 0;
    if (t1)
        db_bind_text(st, 1, t1);
    else
        db_bind_i64(st, 1, i1);
    if (t2)
        db_bind_text(st, 2, t2);
    int64_t v = db_step(st) == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return v;
}

/* ---- deposits ---- */

struct deposit {
    int64_t key_id, amount, txn_id;
    const char *memo;
    char *err;
};

static int deposit_body(struct db *d, void *ud)
{
    struct deposit *x = ud;
    struct db_stmt *st = db_sql(d, sql_key_state);
    if (!st)
        return fief_errf(x->err, FIEF_EIO, "cannot read keys");
    db_bind_i64(st, 1, x->key_id);
    int rc = db_step(st);
    int64_t revoked = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    if (rc == FIEF_ENOTFOUND)
        return fief_errf(x->err, rc, "no key has id %lld", (long long)x->key_id);
    if (rc)
        return fief_errf(x->err, FIEF_EIO, "cannot read keys: %s", db_errmsg(d));
    if (revoked)
        return fief_errf(x->err, FIEF_EINVAL,
                         "key %lld is revoked: credit on it could never be spent",
                         (long long)x->key_id);
    char owner[LEDGER_OWNER_LEN];
    int64_t balance;
    ledger_key_owner(x->key_id, owner);
    if (ledger_account_get(d, LA_CUSTOMER, owner, &balance))
        return fief_errf(x->err, FIEF_EIO, "cannot read the balance: %s", db_errmsg(d));
    if (balance > LEDGER_MAX_AMOUNT - x->amount)
        return fief_errf(x->err, FIEF_ERANGE,
                         "the key's balance would exceed the largest amount the ledger keeps");
    struct ledger_posting p[2];
    ledger_posting_set(&p[0], LA_DEPOSITS, NULL, -x->amount);
    ledger_posting_set(&p[1], LA_CUSTOMER, owner, x->amount);
    struct ledger_txn t = {"deposit", owner, x->memo, (int64_t)clock_wall_ms(), p, 2};
    if (ledger_txn_write(d, &t, &x->txn_id))
        return fief_errf(x->err, FIEF_EIO, "cannot write the deposit: %s", db_errmsg(d));
    return 0;
}

static bool memo_ok(const char *memo)
{
    if (strlen(memo) > MEMO_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)memo; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int ledger_deposit(struct store *s, int64_t key_id, int64_t amount, const char *memo,
                   int64_t *txn_id, char err[FIEF_ERR_LEN])
{
    if (amount <= 0)
        return fief_errf(err, FIEF_EINVAL, "a deposit must be more than zero");
    if (amount > LEDGER_MAX_AMOUNT)
        return fief_errf(err, FIEF_ERANGE, "a deposit is at most %lld credits",
                         LEDGER_MAX_AMOUNT / LEDGER_MICRO);
    if (memo && !memo_ok(memo))
        return fief_errf(err, FIEF_EINVAL,
                         "the memo must be at most %d bytes without control characters",
                         MEMO_MAX);
    struct deposit x = {key_id, amount, 0, memo ? memo : "", err};
    int rc = ledger_sync(s, false, deposit_body, &x, err);
    if (rc == 0 && txn_id)
        *txn_id = x.txn_id;
    return rc;
}

/* ---- maturity ---- */

/* The claimed earnings as PENDING -x / AVAILABLE +x per miner. */
static int mature_postings(struct db *d, struct ledger_posting **out, uint32_t *n)
{
    struct db_stmt *st = db_sql(d, sql_mature_sum);
    if (!st)
        return FIEF_EIO;
    uint32_t cap = 16, k = 0;
    struct ledger_posting *p = xmalloc(cap * sizeof *p);
    int rc;
    while ((rc = db_step(st)) == 0) {
        if (k + 2 > cap)
            p = xrealloc(p, (cap *= 2) * sizeof *p);
        const char *who = db_col_text(st, 0);
        int64_t x = db_col_i64(st, 1);
        ledger_posting_set(&p[k++], LA_PENDING, who, -x);
        ledger_posting_set(&p[k++], LA_AVAILABLE, who, x);
    }
    db_reset(st);
    *out = p;
    *n = k;
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

static int stamp(struct db *d, const char *sql, int64_t v)
{
    struct db_stmt *st = db_sql(d, sql);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, v);
    return db_exec(st);
}

/* Inside a transaction: mature what is due by cutoff. *total gets the
 * micro-credits moved. */
static int mature_in(struct db *d, int64_t cutoff, int64_t now, int64_t *total)
{
    *total = 0;
    int rc = stamp(d, sql_mature_claim, cutoff);
    if (rc || db_changes(d) == 0)
        return rc;
    struct ledger_posting *p = NULL;
    uint32_t n = 0;
    int64_t txn_id;
    if (!(rc = mature_postings(d, &p, &n))) {
        struct ledger_txn t = {"mature", "", "", now, p, n};
        if (!(rc = ledger_txn_write(d, &t, &txn_id)))
            rc = stamp(d, sql_mature_stamp, txn_id);
        for (uint32_t i = 1; i < n; i += 2)
            *total += p[i].amount;
    }
    free(p);
    return rc;
}

struct mature_op {
    struct store_op op;
    int64_t cutoff, now;
};

static int mature_apply(struct db *d, const struct store_op *op)
{
    const struct mature_op *m = (const struct mature_op *)op;
    int64_t total;
    return mature_in(d, m->cutoff, m->now, &total);
}

void ledger_mature_async(struct store *s, uint32_t maturity_s, int64_t now_ms)
{
    struct mature_op *m = xcalloc(1, sizeof *m);
    m->op.what = "mature";
    m->op.apply = mature_apply;
    m->cutoff = now_ms - (int64_t)maturity_s * 1000;
    m->now = now_ms;
    store_op_push(s, &m->op);
}

struct mature_now {
    int64_t cutoff, now, total;
};

static int mature_body(struct db *d, void *ud)
{
    struct mature_now *m = ud;
    return mature_in(d, m->cutoff, m->now, &m->total);
}

int64_t ledger_mature_now(struct store *s, uint32_t maturity_s, int64_t now_ms,
                          char err[FIEF_ERR_LEN])
{
    struct mature_now m = {now_ms - (int64_t)maturity_s * 1000, now_ms, 0};
    int rc = ledger_sync(s, false, mature_body, &m, err);
    if (rc)
        return fief_errf(err, rc, "cannot mature earnings: %s", db_errmsg(store_rconn(s)));
    return m.total;
}

/* ---- stale holds ---- */

struct stale {
    char req[65];
    int64_t key_id, amount;
};

struct stale_ctx {
    struct store *s;
    int released;
    char *err;
};

static int stale_list(struct db *d, const char *me, struct stale **out, size_t *n)
{
    struct db_stmt *st = db_sql(d, sql_stale_holds);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, me);
    size_t cap = 16, k = 0;
    struct stale *v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = db_step(st)) == 0) {
        if (k == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        db_col_copy(st, 0, v[k].req, sizeof v[k].req);
        v[k].key_id = db_col_i64(st, 1);
        v[k++].amount = db_col_i64(st, 2);
    }
    db_reset(st);
    *out = v;
    *n = k;
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

static int release_one(struct db *d, const struct stale *h, int64_t now)
{
    char owner[LEDGER_OWNER_LEN];
    ledger_key_owner(h->key_id, owner);
    struct ledger_posting p[2];
    ledger_posting_set(&p[0], LA_HELD, owner, -h->amount);
    ledger_posting_set(&p[1], LA_CUSTOMER, owner, h->amount);
    struct ledger_txn t = {"release", h->req, "stale hold", now, p, 2};
    int64_t txn_id;
    int rc = ledger_txn_write(d, &t, &txn_id);
    struct db_stmt *st = rc ? NULL : db_sql(d, sql_hold_release);
    if (!st)
        return rc ? rc : FIEF_EIO;
    db_bind_text(st, 1, h->req);
    db_bind_i64(st, 2, now);
    return db_exec(st);
}

static int stale_body(struct db *d, void *ud)
{
    struct stale_ctx *c = ud;
    struct stale *v = NULL;
    size_t n = 0;
    int64_t now = (int64_t)clock_wall_ms();
    int rc = stale_list(d, store_writer_id(c->s), &v, &n);
    for (size_t i = 0; i < n && !rc; i++)
        rc = release_one(d, &v[i], now);
    free(v);
    c->released = (int)n;
    return rc ? fief_errf(c->err, rc, "cannot release stale holds: %s", db_errmsg(d)) : 0;
}

int ledger_release_stale_holds(struct store *s, char err[FIEF_ERR_LEN])
{
    struct stale_ctx c = {s, 0, err};
    int rc = ledger_sync(s, true, stale_body, &c, err);
    if (rc)
        return rc;
    if (c.released)
        log_notice("ledger: released %d holds left by a pool that stopped", c.released);
    return c.released;
}

/* ---- the pool's lock file ---- */

static int lock_path(const char *dir, char *path, size_t cap)
{
    return (size_t)snprintf(path, cap, "%s/pool.lock", dir) < cap ? 0 : FIEF_EINVAL;
}

int ledger_pool_lock(const char *dir, int *fd, char err[FIEF_ERR_LEN])
{
    char path[PATH_MAX];
    if (lock_path(dir, path, sizeof path))
        return fief_errf(err, FIEF_EINVAL, "%s: path too long", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            return fief_errf(err, FIEF_ESTATE,
                             "another pool is running on %s (it holds %s); stop it first", dir,
                             path);
        return fief_errf(err, FIEF_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd = f;
    return 0;
}

bool ledger_pool_running(const char *dir)
{
    char path[PATH_MAX];
    if (lock_path(dir, path, sizeof path))
        return false;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return false;
    bool held = flock(f, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(f);
    return held;
}

/* ---- balances for the API ---- */

int ledger_key_balance(struct store *s, int64_t key_id, struct ledger_key_balance *out)
{
    memset(out, 0, sizeof *out);
    int rc = ledger_mem_key(s, key_id, &out->available, &out->held);
    if (rc)
        return rc;
    char owner[LEDGER_OWNER_LEN];
    ledger_key_owner(key_id, owner);
    struct db *d = store_rconn(s);
    out->spent = sum_query(d, sql_key_spent, key_id, NULL, NULL);
    out->deposited = sum_query(d, sql_key_deposited, LA_CUSTOMER, NULL, owner);
    return 0;
}

int ledger_miner_balance(struct store *s, const char *pubkey, struct ledger_miner_balance *out)
{
    struct db *d = store_rconn(s);
    memset(out, 0, sizeof *out);
    if (ledger_account_get(d, LA_PENDING, pubkey, &out->pending) ||
        ledger_account_get(d, LA_AVAILABLE, pubkey, &out->available) ||
        ledger_account_get(d, LA_PAYING, pubkey, &out->paying))
        return FIEF_EIO;
    out->paid = sum_query(d, sql_miner_paid, 0, pubkey, NULL);
    return 0;
}
