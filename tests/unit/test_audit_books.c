/* SPDX-License-Identifier: MIT */
/* Audits in the books (ledger/ledger_audit.h), the same suite on SQLite and
 * PostgreSQL: a confirmed fraud forfeits exactly the cheater's PENDING and
 * refunds each request it was earned on, share and fee, to the micro-credit,
 * leaving receipts as issued; matured earnings and other miners are
 * untouched; auditors are paid from the pool's fee, never below zero; what a
 * banned key earns later is swept the same way and never matures; bans and
 * reputation survive a reopen; ledger_check passes after each step and
 * catches forfeits and refunds no audit decided. */
#include "testutil.h"
#include "tu_books.h"

#include "ledger/ledger_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDITOR_C "cc00000000000000000000000000000000000000000000000000000000000000"
#define AUDITOR_D "dd00000000000000000000000000000000000000000000000000000000000000"

/* One integer from SQL on the read connection. */
static int64_t sql_i64(struct store *s, const char *sql)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql);
    assert_non_null(st);
    int rc = db_step(st);
    int64_t v = rc == 0 ? db_col_i64(st, 0) : -1;
    db_reset(st);
    return v;
}

static void delta(struct ledger_audit *a, const char *pk, int passed, int failed, int confirmed,
                  int agreed, int disagreed, bool ban)
{
    struct ledger_rep_delta *d = &a->deltas[a->n_deltas++];
    memset(d, 0, sizeof *d);
    snprintf(d->pubkey, sizeof d->pubkey, "%s", pk);
    d->passed = passed;
    d->failed = failed;
    d->confirmed = confirmed;
    d->agreed = agreed;
    d->disagreed = disagreed;
    d->ban = ban;
}

/* An audit of part 0 of job j by miner, failed by auditors C and D. */
static void confirmed(struct ledger_audit *a, const char *job, const char *miner)
{
    memset(a, 0, sizeof *a);
    snprintf(a->job, sizeof a->job, "%s", job);
    snprintf(a->model, sizeof a->model, "stories");
    snprintf(a->miner, sizeof a->miner, "%s", miner);
    a->n = 10;
    a->positions = 20;
    a->outcome = LAO_CONFIRMED;
    a->n_auditors = 2;
    snprintf(a->auditors[0], sizeof a->auditors[0], "%s", AUDITOR_C);
    snprintf(a->auditors[1], sizeof a->auditors[1], "%s", AUDITOR_D);
    a->evidence = "{\"verdicts\":[]}";
    delta(a, miner, 0, 0, 1, 0, 0, true);
    snprintf(a->deltas[0].reason, sizeof a->deltas[0].reason, "confirmed fraud on %s", job);
    delta(a, AUDITOR_C, 0, 0, 0, 1, 0, false);
    delta(a, AUDITOR_D, 0, 0, 0, 1, 0, false);
}

static int find_rep(void *ud, const struct ledger_rep *r)
{
    struct ledger_rep *want = ud;
    if (!strcmp(r->pubkey, want->pubkey))
        *want = *r;
    return 0;
}

static struct ledger_rep rep_of(struct store *s, const char *pk)
{
    struct ledger_rep r = {0};
    snprintf(r.pubkey, sizeof r.pubkey, "%s", pk);
    r.passed = -1;
    assert_int_equal(ledger_rep_load(s, find_rep, &r), 0);
    return r;
}

/* The refund's fee: what the fee was on the share, rounded down. */
static void test_refund_fee(void **state)
{
    (void)state;
    assert_int_equal(ledger_refund_fee(1176, 2000, 40), 24);
    assert_int_equal(ledger_refund_fee(784, 2000, 40), 16);
    assert_int_equal(ledger_refund_fee(1103, 1800, 36), 22); /* 22.51 */
    assert_int_equal(ledger_refund_fee(661, 1800, 36), 13);  /* 13.49: 35 of 36 back */
    assert_int_equal(ledger_refund_fee(0, 1800, 36), 0);
    assert_int_equal(ledger_refund_fee(100, 100, 0), 0);
    assert_int_equal(ledger_refund_fee(100, 100, 100), 0); /* all fee: no share to speak of */
    assert_int_equal(
        ledger_refund_fee(LEDGER_MAX_AMOUNT / 2, LEDGER_MAX_AMOUNT, LEDGER_MAX_AMOUNT / 2),
        LEDGER_MAX_AMOUNT / 2);
}

