/* SPDX-License-Identifier: MIT */
/* `fief credit KEY AMOUNT`: a deposit of customer credit onto an API key
 * (money the customer paid outside fief), with an optional memo. Safe while
 * the pool runs; the pool sees the new balance on the key's next request. */
#include "cli/books.h"
#include "cli/cli.h"
#include "ledger/ledger.h"

#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: fief credit [options] KEY AMOUNT [--memo TEXT]\n"
    "\n"
    "Add AMOUNT credits to a customer's API key (a deposit: money the customer paid you).\n"
    "KEY is the key's id, its prefix as `fief keys list` shows it, or the whole key.\n"
    "AMOUNT is in credits, a plain decimal with at most 6 decimals: 10, 12.5, 0.000001.\n"
    "\n" BOOKS_HELP "  -m, --memo TEXT    a note kept with the deposit (an invoice number...)\n";

static const struct option opts[] = {
    BOOKS_LONG_OPTS,
    {"memo", required_argument, NULL, 'm'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

/* A negative amount looks like an option to getopt: catch it first, with a
 * message that says what is wrong. */
static bool negative_amount(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && ((argv[i][1] >= '0' && argv[i][1] <= '9') || argv[i][1] == '.'))
            return true;
    return false;
}

static int parse_amount(const char *s, int64_t *micro)
{
    int rc = ledger_parse_credits(s, micro);
    if (rc == FIEF_ERANGE)
        return cli_usage_err("credit", "AMOUNT \"%s\" is too large (at most %lld credits)", s,
                             LEDGER_MAX_AMOUNT / LEDGER_MICRO);
    if (rc)
        return cli_usage_err("credit",
                             "AMOUNT \"%s\" is not an amount: write credits as a plain decimal "
                             "with at most 6 decimals, e.g. 12.5",
                             s);
    if (*micro == 0)
        return cli_usage_err("credit", "AMOUNT must be more than zero");
    return 0;
}

static int credit(const struct pool_cfg *cfg, const char *who, int64_t amount, const char *memo)
{
    struct store *s;
    int rc = books_open("credit", cfg, false, &s);
    if (rc)
        return rc;
    char err[FIEF_ERR_LEN], a[32], b[32];
    struct store_key k;
    int64_t txn, balance;
    if (store_key_find(s, who, &k, err) || ledger_deposit(s, k.id, amount, memo, &txn, err)) {
        fprintf(stderr, "fief credit: %s; nothing changed\n", err);
        store_close(s);
        return CLI_FAIL;
    }
    ledger_available(s, k.id, &balance);
    printf("credited %s credits to key %lld (%s%s%s); it has %s credits now (transaction %lld)\n",
           books_credits(amount, a), (long long)k.id, k.prefix, k.name[0] ? ", " : "", k.name,
           books_credits(balance, b), (long long)txn);
    store_close(s);
    return CLI_OK;
}

int cmd_credit(int argc, char **argv)
{
    struct pool_cfg cfg;
    const char *memo = NULL;
    int64_t amount;
    int ch, rc;
    pool_cfg_defaults(&cfg);
    if (negative_amount(argc, argv))
        return cli_usage_err("credit", "AMOUNT must be more than zero (a credit cannot take "
                                       "money away)");
    while ((ch = getopt_long(argc, argv, BOOKS_SHORT_OPTS "m:h", opts, NULL)) != -1) {
        rc = books_opt("credit", ch, optarg, &cfg);
        if (rc == 1 && ch == 'm') {
            memo = optarg;
            rc = 0;
        } else if (rc == 1 && ch == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (rc)
            return rc == 1 ? CLI_USAGE : rc;
    }
    if (argc - optind != 2)
        return cli_usage_err("credit", "give KEY and AMOUNT (`fief credit --help`)");
    if ((rc = parse_amount(argv[optind + 1], &amount)))
        return rc;
    return credit(&cfg, argv[optind], amount, memo);
}
