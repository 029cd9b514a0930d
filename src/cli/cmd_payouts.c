/* SPDX-License-Identifier: MIT */
/* `fief payouts create|confirm|cancel|list`: miners' matured earnings in
 * batches for an external payment system. create matures what is due,
 * batches everyone at or above the minimum and writes the batch as JSON and
 * CSV; confirm records it as paid, cancel gives the money back. */
#include "cli/books.h"
#include "cli/cli.h"
#include "common/clock.h"
#include "ledger/ledger.h"
#include "ledger/ledger_admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: fief payouts create  [options] [--min CREDITS] [--out DIR]\n"
    "       fief payouts confirm [options] BATCH\n"
    "       fief payouts cancel  [options] BATCH\n"
    "       fief payouts list    [options]\n"
    "\n"
    "Pay miners their matured earnings (pay per share: every verified token earns its\n"
    "share at once; earnings mature after the pool's maturity_s before they are paid).\n"
    "\n"
    "  create   mature what is due, then batch every miner with at least --min credits\n"
    "           available; writes DIR/payout-BATCH.json and .csv for your payment system\n"
    "  confirm  record BATCH as paid (do this once the money went out)\n"
    "  cancel   give BATCH's money back to the miners' available balances\n"
    "  list     every batch: state, total, miners, times\n"
    "\n" BOOKS_HELP
    "      --min CREDITS  smallest payout (default: the config's min_payout, 1)\n"
    "      --out DIR      where the batch files go (default DATA/payouts)\n";

static const struct option opts[] = {
    BOOKS_LONG_OPTS,
    {"min", required_argument, NULL, 'M'},
    {"out", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

struct payouts_args {
    struct pool_cfg cfg;
    const char *sub;
    int64_t min, batch;
    const char *out; /* --out, or NULL */
};

static int sub_opt(int ch, const char *arg, struct payouts_args *a)
{
    switch (ch) {
    case 'M':
        if (ledger_parse_credits(arg, &a->min))
            return cli_usage_err("payouts",
                                 "--min \"%s\": write credits as a plain decimal, e.g. 0.5", arg);
        return 0;
    case 'o':
        a->out = arg;
        return 0;
    case 'h':
        fputs(help, stdout);
        return -1;
    default:
        return CLI_USAGE;
    }
}

static int parse_batch(const char *s, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0)
        return cli_usage_err("payouts", "\"%s\" is not a batch id (`fief payouts list`)", s);
    *id = v;
    return 0;
}

/* 0, CLI_USAGE or CLI_FAIL; -1 after --help. */
static int parse_args(int argc, char **argv, struct payouts_args *a)
{
    int ch;
    pool_cfg_defaults(&a->cfg);
    a->min = -1; /* not given: the config's min_payout (default 1 credit) */
    while ((ch = getopt_long(argc, argv, BOOKS_SHORT_OPTS "h", opts, NULL)) != -1) {
        int rc = books_opt("payouts", ch, optarg, &a->cfg);
        if (rc == 1)
            rc = sub_opt(ch, optarg, a);
        if (rc)
            return rc;
    }
    if (a->min < 0)
        a->min = a->cfg.min_payout;
    if (optind >= argc)
        return cli_usage_err("payouts", "say create, confirm, cancel or list");
    a->sub = argv[optind++];
    bool takes_batch = !strcmp(a->sub, "confirm") || !strcmp(a->sub, "cancel");
    if (!takes_batch && strcmp(a->sub, "create") && strcmp(a->sub, "list"))
        return cli_usage_err("payouts", "unknown subcommand \"%s\" (create, confirm, cancel, list)",
                             a->sub);
    if (takes_batch && optind >= argc)
        return cli_usage_err("payouts", "%s needs the batch id (`fief payouts list`)", a->sub);
    if (takes_batch && parse_batch(argv[optind++], &a->batch))
        return CLI_USAGE;
    if (optind < argc)
        return cli_usage_err("payouts", "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static int fail(const char *err)
{
    fprintf(stderr, "fief payouts: %s\n", err);
    return CLI_FAIL;
}

static int do_create(struct store *s, const struct payouts_args *a)
{
    char err[FIEF_ERR_LEN], dir[sizeof a->cfg.data_dir + 16], x[32], y[32];
    if (a->out)
        snprintf(dir, sizeof dir, "%s", a->out);
    else
        snprintf(dir, sizeof dir, "%s/payouts", a->cfg.data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fail(strerror(errno));
    int64_t matured = ledger_mature_now(s, a->cfg.maturity_s, (int64_t)clock_wall_ms(), err);
    if (matured < 0)
        return fail(err);
    if (matured > 0)
        fprintf(stderr, "matured %s credits of earnings older than %u s\n",
                books_credits(matured, x), a->cfg.maturity_s);
    int64_t id;
    struct ledger_batch_info b;
    if (ledger_payout_create(s, a->min, dir, &id, err))
        return fail(err);
    if (id == 0) {
        printf("nobody is due: no miner with a payout account has at least %s credits "
               "available\n",
               books_credits(a->min, x));
        return CLI_OK;
    }
    if (ledger_payout_get(s, id, &b))
        return fail("cannot read the new batch back");
    printf("batch %lld: %s credits to %u miners\n%s/payout-%lld.json\n%s/payout-%lld.csv\n",
           (long long)id, books_credits(b.total, y), b.n_lines, dir, (long long)id, dir,
           (long long)id);
    fprintf(stderr, "once paid: fief payouts confirm %lld (or cancel %lld to undo)\n",
            (long long)id, (long long)id);
    return CLI_OK;
}

static int do_close(struct store *s, const struct payouts_args *a)
{
    char err[FIEF_ERR_LEN], x[32];
    bool confirm = !strcmp(a->sub, "confirm");
    int rc = confirm ? ledger_payout_confirm(s, a->batch, err)
                     : ledger_payout_cancel(s, a->batch, err);
    struct ledger_batch_info b;
    if (rc)
        return fail(err);
    if (ledger_payout_get(s, a->batch, &b) == 0)
        printf("batch %lld %s: %s credits, %u miners%s\n", (long long)a->batch,
               ledger_batch_state_name(b.state), books_credits(b.total, x), b.n_lines,
               confirm ? " paid" : " given back to their available balances");
    return CLI_OK;
}

static int print_batch(void *ud, const struct ledger_batch_info *b)
{
    int *n = ud;
    char total[32], created[32], closed[32];
    if ((*n)++ == 0)
        printf("%-6s %-10s %16s %6s  %-20s  %s\n", "BATCH", "STATE", "CREDITS", "MINERS",
               "CREATED", "CLOSED");
    printf("%-6lld %-10s %16s %6u  %-20s  %s\n", (long long)b->id,
           ledger_batch_state_name(b->state), books_credits(b->total, total), b->n_lines,
           books_time(b->created_ms, created), books_time(b->closed_ms, closed));
    return 0;
}

int cmd_payouts(int argc, char **argv)
{
    struct payouts_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct store *s;
    if ((rc = books_open("payouts", &a.cfg, false, &s)))
        return rc;
    if (!strcmp(a.sub, "create")) {
        rc = do_create(s, &a);
    } else if (!strcmp(a.sub, "list")) {
        int n = 0;
        rc = ledger_payout_list(s, print_batch, &n) ? fail("cannot read the batches") : CLI_OK;
        if (!rc && n == 0)
            fprintf(stderr, "no payout batches yet: `fief payouts create` makes one\n");
    } else {
        rc = do_close(s, &a);
    }
    store_close(s);
    return rc;
}
