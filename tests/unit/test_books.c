/* SPDX-License-Identifier: MIT */
/* The books, the same suite on SQLite and on PostgreSQL: deposits, holds,
 * settlements, maturity and payouts with every balance checked at each
 * step; holds racing the write thread never overspend; replays charge
 * nothing; idempotent responses; stale holds; notices; receipts. Each flow
 * ends with ledger_check finding nothing (test_books_ops.c corrupts books
 * on purpose). */
#include "testutil.h"
#include "tu_books.h"

#include "common/clock.h"
#include "ledger/db.h"
#include "ledger/ledger.h"
#include "ledger/store_impl.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- flows ---- */

/* 1000 prompt and 500 completion tokens at 1 and 2 credits per million cost
 * 2000 micro-credits; 40 is the 2% fee; miner A made 300 tokens (1176), B
 * after a failover 200 (784). */
static void test_settle_flow(void **state)
{
    struct books b;
    books_open(state, "settle", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    assert_key(b.s, key, 10 * CREDIT, 0);

    hold_ok(b.s, key, "r1", CREDIT); /* seen at once, before any commit */
    assert_key(b.s, key, 9 * CREDIT, CREDIT);
    struct ledger_settlement st;
    settlement(&st, "r1", key, CREDIT, 1000, 300, 200);
    assert_int_equal(ledger_settlement_cost(&st), 2000);
    ledger_settle(b.s, &st);
    assert_key(b.s, key, 10 * CREDIT - 2000, 0);
    store_flush(b.s);
    assert_key(b.s, key, 10 * CREDIT - 2000, 0);
    assert_miner(b.s, MINER_A, 1176, 0, 0, 0);
    assert_miner(b.s, MINER_B, 784, 0, 0, 0);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), 40);
    assert_int_equal(ledger_balance(b.s, LA_DEPOSITS, ""), -10 * CREDIT);
    struct ledger_key_balance kb;
    assert_int_equal(ledger_key_balance(b.s, key, &kb), 0);
    assert_int_equal(kb.spent, 2000);
    assert_int_equal(kb.deposited, 10 * CREDIT);
    assert_books_ok(b.s, false);

    /* the receipt: stored, signed, and what the customer was charged */
    char err[FIEF_ERR_LEN];
    char *r = ledger_receipt_get(b.s, "r1");
    assert_non_null(r);
    assert_int_equal(ledger_receipt_verify(r, NULL, err), 0);
    assert_non_null(strstr(r, "\"cost\":2000"));
    assert_non_null(strstr(r, "\"fee\":40"));
    assert_non_null(strstr(r, "\"amount\":1176"));
    free(r);
    assert_null(ledger_receipt_get(b.s, "nope"));
    store_close(b.s);
}

/* A request that produced nothing costs nothing; a cost above the hold is
 * capped at the hold; one miner back after a failover is paid once. */
static void test_release_and_cap(void **state)
{
    struct books b;
    books_open(state, "release", &b);
    int64_t key = new_key(b.s, 5 * CREDIT);
    struct ledger_settlement st;
    hold_ok(b.s, key, "none", 2 * CREDIT);
    settlement(&st, "none", key, 2 * CREDIT, 100, 0, 0);
    ledger_settle(b.s, &st);
    assert_key(b.s, key, 5 * CREDIT, 0);

    hold_ok(b.s, key, "capped", 1000);
    settlement(&st, "capped", key, 1000, 1000000, 1000, 0); /* would cost 1.002 credits */
    ledger_settle(b.s, &st);
    assert_key(b.s, key, 5 * CREDIT - 1000, 0);

    hold_ok(b.s, key, "back", CREDIT);
    settlement(&st, "back", key, CREDIT, 0, 100, 100); /* A, B, then A again */
    st.parts[2] = st.parts[0];
    st.parts[2].tokens = 50;
    st.completion_tokens = 250;
    st.n_parts = 3;
    ledger_settle(b.s, &st);
    store_flush(b.s);
    assert_key(b.s, key, 5 * CREDIT - 1000 - 500, 0);
    /* 1000 -> fee 20, A 980; 500 -> fee 10, 490 split 150:100 = 294 + 196 */
    assert_miner(b.s, MINER_A, 980 + 294, 0, 0, 0);
    assert_miner(b.s, MINER_B, 196, 0, 0, 0);
    assert_null(ledger_receipt_get(b.s, "none"));
    assert_books_ok(b.s, false);
    store_close(b.s);
}