/* The worked example (docs/operating.md): 2000 charged, A earned 1176 and
 * B 784, the fee 40. A is confirmed a cheater: A's 1176 and the 24 of fee
 * on it go back to the customer, B keeps 784, the pool 16. */
static void test_forfeit_and_refund_exact(void **state)
{
    struct books b;
    books_open(state, "forfeit", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    struct ledger_settlement st;
    hold_ok(b.s, key, "r1", CREDIT);
    settlement(&st, "r1", key, CREDIT, 1000, 300, 200);
    ledger_settle(b.s, &st);
    store_flush(b.s);
    char *receipt = ledger_receipt_get(b.s, "r1");
    assert_non_null(receipt);
    assert_miner(b.s, MINER_A, 1176, 0, 0, 0);

    struct ledger_audit a;
    confirmed(&a, "j1", MINER_A);
    ledger_audit_record(b.s, &a);
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 0, 0, 0, 0);
    assert_miner(b.s, MINER_B, 784, 0, 0, 0);
    assert_key(b.s, key, 10 * CREDIT - 2000 + 1176 + 24, 0);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), 16);
    assert_int_equal(ledger_balance(b.s, LA_FORFEIT, ""), 0);
    assert_int_equal(sql_i64(b.s, "SELECT share FROM refunds WHERE req = 'r1'"), 1176);
    assert_int_equal(sql_i64(b.s, "SELECT fee FROM refunds WHERE req = 'r1'"), 24);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM txns WHERE type = 'forfeit'"), 1);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM txns WHERE type = 'refund'"), 1);
    assert_int_equal(sql_i64(b.s, "SELECT outcome FROM audits"), LAO_CONFIRMED);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM audits WHERE txns LIKE '{\"forfeit\":[%'"),
                     1);
    /* the receipt stays as issued: the refund is a record of its own */
    char *again = ledger_receipt_get(b.s, "r1");
    assert_string_equal(again, receipt);
    free(again);
    free(receipt);

    struct store_miner m;
    assert_int_equal(store_miner_get(b.s, MINER_A, &m), 0);
    assert_true(m.banned);
    assert_string_equal(m.ban_reason, "confirmed fraud on j1");
    assert_int_equal(m.ban_audit, sql_i64(b.s, "SELECT id FROM audits"));
    struct ledger_audit_totals t;
    assert_int_equal(ledger_audit_totals(b.s, &t), 0);
    assert_int_equal(t.forfeited, 1176);
    assert_int_equal(t.refunded, 1200);
    struct ledger_rep r = rep_of(b.s, MINER_A);
    assert_true(r.banned);
    assert_int_equal(r.confirmed, 1);
    assert_int_equal(rep_of(b.s, AUDITOR_C).agreed, 1);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* Only what is still PENDING: matured earnings stay; several requests and
 * several customers are each refunded their own; a second confirmation of
 * the same key keeps its first ban and finds nothing more to take. */
