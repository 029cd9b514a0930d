/* SPDX-License-Identifier: MIT */
/* A request's money: the hold placed before dispatch and the settlement (or
 * release) at its end, both queued to the write thread; the customer's
 * spendable credit; stored idempotent responses; and, at start, the release
 * of holds a dead pool left behind. */
#include "ledger/ledger_impl.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_hold_insert[] =
    "INSERT INTO holds (req, key_id, amount, state, writer, txn_id, created_ms)"
    " VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)";
static const char sql_hold_get[] = "SELECT key_id, amount, state FROM holds WHERE req = ?1";
static const char sql_hold_close[] =
    "UPDATE holds SET state = ?2, closed_ms = ?3 WHERE req = ?1 AND state = 1";
static const char sql_settlement[] =
    "INSERT INTO settlements (req, key_id, txn_id, model, prompt_tokens, completion_tokens,"
    " cost, fee, receipt, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_earning[] =
    "INSERT INTO earnings (pubkey, amount, txn_id, created_ms) VALUES (?1, ?2, ?3, ?4)";
/* A second response for the same key (another pool on the database got
 * there first) keeps the first. */
static const char sql_response[] =
    "INSERT INTO responses (key_id, idem, req, http_status, content_type, body, created_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key_id, idem) DO NOTHING";
static const char sql_response_get[] =
    "SELECT http_status, content_type, body FROM responses WHERE key_id = ?1 AND idem = ?2";

/* ---- holds ---- */

struct hold_op {
    struct store_op op;
    int64_t key_id, amount, created_ms;
    char req[65];
    char writer[33];
};

static int hold_apply(struct db *d, const struct store_op *op)
{
    const struct hold_op *h = (const struct hold_op *)op;
    char owner[LEDGER_OWNER_LEN];
    ledger_key_owner(h->key_id, owner);
    struct ledger_posting p[2];
    ledger_posting_set(&p[0], LA_CUSTOMER, owner, -h->amount);
    ledger_posting_set(&p[1], LA_HELD, owner, h->amount);
    struct ledger_txn t = {"hold", h->req, "", h->created_ms, p, 2};
    int64_t txn_id;
    int rc = ledger_txn_write(d, &t, &txn_id);
    struct db_stmt *st = rc ? NULL : db_sql(d, sql_hold_insert);
    if (!st)
        return rc ? rc : FIEF_EIO;
    db_bind_text(st, 1, h->req);
    db_bind_i64(st, 2, h->key_id);
    db_bind_i64(st, 3, h->amount);
    db_bind_text(st, 4, h->writer);
    db_bind_i64(st, 5, txn_id);
    db_bind_i64(st, 6, h->created_ms);
    return db_exec(st);
}

static void hold_done(struct store *s, struct store_op *op, bool applied)
{
    struct hold_op *h = (struct hold_op *)op;
    if (!applied)
        log_err("ledger: the hold of request %s was not written; its settlement will be "
                "refused",
                h->req);
    ledger_mem_done(s, op->seq, h->key_id, h->req, false, applied, NULL);
}

static int hold_refused(int rc, int64_t avail, int64_t amount, char err[FIEF_ERR_LEN])
{
    char a[32], b[32];
    switch (rc) {
    case FIEF_ELIMIT:
        ledger_format_credits(avail > 0 ? avail : 0, a, sizeof a);
        ledger_format_credits(amount, b, sizeof b);
        return fief_errf(err, rc,
                         "not enough credit: %s credits available, and this request may cost "
                         "up to %s",
                         a, b);
    case FIEF_EINVAL:
        return fief_errf(err, rc, "bug: this request already holds credit");
    case FIEF_ESTATE:
        return fief_errf(err, rc,
                         "a request with this Idempotency-Key is still in progress; retry "
                         "when it has finished");
    default:
        return fief_errf(err, FIEF_EIO, "cannot read the key's balance");
    }
}

