/* SPDX-License-Identifier: MIT */
/* What the bookkeeping commands (`fief credit`, `payouts`, `ledger`,
 * `receipt`) share: the options that say where the pool's state is
 * (--data, -c pool.ini, --store URL), opening the store there, and printing
 * amounts and times. */
#ifndef FIEF_CLI_BOOKS_H
#define FIEF_CLI_BOOKS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "ledger/store.h"
#include "pool/pool_cfg.h"

/* getopt_long entries and help lines for the three options. */
#define BOOKS_LONG_OPTS                                                                       \
    {"data", required_argument, NULL, 'd'}, {"config", required_argument, NULL, 'c'},         \
    {                                                                                         \
        "store", required_argument, NULL, 'S'                                                 \
    }
#define BOOKS_SHORT_OPTS "d:c:"
#define BOOKS_HELP                                                                            \
    "  -d, --data DIR     the pool's data directory (default ~/.fief/pool)\n"                 \
    "  -c, --config FILE  take the data directory and store from the pool's config file\n"    \
    "      --store URL    the pool's PostgreSQL database (postgres://...), as its\n"          \
    "                     `store` setting says; default: SQLite in the data directory\n"

/* Apply option ch (d, c or S) to cfg: 0, or CLI_USAGE / CLI_FAIL after a
 * message naming cmd; 1 when ch is none of them. */
int books_opt(const char *cmd, int ch, const char *arg, struct pool_cfg *cfg);

/* Open the store cfg names. A command that reads (create = false) refuses a
 * data directory with no SQLite database rather than make an empty one.
 * CLI_OK, or CLI_FAIL after a message. */
int books_open(const char *cmd, const struct pool_cfg *cfg, bool create, struct store **s);

/* "12.5" for 12500000 micro-credits; returns out. */
const char *books_credits(int64_t micro, char out[32]);
/* "2026-11-25T14:57:34Z", or "-" for 0; returns out. */
const char *books_time(int64_t ms, char out[32]);

#endif