static void test_only_unmatured(void **state)
{
    struct books b;
    books_open(state, "unmatured", &b);
    int64_t k1 = new_key(b.s, 10 * CREDIT), k2 = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, k1, "old", 300, 0); /* cost 600, fee 12, A 588 */
    store_flush(b.s);
    char err[FIEF_ERR_LEN];
    assert_true(ledger_mature_now(b.s, 0, 1LL << 50, err) > 0);
    settle_one(b.s, k1, "n1", 100, 100); /* cost 400, fee 8: A 196, B 196 */
    settle_one(b.s, k2, "n2", 50, 0);    /* cost 100, fee 2: A 98 */
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 196 + 98, 588, 0, 0);

    struct ledger_audit a;
    confirmed(&a, "j2", MINER_A);
    ledger_audit_record(b.s, &a);
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 0, 588, 0, 0);
    assert_miner(b.s, MINER_B, 196, 0, 0, 0);
    /* fees: 8 * 196 / 392 = 4; 2 * 98 / 98 = 2 */
    assert_key(b.s, k1, 10 * CREDIT - 600 - 400 + 196 + 4, 0);
    assert_key(b.s, k2, 10 * CREDIT - 100 + 98 + 2, 0);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), 12 + 8 + 2 - 4 - 2);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM refunds"), 2);
    int64_t first = sql_i64(b.s, "SELECT MIN(id) FROM audits");

    confirmed(&a, "j3", MINER_A);
    ledger_audit_record(b.s, &a);
    store_flush(b.s);
    struct store_miner m;
    assert_int_equal(store_miner_get(b.s, MINER_A, &m), 0);
    assert_int_equal(m.ban_audit, first);
    assert_string_equal(m.ban_reason, "confirmed fraud on j2");
    assert_int_equal(rep_of(b.s, MINER_A).confirmed, 2);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM txns WHERE type = 'forfeit'"), 1);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* Auditors are paid from POOL_FEE, as PENDING that matures; when the fee
 * account runs short they get what it holds, and it never goes negative. */
static void test_auditor_pay(void **state)
{
    struct books b;
    books_open(state, "pay", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "p1", 1000, 1000); /* cost 4000, fee 80 */
    store_flush(b.s);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), 80);
    ledger_audit_pay(b.s, AUDITOR_C, 30, "a1");
    ledger_audit_pay(b.s, AUDITOR_C, 30, "a2");
    ledger_audit_pay(b.s, AUDITOR_D, 30, "a3"); /* only 20 left */
    ledger_audit_pay(b.s, AUDITOR_D, 30, "a4"); /* nothing left */
    store_flush(b.s);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), 0);
    assert_miner(b.s, AUDITOR_C, 60, 0, 0, 0);
    assert_miner(b.s, AUDITOR_D, 20, 0, 0, 0);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM txns WHERE type = 'audit_pay'"), 3);
    struct ledger_audit_totals t;
    assert_int_equal(ledger_audit_totals(b.s, &t), 0);
    assert_int_equal(t.auditor_pay, 80);
    assert_books_ok(b.s, false);
    char err[FIEF_ERR_LEN];
    assert_true(ledger_mature_now(b.s, 0, 1LL << 50, err) > 0);
    assert_miner(b.s, AUDITOR_C, 0, 60, 0, 0);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* What a banned key earns after its ban (a request settled after the audit,
 * an auditor's pay queued before it) never matures; the sweep forfeits it
 * and refunds the requests among it. */
static void test_sweep_late_earnings(void **state)
{
    struct books b;
    books_open(state, "sweep", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "s0", 100, 0); /* fee 4 for the pay below */
    struct ledger_audit a;
    confirmed(&a, "j4", MINER_A);
    ledger_audit_record(b.s, &a);
    settle_one(b.s, key, "s1", 200, 0); /* cost 400, fee 8, A 392 */
    ledger_audit_pay(b.s, MINER_A, 3, "a5");
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 392 + 3, 0, 0, 0);
    char err[FIEF_ERR_LEN];
    assert_int_equal(ledger_mature_now(b.s, 0, 1LL << 50, err), 0);
    assert_miner(b.s, MINER_A, 392 + 3, 0, 0, 0);
    assert_books_ok(b.s, false);

    ledger_forfeit_sweep_async(b.s);
    store_flush(b.s);
    assert_miner(b.s, MINER_A, 0, 0, 0, 0);
    /* s0 and s1 back with their fees (4 and 8); the auditor's pay stays forfeited */
    assert_key(b.s, key, 10 * CREDIT, 0);
    assert_int_equal(ledger_balance(b.s, LA_FORFEIT, ""), 3);
    assert_int_equal(ledger_balance(b.s, LA_POOL_FEE, ""), -3);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM refunds"), 2);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(DISTINCT ref) FROM txns WHERE type = 'forfeit'"),
                     1);
    ledger_forfeit_sweep_async(b.s); /* nothing left: nothing written */
    store_flush(b.s);
    assert_int_equal(sql_i64(b.s, "SELECT COUNT(*) FROM txns WHERE type = 'forfeit'"), 2);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* Bans, reputation and audits are in the store: a reopen (a pool restart)
 * finds them as they were; passes and agreements add up. */
