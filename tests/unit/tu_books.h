/* SPDX-License-Identifier: MIT */
/* Helpers of the ledger suites (test_books.c, test_books_ops.c): a store on
 * a backend with two miners seen, keys with credit, settlements of the
 * worked example's shape, and balance and ledger_check assertions.
 * Header-only; static inline, so each suite uses what it needs. */
#ifndef FIEF_TU_BOOKS_H
#define FIEF_TU_BOOKS_H

#include "testutil.h"
#include "tu_store.h"

#include "ledger/db.h"
#include "ledger/ledger.h"
#include "ledger/store_impl.h"

#include <stdio.h>
#include <string.h>

#define CREDIT LEDGER_MICRO
#define MINER_A "aa00000000000000000000000000000000000000000000000000000000000000"
#define MINER_B "bb00000000000000000000000000000000000000000000000000000000000000"


struct books {
    struct tu_loc loc;
    struct store *s;
};

static inline void books_open(void **state, const char *name, struct books *b)
{
    tu_loc_new(state, name, &b->loc);
    b->s = tu_open(&b->loc);
    store_miner_seen_async(b->s, MINER_A, "payout-a", "rig-a", 1);
    store_miner_seen_async(b->s, MINER_B, "payout-b", "rig-b", 1);
}

static inline int64_t new_key(struct store *s, int64_t credit)
{
    char key[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN];
    struct store_key k;
    assert_int_equal(store_key_create(s, "t", key, &k, err), 0);
    if (credit && ledger_deposit(s, k.id, credit, "test", NULL, err))
        fail_msg("deposit: %s", err);
    return k.id;
}

static inline int64_t available(struct store *s, int64_t key)
{
    int64_t v = -1;
    assert_int_equal(ledger_available(s, key, &v), 0);
    return v;
}

static inline void assert_key(struct store *s, int64_t key, int64_t avail, int64_t held)
{
    struct ledger_key_balance kb;
    assert_int_equal(ledger_key_balance(s, key, &kb), 0);
    assert_int_equal(kb.available, avail);
    assert_int_equal(kb.held, held);
    assert_int_equal(available(s, key), avail);
}

static inline void assert_miner(struct store *s, const char *pk, int64_t pending, int64_t avail,
                         int64_t paying, int64_t paid)
{
    struct ledger_miner_balance mb;
    assert_int_equal(ledger_miner_balance(s, pk, &mb), 0);
    assert_int_equal(mb.pending, pending);
    assert_int_equal(mb.available, avail);
    assert_int_equal(mb.paying, paying);
    assert_int_equal(mb.paid, paid);
}

struct report {
    int n;
    char lines[64][512];
};

static inline void collect(void *ud, const char *line)
{
    struct report *r = ud;
    if (r->n < 64)
        snprintf(r->lines[r->n], sizeof r->lines[0], "%s", line);
    r->n++;
}

static inline bool reported(const struct report *r, const char *what)
{
    for (int i = 0; i < r->n && i < 64; i++)
        if (strstr(r->lines[i], what))
            return true;
    return false;
}

/* ledger_check finds nothing, and every balance sums to zero. */
static inline void assert_books_ok(struct store *s, bool pool_running)
{
    struct report r = {0};
    int n = ledger_check(s, pool_running, collect, &r);
    for (int i = 0; i < r.n && i < 64; i++)
        fprintf(stderr, "ledger_check: %s\n", r.lines[i]);
    assert_int_equal(n, 0);
    struct db_stmt *st = db_sql(store_rconn(s), "SELECT COALESCE(SUM(balance), 0) FROM accounts");
    assert_non_null(st);
    assert_int_equal(db_step(st), 0);
    assert_int_equal(db_col_i64(st, 0), 0);
    db_reset(st);
}

/* A settlement: prices in micro-credits per million tokens, a 2% fee, and
 * the completion produced by miner A, or A then B after a failover. */
static inline void settlement(struct ledger_settlement *st, const char *req, int64_t key, int64_t held,
                       uint32_t prompt, uint32_t a_tokens, uint32_t b_tokens)
{
    memset(st, 0, sizeof *st);
    snprintf(st->req, sizeof st->req, "%s", req);
    st->key_id = key;
    st->held = held;
    snprintf(st->model, sizeof st->model, "stories");
    snprintf(st->digest, sizeof st->digest, "sha256:%064d", 0);
    st->price_in = 1 * CREDIT;
    st->price_out = 2 * CREDIT;
    st->fee_ppm = 20000;
    st->prompt_tokens = prompt;
    st->completion_tokens = a_tokens + b_tokens;
    snprintf(st->parts[0].pubkey, sizeof st->parts[0].pubkey, "%s", MINER_A);
    st->parts[0].tokens = a_tokens;
    st->n_parts = 1;
    if (b_tokens) {
        snprintf(st->parts[1].pubkey, sizeof st->parts[1].pubkey, "%s", MINER_B);
        st->parts[1].tokens = b_tokens;
        st->n_parts = 2;
    }
}

static inline void hold_ok(struct store *s, int64_t key, const char *req, int64_t amount)
{
    char err[FIEF_ERR_LEN];
    if (ledger_hold(s, key, req, NULL, amount, err))
        fail_msg("hold %s: %s", req, err);
}

static inline void settle_one(struct store *s, int64_t key, const char *req, uint32_t a, uint32_t bt)
{
    struct ledger_settlement st;
    hold_ok(s, key, req, CREDIT);
    settlement(&st, req, key, CREDIT, 0, a, bt);
    ledger_settle(s, &st);
}

/* Run SQL on the store's read connection (to corrupt the books on purpose). */
static inline void raw(struct store *s, const char *sql)
{
    if (db_script(store_rconn(s), sql))
        fail_msg("%s: %s", sql, db_errmsg(store_rconn(s)));
}

#endif
