/* SPDX-License-Identifier: MIT */
/* The pool's store: API keys, queued job records and usage, restarts, two
 * stores on one database (on SQLite and on PostgreSQL), and, on SQLite,
 * schema versions, file modes and `fief keys` through the real binary. */
#include "testutil.h"
#include "tu_store.h"

#include "common/clock.h"
#include "ledger/db.h"
#include "ledger/store.h"
#include "ledger/store_impl.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh data directory under the test's temporary directory. */
static const char *new_dir(const char *name)
{
    static char path[8][512];
    static int n;
    char *p = path[n++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tu_tmpdir(), name);
    return p;
}

static struct store *open_ok(const char *dir)
{
    char err[FIEF_ERR_LEN] = "";
    struct store *s = NULL;
    int rc = store_open(dir, &s, err);
    if (rc)
        fprintf(stderr, "store_open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

static void create_key(struct store *s, const char *name, char key[STORE_KEY_LEN + 1],
                       struct store_key *k)
{
    char err[FIEF_ERR_LEN];
    assert_int_equal(store_key_create(s, name, key, k, err), 0);
}

/* ---- keys ---- */

static void test_key_create_check(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "keys", &loc);
    struct store *s = tu_open(&loc);
    char key[STORE_KEY_LEN + 1];
    struct store_key k, got;
    create_key(s, "alice", key, &k);
    assert_int_equal(strlen(key), STORE_KEY_LEN);
    assert_memory_equal(key, "fief-", 5);
    for (const char *p = key + 5; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    assert_string_equal(k.name, "alice");
    assert_int_equal(strncmp(k.prefix, key, 12), 0);
    assert_int_equal(strlen(k.prefix), 12);
    assert_true(k.id > 0);
    assert_int_equal(k.revoked_ms, 0);

    assert_int_equal(store_key_check(s, key, strlen(key), &got), 0);
    assert_int_equal(got.id, k.id);
    assert_string_equal(got.name, "alice");
    assert_int_equal(store_key_check(s, key, strlen(key), NULL), 0);

    /* wrong keys: one character changed, truncated, garbage, empty */
    char bad[STORE_KEY_LEN + 1];
    memcpy(bad, key, sizeof bad);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    assert_int_equal(store_key_check(s, bad, strlen(bad), NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, key, STORE_KEY_LEN - 1, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, "sk-abc", 6, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, "", 0, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, NULL, 0, NULL), FIEF_ENOTFOUND);

    /* two keys differ */
    char key2[STORE_KEY_LEN + 1];
    struct store_key k2;
    create_key(s, "", key2, &k2);
    assert_string_not_equal(key, key2);
    assert_true(k2.id > k.id);
    assert_string_equal(k2.name, "");
    store_close(s);
}

static void test_key_bad_names(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "keynames", &loc);
    struct store *s = tu_open(&loc);
    char key[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN] = "";
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(store_key_create(s, longname, key, NULL, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(store_key_create(s, "a\nb", key, NULL, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "control"));
    assert_int_equal(store_key_create(s, NULL, key, NULL, err), 0);
    store_close(s);
}

struct list_ctx {
    int n;
    int64_t ids[64];
    int64_t revoked[64];
    int stop_after;
};

static int list_cb(void *ud, const struct store_key *k)
{
    struct list_ctx *c = ud;
    c->ids[c->n] = k->id;
    c->revoked[c->n] = k->revoked_ms;
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_key_list_revoke(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "revoke", &loc);
    struct store *s = tu_open(&loc);
    char keys[3][STORE_KEY_LEN + 1], err[FIEF_ERR_LEN] = "";
    struct store_key k[3], r;
    for (int i = 0; i < 3; i++)
        create_key(s, "k", keys[i], &k[i]);

    struct list_ctx lc = {0};
    assert_int_equal(store_key_list(s, list_cb, &lc), 0);
    assert_int_equal(lc.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lc.ids[i], k[i].id);
    struct list_ctx stop = {.stop_after = 2};
    assert_int_equal(store_key_list(s, list_cb, &stop), 0);
    assert_int_equal(stop.n, 2);

    /* by id */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)k[0].id);
    assert_int_equal(store_key_revoke(s, id, &r, err), 0);
    assert_int_equal(r.id, k[0].id);
    assert_true(r.revoked_ms > 0);
    assert_int_equal(store_key_check(s, keys[0], STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, keys[1], STORE_KEY_LEN, NULL), 0);
    /* twice: a no-op that keeps the first time */
    struct store_key r2;
    assert_int_equal(store_key_revoke(s, id, &r2, err), 0);
    assert_int_equal(r2.revoked_ms, r.revoked_ms);

    /* by the listed 12-character prefix, and by the whole key */
    assert_int_equal(store_key_revoke(s, k[1].prefix, NULL, err), 0);
    assert_int_equal(store_key_check(s, keys[1], STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_revoke(s, keys[2], NULL, err), 0);
    assert_int_equal(store_key_check(s, keys[2], STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);

    lc.n = 0;
    assert_int_equal(store_key_list(s, list_cb, &lc), 0);
    for (int i = 0; i < 3; i++)
        assert_true(lc.revoked[i] > 0);

    /* unknown id, unknown prefix, nonsense */
    assert_int_equal(store_key_revoke(s, "999999", NULL, err), FIEF_ENOTFOUND);
    assert_non_null(strstr(err, "999999"));
    char unknown[13];
    memcpy(unknown, k[0].prefix, sizeof unknown);
    unknown[11] = unknown[11] == 'A' ? 'B' : 'A';
    assert_int_equal(store_key_revoke(s, unknown, NULL, err), FIEF_ENOTFOUND);
    assert_int_equal(store_key_revoke(s, "hello", NULL, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "hello"));
    assert_int_equal(store_key_revoke(s, "fief-", NULL, err), FIEF_EINVAL);
    assert_int_equal(store_key_revoke(s, "", NULL, err), FIEF_EINVAL);
    store_close(s);
}

/* Keys until two share their first character after "fief-": a prefix of
 * six characters is then ambiguous, and revoke must refuse it. */
static void test_key_prefix_ambiguous(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "ambiguous", &loc);
    struct store *s = tu_open(&loc);
    char keys[80][STORE_KEY_LEN + 1], err[FIEF_ERR_LEN] = "";
    int a = -1, b = -1;
    for (int i = 0; i < 80 && a < 0; i++) {
        create_key(s, "", keys[i], NULL);
        for (int j = 0; j < i; j++)
            if (keys[j][5] == keys[i][5]) {
                a = j;
                b = i;
                break;
            }
    }
    assert_true(a >= 0);
    char prefix[7];
    memcpy(prefix, keys[a], 6);
    prefix[6] = 0;
    assert_int_equal(store_key_revoke(s, prefix, NULL, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "several"));
    assert_int_equal(store_key_check(s, keys[a], STORE_KEY_LEN, NULL), 0);
    assert_int_equal(store_key_check(s, keys[b], STORE_KEY_LEN, NULL), 0);
    /* The full listed prefix picks one of them. */
    char full[13];
    memcpy(full, keys[a], 12);
    full[12] = 0;
    assert_int_equal(store_key_revoke(s, full, NULL, err), 0);
    assert_int_equal(store_key_check(s, keys[a], STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    assert_int_equal(store_key_check(s, keys[b], STORE_KEY_LEN, NULL), 0);
    store_close(s);
}

/* store_key_check runs on every HTTP request. */
static void test_key_check_speed(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "speed", &loc);
    struct store *s = tu_open(&loc);
    enum { N_KEYS = 1000, N_CHECKS = 50000 };
    static char keys[N_KEYS][STORE_KEY_LEN + 1];
    for (int i = 0; i < N_KEYS; i++)
        create_key(s, "bench", keys[i], NULL);
    uint64_t rng = 42, t0 = clock_mono_ns();
    for (int i = 0; i < N_CHECKS; i++)
        assert_int_equal(store_key_check(s, keys[tu_rand(&rng) % N_KEYS], STORE_KEY_LEN, NULL), 0);
    double us = (double)(clock_mono_ns() - t0) / 1e3 / N_CHECKS;
    char miss[STORE_KEY_LEN + 1];
    memcpy(miss, keys[0], sizeof miss);
    miss[30] ^= 1;
    t0 = clock_mono_ns();
    for (int i = 0; i < N_CHECKS; i++)
        assert_int_equal(store_key_check(s, miss, STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    double us_miss = (double)(clock_mono_ns() - t0) / 1e3 / N_CHECKS;
    printf("store_key_check: %.2f us per valid key, %.2f us per unknown key (%d keys)\n", us,
           us_miss, N_KEYS);
    /* Generous for sanitizer builds; an optimised build takes a few us on
     * SQLite, a round trip to the server (tens of us) on PostgreSQL. */
    assert_true(us < (((const struct tu_backend *)*state)->pg ? 2000.0 : 100.0));
    store_close(s);
}

/* ---- jobs and usage ---- */

static void make_job(struct store_job *j, const char *id, int64_t key_id, uint32_t prompt,
                     uint32_t completion, const char *m1, const char *m2)
{
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", id);
    j->key_id = key_id;
    snprintf(j->model, sizeof j->model, "stories");
    j->status = STORE_JOB_DONE;
    j->prompt_tokens = prompt;
    j->completion_tokens = completion;
    j->created_ms = 1000;
    j->finished_ms = 2000;
    snprintf(j->parts[0].pubkey, sizeof j->parts[0].pubkey, "%s", m1);
    j->parts[0].tokens = m2 ? completion / 2 : completion;
    j->n_parts = 1;
    if (m2) {
        snprintf(j->parts[1].pubkey, sizeof j->parts[1].pubkey, "%s", m2);
        j->parts[1].tokens = completion - completion / 2;
        j->n_parts = 2;
    }
}

static void assert_usage(const struct store_usage *u, uint64_t req, uint64_t p, uint64_t c)
{
    assert_int_equal(u->requests, req);
    assert_int_equal(u->prompt_tokens, p);
    assert_int_equal(u->completion_tokens, c);
}

static void test_jobs_async(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "jobs", &loc);
    struct store *s = tu_open(&loc);
    struct store_job j;
    struct store_usage u;
    struct store_miner m;
    store_miner_seen_async(s, "aa", "payout-a", "rig1", 100);
    store_miner_seen_async(s, "bb", "payout-b", "rig2", 100);
    store_miner_seen_async(s, "aa", "payout-a2", "rig1b", 300);
    store_miner_seen_async(s, "aa", "payout-a3", "rig1c", 200); /* late: last_seen stays 300 */
    for (int i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof id, "job-%d", i);
        make_job(&j, id, 7, 10, 20, "aa", i % 2 ? "bb" : NULL);
        store_job_finish_async(s, &j);
    }
    /* failover back to the first miner: one more job for "aa", not two */
    make_job(&j, "job-ab", 8, 5, 9, "aa", "bb");
    j.parts[2] = j.parts[0];
    j.parts[2].tokens = 1;
    j.parts[0].tokens = 3;
    j.n_parts = 3;
    store_job_finish_async(s, &j);
    /* a repeated job id counts once */
    make_job(&j, "job-0", 7, 10, 20, "aa", NULL);
    store_job_finish_async(s, &j);
    /* a malformed record is refused at the door */
    j.n_parts = STORE_JOB_MAX_PARTS + 1;
    store_job_finish_async(s, &j);
    store_flush(s);

    assert_int_equal(store_usage_for_key(s, 7, &u), 0);
    assert_usage(&u, 100, 1000, 2000);
    assert_int_equal(store_usage_for_key(s, 8, &u), 0);
    assert_usage(&u, 1, 5, 9);
    assert_int_equal(store_usage_for_key(s, 12345, &u), 0);
    assert_usage(&u, 0, 0, 0);
    assert_int_equal(store_totals(s, &u), 0);
    assert_usage(&u, 101, 1005, 2009);

    assert_int_equal(store_miner_get(s, "aa", &m), 0);
    assert_string_equal(m.payout, "payout-a3");
    assert_string_equal(m.worker, "rig1c");
    assert_int_equal(m.first_seen_ms, 100);
    assert_int_equal(m.last_seen_ms, 300);
    assert_int_equal(m.jobs, 101); /* every job, job-ab once */
    assert_int_equal(m.tokens, 50 * 20 + 50 * 10 + 3 + 1);
    assert_false(m.banned);
    assert_int_equal(store_miner_get(s, "bb", &m), 0);
    assert_int_equal(m.jobs, 51);
    assert_int_equal(m.tokens, 50 * 10 + 5);
    assert_int_equal(store_miner_get(s, "cc", &m), FIEF_ENOTFOUND);

    struct store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.committed, 4 + 102);
    assert_int_equal(st.dropped, 0);
    assert_true(st.batches >= 1);
    store_close(s);
}

/* A job whose miner was never seen (its sighting got lost) still counts. */
static void test_job_unknown_miner(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "unknown", &loc);
    struct store *s = tu_open(&loc);
    struct store_job j;
    struct store_miner m;
    make_job(&j, "x", 1, 1, 4, "ff", NULL);
    store_job_finish_async(s, &j);
    store_miner_seen_async(s, "ff", "p", "w", 5000);
    store_flush(s);
    assert_int_equal(store_miner_get(s, "ff", &m), 0);
    assert_int_equal(m.jobs, 1);
    assert_int_equal(m.tokens, 4);
    assert_string_equal(m.payout, "p");
    store_close(s);
}

/* ---- the write thread's failure handling (through the internal op API) ---- */

struct test_op {
    struct store_op op;
    int *calls;
    int fail_times; /* return FIEF_EIO this many times first */
};

/* Breaks the totals table's primary key: a write the database rejects. */
static const char sql_bad[] = "INSERT INTO totals VALUES (1, 0, 0, 0)";

static int bad_apply(struct db *c, const struct store_op *op)
{
    (*((const struct test_op *)op)->calls)++;
    struct db_stmt *st = db_sql(c, sql_bad);
    return st ? db_exec(st) : FIEF_EIO;
}

/* Fails like a full disk a few times, then succeeds. */
static int flaky_apply(struct db *c, const struct store_op *op)
{
    (void)c;
    const struct test_op *t = (const struct test_op *)op;
    return (*t->calls)++ < t->fail_times ? FIEF_EIO : 0;
}

static void push_test_op(struct store *s,
                         int (*apply)(struct db *, const struct store_op *), int *calls,
                         int fail_times)
{
    struct test_op *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->op.what = "test";
    t->op.apply = apply;
    t->calls = calls;
    t->fail_times = fail_times;
    store_op_push(s, &t->op);
}

static void test_rejected_write_dropped_alone(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "rejected", &loc);
    struct store *s = tu_open(&loc);
    struct store_job j;
    struct store_usage u;
    int calls = 0;
    /* whichever groups they land in, only the bad write is lost */
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "rj%d", i);
        make_job(&j, id, 1, 1, 2, "m", NULL);
        store_job_finish_async(s, &j);
        if (i == 1)
            push_test_op(s, bad_apply, &calls, 0);
    }
    store_flush(s);
    assert_int_equal(store_totals(s, &u), 0);
    assert_usage(&u, 3, 3, 6);
    struct store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.committed, 3);
    assert_true(calls >= 1);
    store_close(s);
}

