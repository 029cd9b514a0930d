/* SPDX-License-Identifier: MIT */
/* `fief keys create|list|revoke`: the customers' API keys in the pool's data
 * directory. Safe while the pool runs (SQLite arbitrates), and scriptable:
 * create prints only the key on stdout, everything else goes to stderr. */
#include "cli/cli.h"
#include "common/clock.h"
#include "ledger/ledger.h"
#include "ledger/store.h"
#include "pool/pool_cfg.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: fief keys create [--data DIR] [--name NAME] [--credit CREDITS]\n"
    "       fief keys list   [--data DIR]\n"
    "       fief keys revoke [--data DIR] ID|PREFIX|KEY\n"
    "\n"
    "Manage the API keys customers send as \"Authorization: Bearer KEY\".\n"
    "\n"
    "  create   make a key; prints only the key on stdout (KEY=$(fief keys create))\n"
    "           and it is shown only this once: the pool stores a hash of it\n"
    "  list     id, name, prefix, creation and revocation times of every key\n"
    "  revoke   refuse a key from now on, by id, by unique prefix as `list` shows\n"
    "           it, or by the whole key\n"
    "\n"
    "  -d, --data DIR     the pool's data directory (default ~/.fief/pool)\n"
    "  -c, --config FILE  take the data directory from the pool's config file\n"
    "  -n, --name NAME    a label for the new key (who it is for), up to 64 bytes\n"
    "      --credit CREDITS  deposit this much credit on the new key (e.g. 12.5)\n"
    "      --store URL    the pool's PostgreSQL database, as its `store` setting says\n";

