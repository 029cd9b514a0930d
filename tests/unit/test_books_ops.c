/* SPDX-License-Identifier: MIT */
/* The books under stress and through the operator's tools, on SQLite and
 * on PostgreSQL: ledger_check against books corrupted on purpose, kill -9
 * of a process settling requests, a database server dropping connections,
 * and the fief commands (credit, payouts, ledger, receipt) through the
 * binary. */
#include "testutil.h"
#include "tu_books.h"

#include "common/clock.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- ledger_check against corrupted books ---- */


static void assert_reports(struct store *s, bool running, const char *what)
{
    struct report r = {0};
    int n = ledger_check(s, running, collect, &r);
    if (n <= 0 || !reported(&r, what)) {
        for (int i = 0; i < r.n && i < 64; i++)
            fprintf(stderr, "ledger_check: %s\n", r.lines[i]);
        fail_msg("ledger_check did not report \"%s\" (%d violations)", what, n);
    }
}

static void test_check_catches(void **state)
{
    struct books b;
    books_open(state, "corrupt", &b);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "c1", 1000, 500);
    store_flush(b.s);
    assert_books_ok(b.s, false);

    /* an unbalanced posting: its transaction and its account both wrong */
    raw(b.s, "BEGIN; INSERT INTO postings (txn_id, seq, account_id, amount)"
             " SELECT MAX(txn_id), 99, MIN(account_id), 5 FROM postings; COMMIT");
    assert_reports(b.s, true, "does not sum to zero");
    assert_reports(b.s, true, "balance is not the sum");
    raw(b.s, "DELETE FROM postings WHERE seq = 99");
    assert_books_ok(b.s, true);

    /* a negative customer balance (with a posting, so it is only that) */
    raw(b.s, "UPDATE accounts SET balance = balance - 20000000 WHERE kind = 1;"
             " UPDATE accounts SET balance = balance + 20000000 WHERE kind = 7;"
             " UPDATE postings SET amount = amount - 20000000 WHERE seq = 1 AND txn_id ="
             " (SELECT MIN(txn_id) FROM postings);"
             " UPDATE postings SET amount = amount + 20000000 WHERE seq = 0 AND txn_id ="
             " (SELECT MIN(txn_id) FROM postings)");
    assert_reports(b.s, true, "negative balance");
    raw(b.s, "UPDATE accounts SET balance = balance + 20000000 WHERE kind = 1;"
             " UPDATE accounts SET balance = balance - 20000000 WHERE kind = 7;"
             " UPDATE postings SET amount = amount + 20000000 WHERE seq = 1 AND txn_id ="
             " (SELECT MIN(txn_id) FROM postings);"
             " UPDATE postings SET amount = amount - 20000000 WHERE seq = 0 AND txn_id ="
             " (SELECT MIN(txn_id) FROM postings)");
    assert_books_ok(b.s, true);

    /* a hold left behind with no money held for it */
    raw(b.s, "INSERT INTO holds (req, key_id, amount, state, writer, txn_id, created_ms)"
             " VALUES ('ghost', 1, 77, 1, 'w', 1, 0)");
    assert_reports(b.s, true, "HELD balance differs");
    assert_reports(b.s, false, "open hold while no pool is running");
    raw(b.s, "DELETE FROM holds WHERE req = 'ghost'");

    /* inside the pool, its own open holds are requests in flight; one it
     * has forgotten is reported */
    hold_ok(b.s, key, "flying", 5);
    store_flush(b.s);
    assert_books_ok(b.s, true);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO holds (req, key_id, amount, state, writer, txn_id, created_ms)"
             " VALUES ('forgotten', 1, 0, 1, '%s', 1, 0)",
             store_writer_id(b.s));
    raw(b.s, sql);
    assert_reports(b.s, true, "open hold of this pool with no request in flight");
    raw(b.s, "DELETE FROM holds WHERE req = 'forgotten'");
    struct ledger_settlement fl;
    settlement(&fl, "flying", key, 5, 0, 0, 0);
    ledger_settle(b.s, &fl);
    store_flush(b.s);

    /* a settled request whose hold is open again; a settlement above its hold */
    raw(b.s, "UPDATE holds SET state = 1 WHERE req = 'c1'");
    assert_reports(b.s, true, "open hold of a settled request");
    raw(b.s, "UPDATE holds SET state = 2 WHERE req = 'c1';"
             " UPDATE settlements SET cost = 99999999 WHERE req = 'c1'");
    assert_reports(b.s, true, "settlement above its hold");
    assert_reports(b.s, true, "shares and fee do not add up");
    raw(b.s, "UPDATE settlements SET cost = 3000 WHERE req = 'c1'");
    assert_books_ok(b.s, true);

    /* pending earnings that no longer match; a payout batch in two states */
    raw(b.s, "UPDATE earnings SET matured_txn = 5 WHERE pubkey = '" MINER_B "'");
    assert_reports(b.s, true, "PENDING balance differs");
    raw(b.s, "UPDATE earnings SET matured_txn = 0");
    char err[FIEF_ERR_LEN];
    assert_int_equal(ledger_mature_now(b.s, 0, (int64_t)clock_wall_ms() + 1000, err), 2940);
    int64_t batch;
    assert_int_equal(ledger_payout_create(b.s, 0, b.loc.dir, &batch, err), 0);
    assert_books_ok(b.s, true);
    raw(b.s, "UPDATE payout_batches SET closed_txn = 1");
    assert_reports(b.s, true, "payout batch in no single state");
    raw(b.s, "UPDATE payout_batches SET closed_txn = 0; UPDATE payout_lines SET amount = 1");
    assert_reports(b.s, true, "lines do not add up");
    assert_reports(b.s, true, "PAYING balance differs");
    store_close(b.s);
}

