/* SPDX-License-Identifier: MIT */
/* Payout batches: every miner whose available balance reached the minimum
 * moves it to PAYING in one batch, exported as JSON and CSV for an external
 * payment system; confirming pays it out (PAYOUTS), cancelling gives it
 * back (AVAILABLE). A batch changes state once, so nothing is paid twice. */
#include "ledger/ledger_impl.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Miners without a payout account (seen only in job records) stay unpaid
 * until they connect and name one. */
static const char sql_due[] =
    "SELECT a.owner, a.balance, m.payout FROM accounts a JOIN miners m ON m.pubkey = a.owner"
    " WHERE a.kind = ?1 AND a.balance >= ?2 AND a.balance > 0 AND m.payout <> ''"
    " ORDER BY a.owner";
static const char sql_batch_new[] =
    "INSERT INTO payout_batches (state, min_payout, total, n_lines, txn_id, created_ms)"
    " VALUES (1, ?1, ?2, ?3, 0, ?4) RETURNING id";
static const char sql_batch_txn[] = "UPDATE payout_batches SET txn_id = ?2 WHERE id = ?1";
static const char sql_batch_closed_txn[] =
    "UPDATE payout_batches SET closed_txn = ?2 WHERE id = ?1";
static const char sql_line[] =
    "INSERT INTO payout_lines (batch_id, pubkey, payout, amount) VALUES (?1, ?2, ?3, ?4)";
static const char sql_lines[] =
    "SELECT pubkey, payout, amount FROM payout_lines WHERE batch_id = ?1 ORDER BY pubkey";
/* Claims the batch: only one confirm or cancel finds it still created. */
static const char sql_batch_close[] =
    "UPDATE payout_batches SET state = ?2, closed_ms = ?3 WHERE id = ?1 AND state = 1";
static const char sql_batch_state[] = "SELECT state FROM payout_batches WHERE id = ?1";

struct line {
    char pubkey[65];
    char payout[513];
    int64_t amount;
};

struct lines {
    struct line *v;
    size_t n, cap;
};

/* Read rows of (pubkey, ...) with the payout account and the amount in
 * the columns given. */
static int lines_read(struct db_stmt *st, struct lines *l, int col_payout, int col_amount)
{
    int rc;
    while ((rc = db_step(st)) == 0) {
        if (l->n == l->cap)
            l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 16) * sizeof *l->v);
        struct line *x = &l->v[l->n++];
        db_col_copy(st, 0, x->pubkey, sizeof x->pubkey);
        db_col_copy(st, col_payout, x->payout, sizeof x->payout);
        x->amount = db_col_i64(st, col_amount);
    }
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

/* ---- create ---- */

struct create_ctx {
    int64_t min_payout, batch_id, total;
    struct lines lines;
    char *err;
};

static int insert_lines(struct db *d, int64_t batch_id, const struct lines *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n && !rc; i++) {
        struct db_stmt *st = db_sql(d, sql_line);
        if (!st)
            return FIEF_EIO;
        db_bind_i64(st, 1, batch_id);
        db_bind_text(st, 2, l->v[i].pubkey);
        db_bind_text(st, 3, l->v[i].payout);
        db_bind_i64(st, 4, l->v[i].amount);
        rc = db_exec(st);
    }
    return rc;
}

/* from(m) -x, to(m) +x for every line (to PAYOUTS: one posting of the
 * total), in one transaction. */
static int move_lines(struct db *d, const struct lines *l, enum ledger_kind from,
                      enum ledger_kind to, const char *type, const char *ref, int64_t *txn_id)
{
    struct ledger_posting *p = xmalloc((2 * l->n + 1) * sizeof *p);
    uint32_t n = 0;
    int64_t total = 0;
    for (size_t i = 0; i < l->n; i++) {
        ledger_posting_set(&p[n++], from, l->v[i].pubkey, -l->v[i].amount);
        if (to != LA_PAYOUTS)
            ledger_posting_set(&p[n++], to, l->v[i].pubkey, l->v[i].amount);
        total += l->v[i].amount;
    }
    if (to == LA_PAYOUTS)
        ledger_posting_set(&p[n++], LA_PAYOUTS, NULL, total);
    struct ledger_txn t = {type, ref, "", (int64_t)clock_wall_ms(), p, n};
    int rc = ledger_txn_write(d, &t, txn_id);
    free(p);
    return rc;
}

