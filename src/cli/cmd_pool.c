/* SPDX-License-Identifier: MIT */
/* `fief pool`: run the pool server. Settings come from the defaults, then
 * the config file (-c), then the flags, each through the same validating
 * table (pool_cfg_set). */
#include "cli/cli.h"
#include "common/log.h"
#include "pool/pool.h"
#include "pool/pool_cfg.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: fief pool [-c FILE] [options]\n"
    "\n"
    "Runs the pool: miners connect on one port, customers use the OpenAI API on\n"
    "the other. `fief pool --model NAME=PATH.gguf` alone is enough to start.\n"
    "\n"
    "  -c, --config FILE         INI file (see docs/operating.md)\n"
    "      --data DIR            state directory (default ~/.fief/pool)\n"
    "      --listen-miners H:P   miner gateway (default 0.0.0.0:3333)\n"
    "      --listen-http H:P     HTTP API (default 0.0.0.0:8080)\n"
    "      --model NAME=PATH     register a model (repeatable)\n"
    "      --price NAME=IN,OUT   its price in credits per million prompt/completion tokens\n"
    "      --fee F               pool fee: \"2%\", \"0.02\" or \"20000ppm\"\n"
    "      --name NAME           pool name shown to miners and customers\n"
    "      --admin-token T       bearer token for /admin\n"
    "      --set KEY=VALUE       any config-file setting, e.g. --set queue_max=64\n"
    "      --log-level L         err, warn, notice, info or debug\n";

static const struct option opts[] = {
    {"config", required_argument, NULL, 'c'},   {"data", required_argument, NULL, 'd'},
    {"listen-miners", required_argument, NULL, 'M'},
    {"listen-http", required_argument, NULL, 'H'}, {"model", required_argument, NULL, 'm'},
    {"price", required_argument, NULL, 'p'},    {"fee", required_argument, NULL, 'f'},
    {"name", required_argument, NULL, 'n'},     {"admin-token", required_argument, NULL, 'a'},
    {"set", required_argument, NULL, 's'},      {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0},
};

/* "NAME=REST" -> key "model.NAME.<field>" = REST */
static int set_model(struct pool_cfg *c, const char *arg, const char *field, char *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return fief_errf(err, FIEF_EINVAL, "expected NAME=VALUE, got \"%s\"", arg);
    char key[128];
    snprintf(key, sizeof key, "model.%.*s.%s", (int)(eq - arg), arg, field);
    return pool_cfg_set(c, key, eq + 1, err);
}

static int set_price(struct pool_cfg *c, const char *arg, char *err)
{
    const char *eq = strchr(arg, '='), *comma = eq ? strchr(eq, ',') : NULL;
    if (!eq || !comma)
        return fief_errf(err, FIEF_EINVAL, "--price wants NAME=IN,OUT, got \"%s\"", arg);
    char key[128], in[64];
    snprintf(in, sizeof in, "%.*s", (int)(comma - eq - 1), eq + 1);
    snprintf(key, sizeof key, "model.%.*s.price_in", (int)(eq - arg), arg);
    int rc = pool_cfg_set(c, key, in, err);
    snprintf(key, sizeof key, "model.%.*s.price_out", (int)(eq - arg), arg);
    return rc ? rc : pool_cfg_set(c, key, comma + 1, err);
}

static int apply(struct pool_cfg *c, int ch, const char *arg, char *err)
{
    switch (ch) {
    case 'd': return pool_cfg_set(c, "data_dir", arg, err);
    case 'M': return pool_cfg_set(c, "listen_miners", arg, err);
    case 'H': return pool_cfg_set(c, "listen_http", arg, err);
    case 'm': return set_model(c, arg, "path", err);
    case 'p': return set_price(c, arg, err);
    case 'f': return pool_cfg_set(c, "fee", arg, err);
    case 'n': return pool_cfg_set(c, "name", arg, err);
    case 'a': return pool_cfg_set(c, "admin_token", arg, err);
    case 'L': return pool_cfg_set(c, "log_level", arg, err);
    case 's': {
        const char *eq = strchr(arg, '=');
        char key[128];
        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof key)
            return fief_errf(err, FIEF_EINVAL, "--set wants KEY=VALUE, got \"%s\"", arg);
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        return pool_cfg_set(c, key, eq + 1, err);
    }
    }
    return fief_errf(err, FIEF_EINVAL, "unknown option");
}

int cmd_pool(int argc, char **argv)
{
    struct pool_cfg cfg;
    pool_cfg_defaults(&cfg);
    char err[FIEF_ERR_LEN];
    int ch;
    /* First pass: the config file, so flags override it whatever their order. */
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (ch == '?')
            return CLI_USAGE;
        if (ch == 'c' && pool_cfg_load(&cfg, optarg, err)) {
            fprintf(stderr, "fief pool: %s\n", err);
            return CLI_FAIL;
        }
    }
    if (optind < argc)
        return cli_usage_err("pool", "unexpected argument \"%s\"", argv[optind]);
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
        if (ch != 'c' && apply(&cfg, ch, optarg, err))
            return cli_usage_err("pool", "%s", err);
    if (pool_cfg_check(&cfg, err))
        return cli_usage_err("pool", "%s", err);
    log_level_parse(cfg.log_level, &log_level);
    struct pool *p;
    if (pool_new(&cfg, &p, err)) {
        fprintf(stderr, "fief pool: %s\n", err);
        return CLI_FAIL;
    }
    int rc = pool_run(p);
    pool_free(p);
    return rc ? CLI_FAIL : CLI_OK;
}