int ledger_hold(struct store *s, int64_t key_id, const char *req, const char *idem,
                int64_t amount, char err[FIEF_ERR_LEN])
{
    if (amount <= 0 || amount > LEDGER_MAX_AMOUNT)
        return fief_errf(err, FIEF_EINVAL, "bug: hold of %lld micro-credits", (long long)amount);
    if (!req || !*req || strlen(req) > 64 || (idem && strlen(idem) > 128))
        return fief_errf(err, FIEF_EINVAL, "bug: empty or over-long request id or "
                                           "Idempotency-Key");
    struct hold_op *h = xcalloc(1, sizeof *h);
    h->op.what = "hold";
    h->op.apply = hold_apply;
    h->op.done = hold_done;
    h->key_id = key_id;
    h->amount = amount;
    h->created_ms = (int64_t)clock_wall_ms();
    snprintf(h->req, sizeof h->req, "%s", req);
    snprintf(h->writer, sizeof h->writer, "%s", store_writer_id(s));
    struct ledger_delta dl = {key_id, -amount, amount};
    int64_t avail = 0;
    int rc = ledger_mem_hold(s, &h->op, req, idem, &dl, &avail);
    if (rc) {
        free(h);
        return hold_refused(rc, avail, amount, err);
    }
    return 0;
}

int ledger_available(struct store *s, int64_t key_id, int64_t *out)
{
    int64_t held;
    return ledger_mem_key(s, key_id, out, &held);
}

/* ---- settlements ---- */

struct settle_op {
    struct store_op op;
    struct ledger_settlement st; /* body points into data */
    struct ledger_split split;
    int64_t held, cost, time_ms;
    bool release;   /* nothing produced: the hold is released, no receipt */
    char *receipt;  /* signed by prepare on the write thread; freed by done */
    char data[];    /* the response body */
};

int64_t ledger_settlement_cost(const struct ledger_settlement *st)
{
    int64_t cost;
    if (st->completion_tokens == 0)
        return 0;
    if (ledger_cost(st->price_in, st->price_out, st->prompt_tokens, st->completion_tokens,
                    &cost))
        cost = st->held; /* beyond any balance: the hold caps it */
    return cost < st->held ? cost : st->held > 0 ? st->held : 0;
}

/* The open hold must be the one this settlement releases: a replay (the
 * hold is settled already) or a hold that never reached the books is
 * refused, so nothing is charged twice or without a hold. */
static int hold_check(struct db *d, const struct settle_op *o)
{
    struct db_stmt *st = db_sql(d, sql_hold_get);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, o->st.req);
    int rc = db_step(st);
    bool ok = rc == 0 && db_col_i64(st, 0) == o->st.key_id && db_col_i64(st, 1) == o->held &&
              db_col_i64(st, 2) == LH_OPEN;
    db_reset(st);
    if (rc && rc != FIEF_ENOTFOUND)
        return rc;
    if (!ok)
        log_err("ledger: settlement of request %s refused: no open hold of %lld for key %lld "
                "(settled before, or the hold was lost)",
                o->st.req, (long long)o->held, (long long)o->st.key_id);
    return ok ? 0 : FIEF_EINVAL;
}

static int hold_close(struct db *d, const char *req, enum ledger_hold_state state, int64_t now)
{
    struct db_stmt *st = db_sql(d, sql_hold_close);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, req);
    db_bind_i64(st, 2, state);
    db_bind_i64(st, 3, now);
    int rc = db_exec(st);
    return rc ? rc : db_changes(d) == 1 ? 0 : FIEF_EINVAL;
}

/* HELD -held, CUSTOMER +(held - cost), each miner +share (parts of one
 * miner merged), POOL_FEE +fee. Returns the number of postings. */