static void test_failed_group_retried(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "retried", &loc);
    struct store *s = tu_open(&loc);
    struct store_job j;
    struct store_usage u;
    int calls = 0;
    make_job(&j, "before", 1, 1, 2, "m", NULL);
    store_job_finish_async(s, &j);
    push_test_op(s, flaky_apply, &calls, 2);
    make_job(&j, "after", 1, 1, 2, "m", NULL);
    store_job_finish_async(s, &j);
    store_flush(s);
    assert_true(calls >= 3);
    assert_int_equal(store_totals(s, &u), 0);
    assert_usage(&u, 2, 2, 4); /* each job once, though groups were retried */
    struct store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.dropped, 0);
    store_close(s);
}

struct writer_arg {
    struct store *s;
    int base, n;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        struct store_job j;
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", a->base, i);
        make_job(&j, id, a->base, 3, 5, a->base ? "m1" : "m0", i % 3 ? NULL : "m2");
        store_job_finish_async(a->s, &j);
        if (i % 100 == 0)
            store_miner_seen_async(a->s, a->base ? "m1" : "m0", "pay", "w", i);
    }
    return NULL;
}

/* Two threads queue job records at once; every one is committed, and the
 * rate is what the write thread sustains. */
static void test_jobs_concurrent(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "concurrent", &loc);
    struct store *s = tu_open(&loc);
    /* PostgreSQL pays a round trip per statement: fewer records there. */
    const int per_thread = ((const struct tu_backend *)*state)->pg ? 5000 : 25000;
    struct writer_arg a[2] = {{s, 0, per_thread}, {s, 1, per_thread}};
    pthread_t t[2];
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double queued_s = (double)(clock_mono_ns() - t0) / 1e9;
    store_flush(s);
    double total_s = (double)(clock_mono_ns() - t0) / 1e9;
    struct store_stats st;
    store_stats_get(s, &st);
    printf("async job records: %d queued in %.3f s by 2 threads, all committed in %.3f s: "
           "%.0f records/s, %llu group commits\n",
           2 * per_thread, queued_s, total_s, 2 * per_thread / total_s,
           (unsigned long long)st.batches);

    struct store_usage u;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(store_usage_for_key(s, k, &u), 0);
        assert_usage(&u, per_thread, 3 * per_thread, 5 * per_thread);
    }
    assert_int_equal(store_totals(s, &u), 0);
    assert_usage(&u, 2 * per_thread, 6 * per_thread, 10 * per_thread);
    struct store_miner m;
    assert_int_equal(store_miner_get(s, "m2", &m), 0);
    assert_int_equal(m.jobs, 2 * ((per_thread + 2) / 3));
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.queued, 0);
    store_close(s);
}