static void test_mature_and_payouts(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN];
    books_open(state, "payouts", &b);
    int64_t key = new_key(b.s, 100 * CREDIT);
    settle_one(b.s, key, "p1", 50000, 0);     /* 0.1 credit: A 98000 */
    settle_one(b.s, key, "p2", 25000, 25000); /* A 49000, B 49000 */
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 147000, 0, 0, 0);
    int64_t now = (int64_t)clock_wall_ms();

    /* nothing is due inside the window; everything after it */
    assert_int_equal(ledger_mature_now(b.s, 3600, now + 1000, err), 0);
    assert_miner(b.s, MINER_A, 147000, 0, 0, 0);
    assert_int_equal(ledger_mature_now(b.s, 3600, now + 3600 * 1000 + 1000, err), 196000);
    assert_miner(b.s, MINER_A, 0, 147000, 0, 0);
    assert_miner(b.s, MINER_B, 0, 49000, 0, 0);
    assert_int_equal(ledger_mature_now(b.s, 0, now + 7200 * 1000, err), 0);
    assert_books_ok(b.s, false);

    /* a minimum above B's balance batches A alone */
    char out[600];
    snprintf(out, sizeof out, "%s/exports", b.loc.dir);
    mkdir(out, 0700);
    int64_t batch;
    assert_int_equal(ledger_payout_create(b.s, 100000, out, &batch, err), 0);
    assert_true(batch > 0);
    assert_miner(b.s, MINER_A, 0, 0, 147000, 0);
    assert_miner(b.s, MINER_B, 0, 49000, 0, 0);
    assert_books_ok(b.s, false);
    char path[700];
    snprintf(path, sizeof path, "%s/payout-%lld.json", out, (long long)batch);
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "total_micro")), 147000);
    json_t *line = json_array_get(json_object_get(j, "lines"), 0);
    assert_string_equal(json_string_value(json_object_get(line, "payout")), "payout-a");
    assert_string_equal(json_string_value(json_object_get(line, "credits")), "0.147");
    json_decref(j);
    snprintf(path, sizeof path, "%s/payout-%lld.csv", out, (long long)batch);
    char *csv = tu_read_file(path, NULL);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "\"" MINER_A "\",\"payout-a\",147000,0.147\n"));
    free(csv);

    /* confirm pays it; it cannot be confirmed or cancelled again */
    assert_int_equal(ledger_payout_confirm(b.s, batch, err), 0);
    assert_miner(b.s, MINER_A, 0, 0, 0, 147000);
    assert_int_equal(ledger_balance(b.s, LA_PAYOUTS, ""), 147000);
    assert_int_equal(ledger_payout_confirm(b.s, batch, err), FIEF_ESTATE);
    assert_int_equal(ledger_payout_cancel(b.s, batch, err), FIEF_ESTATE);
    assert_non_null(strstr(err, "confirmed"));
    assert_int_equal(ledger_payout_confirm(b.s, 9999, err), FIEF_ENOTFOUND);
    assert_books_ok(b.s, false);

    /* cancel gives B's money back; nobody is due twice */
    int64_t b2, b3;
    assert_int_equal(ledger_payout_create(b.s, 0, out, &b2, err), 0);
    assert_miner(b.s, MINER_B, 0, 0, 49000, 0);
    assert_int_equal(ledger_payout_create(b.s, 0, out, &b3, err), 0);
    assert_int_equal(b3, 0);
    assert_int_equal(ledger_payout_cancel(b.s, b2, err), 0);
    assert_miner(b.s, MINER_B, 0, 49000, 0, 0);
    assert_int_equal(ledger_payout_confirm(b.s, b2, err), FIEF_ESTATE);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

