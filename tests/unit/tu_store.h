/* SPDX-License-Identifier: MIT */
/* The store backends a test runs against: SQLite in a fresh data directory,
 * and PostgreSQL in a fresh schema of the database FIEF_TEST_PG names
 * (.ci/run starts one). Without FIEF_TEST_PG the PostgreSQL runs skip with
 * a visible SKIP line, except under CI=true, where that is a failure.
 * Header-only: included by test_store.c and test_books.c. */
#ifndef FIEF_TU_STORE_H
#define FIEF_TU_STORE_H

#include "testutil.h"

#include "ledger/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tu_backend {
    const char *name;
    bool pg;
};

static const struct tu_backend tu_sqlite = {"sqlite", false};
static const struct tu_backend tu_pg = {"postgres", true};

/* Where one test's store lives. */
struct tu_loc {
    char dir[512];
    char url[1024]; /* "" for SQLite */
};

#define TU_MAX_SCHEMAS 256
static char tu_schemas[TU_MAX_SCHEMAS][32];
static int tu_n_schemas;

static void tu_drop_schemas(void)
{
    const char *server = getenv("FIEF_TEST_PG");
    PGconn *c = server ? PQconnectdb(server) : NULL;
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQclear(PQexec(c, "SET client_min_messages = warning"));
        for (int i = 0; i < tu_n_schemas; i++) {
            char sql[96];
            snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", tu_schemas[i]);
            PQclear(PQexec(c, sql));
        }
    }
    PQfinish(c);
}

/* FIEF_TEST_PG, or NULL after the SKIP line (a failure under CI=true). */
static const char *tu_pg_server(void)
{
    const char *url = getenv("FIEF_TEST_PG");
    if (url && *url)
        return url;
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true"))
        fail_msg("FIEF_TEST_PG is not set, but CI=true: .ci/run should have started PostgreSQL");
    fprintf(stderr, "SKIP: FIEF_TEST_PG is not set (a postgresql:// URL of a scratch "
                    "database), so the PostgreSQL store is not tested\n");
    return NULL;
}

/* Create a new schema in the test database; fails the test on error. */
static void tu_pg_schema(const char *server, char name[32])
{
    snprintf(name, 32, "t_%d_%d", (int)getpid(), tu_n_schemas);
    PGconn *c = PQconnectdb(server);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to FIEF_TEST_PG: %s", PQerrorMessage(c));
    char sql[64];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    if (tu_n_schemas == 0)
        atexit(tu_drop_schemas);
    if (tu_n_schemas < TU_MAX_SCHEMAS)
        snprintf(tu_schemas[tu_n_schemas++], 32, "%s", name);
}

/* A fresh location for a test named name on backend b (state holds the
 * backend); skips the test when PostgreSQL is not available. */
static void tu_loc_new(void **state, const char *name, struct tu_loc *loc)
{
    static int n;
    const struct tu_backend *b = state && *state ? *state : &tu_sqlite;
    memset(loc, 0, sizeof *loc);
    snprintf(loc->dir, sizeof loc->dir, "%s/%s-%s-%d", tu_tmpdir(), name, b->name, n++);
    if (!b->pg)
        return;
    const char *server = tu_pg_server();
    if (!server)
        skip();
    char schema[32];
    tu_pg_schema(server, schema);
    snprintf(loc->url, sizeof loc->url, "%s%coptions=-csearch_path%%3D%s", server,
             strchr(server, '?') ? '&' : '?', schema);
}

static struct store *tu_open(const struct tu_loc *loc)
{
    char err[FIEF_ERR_LEN] = "";
    struct store *s = NULL;
    int rc = store_open_url(loc->dir, loc->url, &s, err);
    if (rc)
        fail_msg("store_open_url(%s, %s): %s", loc->dir, loc->url, err);
    return s;
}

/* Register test f once per backend. */
#define TU_BOTH(f)                                                                            \
    {#f "/sqlite", f, NULL, NULL, (void *)&tu_sqlite},                                        \
    {                                                                                         \
        #f "/postgres", f, NULL, NULL, (void *)&tu_pg                                         \
    }

#endif