/* ---- restarts, versions, files, two processes ---- */

static void test_reopen(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "reopen", &loc);
    struct store *s = tu_open(&loc);
    char key[STORE_KEY_LEN + 1], key2[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN];
    struct store_key k;
    create_key(s, "keep", key, &k);
    create_key(s, "gone", key2, NULL);
    assert_int_equal(store_key_revoke(s, key2, NULL, err), 0);
    struct store_job j;
    make_job(&j, "r1", k.id, 11, 22, "mm", NULL);
    store_job_finish_async(s, &j);
    store_miner_seen_async(s, "mm", "pp", "ww", 77);
    store_close(s); /* flushes */

    s = tu_open(&loc);
    struct store_key got;
    assert_int_equal(store_key_check(s, key, STORE_KEY_LEN, &got), 0);
    assert_string_equal(got.name, "keep");
    assert_int_equal(store_key_check(s, key2, STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    struct store_usage u;
    assert_int_equal(store_usage_for_key(s, k.id, &u), 0);
    assert_usage(&u, 1, 11, 22);
    struct store_miner m;
    assert_int_equal(store_miner_get(s, "mm", &m), 0);
    assert_int_equal(m.tokens, 22);
    /* the same job recorded again after a restart still counts once */
    store_job_finish_async(s, &j);
    store_flush(s);
    assert_int_equal(store_totals(s, &u), 0);
    assert_usage(&u, 1, 11, 22);
    store_close(s);
    store_close(NULL);
}

static void set_user_version(const char *dir, int v)
{
    char path[600], sql[64];
    snprintf(path, sizeof path, "%s/pool.db", dir);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_schema_too_new(void **state)
{
    (void)state;
    const char *dir = new_dir("newer");
    store_close(open_ok(dir));
    set_user_version(dir, 99);
    char err[FIEF_ERR_LEN] = "";
    struct store *s = (struct store *)1;
    assert_int_equal(store_open(dir, &s, err), FIEF_EFORMAT);
    assert_null(s);
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "newer fief"));
}

