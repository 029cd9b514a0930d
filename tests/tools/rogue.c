/* SPDX-License-Identifier: MIT */
/* fief-rogue: a real miner (src/miner, fief miner's options) that cheats in
 * one chosen way, so end-to-end tests can show the pool's audits catch it.
 * Built for the tests only (tests/CMakeLists.txt, found through $FIEF_ROGUE),
 * never part of the fief binary. The cheats are in rogue_cheat.c. */
#include "rogue.h"
#include "common/log.h"
#include "miner/hooks.h"
#include "miner/miner.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fief-rogue -o URL -u PAYOUT -m MODEL.gguf --cheat KIND [options]\n"
    "\n"
    "A miner that cheats, for tests. Miner options as fief miner's:\n"
    "  -o, --url URL  -u, --user PAYOUT  -w, --worker NAME  -m, --model [NAME=]PATH\n"
    "  --slots N  -t, --threads N  --ctx N  --data DIR  --max-fee PCT  --validator\n"
    "  --no-simd  --log-level L\n"
    "Cheats (--cheat KIND):\n"
    "  smaller   generate with --cheat-model SMALL.gguf (same vocabulary size) while\n"
    "            offering -m's name and digest\n"
    "  random    random token ids, log-probs drawn in [-3.05, -0.05]; no engine run\n"
    "  forge     the honest tokens, log-probs forged: all --forge-lp X (default\n"
    "            -0.01), or with --forge-shift D the true ones + D (capped at 0)\n"
    "  replay    the first honest job's tokens and log-probs again, cut or cycled to\n"
    "            max_tokens (ending at its eog token if it had one)\n"
    "  truncate  honest for --truncate-keep K tokens (default max_tokens/4), then\n"
    "            an eog token claimed with log-prob --truncate-lp X (default -0.5;\n"
    "            the true one when top_n shows it): finish \"eog\"; or with\n"
    "            --truncate-end length just stop: finish \"length\", n < max_tokens\n"
    "  seen      honest on a prompt seen before (in a job or a score request),\n"
    "            random tokens on a new one\n"
    "  liar      honest jobs; score results rewritten to fail honest work\n"
    "  honest    no cheat (a control)\n"
    "When:\n"
    "  --cheat-after N  honest for the first N jobs (score requests for liar)\n"
    "  --cheat-rate P   then cheat on a share P of them (default 1)\n"
    "  --cheat-seed S   seed of those draws and of random tokens (default 1)\n";

enum {
    O_SLOTS = 256,
    O_CTX,
    O_DATA,
    O_FEE,
    O_LOG,
    O_VALIDATOR,
    O_NOSIMD,
    O_CHEAT,
    O_MODEL2,
    O_AFTER,
    O_RATE,
    O_SEED,
    O_FORGE_LP,
    O_FORGE_SHIFT,
    O_KEEP,
    O_END,
    O_END_LP,
};

static const struct option opts[] = {
    {"url", required_argument, NULL, 'o'},
    {"user", required_argument, NULL, 'u'},
    {"worker", required_argument, NULL, 'w'},
    {"model", required_argument, NULL, 'm'},
    {"threads", required_argument, NULL, 't'},
    {"slots", required_argument, NULL, O_SLOTS},
    {"ctx", required_argument, NULL, O_CTX},
    {"data", required_argument, NULL, O_DATA},
    {"max-fee", required_argument, NULL, O_FEE},
    {"log-level", required_argument, NULL, O_LOG},
    {"validator", no_argument, NULL, O_VALIDATOR},
    {"no-simd", no_argument, NULL, O_NOSIMD},
    {"cheat", required_argument, NULL, O_CHEAT},
    {"cheat-model", required_argument, NULL, O_MODEL2},
    {"cheat-after", required_argument, NULL, O_AFTER},
    {"cheat-rate", required_argument, NULL, O_RATE},
    {"cheat-seed", required_argument, NULL, O_SEED},
    {"forge-lp", required_argument, NULL, O_FORGE_LP},
    {"forge-shift", required_argument, NULL, O_FORGE_SHIFT},
    {"truncate-keep", required_argument, NULL, O_KEEP},
    {"truncate-end", required_argument, NULL, O_END},
    {"truncate-lp", required_argument, NULL, O_END_LP},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

/* A usage error: print it, return 2. */
__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fief-rogue: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

static int num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "fief-rogue: bad value for %s: \"%s\" (%g..%g)\n", opt, s, lo, hi);
        return 2;
    }
    *out = v;
    return 0;
}

