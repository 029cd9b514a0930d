/* SPDX-License-Identifier: MIT */
/* Settled requests per second on SQLite and on PostgreSQL: each request is
 * a hold and a settlement (two miners on every fourth, a failover), queued
 * as the pool's loop would, timed until the write thread has committed
 * them all; also what each costs the calling (loop) thread. PostgreSQL is
 * the database FIEF_BENCH_PG or FIEF_TEST_PG names (skipped without one).
 *
 *   bench_ledger [REQUESTS]      (default 20000) */
#include "common/clock.h"
#include "ledger/ledger.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_KEYS 64   /* customers, round robin */
#define N_MINERS 16 /* miners sharing the work */

struct result {
    double total_s;   /* first hold to last commit */
    double caller_us; /* per request, on the calling thread */
    struct store_stats stats;
    int violations;
};

static void fail(const char *what, const char *err)
{
    fprintf(stderr, "bench_ledger: %s: %s\n", what, err);
    exit(1);
}

static void make_keys(struct store *s, int64_t *ids)
{
    char key[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN];
    struct store_key k;
    for (int i = 0; i < N_KEYS; i++) {
        if (store_key_create(s, "bench", key, &k, err) ||
            ledger_deposit(s, k.id, 1000000 * LEDGER_MICRO, "bench", NULL, err))
            fail("setup", err);
        ids[i] = k.id;
    }
}

static void request(struct store *s, int64_t key, int i)
{
    char err[FIEF_ERR_LEN];
    struct ledger_settlement st = {0};
    snprintf(st.req, sizeof st.req, "bench-%d", i);
    if (ledger_hold(s, key, st.req, NULL, LEDGER_MICRO, err))
        fail("hold", err);
    st.key_id = key;
    st.held = LEDGER_MICRO;
    snprintf(st.model, sizeof st.model, "bench");
    snprintf(st.digest, sizeof st.digest, "sha256:%064d", 0);
    st.price_in = 500000;
    st.price_out = 1500000;
    st.fee_ppm = 20000;
    st.prompt_tokens = 200;
    st.completion_tokens = 100;
    st.n_parts = i % 4 == 3 ? 2 : 1;
    for (uint32_t p = 0; p < st.n_parts; p++) {
        snprintf(st.parts[p].pubkey, sizeof st.parts[p].pubkey, "%064d", (i + (int)p) % N_MINERS);
        st.parts[p].tokens = 100 / st.n_parts;
    }
    ledger_settle(s, &st);
}

static void ignore(void *ud, const char *line)
{
    (void)ud;
    (void)line;
}

static struct result run(const char *dir, const char *url, int n)
{
    struct store *s;
    char err[FIEF_ERR_LEN];
    int64_t keys[N_KEYS];
    struct result r = {0};
    if (store_open_url(dir, url, &s, err))
        fail("open", err);
    make_keys(s, keys);
    uint64_t t0 = clock_mono_ns(), caller = 0;
    for (int i = 0; i < n; i++) {
        uint64_t c0 = clock_mono_ns();
        request(s, keys[i % N_KEYS], i);
        caller += clock_mono_ns() - c0;
    }
    store_flush(s);
    r.total_s = (double)(clock_mono_ns() - t0) / 1e9;
    r.caller_us = (double)caller / 1e3 / n;
    store_stats_get(s, &r.stats);
    r.violations = ledger_check(s, false, ignore, NULL);
    store_close(s);
    return r;
}

/* Run sql on the server; false (with a message) on failure. */
static bool pg_exec(const char *server, const char *sql)
{
    PGconn *c = PQconnectdb(server);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "bench_ledger: %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

/* The PostgreSQL run, in a schema of its own, dropped afterwards. */
static bool run_pg(const char *dir, const char *server, int n, struct result *r)
{
    char schema[32], sql[96], url[2048];
    snprintf(schema, sizeof schema, "bench_ledger_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    if (!pg_exec(server, sql))
        return false;
    snprintf(url, sizeof url, "%s%coptions=-csearch_path%%3D%s", server,
             strchr(server, '?') ? '&' : '?', schema);
    *r = run(dir, url, n);
    snprintf(sql, sizeof sql, "SET client_min_messages = warning; DROP SCHEMA %s CASCADE", schema);
    pg_exec(server, sql);
    return true;
}

static void print(const char *name, const struct result *r, int n)
{
    printf("  %-9s %7d requests in %6.2f s = %8.0f settled requests/s  (%.1f us each on the "
           "caller's thread, %llu group commits, ledger check: %d violations)\n",
           name, n, r->total_s, n / r->total_s, r->caller_us, (unsigned long long)r->stats.batches,
           r->violations);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_ledger [REQUESTS]\n");
        return 2;
    }
    char dir[] = "/tmp/fief-bench-ledger-XXXXXX";
    if (!mkdtemp(dir))
        fail("mkdtemp", "cannot make a temporary directory");
    const char *pg = getenv("FIEF_BENCH_PG");
    if (!pg || !*pg)
        pg = getenv("FIEF_TEST_PG");
    printf("ledger: hold + settle per request, queued, timed until all are committed\n");
    struct result lite = run(dir, NULL, n);
    print("sqlite", &lite, n);
    struct result post;
    if (pg && *pg && run_pg(dir, pg, n, &post)) {
        print("postgres", &post, n);
        printf("  ratio postgres/sqlite: %.2f\n", lite.total_s / post.total_s);
    } else {
        printf("  postgres  skipped: set FIEF_BENCH_PG to a scratch database's URL\n");
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && lite.violations == 0 ? 0 : 1;
}