static void test_mature_async(void **state)
{
    struct books b;
    books_open(state, "matureq", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "m1", 1000, 0);
    ledger_mature_async(b.s, 0, (int64_t)clock_wall_ms() + 1000);
    settle_one(b.s, key, "m2", 1000, 0); /* after the maturation in the queue */
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 1960, 1960, 0, 0);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

static void test_deposit_checks(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN];
    books_open(state, "deposit", &b);
    int64_t key = new_key(b.s, 0), txn = 0;
    assert_int_equal(ledger_deposit(b.s, key, 0, NULL, NULL, err), FIEF_EINVAL);
    assert_int_equal(ledger_deposit(b.s, key, -5, NULL, NULL, err), FIEF_EINVAL);
    assert_int_equal(ledger_deposit(b.s, key, LEDGER_MAX_AMOUNT + 1, NULL, NULL, err),
                     FIEF_ERANGE);
    assert_int_equal(ledger_deposit(b.s, key + 100, 5, NULL, NULL, err), FIEF_ENOTFOUND);
    assert_int_equal(ledger_deposit(b.s, key, 5, "line\nbreak", NULL, err), FIEF_EINVAL);
    assert_int_equal(ledger_deposit(b.s, key, LEDGER_MAX_AMOUNT, "all", &txn, err), 0);
    assert_true(txn > 0);
    assert_int_equal(ledger_deposit(b.s, key, 1, NULL, NULL, err), FIEF_ERANGE);
    assert_key(b.s, key, LEDGER_MAX_AMOUNT, 0);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)key);
    assert_int_equal(store_key_revoke(b.s, id, NULL, err), 0);
    int64_t key2 = new_key(b.s, 0);
    snprintf(id, sizeof id, "%lld", (long long)key2);
    assert_int_equal(store_key_revoke(b.s, id, NULL, err), 0);
    assert_int_equal(ledger_deposit(b.s, key2, 5, NULL, NULL, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "revoked"));
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* ---- holds racing the write thread ---- */

/* Every hold that exactly spends what is available succeeds and the next
 * micro-credit is refused, at every moment, while the write thread commits
 * the earlier holds and settlements in the background. */
static void test_view_exact(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN], req[32];
    books_open(state, "exact", &b);
    int64_t key = new_key(b.s, 1000 * CREDIT), spent = 0;
    uint64_t rng = 5;
    for (int i = 0; i < 400; i++) {
        int64_t avail = available(b.s, key);
        assert_int_equal(avail, 1000 * CREDIT - spent);
        int64_t amount = 1 + (int64_t)(tu_rand(&rng) % (uint64_t)(avail / 8 + 1));
        if (i % 50 == 49)
            amount = avail; /* spend it all: one more micro-credit must fail */
        snprintf(req, sizeof req, "x%d", i);
        hold_ok(b.s, key, req, amount);
        snprintf(req, sizeof req, "y%d", i);
        assert_int_equal(ledger_hold(b.s, key, req, NULL, avail - amount + 1, err), FIEF_ELIMIT);
        struct ledger_settlement st;
        snprintf(req, sizeof req, "x%d", i);
        settlement(&st, req, key, amount, 0, (uint32_t)(tu_rand(&rng) % 400), 0);
        ledger_settle(b.s, &st);
        spent += ledger_settlement_cost(&st);
    }
    store_flush(b.s);
    assert_key(b.s, key, 1000 * CREDIT - spent, 0);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

struct racer {
    struct store *s;
    int64_t key;
    int id, ok, refused;
    int64_t charged;
};

