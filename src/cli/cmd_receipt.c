/* SPDX-License-Identifier: MIT */
/* `fief receipt verify|get|key`: check a signed receipt (what a request cost
 * and who earned what) against the pool's public key, print the receipt the
 * pool stored for a request, or print the pool's receipt-signing key. */
#include "cli/books.h"
#include "cli/cli.h"
#include "common/digest.h"
#include "ledger/ledger.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIPT_FILE_MAX (1u << 20) /* a receipt is a few hundred bytes */

static const char help[] =
    "usage: fief receipt verify FILE [--pubkey HEX]\n"
    "       fief receipt get [options] REQUEST\n"
    "       fief receipt key [options]\n"
    "\n"
    "  verify  check FILE's signature (\"-\" reads stdin). With --pubkey, against the\n"
    "          pool's published key (GET /api/pool); without, against the key the\n"
    "          receipt names, which proves only that it was not changed since\n"
    "  get     print the receipt the pool stored for a request\n"
    "  key     print the pool's receipt-signing public key (DATA/pool.key)\n"
    "\n" BOOKS_HELP "      --pubkey HEX   the pool's public key, 64 hex digits\n";

static const struct option opts[] = {
    BOOKS_LONG_OPTS,
    {"pubkey", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

static char *read_all(const char *path, char err[FIEF_ERR_LEN])
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fief_errf(err, FIEF_EIO, "cannot open %s", path);
        return NULL;
    }
    char *text = malloc(RECEIPT_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, RECEIPT_FILE_MAX + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!text || n > RECEIPT_FILE_MAX) {
        fief_errf(err, FIEF_ELIMIT, "%s: larger than any receipt", path);
        free(text);
        return NULL;
    }
    text[n] = 0;
    return text;
}

static void print_summary(const char *text, const char *pubkey)
{
    json_t *o = json_loads(text, 0, NULL);
    char cost[32], fee[32];
    json_int_t c = json_integer_value(json_object_get(o, "cost"));
    json_int_t f = json_integer_value(json_object_get(o, "fee"));
    printf("valid receipt: request %s, model %s, %lld+%lld tokens, cost %s credits "
           "(fee %s), %zu miner share(s), pool \"%s\"\n",
           json_string_value(json_object_get(o, "request")),
           json_string_value(json_object_get(o, "model")),
           (long long)json_integer_value(json_object_get(o, "prompt_tokens")),
           (long long)json_integer_value(json_object_get(o, "completion_tokens")),
           books_credits(c, cost), books_credits(f, fee),
           json_array_size(json_object_get(o, "miners")),
           json_string_value(json_object_get(o, "pool")));
    if (!pubkey)
        fprintf(stderr,
                "note: checked against the key the receipt names (%s); compare it with the "
                "pool's published key, or pass --pubkey\n",
                json_string_value(json_object_get(o, "pool_key")));
    json_decref(o);
}

static int do_verify(const char *path, const char *pubkey)
{
    char err[FIEF_ERR_LEN];
    char *text = read_all(path, err);
    if (!text) {
        fprintf(stderr, "fief receipt: %s\n", err);
        return CLI_FAIL;
    }
    int rc = ledger_receipt_verify(text, pubkey, err);
    if (rc)
        fprintf(stderr, "fief receipt: %s: %s\n", path, err);
    else
        print_summary(text, pubkey);
    free(text);
    return rc ? CLI_FAIL : CLI_OK;
}

static int do_get(const struct pool_cfg *cfg, const char *req)
{
    struct store *s;
    int rc = books_open("receipt", cfg, false, &s);
    if (rc)
        return rc;
    char *r = ledger_receipt_get(s, req);
    if (r)
        printf("%s\n", r);
    else
        fprintf(stderr, "fief receipt: no settled request %s (it produced nothing, is not "
                        "settled yet, or is unknown)\n",
                req);
    free(r);
    store_close(s);
    return r ? CLI_OK : CLI_FAIL;
}

static int do_key(const struct pool_cfg *cfg)
{
    unsigned char pk[32], sk[64];
    char err[FIEF_ERR_LEN], hex[65];
    if (ledger_pool_key(cfg->data_dir, pk, sk, err)) {
        fprintf(stderr, "fief receipt: %s\n", err);
        return CLI_FAIL;
    }
    hex_encode(pk, 32, hex);
    printf("%s\n", hex);
    return CLI_OK;
}

int cmd_receipt(int argc, char **argv)
{
    struct pool_cfg cfg;
    const char *pubkey = NULL;
    int ch, rc;
    pool_cfg_defaults(&cfg);
    while ((ch = getopt_long(argc, argv, BOOKS_SHORT_OPTS "h", opts, NULL)) != -1) {
        rc = books_opt("receipt", ch, optarg, &cfg);
        if (rc == 1 && ch == 'p') {
            pubkey = optarg;
            rc = 0;
        } else if (rc == 1 && ch == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (rc)
            return rc == 1 ? CLI_USAGE : rc;
    }
    const char *sub = optind < argc ? argv[optind++] : "";
    int want = !strcmp(sub, "key") ? 0 : 1;
    if (strcmp(sub, "verify") && strcmp(sub, "get") && strcmp(sub, "key"))
        return cli_usage_err("receipt", "say verify FILE, get REQUEST or key");
    if (argc - optind != want)
        return cli_usage_err("receipt", "%s takes %s", sub,
                             want ? "one argument" : "no argument");
    if (!strcmp(sub, "verify"))
        return do_verify(argv[optind], pubkey);
    if (!cfg.data_dir[0])
        return cli_usage_err("receipt", "no data directory: $HOME is not set; give --data DIR");
    return !strcmp(sub, "get") ? do_get(&cfg, argv[optind]) : do_key(&cfg);
}