static uint32_t settle_postings(const struct settle_op *o, struct ledger_posting *p)
{
    char owner[LEDGER_OWNER_LEN];
    ledger_key_owner(o->st.key_id, owner);
    ledger_posting_set(&p[0], LA_HELD, owner, -o->held);
    ledger_posting_set(&p[1], LA_CUSTOMER, owner, o->held - o->cost);
    ledger_posting_set(&p[2], LA_POOL_FEE, NULL, o->split.fee);
    uint32_t n = 3;
    for (uint32_t i = 0; i < o->split.n; i++) {
        const struct ledger_share *sh = &o->split.shares[i];
        uint32_t k = 3;
        while (k < n && strcmp(p[k].owner, sh->pubkey) != 0)
            k++;
        if (k == n)
            ledger_posting_set(&p[n++], LA_PENDING, sh->pubkey, 0);
        p[k].amount += sh->amount;
    }
    return n;
}

static int earnings_insert(struct db *d, const struct ledger_posting *p, uint32_t n,
                           int64_t txn_id, int64_t now)
{
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        if (p[i].kind != LA_PENDING || p[i].amount == 0)
            continue;
        struct db_stmt *st = db_sql(d, sql_earning);
        if (!st)
            return FIEF_EIO;
        db_bind_text(st, 1, p[i].owner);
        db_bind_i64(st, 2, p[i].amount);
        db_bind_i64(st, 3, txn_id);
        db_bind_i64(st, 4, now);
        rc = db_exec(st);
    }
    return rc;
}

static int settlement_insert(struct db *d, const struct settle_op *o, int64_t txn_id)
{
    struct db_stmt *st = db_sql(d, sql_settlement);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, o->st.req);
    db_bind_i64(st, 2, o->st.key_id);
    db_bind_i64(st, 3, txn_id);
    db_bind_text(st, 4, o->st.model);
    db_bind_i64(st, 5, o->st.prompt_tokens);
    db_bind_i64(st, 6, o->st.completion_tokens);
    db_bind_i64(st, 7, o->cost);
    db_bind_i64(st, 8, o->split.fee);
    db_bind_text(st, 9, o->receipt);
    db_bind_i64(st, 10, o->time_ms);
    return db_exec(st);
}

static int response_insert(struct db *d, const struct settle_op *o)
{
    if (!o->st.body)
        return 0;
    struct db_stmt *st = db_sql(d, sql_response);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, o->st.key_id);
    db_bind_text(st, 2, o->st.idem);
    db_bind_text(st, 3, o->st.req);
    db_bind_i64(st, 4, o->st.http_status);
    db_bind_text(st, 5, o->st.content_type);
    db_bind_blob(st, 6, o->st.body, o->st.body_len);
    db_bind_i64(st, 7, o->time_ms);
    return db_exec(st);
}

static int settle_apply(struct db *d, const struct store_op *op)
{
    const struct settle_op *o = (const struct settle_op *)op;
    struct ledger_posting p[3 + STORE_JOB_MAX_PARTS];
    uint32_t n = settle_postings(o, p);
    bool release = o->release;
    struct ledger_txn t = {release ? "release" : "settle", o->st.req, "", o->time_ms, p, n};
    int64_t txn_id;
    int rc = hold_check(d, o);
    if (!rc)
        rc = ledger_txn_write(d, &t, &txn_id);
    if (!rc)
        rc = hold_close(d, o->st.req, release ? LH_RELEASED : LH_SETTLED, o->time_ms);
    if (release || rc)
        return rc;
    if (!(rc = settlement_insert(d, o, txn_id)) && !(rc = earnings_insert(d, p, n, txn_id,
                                                                          o->time_ms)))
        rc = response_insert(d, o);
    return rc;
}

/* Sign the receipt here rather than on the loop thread: an ed25519
 * signature and the JSON cost more than the rest of a settlement. */
static void settle_prepare(struct store *s, struct store_op *op)
{
    struct settle_op *o = (struct settle_op *)op;
    if (o->release)
        return;
    o->receipt = ledger_receipt_make(s, &o->st, &o->split, o->time_ms);
    if (!o->receipt)
        o->receipt = xstrdup("{}"); /* still a settlement; ledger_receipt_make logged why */
}

