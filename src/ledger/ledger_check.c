/* SPDX-License-Identifier: MIT */
/* `fief ledger check`: the books' invariants, each a query that returns
 * the rows breaking it, so a failure names what to look at. The numbers in
 * the SQL are enum ledger_kind, hold and batch states (checked below). */
#include "ledger/ledger_impl.h"

#include "common/buf.h"

#include <stdio.h>
#include <string.h>

#define REPORT_MAX 20 /* rows reported per check; the rest are counted */

_Static_assert(LA_CUSTOMER == 1 && LA_HELD == 2 && LA_PENDING == 3 && LA_AVAILABLE == 4 &&
                   LA_PAYING == 5 && LA_POOL_FEE == 6 && LA_FORFEIT == 9,
               "ledger_check's SQL spells these kinds as numbers");
_Static_assert(LAO_CLEARED == 2 && LAO_CONFIRMED == 3,
               "ledger_check's SQL spells the decided audit outcomes as numbers");
_Static_assert(LH_OPEN == 1 && LH_SETTLED == 2 && LB_CREATED == 1 && LB_CONFIRMED == 2 &&
                   LB_CANCELLED == 3,
               "ledger_check's SQL spells these states as numbers");

struct check {
    const char *what;         /* the invariant broken, for the report */
    const char *cols;         /* names of the row's columns, space-separated */
    const char *sql;
    bool only_when_stopped;   /* holds must be gone when no pool runs */
};