/* ---- crashes and lost connections ---- */

/* The child: settle requests as fast as it can until it is killed. */
static void crash_child(const struct tu_loc *loc, int round)
{
    char err[FIEF_ERR_LEN], req[32];
    struct store *s;
    if (store_open_url(loc->dir, loc->url, &s, err))
        _exit(3);
    for (int i = 0;; i++) {
        snprintf(req, sizeof req, "k%d-%d", round, i);
        if (ledger_hold(s, 1, req, NULL, 1000, err) == FIEF_ELIMIT)
            _exit(4);
        struct ledger_settlement st;
        settlement(&st, req, 1, 1000, 10, (uint32_t)(i % 7) * 20, (uint32_t)(i % 3) * 10);
        if (i % 5 != 4) /* some requests are still in flight when the kill comes */
            ledger_settle(s, &st);
    }
}

/* kill -9 a process settling requests, several times: after each restart
 * the stale holds are released, the books check, and the customer was
 * charged exactly what the committed settlements say. */
static void test_kill9(void **state)
{
    struct books b;
    char err[FIEF_ERR_LEN];
    books_open(state, "kill9", &b);
    int64_t key = new_key(b.s, 100 * CREDIT);
    assert_int_equal(key, 1);
    store_close(b.s);
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            crash_child(&b.loc, round);
        usleep(250000 + 150000 * (useconds_t)round);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFSIGNALED(st));
        b.s = tu_open(&b.loc);
        assert_true(ledger_release_stale_holds(b.s, err) >= 0);
        assert_books_ok(b.s, false);
        struct ledger_key_balance kb;
        assert_int_equal(ledger_key_balance(b.s, key, &kb), 0);
        assert_int_equal(kb.held, 0);
        assert_int_equal(kb.available, 100 * CREDIT - kb.spent);
        printf("kill -9 round %d: %lld micro-credits spent so far, books consistent\n", round,
               (long long)kb.spent);
        store_close(b.s);
    }
}

/* The server drops the pool's connections: the write thread retries the
 * group on a new connection, a read fails once and then works again. */
static void test_pg_reconnect(void **state)
{
    if (!((const struct tu_backend *)*state)->pg)
        skip(); /* PostgreSQL only */
    struct books b;
    char app[48];
    tu_loc_new(state, "reconnect", &b.loc);
    /* a name of its own: other tests may be using the same server */
    snprintf(app, sizeof app, "fief_reconnect_%d", (int)getpid());
    size_t n = strlen(b.loc.url);
    snprintf(b.loc.url + n, sizeof b.loc.url - n, "&application_name=%s", app);
    b.s = tu_open(&b.loc);
    int64_t key = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, key, "before", 100, 0);
    store_flush(b.s);
    PGconn *c = PQconnectdb(getenv("FIEF_TEST_PG"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
             app);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 2);
    PQclear(r);
    PQfinish(c);
    int64_t v;
    if (ledger_available(b.s, key, &v) != 0) /* the first read may see the broken socket */
        assert_int_equal(ledger_available(b.s, key, &v), 0);
    settle_one(b.s, key, "after", 100, 0);
    store_flush(b.s);
    assert_key(b.s, key, 10 * CREDIT - 400, 0);
    assert_books_ok(b.s, false);
    store_close(b.s);
}

/* ---- the commands, through the fief binary ---- */

/* Run `fief ARGS` (a shell fragment); stdout into out. The exit status, or
 * -1 when it did not exit. */