static void test_not_a_database(void **state)
{
    (void)state;
    const char *dir = new_dir("garbage");
    char path[600], err[FIEF_ERR_LEN] = "";
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/pool.db", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database, it is a text file\n", f);
    fclose(f);
    struct store *s;
    assert_int_equal(store_open(dir, &s, err), FIEF_EFORMAT);
    assert_non_null(strstr(err, "not a fief database"));

    /* some other program's SQLite file */
    const char *dir2 = new_dir("foreign");
    mkdir(dir2, 0700);
    snprintf(path, sizeof path, "%s/pool.db", dir2);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA application_id = 42; CREATE TABLE t(x);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(dir2, &s, err), FIEF_EFORMAT);
    assert_non_null(strstr(err, "other program"));

    /* a data directory that is a file */
    assert_int_equal(store_open(path, &s, err), FIEF_EIO);
    assert_int_equal(store_open("", &s, err), FIEF_EINVAL);
}

static void test_file_modes(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/modes/deeper/data", tu_tmpdir());
    mode_t old = umask(0);
    struct store *s = open_ok(dir);
    umask(old);
    char key[STORE_KEY_LEN + 1];
    create_key(s, "", key, NULL);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char path[700];
    const char *files[] = {"pool.db", "pool.db-wal", "pool.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    store_close(s);
}

/* The pool and `fief keys` open the same directory: keys made by one are
 * accepted by the other at once, and revocations too, while the first is
 * busy writing job records. */
static void test_two_stores(void **state)
{
    struct tu_loc loc;
    tu_loc_new(state, "shared", &loc);
    struct store *pool = tu_open(&loc), *cli = tu_open(&loc);
    char key[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN];
    struct store_key k;
    struct writer_arg a = {pool, 3, 5000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, &a), 0);
    for (int i = 0; i < 20; i++) {
        create_key(cli, "from-cli", key, &k);
        assert_int_equal(store_key_check(pool, key, STORE_KEY_LEN, NULL), 0);
    }
    assert_int_equal(store_key_revoke(cli, key, NULL, err), 0);
    assert_int_equal(store_key_check(pool, key, STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    pthread_join(t, NULL);
    store_flush(pool);
    struct store_usage u;
    assert_int_equal(store_totals(cli, &u), 0);
    assert_usage(&u, 5000, 15000, 25000);
    store_close(cli);
    store_close(pool);
}

/* ---- `fief keys` through the binary ---- */

/* Run the fief binary with args; capture stdout into out. Returns the exit
 * status, or -1 when it did not exit normally. */
static int run_fief(const char *bin, const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_keys_cli(void **state)
{
    (void)state;
    const char *bin = getenv("FIEF_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "SKIP: FIEF_BIN is not set to a built fief binary\n");
        skip();
    }
    const char *dir = new_dir("cli");
    char args[1024], out[8192], key[STORE_KEY_LEN + 2];
    snprintf(args, sizeof args, "keys create --data '%s' --name ci", dir);
    assert_int_equal(run_fief(bin, args, out, sizeof out), 0);
    /* stdout is the key and a newline, nothing else */
    assert_int_equal(strlen(out), STORE_KEY_LEN + 1);
    assert_int_equal(out[STORE_KEY_LEN], '\n');
    memcpy(key, out, STORE_KEY_LEN);
    key[STORE_KEY_LEN] = 0;

    struct store *s = open_ok(dir);
    struct store_key k;
    assert_int_equal(store_key_check(s, key, STORE_KEY_LEN, &k), 0);
    assert_string_equal(k.name, "ci");

    snprintf(args, sizeof args, "keys list --data '%s'", dir);
    assert_int_equal(run_fief(bin, args, out, sizeof out), 0);
    assert_non_null(strstr(out, k.prefix));
    assert_non_null(strstr(out, "ci"));

    snprintf(args, sizeof args, "keys revoke --data '%s' %s", dir, k.prefix);
    assert_int_equal(run_fief(bin, args, out, sizeof out), 0);
    assert_int_equal(store_key_check(s, key, STORE_KEY_LEN, NULL), FIEF_ENOTFOUND);
    snprintf(args, sizeof args, "keys revoke --data '%s' 4242", dir);
    assert_int_equal(run_fief(bin, args, out, sizeof out), 1);
    snprintf(args, sizeof args, "keys revoke --data '%s'", dir);
    assert_int_equal(run_fief(bin, args, out, sizeof out), 2);
    assert_int_equal(run_fief(bin, "keys frobnicate", out, sizeof out), 2);
    assert_int_equal(run_fief(bin, "keys", out, sizeof out), 2);
    assert_int_equal(run_fief(bin, "keys --help", out, sizeof out), 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_BOTH(test_key_create_check),
        TU_BOTH(test_key_bad_names),
        TU_BOTH(test_key_list_revoke),
        TU_BOTH(test_key_prefix_ambiguous),
        TU_BOTH(test_key_check_speed),
        TU_BOTH(test_jobs_async),
        TU_BOTH(test_job_unknown_miner),
        TU_BOTH(test_rejected_write_dropped_alone),
        TU_BOTH(test_failed_group_retried),
        TU_BOTH(test_jobs_concurrent),
        TU_BOTH(test_reopen),
        cmocka_unit_test(test_schema_too_new),
        cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_file_modes),
        TU_BOTH(test_two_stores),
        cmocka_unit_test(test_keys_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