static int create_batch_row(struct db *d, struct create_ctx *c)
{
    struct db_stmt *st = db_sql(d, sql_batch_new);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, c->min_payout);
    db_bind_i64(st, 2, c->total);
    db_bind_i64(st, 3, (int64_t)c->lines.n);
    db_bind_i64(st, 4, (int64_t)clock_wall_ms());
    int rc = db_step(st);
    c->batch_id = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? FIEF_EIO : rc;
}

static int set_batch_txn(struct db *d, const char *sql, int64_t batch_id, int64_t txn_id)
{
    struct db_stmt *st = db_sql(d, sql);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, batch_id);
    db_bind_i64(st, 2, txn_id);
    return db_exec(st);
}

static int create_body(struct db *d, void *ud)
{
    struct create_ctx *c = ud;
    struct db_stmt *st = db_sql(d, sql_due);
    if (!st)
        return fief_errf(c->err, FIEF_EIO, "cannot read balances");
    db_bind_i64(st, 1, LA_AVAILABLE);
    db_bind_i64(st, 2, c->min_payout);
    int rc = lines_read(st, &c->lines, 2, 1);
    for (size_t i = 0; i < c->lines.n; i++)
        c->total += c->lines.v[i].amount;
    if (rc || c->lines.n == 0)
        return rc ? fief_errf(c->err, rc, "cannot read balances: %s", db_errmsg(d)) : 0;
    char ref[24];
    int64_t txn_id;
    if (!(rc = create_batch_row(d, c))) {
        snprintf(ref, sizeof ref, "%lld", (long long)c->batch_id);
        if (!(rc = move_lines(d, &c->lines, LA_AVAILABLE, LA_PAYING, "payout", ref, &txn_id)) &&
            !(rc = set_batch_txn(d, sql_batch_txn, c->batch_id, txn_id)))
            rc = insert_lines(d, c->batch_id, &c->lines);
    }
    return rc ? fief_errf(c->err, rc, "cannot write the batch: %s", db_errmsg(d)) : 0;
}

/* ---- export ---- */

static json_t *batch_json(int64_t batch_id, const struct lines *l, int64_t total)
{
    json_t *arr = json_array();
    char credits[32];
    for (size_t i = 0; i < l->n; i++) {
        ledger_format_credits(l->v[i].amount, credits, sizeof credits);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s}", "miner", l->v[i].pubkey,
                                             "payout", l->v[i].payout, "micro", l->v[i].amount,
                                             "credits", credits));
    }
    ledger_format_credits(total, credits, sizeof credits);
    return json_pack("{s:I, s:I, s:s, s:o}", "batch", batch_id, "total_micro", total,
                     "total_credits", credits, "lines", arr);
}

/* A CSV field: quoted, with quotes doubled (payout accounts are miners'
 * free text). */
static void csv_field(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static char *batch_csv(const struct lines *l)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "miner,payout,micro,credits\n");
    char credits[32];
    for (size_t i = 0; i < l->n; i++) {
        ledger_format_credits(l->v[i].amount, credits, sizeof credits);
        csv_field(&b, l->v[i].pubkey);
        buf_putc(&b, ',');
        csv_field(&b, l->v[i].payout);
        buf_printf(&b, ",%lld,%s\n", (long long)l->v[i].amount, credits);
    }
    return buf_steal(&b);
}