static void *race(void *p)
{
    struct racer *r = p;
    char req[32], err[FIEF_ERR_LEN];
    uint64_t rng = (uint64_t)r->id * 7919 + 1;
    for (int i = 0; i < 300; i++) {
        snprintf(req, sizeof req, "t%d-%d", r->id, i);
        int64_t amount = CREDIT / 4 + (int64_t)(tu_rand(&rng) % CREDIT);
        int rc = ledger_hold(r->s, r->key, req, NULL, amount, err);
        if (rc == FIEF_ELIMIT) {
            r->refused++;
            continue;
        }
        assert_int_equal(rc, 0);
        r->ok++;
        struct ledger_settlement st;
        settlement(&st, req, r->key, amount, 2000, (uint32_t)(tu_rand(&rng) % 300000), 0);
        r->charged += ledger_settlement_cost(&st);
        ledger_settle(r->s, &st);
    }
    return NULL;
}

/* Four threads hold and settle against one key worth far less than they
 * ask for: some are refused, none overspends, and the books add up. */
static void test_concurrent_holds(void **state)
{
    struct books b;
    books_open(state, "race", &b);
    int64_t credit = 40 * CREDIT;
    int64_t key = new_key(b.s, credit);
    struct racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){b.s, key, i, 0, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int64_t charged = 0;
    int refused = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        charged += r[i].charged;
        refused += r[i].refused;
    }
    store_flush(b.s);
    assert_true(refused > 0);
    assert_true(charged <= credit);
    assert_key(b.s, key, credit - charged, 0);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* ---- replays and idempotency ---- */

static void test_replay_not_charged(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN];
    books_open(state, "replay", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "once", 1000, 0);
    struct ledger_settlement st;
    settlement(&st, "once", key, CREDIT, 0, 1000, 0);
    ledger_settle(b.s, &st); /* a second settlement of the same request */
    store_flush(b.s);
    int64_t after = 10 * CREDIT - 2000;
    assert_key(b.s, key, after, 0);

    /* after a restart, the same request id again: hold refused by the
     * books, settlement ignored */
    store_close(b.s);
    b.s = tu_open(&b.loc);
    assert_int_equal(ledger_hold(b.s, key, "once", NULL, CREDIT, err), 0);
    ledger_settle(b.s, &st);
    store_flush(b.s);
    assert_key(b.s, key, after, 0);
    assert_miner(b.s, MINER_A, 1960, 0, 0, 0);
    struct store_stats ss;
    store_stats_get(b.s, &ss);
    assert_true(ss.dropped >= 1);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

static void test_idempotent_response(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN], ct[64];
    char *body = NULL;
    size_t len;
    int status;
    books_open(state, "idem", &b);
    int64_t key = new_key(b.s, 10 * CREDIT), other = new_key(b.s, CREDIT);
    assert_int_equal(ledger_idem_get(b.s, key, "k1", &status, ct, &body, &len), FIEF_ENOTFOUND);
    assert_int_equal(ledger_hold(b.s, key, "i1", "k1", CREDIT, err), 0);
    assert_int_equal(ledger_hold(b.s, key, "i2", "k1", CREDIT, err), FIEF_ESTATE);
    assert_int_equal(ledger_hold(b.s, other, "i3", "k1", 1000, err), 0); /* another key's */
    assert_int_equal(ledger_idem_get(b.s, key, "k1", &status, ct, &body, &len), FIEF_ESTATE);

    struct ledger_settlement st;
    settlement(&st, "i1", key, CREDIT, 10, 20, 0);
    snprintf(st.idem, sizeof st.idem, "k1");
    st.http_status = 200;
    snprintf(st.content_type, sizeof st.content_type, "application/json");
    static const char resp[] = "{\"id\":\"i1\",\"bytes\":\"\x01\x00\xff\"}";
    st.body = resp;
    st.body_len = sizeof resp - 1;
    ledger_settle(b.s, &st);
    for (int round = 0; round < 3; round++) { /* queued, committed, after a restart */
        assert_int_equal(ledger_idem_get(b.s, key, "k1", &status, ct, &body, &len), 0);
        assert_int_equal(status, 200);
        assert_string_equal(ct, "application/json");
        assert_int_equal(len, sizeof resp - 1);
        assert_memory_equal(body, resp, len);
        free(body);
        if (round == 0)
            store_flush(b.s);
        if (round == 1) {
            store_close(b.s);
            b.s = tu_open(&b.loc);
        }
    }
    assert_int_equal(ledger_idem_get(b.s, other, "k1", &status, ct, &body, &len),
                     FIEF_ENOTFOUND);

    /* a request that produced nothing keeps no response: its retry runs */
    assert_int_equal(ledger_hold(b.s, key, "i4", "k2", CREDIT, err), 0);
    settlement(&st, "i4", key, CREDIT, 10, 0, 0);
    snprintf(st.idem, sizeof st.idem, "k2");
    st.body = "error";
    st.body_len = 5;
    ledger_settle(b.s, &st);
    store_flush(b.s);
    assert_int_equal(ledger_idem_get(b.s, key, "k2", &status, ct, &body, &len), FIEF_ENOTFOUND);
    store_close(b.s);
}

