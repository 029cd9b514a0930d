/* SPDX-License-Identifier: MIT */
/* `fief ledger check|show`: verify the books' invariants (exit 1 with the
 * offending rows), and print transactions with their postings for people.
 * Both only read, so they are safe while the pool runs. */
#include "cli/books.h"
#include "cli/cli.h"
#include "ledger/ledger.h"
#include "ledger/ledger_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: fief ledger check [options] [--pool-running]\n"
    "       fief ledger show  [options] [--account KIND[:OWNER]] [--limit N] [--before ID]\n"
    "\n"
    "  check  verify the books: every transaction sums to zero, every balance is the sum\n"
    "         of its postings, no customer balance is negative, holds, earnings and payout\n"
    "         batches agree with the balances. Prints each offending row and exits 1.\n"
    "         Open holds are fine while a pool runs (its requests are in flight) and a\n"
    "         violation when none does: a running pool is detected by its lock on\n"
    "         DATA/pool.lock; --pool-running says so for a pool on another machine.\n"
    "  show   the latest transactions with their postings, newest first; --account\n"
    "         keeps those touching one kind of account (customer, held, pending,\n"
    "         available, paying, pool_fee, deposits, payouts, forfeit), or one account\n"
    "         (customer:KEY_ID, pending:MINER_PUBKEY)\n"
    "\n" BOOKS_HELP
    "      --pool-running   treat open holds as requests in flight\n"
    "      --account WHICH  see show\n"
    "      --limit N        at most N transactions (default 50, at most 1000)\n"
    "      --before ID      transactions older than ID (to page back)\n";

static const struct option opts[] = {
    BOOKS_LONG_OPTS,
    {"pool-running", no_argument, NULL, 'r'},
    {"account", required_argument, NULL, 'a'},
    {"limit", required_argument, NULL, 'n'},
    {"before", required_argument, NULL, 'b'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

struct ledger_args {
    struct pool_cfg cfg;
    const char *sub;
    bool pool_running;
    char owner[65];
    struct ledger_txn_filter filter;
};

/* "pending" or "pending:OWNER" */
static int parse_account(const char *arg, struct ledger_args *a)
{
    char kind[32];
    const char *colon = strchr(arg, ':');
    size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
    if (n >= sizeof kind)
        n = sizeof kind - 1;
    memcpy(kind, arg, n);
    kind[n] = 0;
    if (ledger_kind_parse(kind, &a->filter.kind))
        return cli_usage_err("ledger",
                             "--account \"%s\": the kind is one of customer, held, pending, "
                             "available, paying, pool_fee, deposits, payouts, forfeit",
                             arg);
    if (colon) {
        snprintf(a->owner, sizeof a->owner, "%s", colon + 1);
        a->filter.owner = a->owner;
    }
    return 0;
}

static int sub_opt(int ch, const char *arg, struct ledger_args *a)
{
    long v;
    switch (ch) {
    case 'r':
        a->pool_running = true;
        return 0;
    case 'a':
        return parse_account(arg, a);
    case 'n':
        if (cli_int("ledger", "--limit", arg, 1, 1000, &v))
            return CLI_USAGE;
        a->filter.limit = (uint32_t)v;
        return 0;
    case 'b':
        if (cli_int("ledger", "--before", arg, 1, 0x7fffffffL, &v))
            return CLI_USAGE;
        a->filter.before = v;
        return 0;
    case 'h':
        fputs(help, stdout);
        return -1;
    default:
        return CLI_USAGE;
    }
}

/* 0, CLI_USAGE or CLI_FAIL; -1 after --help. */
static int parse_args(int argc, char **argv, struct ledger_args *a)
{
    int ch;
    pool_cfg_defaults(&a->cfg);
    while ((ch = getopt_long(argc, argv, BOOKS_SHORT_OPTS "h", opts, NULL)) != -1) {
        int rc = books_opt("ledger", ch, optarg, &a->cfg);
        if (rc == 1)
            rc = sub_opt(ch, optarg, a);
        if (rc)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_err("ledger", "say check or show");
    a->sub = argv[optind++];
    if (strcmp(a->sub, "check") && strcmp(a->sub, "show"))
        return cli_usage_err("ledger", "unknown subcommand \"%s\" (check or show)", a->sub);
    if (optind < argc)
        return cli_usage_err("ledger", "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

/* ---- check ---- */

static void print_violation(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
}

static int do_check(struct store *s, const struct ledger_args *a)
{
    bool running = a->pool_running || ledger_pool_running(a->cfg.data_dir);
    int n = ledger_check(s, running, print_violation, NULL);
    if (n < 0) {
        fprintf(stderr, "fief ledger: cannot read the books (%s)\n", fief_strerror(n));
        return CLI_FAIL;
    }
    if (n > 0) {
        fprintf(stderr, "fief ledger check: %d violation%s (%s)\n", n, n == 1 ? "" : "s",
                store_backend(s));
        return CLI_FAIL;
    }
    fprintf(stderr, "fief ledger check: the books are consistent (%s%s)\n", store_backend(s),
            running ? "; a pool is running, so open holds were allowed" : "");
    return CLI_OK;
}

/* ---- show ---- */

static int print_txn(void *ud, const struct ledger_txn_info *t, const struct ledger_post_info *p,
                     uint32_t n)
{
    (void)ud;
    char when[32], amount[32];
    printf("#%lld  %s  %-8s %s%s%s\n", (long long)t->id, books_time(t->created_ms, when), t->type,
           t->ref, t->memo[0] ? "  memo: " : "", t->memo);
    for (uint32_t i = 0; i < n; i++)
        printf("    %-10s %-64s %20s\n", ledger_kind_name(p[i].kind),
               p[i].owner[0] ? p[i].owner : "(pool)", books_credits(p[i].amount, amount));
    return 0;
}

int cmd_ledger(int argc, char **argv)
{
    struct ledger_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct store *s;
    if ((rc = books_open("ledger", &a.cfg, false, &s)))
        return rc;
    if (!strcmp(a.sub, "check"))
        rc = do_check(s, &a);
    else if (ledger_txn_list(s, &a.filter, print_txn, NULL))
        rc = CLI_FAIL;
    store_close(s);
    return rc;
}