/* Write text to path through a temporary file, mode 0600. */
static int write_file(const char *path, const char *text, char err[FIEF_ERR_LEN])
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fief_errf(err, FIEF_EIO, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return fief_errf(err, FIEF_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

static int export_batch(const char *dir, int64_t batch_id, const struct lines *l, int64_t total,
                        char err[FIEF_ERR_LEN])
{
    char path[PATH_MAX];
    json_t *j = batch_json(batch_id, l, total);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    snprintf(path, sizeof path, "%s/payout-%lld.json", dir, (long long)batch_id);
    int rc = text ? write_file(path, text, err) : fief_errf(err, FIEF_ENOMEM, "out of memory");
    free(text);
    if (rc)
        return rc;
    text = batch_csv(l);
    snprintf(path, sizeof path, "%s/payout-%lld.csv", dir, (long long)batch_id);
    rc = write_file(path, text, err);
    free(text);
    return rc;
}

int ledger_payout_create(struct store *s, int64_t min_payout, const char *dir,
                         int64_t *batch_id, char err[FIEF_ERR_LEN])
{
    *batch_id = 0;
    if (min_payout < 0 || min_payout > LEDGER_MAX_AMOUNT)
        return fief_errf(err, FIEF_EINVAL, "the minimum payout must be 0 or more credits");
    struct create_ctx c = {.min_payout = min_payout, .err = err};
    int rc = ledger_sync(s, true, create_body, &c, err);
    if (rc == 0 && c.batch_id) {
        *batch_id = c.batch_id;
        /* Files are written after the commit, so no file ever describes a
         * batch that does not exist. */
        char why[FIEF_ERR_LEN];
        if (export_batch(dir, c.batch_id, &c.lines, c.total, why))
            rc = fief_errf(err, FIEF_EIO,
                           "batch %lld was created but its files could not be written (%s); "
                           "`fief payouts cancel %lld` gives the money back",
                           (long long)c.batch_id, why, (long long)c.batch_id);
    }
    free(c.lines.v);
    return rc;
}

/* ---- confirm / cancel ---- */

struct close_ctx {
    int64_t batch_id;
    enum ledger_batch_state to;
    char *err;
};

static int batch_not_open(struct db *d, struct close_ctx *c)
{
    struct db_stmt *st = db_sql(d, sql_batch_state);
    if (!st)
        return fief_errf(c->err, FIEF_EIO, "cannot read batches");
    db_bind_i64(st, 1, c->batch_id);
    int rc = db_step(st);
    int64_t state = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    if (rc == FIEF_ENOTFOUND)
        return fief_errf(c->err, rc, "no payout batch %lld", (long long)c->batch_id);
    if (rc)
        return fief_errf(c->err, rc, "cannot read batches: %s", db_errmsg(d));
    return fief_errf(c->err, FIEF_ESTATE, "payout batch %lld was %s already; nothing changed",
                     (long long)c->batch_id, state == LB_CONFIRMED ? "confirmed" : "cancelled");
}

static int claim_batch(struct db *d, struct close_ctx *c)
{
    struct db_stmt *st = db_sql(d, sql_batch_close);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, c->batch_id);
    db_bind_i64(st, 2, c->to);
    db_bind_i64(st, 3, (int64_t)clock_wall_ms());
    int rc = db_exec(st);
    return rc ? rc : db_changes(d) == 1 ? 0 : batch_not_open(d, c);
}

static int close_body(struct db *d, void *ud)
{
    struct close_ctx *c = ud;
    int rc = claim_batch(d, c);
    if (rc)
        return rc == FIEF_EIO ? fief_errf(c->err, rc, "cannot close the batch: %s", db_errmsg(d))
                              : rc;
    struct lines l = {0};
    struct db_stmt *st = db_sql(d, sql_lines);
    if (!st)
        return fief_errf(c->err, FIEF_EIO, "cannot read the batch");
    db_bind_i64(st, 1, c->batch_id);
    rc = lines_read(st, &l, 1, 2);
    char ref[24];
    snprintf(ref, sizeof ref, "%lld", (long long)c->batch_id);
    int64_t txn_id = 0;
    bool confirm = c->to == LB_CONFIRMED;
    if (!rc)
        rc = move_lines(d, &l, LA_PAYING, confirm ? LA_PAYOUTS : LA_AVAILABLE,
                        confirm ? "confirm" : "cancel", ref, &txn_id);
    free(l.v);
    if (!rc)
        rc = set_batch_txn(d, sql_batch_closed_txn, c->batch_id, txn_id);
    return rc ? fief_errf(c->err, rc, "cannot close the batch: %s", db_errmsg(d)) : 0;
}

static int batch_close(struct store *s, int64_t batch_id, enum ledger_batch_state to,
                       char err[FIEF_ERR_LEN])
{
    struct close_ctx c = {batch_id, to, err};
    return ledger_sync(s, true, close_body, &c, err);
}

int ledger_payout_confirm(struct store *s, int64_t batch_id, char err[FIEF_ERR_LEN])
{
    return batch_close(s, batch_id, LB_CONFIRMED, err);
}

int ledger_payout_cancel(struct store *s, int64_t batch_id, char err[FIEF_ERR_LEN])
{
    return batch_close(s, batch_id, LB_CANCELLED, err);
}