static void test_persists(void **state)
{
    struct books b;
    books_open(state, "persist", &b);
    struct ledger_audit a;
    memset(&a, 0, sizeof a);
    snprintf(a.job, sizeof a.job, "j5");
    snprintf(a.model, sizeof a.model, "stories");
    snprintf(a.miner, sizeof a.miner, "%s", MINER_B);
    a.outcome = LAO_PASSED;
    a.n_auditors = 1;
    snprintf(a.auditors[0], sizeof a.auditors[0], "%s", AUDITOR_C);
    delta(&a, MINER_B, 1, 0, 0, 0, 0, false);
    for (int i = 0; i < 3; i++)
        ledger_audit_record(b.s, &a);
    confirmed(&a, "j6", MINER_A);
    ledger_audit_record(b.s, &a);
    store_close(b.s);

    b.s = tu_open(&b.loc);
    struct ledger_rep r = rep_of(b.s, MINER_B);
    assert_int_equal(r.passed, 3);
    assert_false(r.banned);
    r = rep_of(b.s, MINER_A);
    assert_true(r.banned);
    assert_string_equal(r.ban_reason, "confirmed fraud on j6");
    struct ledger_audit_info info[8];
    uint32_t n = 0;
    assert_int_equal(ledger_audits_of(b.s, MINER_B, info, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(info[0].job, "j5");
    assert_int_equal(info[0].outcome, LAO_PASSED);
    assert_int_equal(info[0].n_auditors, 1);
    assert_string_equal(ledger_audit_outcome_name(info[0].outcome), "passed");
    assert_int_equal(ledger_audits_of(b.s, MINER_A, info, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].n_auditors, 2);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

static void assert_reports(struct store *s, const char *what)
{
    struct report r = {0};
    int n = ledger_check(s, false, collect, &r);
    if (n <= 0 || !reported(&r, what)) {
        for (int i = 0; i < r.n && i < 64; i++)
            fprintf(stderr, "ledger_check: %s\n", r.lines[i]);
        fail_msg("ledger_check did not report \"%s\" (%d violations)", what, n);
    }
}

/* FORFEIT only from an audit decided by majority; refunds only of a
 * forfeited share, never more than was charged. */
static void test_check_catches(void **state)
{
    struct books b;
    books_open(state, "auditcheck", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "c1", 100, 100);
    struct ledger_audit a;
    confirmed(&a, "j7", MINER_A);
    ledger_audit_record(b.s, &a);
    store_flush(b.s);
    assert_books_ok(b.s, false);

    raw(b.s, "UPDATE audits SET outcome = 4");
    assert_reports(b.s, "forfeit not decided by the audit");
    assert_reports(b.s, "refund not of a forfeited share");
    raw(b.s, "UPDATE audits SET outcome = 3");
    assert_books_ok(b.s, false);

    raw(b.s, "UPDATE refunds SET fee = fee + 1000");
    assert_reports(b.s, "refunds above what the request was charged");
    raw(b.s, "UPDATE refunds SET fee = fee - 1000");

    /* money into FORFEIT with no audit behind it */
    raw(b.s, "UPDATE txns SET type = 'mature' WHERE type = 'forfeit'");
    assert_reports(b.s, "FORFEIT moved by something other");
    raw(b.s, "UPDATE txns SET type = 'forfeit' WHERE type = 'mature'");
    raw(b.s, "UPDATE miners SET banned = 0");
    assert_reports(b.s, "forfeit not decided by the audit");
    raw(b.s, "UPDATE miners SET banned = 1");
    raw(b.s, "DELETE FROM refunds");
    assert_reports(b.s, "refund transaction without its refund");
    store_close(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refund_fee), TU_BOTH(test_forfeit_and_refund_exact),
        TU_BOTH(test_only_unmatured),      TU_BOTH(test_auditor_pay),
        TU_BOTH(test_sweep_late_earnings), TU_BOTH(test_persists),
        TU_BOTH(test_check_catches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