/* ---- stale holds, notices ---- */

static void test_stale_holds(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN];
    books_open(state, "stale", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    hold_ok(b.s, key, "dead1", CREDIT);
    hold_ok(b.s, key, "dead2", 2 * CREDIT);
    store_close(b.s); /* the pool died with two requests in flight */

    b.s = tu_open(&b.loc);
    assert_key(b.s, key, 7 * CREDIT, 3 * CREDIT);
    struct report r = {0};
    assert_int_equal(ledger_check(b.s, false, collect, &r), 2);
    assert_true(reported(&r, "dead1"));
    assert_int_equal(ledger_check(b.s, true, collect, &r), 0);
    hold_ok(b.s, key, "mine", CREDIT); /* this pool's own hold stays */
    store_flush(b.s);
    assert_int_equal(ledger_release_stale_holds(b.s, err), 2);
    assert_key(b.s, key, 9 * CREDIT, CREDIT);
    assert_int_equal(ledger_release_stale_holds(b.s, err), 0);
    assert_books_ok(b.s, true);
    store_close(b.s);
}

struct wakes {
    pthread_mutex_t mu;
    int n;
};

static void wake(void *ud)
{
    struct wakes *w = ud;
    pthread_mutex_lock(&w->mu);
    w->n++;
    pthread_mutex_unlock(&w->mu);
}

static void on_settled(void *ud, const char *req, const char *receipt)
{
    int *n = ud;
    char err[FIEF_ERR_LEN];
    if (!strcmp(req, "nothing")) { /* a release: its reply may go, no receipt */
        assert_string_equal(receipt, "");
    } else {
        assert_int_equal(strncmp(req, "n", 1), 0);
        assert_int_equal(ledger_receipt_verify(receipt, NULL, err), 0);
    }
    (*n)++;
}