static const struct check checks[] = {
    {"transaction does not sum to zero (or has no postings)", "txn type ref sum postings",
     "SELECT t.id, t.type, t.ref, COALESCE(SUM(p.amount), 0), COUNT(p.txn_id) FROM txns t"
     " LEFT JOIN postings p ON p.txn_id = t.id GROUP BY t.id, t.type, t.ref"
     " HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.txn_id) = 0 ORDER BY t.id",
     false},
    {"posting of a missing transaction or account", "txn seq account amount",
     "SELECT p.txn_id, p.seq, p.account_id, p.amount FROM postings p"
     " LEFT JOIN txns t ON t.id = p.txn_id LEFT JOIN accounts a ON a.id = p.account_id"
     " WHERE t.id IS NULL OR a.id IS NULL ORDER BY p.txn_id, p.seq",
     false},
    {"balance is not the sum of its postings", "account kind owner balance postings",
     "SELECT a.id, a.kind, a.owner, a.balance, COALESCE(SUM(p.amount), 0) FROM accounts a"
     " LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.kind, a.owner, a.balance"
     " HAVING a.balance <> COALESCE(SUM(p.amount), 0) ORDER BY a.id",
     false},
    {"negative balance (customer, held, miner or forfeit)", "account kind owner balance",
     "SELECT id, kind, owner, balance FROM accounts WHERE kind IN (1, 2, 3, 4, 5, 9)"
     " AND balance < 0 ORDER BY id",
     false},
    {"HELD balance differs from the key's open holds", "key held open_holds",
     "SELECT a.owner, a.balance, COALESCE(h.total, 0) FROM accounts a LEFT JOIN"
     " (SELECT key_id, SUM(amount) AS total FROM holds WHERE state = 1 GROUP BY key_id) h"
     " ON CAST(h.key_id AS TEXT) = a.owner WHERE a.kind = 2 AND a.balance <> COALESCE(h.total, 0)"
     " UNION ALL SELECT CAST(h.key_id AS TEXT), 0, SUM(h.amount) FROM holds h WHERE h.state = 1"
     " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.kind = 2"
     " AND a.owner = CAST(h.key_id AS TEXT)) GROUP BY h.key_id",
     false},
    {"PENDING balance differs from the miner's unmatured earnings", "miner pending earnings",
     "SELECT a.owner, a.balance, COALESCE(e.total, 0) FROM accounts a LEFT JOIN"
     " (SELECT pubkey, SUM(amount) AS total FROM earnings WHERE matured_txn = 0 GROUP BY pubkey)"
     " e ON e.pubkey = a.owner WHERE a.kind = 3 AND a.balance <> COALESCE(e.total, 0)"
     " UNION ALL SELECT e.pubkey, 0, SUM(e.amount) FROM earnings e WHERE e.matured_txn = 0"
     " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.kind = 3 AND a.owner = e.pubkey)"
     " GROUP BY e.pubkey",
     false},
    {"PAYING balance differs from the miner's lines in open batches", "miner paying lines",
     "SELECT a.owner, a.balance, COALESCE(l.total, 0) FROM accounts a LEFT JOIN"
     " (SELECT pl.pubkey, SUM(pl.amount) AS total FROM payout_lines pl JOIN payout_batches b"
     " ON b.id = pl.batch_id WHERE b.state = 1 GROUP BY pl.pubkey) l ON l.pubkey = a.owner"
     " WHERE a.kind = 5 AND a.balance <> COALESCE(l.total, 0)",
     false},
    {"open hold of a settled request", "request key amount",
     "SELECT h.req, h.key_id, h.amount FROM holds h JOIN settlements s ON s.req = h.req"
     " WHERE h.state = 1 ORDER BY h.req",
     false},
    {"open hold while no pool is running (`fief pool` releases it at start)",
     "request key amount created_ms",
     "SELECT req, key_id, amount, created_ms FROM holds WHERE state = 1 ORDER BY req", true},
    {"hold without its transaction, or settled without a settlement", "request state txn",
     "SELECT h.req, h.state, h.txn_id FROM holds h WHERE h.state NOT IN (1, 2, 3)"
     " OR NOT EXISTS (SELECT 1 FROM txns t WHERE t.id = h.txn_id)"
     " OR (h.state = 2 AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.req = h.req))"
     " ORDER BY h.req",
     false},
    {"settlement above its hold, or with a bad fee", "request cost fee hold",
     "SELECT s.req, s.cost, s.fee, h.amount FROM settlements s LEFT JOIN holds h ON h.req = s.req"
     " WHERE h.req IS NULL OR h.state <> 2 OR s.cost > h.amount OR s.fee < 0 OR s.fee > s.cost"
     " ORDER BY s.req",
     false},
    {"settlement's shares and fee do not add up to its cost", "request cost paid",
     "SELECT s.req, s.cost, COALESCE(SUM(CASE WHEN a.kind IN (3, 6) THEN p.amount ELSE 0 END), 0)"
     " FROM settlements s LEFT JOIN postings p ON p.txn_id = s.txn_id"
     " LEFT JOIN accounts a ON a.id = p.account_id GROUP BY s.req, s.cost"
     " HAVING s.cost <> COALESCE(SUM(CASE WHEN a.kind IN (3, 6) THEN p.amount ELSE 0 END), 0)"
     " ORDER BY s.req",
     false},
    {"payout batch in no single state, or its lines do not add up",
     "batch state total lines_total lines n_lines txn closed_txn",
     "SELECT b.id, b.state, b.total, COALESCE(SUM(l.amount), 0), COUNT(l.pubkey), b.n_lines,"
     " b.txn_id, b.closed_txn FROM payout_batches b LEFT JOIN payout_lines l ON l.batch_id = b.id"
     " GROUP BY b.id, b.state, b.total, b.n_lines, b.txn_id, b.closed_txn"
     " HAVING b.state NOT IN (1, 2, 3) OR b.total <> COALESCE(SUM(l.amount), 0)"
     " OR b.n_lines <> COUNT(l.pubkey) OR (b.state = 1) <> (b.closed_txn = 0)"
     " OR NOT EXISTS (SELECT 1 FROM txns t WHERE t.id = b.txn_id)"
     " OR (b.closed_txn <> 0 AND NOT EXISTS (SELECT 1 FROM txns t WHERE t.id = b.closed_txn))"
     " ORDER BY b.id",
     false},
    /* Audits (ledger_audit.h): money reaches FORFEIT only from a key an
     * audit decided by majority banned, and leaves it only to refund a
     * request that key's share of which was forfeited. */
    {"FORFEIT moved by something other than a forfeit or a refund", "txn type ref amount",
     "SELECT t.id, t.type, t.ref, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id"
     " JOIN txns t ON t.id = p.txn_id WHERE a.kind = 9 AND t.type NOT IN ('forfeit', 'refund')"
     " ORDER BY t.id",
     false},
    {"forfeit not decided by the audit that banned the miner", "txn audit miner amount",
     "SELECT t.id, t.ref, a.owner, p.amount FROM txns t JOIN postings p ON p.txn_id = t.id"
     " JOIN accounts a ON a.id = p.account_id WHERE t.type = 'forfeit' AND a.kind = 3"
     " AND NOT EXISTS (SELECT 1 FROM miners m JOIN audits au ON au.id = m.ban_audit"
     " WHERE m.pubkey = a.owner AND m.banned <> 0 AND CAST(au.id AS TEXT) = t.ref"
     " AND au.outcome IN (2, 3)) ORDER BY t.id",
     false},
    {"refunds above what the request was charged", "request cost fee shares fees",
     "SELECT r.req, COALESCE(s.cost, -1), COALESCE(s.fee, -1), SUM(r.share), SUM(r.fee)"
     " FROM refunds r LEFT JOIN settlements s ON s.req = r.req GROUP BY r.req, s.cost, s.fee"
     " HAVING s.cost IS NULL OR SUM(r.share + r.fee) > s.cost OR SUM(r.fee) > s.fee"
     " ORDER BY r.req",
     false},
    {"refund not of a forfeited share, without its audit or transaction",
     "request miner share fee txn",
     "SELECT r.req, r.pubkey, r.share, r.fee, r.txn_id FROM refunds r"
     " LEFT JOIN settlements s ON s.req = r.req"
     " LEFT JOIN earnings e ON e.txn_id = s.txn_id AND e.pubkey = r.pubkey"
     " WHERE e.id IS NULL OR e.forfeit_txn = 0 OR e.amount <> r.share OR r.fee < 0"
     " OR NOT EXISTS (SELECT 1 FROM audits au WHERE au.id = r.audit_id AND au.outcome IN (2, 3))"
     " OR NOT EXISTS (SELECT 1 FROM postings p JOIN accounts a ON a.id = p.account_id"
     " JOIN txns t ON t.id = p.txn_id WHERE p.txn_id = r.txn_id AND t.type = 'refund'"
     " AND a.kind = 1 AND a.owner = CAST(r.key_id AS TEXT) AND p.amount = r.share + r.fee)"
     " ORDER BY r.req, r.pubkey",
     false},
    {"refund transaction without its refund", "txn ref",
     "SELECT t.id, t.ref FROM txns t WHERE t.type = 'refund'"
     " AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.txn_id = t.id) ORDER BY t.id",
     false},
};