static int add_model(struct miner_cfg *c, char *arg)
{
    if (c->n_models == MINER_MAX_MODELS)
        return bad("too many models (-m)");
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

static int parse_cheat(struct rogue_opts *o, int ch, const char *arg)
{
    double v;
    int rc = 0;
    switch (ch) {
    case O_CHEAT:
        if ((rc = rogue_kind_parse(arg)) < 0)
            return bad("unknown --cheat \"%s\" (see --help)", arg);
        o->kind = (enum rogue_kind)rc;
        return 0;
    case O_MODEL2:
        o->small = arg;
        return 0;
    case O_AFTER:
        rc = num("--cheat-after", arg, 0, 1e15, &v);
        o->after = (uint64_t)v;
        return rc;
    case O_RATE:
        rc = num("--cheat-rate", arg, 0, 1, &o->rate);
        return rc;
    case O_SEED:
        rc = num("--cheat-seed", arg, 0, 9007199254740991.0, &v);
        o->seed = (uint64_t)v;
        return rc;
    case O_FORGE_LP:
        rc = num("--forge-lp", arg, -1e30, 0, &v);
        o->forge_lp = (float)v;
        return rc;
    case O_FORGE_SHIFT:
        rc = num("--forge-shift", arg, -1e6, 1e6, &v);
        o->forge_shift = true;
        o->forge_add = (float)v;
        return rc;
    case O_KEEP:
        rc = num("--truncate-keep", arg, 0, 32768, &v);
        o->keep = (int32_t)v;
        return rc;
    case O_END:
        if (strcmp(arg, "eog") && strcmp(arg, "length"))
            return bad("--truncate-end wants eog or length, not \"%s\"", arg);
        o->end_eog = !strcmp(arg, "eog");
        return 0;
    case O_END_LP:
        rc = num("--truncate-lp", arg, -1e30, 0, &v);
        o->end_lp = (float)v;
        return rc;
    default:
        return bad("bad option (see --help)");
    }
}

static int parse_opt(struct miner_cfg *c, struct rogue_opts *o, int ch, char *arg)
{
    double v;
    int rc = 0;
    switch (ch) {
    case 'o':
        if (c->n_urls == MINER_MAX_POOLS)
            return bad("too many pools (-o)");
        c->urls[c->n_urls++] = arg;
        return 0;
    case 'u':
        c->payout = arg;
        return 0;
    case 'w':
        c->worker = arg;
        return 0;
    case 'm':
        return add_model(c, arg);
    case 't':
        rc = num("--threads", arg, 1, 1024, &v);
        c->threads = (int)v;
        return rc;
    case O_SLOTS:
        rc = num("--slots", arg, 1, 64, &v);
        c->slots = (int)v;
        return rc;
    case O_CTX:
        rc = num("--ctx", arg, 1, 32768, &v);
        c->n_ctx = (int)v;
        return rc;
    case O_DATA:
        c->data_dir = arg;
        return 0;
    case O_FEE:
        return num("--max-fee", arg, 0, 100, &c->max_fee_pct);
    case O_LOG:
        return log_level_parse(arg, &log_level) ? bad("bad --log-level \"%s\"", arg) : 0;
    case O_VALIDATOR:
        c->validator = true;
        return 0;
    case O_NOSIMD:
        c->no_simd = true;
        return 0;
    default:
        return parse_cheat(o, ch, arg);
    }
}

/* 0, -1 after --help, or 2 (usage) after a message. */
static int parse_args(int argc, char **argv, struct miner_cfg *c, struct rogue_opts *o,
                      bool *have_cheat)
{
    int ch, rc = 0;
    while (!rc && (ch = getopt_long(argc, argv, "o:u:w:m:t:h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage, stdout);
            return -1;
        }
        if (ch == '?')
            return 2;
        *have_cheat |= ch == O_CHEAT;
        rc = parse_opt(c, o, ch, optarg);
    }
    if (rc)
        return rc;
    if (optind < argc)
        return bad("unexpected argument \"%s\"", argv[optind]);
    if (!*have_cheat)
        return bad("no --cheat KIND (see --help)");
    if (!c->n_urls || !c->payout || !c->n_models)
        return bad("give -o URL, -u PAYOUT and -m MODEL.gguf");
    if (o->kind == ROGUE_SMALLER && !o->small)
        return bad("--cheat smaller needs --cheat-model SMALL.gguf");
    char err[FIEF_ERR_LEN];
    if (miner_cfg_check(c, err))
        return bad("%s", err);
    return 0;
}

int main(int argc, char **argv)
{
    struct miner_cfg cfg;
    struct rogue_opts o;
    bool have_cheat = false;
    miner_cfg_defaults(&cfg);
    rogue_opts_defaults(&o);
    cfg.handle_signals = true;
    setvbuf(stdout, NULL, _IOLBF, 0); /* tests watch the output while it runs */
    int rc = parse_args(argc, argv, &cfg, &o, &have_cheat);
    if (rc)
        return rc < 0 ? 0 : rc;

    struct rogue r;
    char err[FIEF_ERR_LEN];
    if (rogue_init(&r, &o, cfg.models[0].path, cfg.slots * cfg.n_models, err)) {
        fprintf(stderr, "fief-rogue: %s\n", err);
        rogue_deinit(&r);
        return 1;
    }
    struct miner_hooks hooks = {.ud = &r, .generate = rogue_generate, .scored = rogue_scored};
    cfg.hooks = &hooks;
    struct miner *m;
    if (miner_new(&cfg, &m, err)) {
        fprintf(stderr, "fief-rogue: %s\n", err);
        rogue_deinit(&r);
        return 1;
    }
    printf("miner key: %s\n", miner_pubkey(m));
    printf("rogue: cheat %s, after %llu, rate %g\n", rogue_kind_name(o.kind),
           (unsigned long long)o.after, o.rate);
    rc = miner_run(m) ? 1 : 0;
    miner_free(m); /* joins the workers: no hook runs after this */
    printf("rogue: %llu cheated, %llu honest\n", (unsigned long long)r.cheated,
           (unsigned long long)r.honest);
    rogue_deinit(&r);
    return rc;
}