static int run_fief(const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", getenv("FIEF_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int fief_at(const struct books *b, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fief with --data (and --store) of b's store, then fmt. */
static int fief_at(const struct books *b, char *out, const char *fmt, ...)
{
    char rest[1024], args[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    /* the subcommand first, then where the books are */
    const char *sp = strchr(rest, ' ');
    int n = sp ? (int)(sp - rest) : (int)strlen(rest);
    snprintf(args, sizeof args, "%.*s --data '%s'%s%s%s %s", n, rest, b->loc.dir,
             b->loc.url[0] ? " --store '" : "", b->loc.url, b->loc.url[0] ? "'" : "",
             sp ? sp + 1 : "");
    return run_fief(args, out, 8192);
}

static void test_cli(void **state)
{
    const char *bin = getenv("FIEF_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "SKIP: FIEF_BIN is not set to a built fief binary\n");
        skip();
    }
    struct books b;
    char out[8192], path[700];
    books_open(state, "cli", &b);
    assert_int_equal(fief_at(&b, out, "keys create --credit 5 --name c"), 0);
    assert_int_equal(strncmp(out, "fief-", 5), 0);
    assert_int_equal(fief_at(&b, out, "credit 1 2.5 --memo 'invoice 7'"), 0);
    assert_non_null(strstr(out, "7.5 credits now"));
    const char *bad[] = {"1 -1", "1 0", "1 1.1234567", "1 1e3", "1 99999999999999", "1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fief_at(&b, out, "credit %s", bad[i]), 2);
    assert_int_equal(fief_at(&b, out, "credit 99 1"), 1);
    assert_int_equal(available(b.s, 1), 7500000);

    settle_one(b.s, 1, "r1", 1000, 500);
    store_flush(b.s);
    char err[FIEF_ERR_LEN];
    assert_int_equal(ledger_mature_now(b.s, 0, (int64_t)clock_wall_ms() + 1000, err), 2940);
    assert_int_equal(fief_at(&b, out, "payouts create --min 0.002"), 0);
    assert_non_null(strstr(out, "nobody is due"));
    assert_int_equal(fief_at(&b, out, "payouts create --min 0 --out '%s'", b.loc.dir), 0);
    assert_non_null(strstr(out, "batch 1: 0.00294 credits to 2 miners"));
    snprintf(path, sizeof path, "%s/payout-1.csv", b.loc.dir);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(fief_at(&b, out, "payouts list"), 0);
    assert_non_null(strstr(out, "created"));
    assert_int_equal(fief_at(&b, out, "payouts confirm 1"), 0);
    assert_int_equal(fief_at(&b, out, "payouts confirm 1"), 1);
    assert_int_equal(fief_at(&b, out, "payouts cancel 1"), 1);
    assert_int_equal(fief_at(&b, out, "payouts cancel x"), 2);
    assert_int_equal(fief_at(&b, out, "payouts frob"), 2);
    assert_miner(b.s, MINER_A, 0, 0, 0, 1960);

    /* receipts: the stored one verifies, a changed one does not */
    assert_int_equal(fief_at(&b, out, "receipt get r1"), 0);
    snprintf(path, sizeof path, "%s/r1.json", b.loc.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(out, f);
    fclose(f);
    assert_int_equal(fief_at(&b, out, "receipt key"), 0);
    char key[65];
    snprintf(key, sizeof key, "%.64s", out);
    assert_int_equal(fief_at(&b, out, "receipt verify '%s' --pubkey %s", path, key), 0);
    assert_non_null(strstr(out, "valid receipt: request r1"));
    key[0] = key[0] == 'a' ? 'b' : 'a';
    assert_int_equal(fief_at(&b, out, "receipt verify '%s' --pubkey %s", path, key), 1);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "sed -i 's/\"fee\":60/\"fee\":61/' '%s'", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fief_at(&b, out, "receipt verify '%s'", path), 1);

    /* ledger check: clean, then a balance nudged by hand */
    assert_int_equal(fief_at(&b, out, "ledger check"), 0);
    assert_int_equal(fief_at(&b, out, "ledger show --account pending"), 0);
    assert_non_null(strstr(out, "settle"));
    assert_int_equal(fief_at(&b, out, "ledger show --account nonsense"), 2);
    raw(b.s, "UPDATE accounts SET balance = balance + 1 WHERE kind = 6");
    assert_int_equal(fief_at(&b, out, "ledger check --pool-running"), 1);
    assert_non_null(strstr(out, "balance is not the sum of its postings"));
    store_close(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_BOTH(test_check_catches), TU_BOTH(test_kill9), TU_BOTH(test_pg_reconnect),
        TU_BOTH(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
