/* SPDX-License-Identifier: MIT */
/* `fief miner`: join pools with the models on this machine. Flags follow the
 * miners people know (xmrig, cgminer): -o pool URL (repeat for failover),
 * -u payout account, -w worker name, -m model. */
#include "cli/cli.h"
#include "common/log.h"
#include "miner/miner.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char miner_help[] =
    "usage: fief miner -o URL [-o URL2 ...] -u PAYOUT -m MODEL.gguf [options]\n"
    "\n"
    "Serves the models to a pool and earns for every token. Several -o give a\n"
    "failover list in priority order: the miner uses the first pool that answers,\n"
    "reconnects with backoff when it goes away, and returns to a better pool when\n"
    "it is back. The identity key is created on first run in DATA/miner.key.\n"
    "\n"
    "  -o, --url URL          pool: fief+tcp://HOST[:PORT] (default port 3333)\n"
    "  -u, --user PAYOUT      payout account the pool credits\n"
    "  -w, --worker NAME      this machine's name at the pool (default: host name)\n"
    "  -m, --model [NAME=]PATH  a GGUF model to serve (repeatable; NAME defaults to\n"
    "                         the file name; the pool matches files by digest)\n"
    "      --slots N          concurrent jobs per model (default 1)\n"
    "  -t, --threads N        engine threads shared by all slots (default: one per CPU)\n"
    "      --ctx N            positions per job (default: the model's, at most 4096)\n"
    "      --data DIR         key and state directory (default ~/.fief/miner)\n"
    "      --max-fee PCT      leave pools whose fee is above PCT percent\n"
    "      --validator        offer scoring only (audits): the pool trusts this miner\n"
    "                         as a validator when its config lists the key\n"
    "      --no-simd          use the portable C kernels instead of AVX2/AVX-512\n"
    "      --log-level L      err, warn, notice (default), info or debug\n"
    "  -h, --help             this text\n";

static const struct option miner_opts[] = {
    {"url", required_argument, NULL, 'o'},     {"user", required_argument, NULL, 'u'},
    {"worker", required_argument, NULL, 'w'},  {"model", required_argument, NULL, 'm'},
    {"slots", required_argument, NULL, 'S'},   {"threads", required_argument, NULL, 't'},
    {"ctx", required_argument, NULL, 'X'},     {"data", required_argument, NULL, 'D'},
    {"max-fee", required_argument, NULL, 'F'}, {"log-level", required_argument, NULL, 'L'},
    {"validator", no_argument, NULL, 'V'},     {"no-simd", no_argument, NULL, 'N'},
    {"help", no_argument, NULL, 'h'},          {0, 0, 0, 0},
};

/* "NAME=PATH" when the part before '=' has no '/' (a path may hold '='). */
static int add_model(struct miner_cfg *c, char *arg)
{
    if (c->n_models == MINER_MAX_MODELS)
        return cli_usage_err("miner", "at most %d models (-m)", MINER_MAX_MODELS);
    struct miner_model_cfg *m = &c->models[c->n_models++];
    char *eq = strchr(arg, '=');
    if (eq && eq != arg && !memchr(arg, '/', (size_t)(eq - arg))) {
        *eq = 0;
        m->name = arg;
        m->path = eq + 1;
    } else {
        m->path = arg;
    }
    return 0;
}

static int parse_opt(struct miner_cfg *c, int ch, char *arg)
{
    const char *cmd = "miner";
    long v;
    int rc = 0;
    float f;
    switch (ch) {
    case 'o':
        if (c->n_urls == MINER_MAX_POOLS)
            return cli_usage_err(cmd, "at most %d pools (-o)", MINER_MAX_POOLS);
        c->urls[c->n_urls++] = arg;
        break;
    case 'u':
        c->payout = arg;
        break;
    case 'w':
        c->worker = arg;
        break;
    case 'm':
        return add_model(c, arg);
    case 'S':
        rc = cli_int(cmd, "--slots", arg, 1, 64, &v);
        c->slots = (int)v;
        break;
    case 't':
        rc = cli_int(cmd, "--threads", arg, 1, 1024, &v);
        c->threads = (int)v;
        break;
    case 'X':
        rc = cli_int(cmd, "--ctx", arg, 1, 32768, &v);
        c->n_ctx = (int)v;
        break;
    case 'D':
        c->data_dir = arg;
        break;
    case 'V':
        c->validator = true;
        break;
    case 'N':
        c->no_simd = true;
        break;
    case 'F':
        rc = cli_float(cmd, "--max-fee", arg, 0, 100, &f);
        c->max_fee_pct = f;
        break;
    case 'L':
        if (log_level_parse(arg, &log_level))
            return cli_usage_err(cmd,
                                 "--log-level wants err, warn, notice, info or debug, "
                                 "got \"%s\"",
                                 arg);
        break;
    default:
        return CLI_USAGE;
    }
    return rc;
}

/* Options into c; -1 after --help, CLI_USAGE on an error (printed). */
static int parse_args(int argc, char **argv, struct miner_cfg *c)
{
    int ch, rc = 0;
    optind = 1;
    while (!rc && (ch = getopt_long(argc, argv, "o:u:w:m:t:h", miner_opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(miner_help, stdout);
            return -1;
        }
        rc = parse_opt(c, ch, optarg);
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_err("miner", "unexpected argument \"%s\"", argv[optind]);
    if (!c->n_urls)
        return cli_usage_err("miner", "no pool: give -o fief+tcp://HOST:3333");
    if (!c->payout)
        return cli_usage_err("miner", "no payout account: give -u ACCOUNT");
    if (!c->n_models)
        return cli_usage_err("miner", "no model: give -m MODEL.gguf");
    char err[FIEF_ERR_LEN];
    if (miner_cfg_check(c, err))
        return cli_usage_err("miner", "%s", err);
    return 0;
}

int cmd_miner(int argc, char **argv)
{
    struct miner_cfg cfg;
    miner_cfg_defaults(&cfg);
    cfg.handle_signals = true;
    int rc = parse_args(argc, argv, &cfg);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct miner *m;
    char err[FIEF_ERR_LEN];
    if (miner_new(&cfg, &m, err)) {
        fprintf(stderr, "fief miner: %s\n", err);
        return CLI_FAIL;
    }
    printf("miner key: %s\n", miner_pubkey(m));
    fflush(stdout);
    rc = miner_run(m) ? CLI_FAIL : CLI_OK;
    miner_free(m);
    return rc;
}