/* "what: col=value col=value ..." for the current row. */
static void row_line(const struct check *c, struct db_stmt *st, struct buf *b)
{
    char names[128], value[160];
    snprintf(names, sizeof names, "%s", c->cols);
    buf_reset(b);
    buf_printf(b, "%s:", c->what);
    char *save = NULL;
    int col = 0;
    for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save), col++) {
        db_col_format(st, col, value, sizeof value);
        buf_printf(b, " %s=%s", n, value[0] ? value : "''");
    }
}

/* Run one check; returns the violations found, or < 0. */
static int run_check(struct db *d, const struct check *c,
                     void (*report)(void *ud, const char *line), void *ud)
{
    struct db_stmt *st = db_sql(d, c->sql);
    if (!st)
        return FIEF_EIO;
    struct buf b;
    buf_init(&b);
    int n = 0, rc;
    while ((rc = db_step(st)) == 0) {
        if (n++ < REPORT_MAX) {
            row_line(c, st, &b);
            report(ud, b.data);
        }
    }
    db_reset(st);
    if (n > REPORT_MAX) {
        buf_reset(&b);
        buf_printf(&b, "%s: ... and %d more", c->what, n - REPORT_MAX);
        report(ud, b.data);
    }
    buf_deinit(&b);
    return rc == FIEF_ENOTFOUND ? n : rc;
}

static const char sql_my_open_holds[] =
    "SELECT req, key_id, amount FROM holds WHERE state = 1 AND writer = ?1 ORDER BY req";
static const char sql_still_open[] = "SELECT 1 FROM holds WHERE req = ?1 AND state = 1";

/* Whether req's hold is open in a snapshot taken now. */
static bool still_open(struct db *d, const char *req)
{
    struct db_stmt *st = db_sql(d, sql_still_open);
    if (!st)
        return false;
    db_bind_text(st, 1, req);
    bool open = db_step(st) == 0;
    db_reset(st);
    return open;
}

/* Inside the pool: each open hold it placed belongs to a request it still
 * has in flight (a hold the pool forgot would stay until its next start).
 * A hold that looks forgotten is read again: its settlement may have
 * committed, and left memory, since the first read. */
static int check_own_holds(struct store *s, void (*report)(void *ud, const char *line), void *ud)
{
    struct db *d = store_rconn(s);
    struct db_stmt *st = db_sql(d, sql_my_open_holds);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, store_writer_id(s));
    int n = 0, rc;
    char line[256];
    while ((rc = db_step(st)) == 0) {
        const char *req = db_col_text(st, 0);
        if (ledger_mem_has_hold(s, req) || !still_open(d, req))
            continue;
        if (n++ < REPORT_MAX) {
            snprintf(line, sizeof line,
                     "open hold of this pool with no request in flight: request=%s key=%lld "
                     "amount=%lld",
                     req, (long long)db_col_i64(st, 1), (long long)db_col_i64(st, 2));
            report(ud, line);
        }
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? n : rc;
}

int ledger_check(struct store *s, bool pool_running,
                 void (*report)(void *ud, const char *line), void *ud)
{
    struct db *d = store_rconn(s);
    int total = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].only_when_stopped && pool_running)
            continue;
        int n = run_check(d, &checks[i], report, ud);
        if (n < 0)
            return n;
        total += n;
    }
    int n = check_own_holds(s, report, ud);
    return n < 0 ? n : total + n;
}