static void settle_done(struct store *s, struct store_op *op, bool applied)
{
    struct settle_op *o = (struct settle_op *)op;
    ledger_mem_done(s, op->seq, o->st.key_id, o->st.req, true, applied, o->receipt);
    free(o->receipt);
}

static bool settlement_ok(const struct ledger_settlement *st)
{
    if (!st->req[0] || !store_field_ok(st->req, sizeof st->req) ||
        !store_field_ok(st->model, sizeof st->model) ||
        !store_field_ok(st->digest, sizeof st->digest) ||
        !store_field_ok(st->idem, sizeof st->idem) ||
        !store_field_ok(st->content_type, sizeof st->content_type) ||
        st->n_parts > STORE_JOB_MAX_PARTS || (st->body_len && !st->body))
        return false;
    for (uint32_t i = 0; i < st->n_parts; i++)
        if (!store_field_ok(st->parts[i].pubkey, sizeof st->parts[i].pubkey))
            return false;
    return true;
}

/* The op with the response body copied in. */
static struct settle_op *settle_op_new(const struct ledger_settlement *in)
{
    bool keep = in->idem[0] && in->completion_tokens > 0;
    size_t blen = keep ? in->body_len : 0;
    struct settle_op *o = xcalloc(1, sizeof *o + blen + 1);
    o->st = *in;
    o->st.body = NULL;
    if (keep) {
        memcpy(o->data, in->body ? in->body : "", blen);
        o->st.body = o->data;
    }
    o->release = in->completion_tokens == 0;
    o->op.what = o->release ? "release" : "settle";
    o->op.prepare = settle_prepare;
    o->op.apply = settle_apply;
    o->op.done = settle_done;
    return o;
}

void ledger_settle(struct store *s, const struct ledger_settlement *in)
{
    int64_t held;
    if (!settlement_ok(in)) {
        log_err("ledger: bug: malformed settlement dropped");
        return;
    }
    int rc = ledger_mem_settle_begin(s, in->req, in->key_id, &held);
    if (rc) {
        log_err("ledger: bug: settlement of request %s ignored: %s", in->req,
                rc == FIEF_ESTATE ? "it is settled already" : "this store holds nothing for it");
        return;
    }
    struct settle_op *o = settle_op_new(in);
    o->st.held = o->held = held;
    o->cost = ledger_settlement_cost(&o->st);
    ledger_split(o->cost, o->st.fee_ppm, o->st.parts, o->st.n_parts, &o->split);
    o->time_ms = in->created_ms > 0 ? in->created_ms : (int64_t)clock_wall_ms();
    struct ledger_delta dl = {in->key_id, held - o->cost, -held};
    ledger_mem_settle_push(s, &o->op, in->req, &dl, in->content_type, in->http_status,
                           o->st.body, o->st.body_len);
}

/* ---- idempotent responses ---- */

int ledger_idem_get(struct store *s, int64_t key_id, const char *idem, int *status,
                    char content_type[64], char **body, size_t *body_len)
{
    int rc = ledger_mem_idem(s, key_id, idem, status, content_type, body, body_len);
    if (rc != FIEF_ENOTFOUND)
        return rc;
    struct db_stmt *st = db_sql(store_rconn(s), sql_response_get);
    if (!st)
        return FIEF_EIO;
    db_bind_i64(st, 1, key_id);
    db_bind_text(st, 2, idem);
    if ((rc = db_step(st)) == 0) {
        size_t n;
        const void *p = db_col_blob(st, 2, &n);
        *status = (int)db_col_i64(st, 0);
        db_col_copy(st, 1, content_type, 64);
        *body = xmalloc(n + 1);
        memcpy(*body, p, n);
        (*body)[n] = 0;
        *body_len = n;
    }
    db_reset(st);
    return rc;
}