static const struct option opts[] = {
    {"data", required_argument, NULL, 'd'},
    {"config", required_argument, NULL, 'c'},
    {"name", required_argument, NULL, 'n'},
    {"credit", required_argument, NULL, 'C'},
    {"store", required_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

struct keys_args {
    const char *sub;
    const char *name;    /* --name, or NULL */
    const char *target;  /* revoke's argument */
    int64_t credit;      /* --credit, micro-credits; 0 when not given */
    struct pool_cfg cfg; /* only data_dir is used */
};

/* 0, CLI_USAGE or CLI_FAIL (a bad config file); -1 after printing --help. */
static int parse_args(int argc, char **argv, struct keys_args *a)
{
    char err[FIEF_ERR_LEN];
    int ch;
    pool_cfg_defaults(&a->cfg);
    while ((ch = getopt_long(argc, argv, "d:c:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            if (pool_cfg_set(&a->cfg, "data_dir", optarg, err))
                return cli_usage_err("keys", "--data: %s", err);
            break;
        case 'c':
            if (pool_cfg_load(&a->cfg, optarg, err)) {
                fprintf(stderr, "fief keys: %s\n", err);
                return CLI_FAIL;
            }
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'C':
            if (ledger_parse_credits(optarg, &a->credit) || a->credit == 0)
                return cli_usage_err("keys", "--credit \"%s\": write an amount of credits above "
                                             "zero, a plain decimal with at most 6 decimals",
                                     optarg);
            break;
        case 'S':
            if (pool_cfg_set(&a->cfg, "store", optarg, err))
                return cli_usage_err("keys", "--store: %s", err);
            break;
        case 'h':
            fputs(help, stdout);
            return -1;
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_err("keys", "say create, list or revoke");
    a->sub = argv[optind++];
    if (!strcmp(a->sub, "revoke") && optind < argc)
        a->target = argv[optind++];
    if (optind < argc)
        return cli_usage_err("keys", "unexpected argument \"%s\"", argv[optind]);
    if (strcmp(a->sub, "create") && strcmp(a->sub, "list") && strcmp(a->sub, "revoke"))
        return cli_usage_err("keys", "unknown subcommand \"%s\" (create, list or revoke)", a->sub);
    if (!strcmp(a->sub, "revoke") && !a->target)
        return cli_usage_err("keys", "revoke needs the key's id, prefix or the key itself");
    if ((a->name || a->credit) && strcmp(a->sub, "create"))
        return cli_usage_err("keys", "--name and --credit only apply to create");
    if (!a->cfg.data_dir[0])
        return cli_usage_err("keys", "no data directory: $HOME is not set; give --data DIR");
    return 0;
}

static void fmt_time(int64_t ms, char *out, size_t cap)
{
    if (ms <= 0) {
        snprintf(out, cap, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int do_create(struct store *s, const struct keys_args *a)
{
    char key[STORE_KEY_LEN + 1], err[FIEF_ERR_LEN];
    struct store_key k;
    if (store_key_create(s, a->name, key, &k, err)) {
        fprintf(stderr, "fief keys: %s\n", err);
        return CLI_FAIL;
    }
    /* The key is printed even when the deposit fails: it is shown only once. */
    bool no_credit =
        a->credit && ledger_deposit(s, k.id, a->credit, "keys create --credit", NULL, err);
    if (no_credit)
        fprintf(stderr, "fief keys: the key was made, but its credit was not deposited: %s; "
                        "`fief credit %lld AMOUNT` adds it\n",
                err, (long long)k.id);
    printf("%s\n", key);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "fief keys: cannot write the key to stdout; revoke key %lld\n",
                (long long)k.id);
        return CLI_FAIL;
    }
    fprintf(stderr,
            "created key %lld%s%s%s (%s) in %s\n"
            "it is shown only this once: the pool keeps only a hash of it\n",
            (long long)k.id, k.name[0] ? " \"" : "", k.name, k.name[0] ? "\"" : "", k.prefix,
            a->cfg.data_dir);
    return no_credit ? CLI_FAIL : CLI_OK;
}

static int print_key(void *ud, const struct store_key *k)
{
    int *n = ud;
    char created[32], revoked[32];
    if ((*n)++ == 0)
        printf("%-6s %-20s %-13s %-21s %s\n", "ID", "NAME", "PREFIX", "CREATED", "REVOKED");
    fmt_time(k->created_ms, created, sizeof created);
    fmt_time(k->revoked_ms, revoked, sizeof revoked);
    printf("%-6lld %-20s %-13s %-21s %s\n", (long long)k->id, k->name[0] ? k->name : "-", k->prefix,
           created, revoked);
    return 0;
}

static int do_list(struct store *s)
{
    int n = 0;
    if (store_key_list(s, print_key, &n)) {
        fprintf(stderr, "fief keys: cannot read the keys (see the error above)\n");
        return CLI_FAIL;
    }
    if (n == 0)
        fprintf(stderr, "no keys yet: `fief keys create` makes one\n");
    return CLI_OK;
}

static int do_revoke(struct store *s, const struct keys_args *a)
{
    char err[FIEF_ERR_LEN], when[32];
    struct store_key k;
    int64_t before_ms = (int64_t)clock_wall_ms();
    if (store_key_revoke(s, a->target, &k, err)) {
        fprintf(stderr, "fief keys: %s\n", err);
        return CLI_FAIL;
    }
    fmt_time(k.revoked_ms, when, sizeof when);
    /* A revocation from before this call was someone else's (or an earlier one). */
    fprintf(stderr, "key %lld (%s%s%s) %s %s\n", (long long)k.id, k.prefix, k.name[0] ? ", " : "",
            k.name, k.revoked_ms < before_ms ? "was already revoked at" : "revoked at", when);
    return CLI_OK;
}

int cmd_keys(int argc, char **argv)
{
    struct keys_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    char db[sizeof a.cfg.data_dir + 16], err[FIEF_ERR_LEN];
    snprintf(db, sizeof db, "%s/pool.db", a.cfg.data_dir);
    /* Listing or revoking in a directory with no pool would silently create
     * an empty one; say where we looked instead. */
    if (strcmp(a.sub, "create") && !a.cfg.store[0] && access(db, F_OK) != 0) {
        fprintf(stderr, "fief keys: no pool database at %s (wrong --data?)\n", db);
        return CLI_FAIL;
    }
    struct store *s;
    if (store_open_url(a.cfg.data_dir, a.cfg.store, &s, err)) {
        fprintf(stderr, "fief keys: %s\n", err);
        return CLI_FAIL;
    }
    if (!strcmp(a.sub, "create"))
        rc = do_create(s, &a);
    else if (!strcmp(a.sub, "list"))
        rc = do_list(s);
    else
        rc = do_revoke(s, &a);
    store_close(s);
    return rc;
}
