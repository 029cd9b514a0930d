/* SPDX-License-Identifier: MIT */
/* Options and helpers shared by the bookkeeping commands: where the pool's
 * state lives, opening it, and amounts and times for people. */
#include "cli/books.h"

#include "cli/cli.h"
#include "ledger/ledger.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int books_opt(const char *cmd, int ch, const char *arg, struct pool_cfg *cfg)
{
    char err[FIEF_ERR_LEN];
    switch (ch) {
    case 'd':
        if (pool_cfg_set(cfg, "data_dir", arg, err))
            return cli_usage_err(cmd, "--data: %s", err);
        return 0;
    case 'c':
        if (pool_cfg_load(cfg, arg, err)) {
            fprintf(stderr, "fief %s: %s\n", cmd, err);
            return CLI_FAIL;
        }
        return 0;
    case 'S':
        if (pool_cfg_set(cfg, "store", arg, err))
            return cli_usage_err(cmd, "--store: %s", err);
        return 0;
    default:
        return 1;
    }
}

int books_open(const char *cmd, const struct pool_cfg *cfg, bool create, struct store **s)
{
    char err[FIEF_ERR_LEN];
    if (!cfg->data_dir[0]) {
        fprintf(stderr, "fief %s: no data directory: $HOME is not set; give --data DIR\n", cmd);
        return CLI_FAIL;
    }
    if (!cfg->store[0] && !create) {
        char db[sizeof cfg->data_dir + 16];
        snprintf(db, sizeof db, "%s/pool.db", cfg->data_dir);
        if (access(db, F_OK) != 0) {
            fprintf(stderr, "fief %s: no pool database at %s (wrong --data, or the pool uses "
                            "PostgreSQL: give -c pool.ini or --store URL)\n",
                    cmd, db);
            return CLI_FAIL;
        }
    }
    if (store_open_url(cfg->data_dir, cfg->store, s, err)) {
        fprintf(stderr, "fief %s: %s\n", cmd, err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

const char *books_credits(int64_t micro, char out[32])
{
    ledger_format_credits(micro, out, 32);
    return out;
}

const char *books_time(int64_t ms, char out[32])
{
    if (ms <= 0) {
        snprintf(out, 32, "-");
        return out;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}