static void test_settled_notices(void **state)
{
    struct books b;
    books_open(state, "notices", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    struct wakes w = {PTHREAD_MUTEX_INITIALIZER, 0};
    settle_one(b.s, key, "before", 10, 0); /* no notice: nobody listens yet */
    store_flush(b.s);
    ledger_on_settled(b.s, wake, &w);
    for (int i = 0; i < 10; i++) {
        char req[16];
        snprintf(req, sizeof req, "n%d", i);
        settle_one(b.s, key, req, 10 + (uint32_t)i, 0);
    }
    struct ledger_settlement st; /* a release: a notice without a receipt */
    hold_ok(b.s, key, "nothing", 5);
    settlement(&st, "nothing", key, 5, 0, 0, 0);
    ledger_settle(b.s, &st);
    store_flush(b.s);
    assert_true(w.n >= 1);
    int seen = 0;
    assert_int_equal(ledger_settled_poll(b.s, on_settled, &seen), 11);
    assert_int_equal(seen, 11);
    assert_int_equal(ledger_settled_poll(b.s, on_settled, &seen), 0);
    ledger_on_settled(b.s, NULL, NULL);
    store_close(b.s);
}

/* ---- receipts ---- */

static void test_receipts(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN], pk_hex[65];
    books_open(state, "receipts", &b);
    unsigned char pk[32], sk[64], pk2[32], sk2[64];
    assert_int_equal(ledger_pool_key(b.loc.dir, pk, sk, err), 0);
    assert_int_equal(ledger_pool_key(b.loc.dir, pk2, sk2, err), 0); /* the same, reloaded */
    assert_memory_equal(pk, pk2, 32);
    char path[600];
    snprintf(path, sizeof path, "%s/pool.key", b.loc.dir);
    struct stat stt;
    assert_int_equal(stat(path, &stt), 0);
    assert_int_equal(stt.st_mode & 0777, 0600);
    ledger_set_signer(b.s, "test-pool", pk, sk);
    for (int i = 0; i < 32; i++)
        snprintf(pk_hex + 2 * i, 3, "%02x", pk[i]);

    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "rc", 700, 300);
    store_flush(b.s);
    char *r = ledger_receipt_get(b.s, "rc");
    assert_non_null(r);
    assert_non_null(strstr(r, "\"pool\":\"test-pool\""));
    assert_int_equal(ledger_receipt_verify(r, NULL, err), 0);
    assert_int_equal(ledger_receipt_verify(r, pk_hex, err), 0);
    char other[65];
    memcpy(other, pk_hex, sizeof other);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    assert_int_equal(ledger_receipt_verify(r, other, err), FIEF_EPROTO);

    /* tampering: a changed amount that still adds up breaks the signature */
    json_t *o = json_loads(r, 0, NULL);
    json_t *m0 = json_array_get(json_object_get(o, "miners"), 0);
    json_t *m1 = json_array_get(json_object_get(o, "miners"), 1);
    json_int_t a0 = json_integer_value(json_object_get(m0, "amount"));
    json_int_t a1 = json_integer_value(json_object_get(m1, "amount"));
    json_object_set_new(m0, "amount", json_integer(a0 + 1));
    json_object_set_new(m1, "amount", json_integer(a1 - 1));
    char *t = json_dumps(o, JSON_INDENT(2)); /* layout does not matter, content does */
    assert_int_equal(ledger_receipt_verify(t, NULL, err), FIEF_EPROTO);
    free(t);
    json_object_set_new(m1, "amount", json_integer(0)); /* no longer adds up */
    t = json_dumps(o, 0);
    assert_int_equal(ledger_receipt_verify(t, NULL, err), FIEF_EFORMAT);
    free(t);
    json_object_set_new(o, "cost", json_real(1.5));
    t = json_dumps(o, 0);
    assert_int_equal(ledger_receipt_verify(t, NULL, err), FIEF_EFORMAT);
    free(t);
    json_decref(o);
    assert_int_equal(ledger_receipt_verify("not json", NULL, err), FIEF_EFORMAT);
    assert_int_equal(ledger_receipt_verify("{}", NULL, err), FIEF_EFORMAT);
    assert_int_equal(ledger_receipt_verify(r, "zz", err), FIEF_EFORMAT);
    free(r);

    /* a damaged key file is refused, never replaced */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("fief-pool-key-v1\nseed 00\npublic 00\n", f);
    fclose(f);
    assert_int_equal(ledger_pool_key(b.loc.dir, pk2, sk2, err), FIEF_EFORMAT);
    store_close(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_BOTH(test_settle_flow),         TU_BOTH(test_release_and_cap),
        TU_BOTH(test_mature_and_payouts),  TU_BOTH(test_mature_async),
        TU_BOTH(test_deposit_checks),      TU_BOTH(test_view_exact),
        TU_BOTH(test_concurrent_holds),    TU_BOTH(test_replay_not_charged),
        TU_BOTH(test_idempotent_response), TU_BOTH(test_stale_holds),
        TU_BOTH(test_settled_notices),     TU_BOTH(test_receipts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
