/* SPDX-License-Identifier: MIT */
/* The pool's settings: defaults, one table that validates every value
 * whether it comes from a flag or the INI file, exact decimal parsing for
 * money (integers of micro-credits, never floating point), and the INI
 * loader with errors that name the file, line and setting. */
#include "pool/pool_cfg.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/net.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FEE_MAX_PPM 500000u             /* 50%: beyond that a "pool" is a tax; see pool_cfg.h */
#define ADMIN_TOKEN_MIN 16              /* a shorter bearer token can be guessed online */
#define INI_FILE_MAX (1u << 20)         /* a config file is a few KiB; refuse anything huge */
#define INI_LINE_MAX (INI_MAX_LINE - 2) /* inih's buffer holds the line, '\n' and NUL */
#define MS_HOUR 3600000u

enum cfg_type {
    T_NAME,     /* printable text, no spaces at the ends; min/max = length */
    T_TOKEN,    /* empty, or min..max printable characters without spaces */
    T_PATH,     /* a path; "~" expands to $HOME; max = length */
    T_HOSTPORT, /* HOST:PORT, [V6]:PORT or :PORT */
    T_U32,      /* decimal integer in [min, max] */
    T_FEE,      /* "2%", "0.02" or "20000ppm", stored as ppm in [min, max] */
    T_RATE,     /* a probability in [0, 1] (a double: not money) */
    T_REAL,     /* a double in [min, max] (not money) */
    T_KEYS,     /* comma-separated hex ed25519 keys, added to a list; "" empties it */
    T_CREDITS,  /* credits as a plain decimal ("0.5"), stored as int64 micro-credits */
    T_LOGLEVEL, /* err|warn|notice|info|debug */
};

struct setting {
    const char *name; /* INI key under [pool]; the flag is --name with '-' for '_' */
    enum cfg_type type;
    size_t offset; /* into struct pool_cfg */
    uint64_t min, max;
    const char *arg; /* the value's form, for help */
    const char *help;
};

#define OFF(f) offsetof(struct pool_cfg, f)
#define LEN(f) (sizeof(((struct pool_cfg *)0)->f) - 1)

static const struct setting settings[] = {
    {"name", T_NAME, OFF(name), 1, LEN(name), "TEXT",
     "pool name shown to miners and customers (default \"fief\")"},
    {"listen_miners", T_HOSTPORT, OFF(listen_miners), 0, LEN(listen_miners), "HOST:PORT",
     "where miners connect (default 0.0.0.0:3333)"},
    {"listen_http", T_HOSTPORT, OFF(listen_http), 0, LEN(listen_http), "HOST:PORT",
     "the OpenAI-compatible HTTP API (default 0.0.0.0:8080)"},
    {"data_dir", T_PATH, OFF(data_dir), 1, LEN(data_dir), "DIR",
     "keys, miners, jobs and usage (SQLite) (default ~/.fief/pool)"},
    {"store", T_TOKEN, OFF(store), 1, LEN(store), "URL",
     "ledger and state in PostgreSQL: postgres://USER@HOST/DB (default: SQLite in data_dir)"},
    {"admin_token", T_TOKEN, OFF(admin_token), ADMIN_TOKEN_MIN, LEN(admin_token), "TOKEN",
     "bearer token for /admin, at least 16 characters (default: none, /admin off)"},
    {"fee", T_FEE, OFF(fee_ppm), 0, FEE_MAX_PPM, "FEE",
     "pool fee: \"2%\", \"0.02\" or \"20000ppm\", at most 50% (default 2%)"},
    {"maturity_s", T_U32, OFF(maturity_s), 0, 366u * 86400u, "SECONDS",
     "earnings stay pending this long (default 86400)"},
    {"min_payout", T_CREDITS, OFF(min_payout), 1, (uint64_t)1 << 62, "CREDITS",
     "smallest payout, published to miners; `fief payouts create` uses it (default 1)"},
    {"audit_rate", T_RATE, OFF(audit_rate), 0, 1, "RATE",
     "fraction of a new miner's jobs re-checked, 0..1 (default 1)"},
    {"audit_half", T_U32, OFF(audit_half), 1, 1000000, "N",
     "passed audits that halve a miner's audit rate (default 20)"},
    {"audit_floor", T_RATE, OFF(audit_floor), 0, 1, "RATE",
     "the lowest audit rate, however many passes (default 0.02)"},
    {"greedy_margin", T_REAL, OFF(greedy_margin), 0, 100, "NATS",
     "audit: a greedy token other than the auditor's is forgiven within this logit gap "
     "(default 0.05)"},
    {"sample_margin", T_RATE, OFF(sample_margin), 0, 1, "MASS",
     "audit: a sampled token is forgiven this close to the seeded draw (default 0.002)"},
    {"logprob_tol", T_REAL, OFF(logprob_tol), 0, 100, "NATS",
     "audit: claimed and audited log-probs may differ by this (default 0.05)"},
    {"tie_tol", T_REAL, OFF(tie_tol), 0, 100, "NATS",
     "audit: a sampled token other than the auditor's pick is forgiven when the two are this "
     "close in log-prob (a near-tie; default 0.1)"},
    {"audit_slack", T_U32, OFF(audit_slack), 0, 1000000, "N",
     "audit: disagreeing positions a part may always have (default 1)"},
    {"audit_slack_rate", T_RATE, OFF(audit_slack_rate), 0, 1, "RATE",
     "audit: ... or this share of its positions, if more (default 0.01)"},
    {"audit_timeout_ms", T_U32, OFF(audit_timeout_ms), 100, MS_HOUR, "MS",
     "an audit waits this long for an auditor, an auditor this long to answer "
     "(default 60000)"},
    {"audit_queue", T_U32, OFF(audit_queue), 1, 1000000, "N",
     "audits waiting for an auditor; more are skipped (default 256)"},
    {"audit_recheck", T_RATE, OFF(audit_recheck), 0, 1, "RATE",
     "share of passed audits sent to a second auditor, so a key covering cheats is "
     "outvoted (default 0.1)"},
    {"audit_strikes", T_U32, OFF(audit_strikes), 1, 1000000, "N",
     "an auditor outvoted this often is punished as a cheater (default 2)"},
    {"validators", T_KEYS, OFF(validators), 0, POOL_MAX_VALIDATORS, "KEY,KEY",
     "trusted auditors (fief miner --validator keys), preferred to confirm a failed audit; "
     "repeat to add more (default: none)"},
    {"queue_max", T_U32, OFF(queue_max), 1, 1000000, "N",
     "waiting requests per model before 429 (default 256)"},
    {"first_token_ms", T_U32, OFF(first_token_ms), 100, MS_HOUR, "MS",
     "a miner's first token is due within (default 30000)"},
    {"token_ms", T_U32, OFF(token_ms), 100, MS_HOUR, "MS",
     "each next token is due within (default 10000)"},
    {"max_tokens_default", T_U32, OFF(max_tokens_default), 1, 1u << 20, "N",
     "completion length when a request sets none (default 256)"},
    {"max_body", T_U32, OFF(max_body), 1024, 1u << 28, "BYTES",
     "largest HTTP request body (default 4194304)"},
    {"max_miners", T_U32, OFF(max_miners), 1, 1000000, "N", "miner connections (default 4096)"},
    {"max_unauth_per_ip", T_U32, OFF(max_unauth_per_ip), 1, 1000000, "N",
     "connections per IP before they authenticate (default 16)"},
    {"auth_timeout_ms", T_U32, OFF(auth_timeout_ms), 100, 600000, "MS",
     "hello and auth must finish within (default 10000)"},
    {"ping_ms", T_U32, OFF(ping_ms), 100, MS_HOUR, "MS",
     "ping a quiet miner after; drop it after 3x (default 15000)"},
    {"log_level", T_LOGLEVEL, OFF(log_level), 0, LEN(log_level), "LEVEL",
     "err, warn, notice, info or debug (default notice)"},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* ---- paths ---- */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* "~" and "~/x" become $HOME and $HOME/x; other paths are copied. */
static int expand_home(const char *in, char *out, size_t cap, char err[FIEF_ERR_LEN])
{
    const char *rest = in;
    const char *home = "";
    if (in[0] == '~') {
        if (in[1] != 0 && in[1] != '/')
            return fief_errf(err, FIEF_EINVAL, "\"%s\": only ~ and ~/ are expanded", in);
        if (!(home = home_dir()))
            return fief_errf(err, FIEF_EINVAL, "\"%s\": cannot expand ~ ($HOME is not set)", in);
        rest = in + 1;
    }
    if ((size_t)snprintf(out, cap, "%s%s", home, rest) >= cap)
        return fief_errf(err, FIEF_EINVAL, "too long (%zu bytes, at most %zu)",
                         strlen(home) + strlen(rest), cap - 1);
    return 0;
}

void pool_cfg_defaults(struct pool_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "fief");
    snprintf(c->listen_miners, sizeof c->listen_miners, "0.0.0.0:3333");
    snprintf(c->listen_http, sizeof c->listen_http, "0.0.0.0:8080");
    /* Without a home directory data_dir stays empty and pool_cfg_check asks
     * for --data. */
    if (expand_home("~/.fief/pool", c->data_dir, sizeof c->data_dir, NULL))
        c->data_dir[0] = 0;
    c->fee_ppm = 20000;
    c->maturity_s = 86400;
    c->min_payout = 1000000; /* 1 credit: smaller transfers cost more than they move */
    c->audit_rate = 1.0;
    c->audit_half = 20;
    c->audit_floor = 0.02;
    /* Verdict thresholds: safe first values, to be replaced by measurement
     * (docs/audits.md "Measured"); each is a setting. */
    c->greedy_margin = 0.05;
    c->sample_margin = 0.002;
    c->logprob_tol = 0.05;
    c->tie_tol = 0.1;
    c->audit_slack = 1;
    c->audit_slack_rate = 0.01;
    c->audit_timeout_ms = 60000;
    c->audit_queue = 256;
    c->audit_strikes = 2;
    c->audit_recheck = 0.1;
    c->queue_max = 256;
    c->first_token_ms = 30000;
    c->token_ms = 10000;
    c->max_tokens_default = 256;
    c->max_body = 4u << 20;
    c->max_miners = 4096;
    c->max_unauth_per_ip = 16;
    c->auth_timeout_ms = 10000;
    c->ping_ms = 15000;
    snprintf(c->log_level, sizeof c->log_level, "notice");
}

/* ---- numbers ---- */

/* An unsigned decimal "123" or "123.456" (no sign, exponent or spaces) times
 * 10^scale, exactly. FIEF_EINVAL for bad syntax or more than scale decimals,
 * FIEF_ERANGE above max. */
static int parse_decimal(const char *s, unsigned scale, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    unsigned decimals = 0;
    bool dot = false, digits = false;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && !dot && digits) {
            dot = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            return FIEF_EINVAL;
        if (dot && ++decimals > scale)
            return FIEF_EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return FIEF_ERANGE;
        v = v * 10 + d;
        digits = true;
    }
    if (!digits || (dot && decimals == 0))
        return FIEF_EINVAL;
    for (; decimals < scale; decimals++) {
        if (v > max / 10)
            return FIEF_ERANGE;
        v *= 10;
    }
    *out = v;
    return 0;
}

int pool_cfg_parse_credits(const char *s, uint64_t *micro)
{
    return parse_decimal(s, 6, INT64_MAX, micro);
}

static bool ends_with(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suffix);
    *stem = n >= k ? n - k : 0;
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int pool_cfg_parse_fee(const char *s, uint32_t *ppm)
{
    char num[32];
    size_t stem;
    unsigned scale = 6; /* a fraction: 0.02 = 20000 ppm */
    if (ends_with(s, "%", &stem))
        scale = 4; /* percent: 2% = 20000 ppm */
    else if (ends_with(s, "ppm", &stem))
        scale = 0;
    else
        stem = strlen(s);
    if (stem == 0 || stem >= sizeof num)
        return FIEF_EINVAL;
    memcpy(num, s, stem);
    num[stem] = 0;
    uint64_t v;
    int rc = parse_decimal(num, scale, UINT32_MAX, &v);
    if (rc)
        return rc;
    if (v > FEE_MAX_PPM)
        return FIEF_ERANGE;
    *ppm = (uint32_t)v;
    return 0;
}

/* ---- one setting ---- */

static int bad_text(const char *name, const char *v, uint64_t min, uint64_t max, bool spaces,
                    char err[FIEF_ERR_LEN])
{
    size_t n = strlen(v);
    if (n < min || n > max)
        return fief_errf(err, FIEF_EINVAL, "%s: must be %llu to %llu characters, got %zu", name,
                         (unsigned long long)min, (unsigned long long)max, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch == 0x7f || (!spaces && ch == ' '))
            return fief_errf(err, FIEF_EINVAL, "%s: contains a %s", name,
                             ch == ' ' ? "space" : "control character");
    }
    if (n && (v[0] == ' ' || v[n - 1] == ' '))
        return fief_errf(err, FIEF_EINVAL, "%s: starts or ends with a space", name);
    return 0;
}

static int set_u32(const struct setting *st, uint32_t *dst, const char *v, char err[FIEF_ERR_LEN])
{
    uint64_t x;
    int rc = parse_decimal(v, 0, UINT32_MAX, &x);
    if (rc == 0 && (x < st->min || x > st->max))
        rc = FIEF_ERANGE;
    if (rc)
        return fief_errf(err, FIEF_EINVAL, "%s: \"%s\" is not an integer in [%llu, %llu]", st->name,
                         v, (unsigned long long)st->min, (unsigned long long)st->max);
    *dst = (uint32_t)x;
    return 0;
}

static int set_rate(const struct setting *st, double *dst, const char *v, char err[FIEF_ERR_LEN])
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0.0 && x <= 1.0))
        return fief_errf(err, FIEF_EINVAL, "%s: \"%s\" is not a number between 0 and 1", st->name,
                         v);
    *dst = x;
    return 0;
}

static int set_real(const struct setting *st, double *dst, const char *v, char err[FIEF_ERR_LEN])
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= (double)st->min && x <= (double)st->max))
        return fief_errf(err, FIEF_EINVAL, "%s: \"%s\" is not a number between %llu and %llu",
                         st->name, v, (unsigned long long)st->min, (unsigned long long)st->max);
    *dst = x;
    return 0;
}

/* "KEY,KEY": each a 64-hex-digit key, added (once) to the list. */
static int set_keys(const struct setting *st, struct pool_cfg *c, const char *v,
                    char err[FIEF_ERR_LEN])
{
    if (!*v) {
        c->n_validators = 0;
        return 0;
    }
    for (const char *p = v; *p;) {
        while (*p == ' ')
            p++;
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p), len = n;
        while (len && p[len - 1] == ' ')
            len--;
        char key[65];
        bool hex = len == 64;
        for (size_t i = 0; i < len && hex; i++)
            hex = isxdigit((unsigned char)p[i]);
        if (!hex)
            return fief_errf(err, FIEF_EINVAL, "%s: \"%.*s\" is not a miner key (64 hex digits)",
                             st->name, (int)(len < 80 ? len : 80), p);
        for (size_t i = 0; i < len; i++)
            key[i] = (char)tolower((unsigned char)p[i]);
        key[len] = 0;
        bool dup = false;
        for (uint32_t i = 0; i < c->n_validators && !dup; i++)
            dup = !strcmp(c->validators[i], key);
        if (!dup && c->n_validators == st->max)
            return fief_errf(err, FIEF_EINVAL, "%s: more than %llu keys", st->name,
                             (unsigned long long)st->max);
        if (!dup)
            memcpy(c->validators[c->n_validators++], key, sizeof key);
        p += n + (comma != NULL);
    }
    return 0;
}

static int set_fee(const struct setting *st, uint32_t *dst, const char *v, char err[FIEF_ERR_LEN])
{
    int rc = pool_cfg_parse_fee(v, dst);
    if (rc == FIEF_ERANGE)
        return fief_errf(err, FIEF_EINVAL, "%s: \"%s\" is above the maximum, 50%%", st->name, v);
    if (rc)
        return fief_errf(err, FIEF_EINVAL,
                         "%s: \"%s\" is not a fee; write a percentage (\"2%%\", \"0.5%%\"), a "
                         "fraction (\"0.02\") or parts per million (\"20000ppm\")",
                         st->name, v);
    return 0;
}

static int set_credits(const struct setting *st, int64_t *dst, const char *v,
                       char err[FIEF_ERR_LEN])
{
    uint64_t x;
    int rc = pool_cfg_parse_credits(v, &x);
    if (rc == 0 && (x < st->min || x > st->max))
        rc = FIEF_ERANGE;
    if (rc)
        return fief_errf(err, FIEF_EINVAL,
                         "%s: \"%s\" is not an amount of credits: write a plain decimal with at "
                         "most 6 decimals, at least 0.000001 (e.g. \"0.5\")",
                         st->name, v);
    *dst = (int64_t)x;
    return 0;
}

static int set_hostport(const struct setting *st, char *dst, const char *v, char err[FIEF_ERR_LEN])
{
    char host[256], why[FIEF_ERR_LEN];
    int port;
    if (strlen(v) > st->max)
        return fief_errf(err, FIEF_EINVAL, "%s: too long", st->name);
    if (net_split_hostport(v, host, sizeof host, &port, why))
        return fief_errf(err, FIEF_EINVAL, "%s: %s", st->name, why);
    strcpy(dst, v);
    return 0;
}

static int set_one(const struct setting *st, struct pool_cfg *c, const char *v,
                   char err[FIEF_ERR_LEN])
{
    char *field = (char *)c + st->offset;
    char tmp[POOL_CFG_STR], why[FIEF_ERR_LEN];
    int lvl, rc;
    switch (st->type) {
    case T_NAME:
    case T_TOKEN:
        if (st->type == T_TOKEN && !*v) {
            field[0] = 0;
            return 0;
        }
        if ((rc = bad_text(st->name, v, st->min, st->max, st->type == T_NAME, err)))
            return rc;
        strcpy(field, v);
        return 0;
    case T_PATH:
        if (!*v)
            return fief_errf(err, FIEF_EINVAL, "%s: empty path", st->name);
        if ((rc = expand_home(v, tmp, st->max + 1, why)))
            return fief_errf(err, rc, "%s: %s", st->name, why);
        strcpy(field, tmp);
        return 0;
    case T_HOSTPORT:
        return set_hostport(st, field, v, err);
    case T_U32:
        return set_u32(st, (uint32_t *)(void *)field, v, err);
    case T_FEE:
        return set_fee(st, (uint32_t *)(void *)field, v, err);
    case T_RATE:
        return set_rate(st, (double *)(void *)field, v, err);
    case T_REAL:
        return set_real(st, (double *)(void *)field, v, err);
    case T_KEYS:
        return set_keys(st, c, v, err);
    case T_CREDITS:
        return set_credits(st, (int64_t *)(void *)field, v, err);
    case T_LOGLEVEL:
        if (log_level_parse(v, &lvl))
            return fief_errf(err, FIEF_EINVAL,
                             "%s: \"%s\" is not one of err, warn, notice, info, debug", st->name,
                             v);
        strcpy(field, v);
        return 0;
    }
    return fief_errf(err, FIEF_EINVAL, "%s: bad setting type", st->name);
}

/* ---- models ---- */

static bool model_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > sizeof((struct pool_cfg_model *)0)->name - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i]))
            return false;
    return true;
}

/* The model named name (n bytes), added if new. */
static int model_get(struct pool_cfg *c, const char *name, size_t n, struct pool_cfg_model **out,
                     char err[FIEF_ERR_LEN])
{
    if (!model_name_ok(name, n))
        return fief_errf(err, FIEF_EINVAL,
                         "model name \"%.*s\": use 1 to 64 of A-Z a-z 0-9 . _ : -", (int)n, name);
    for (uint32_t i = 0; i < c->n_models; i++)
        if (strlen(c->models[i].name) == n && memcmp(c->models[i].name, name, n) == 0) {
            *out = &c->models[i];
            return 0;
        }
    if (c->n_models == POOL_MAX_MODELS)
        return fief_errf(err, FIEF_ELIMIT, "more than %d models", POOL_MAX_MODELS);
    struct pool_cfg_model *m = &c->models[c->n_models++];
    memset(m, 0, sizeof *m);
    memcpy(m->name, name, n);
    *out = m;
    return 0;
}

static int set_price(const char *model, const char *what, uint64_t *dst, const char *v,
                     char err[FIEF_ERR_LEN])
{
    int rc = pool_cfg_parse_credits(v, dst);
    if (rc == FIEF_ERANGE)
        return fief_errf(err, FIEF_EINVAL, "model %s: %s: \"%s\" is too large", model, what, v);
    if (rc)
        return fief_errf(err, FIEF_EINVAL,
                         "model %s: %s: \"%s\" is not a price; write credits per million tokens "
                         "as a plain decimal with at most 6 decimals, e.g. \"0.5\"",
                         model, what, v);
    return 0;
}

/* key is "model.NAME.SETTING"; NAME may itself contain dots. */
static int model_set(struct pool_cfg *c, const char *key, const char *v, char err[FIEF_ERR_LEN])
{
    const char *name = key + strlen("model."), *dot = strrchr(name, '.');
    if (!dot)
        return fief_errf(err, FIEF_EINVAL,
                         "\"%s\": expected model.NAME.path, "
                         "model.NAME.price_in or model.NAME.price_out",
                         key);
    struct pool_cfg_model *m = NULL;
    int rc = model_get(c, name, (size_t)(dot - name), &m, err);
    if (rc)
        return rc;
    const char *what = dot + 1;
    char tmp[FIEF_ERR_LEN];
    if (!strcmp(what, "path")) {
        if (!*v)
            return fief_errf(err, FIEF_EINVAL, "model %s: path: empty", m->name);
        if ((rc = expand_home(v, m->path, sizeof m->path, tmp)))
            return fief_errf(err, rc, "model %s: path: %s", m->name, tmp);
        return 0;
    }
    if (!strcmp(what, "price_in"))
        return set_price(m->name, what, &m->price_in, v, err);
    if (!strcmp(what, "price_out"))
        return set_price(m->name, what, &m->price_out, v, err);
    return fief_errf(err, FIEF_EINVAL,
                     "model %s: unknown setting \"%s\" (path, price_in, price_out)", m->name, what);
}

int pool_cfg_set_model_flag(struct pool_cfg *c, const char *arg, char err[FIEF_ERR_LEN])
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return fief_errf(err, FIEF_EINVAL, "--model wants NAME=PATH.gguf, got \"%s\"", arg);
    char key[128];
    if ((size_t)snprintf(key, sizeof key, "model.%.*s.path", (int)(eq - arg), arg) >= sizeof key)
        return fief_errf(err, FIEF_EINVAL, "--model: name too long in \"%s\"", arg);
    return pool_cfg_set(c, key, eq + 1, err);
}

/* ---- by name ---- */

static const struct setting *find_setting(const char *key)
{
    char name[64];
    size_t n = strlen(key);
    if (n >= sizeof name)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        name[i] = key[i] == '-' ? '_' : key[i];
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].name, name))
            return &settings[i];
    return NULL;
}

int pool_cfg_set(struct pool_cfg *c, const char *key, const char *value, char err[FIEF_ERR_LEN])
{
    if (!strncmp(key, "model.", 6))
        return model_set(c, key, value, err);
    const struct setting *st = find_setting(key);
    if (!st)
        return fief_errf(err, FIEF_EINVAL,
                         "unknown setting \"%s\" (`fief pool --help` lists "
                         "them)",
                         key);
    return set_one(st, c, value, err);
}

void pool_cfg_help(struct buf *b)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char flag[64];
        size_t k = 0;
        for (const char *p = settings[i].name; *p && k < sizeof flag - 1; p++)
            flag[k++] = *p == '_' ? '-' : *p;
        flag[k] = 0;
        buf_printf(b, "      --%s %s\n          %s\n", flag, settings[i].arg, settings[i].help);
    }
}

/* ---- the whole config ---- */

static bool is_wildcard(const char *host)
{
    return !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !*host;
}

static int check_listeners(const struct pool_cfg *c, char err[FIEF_ERR_LEN])
{
    char h1[256], h2[256];
    int p1, p2;
    if (net_split_hostport(c->listen_miners, h1, sizeof h1, &p1, err) ||
        net_split_hostport(c->listen_http, h2, sizeof h2, &p2, err))
        return FIEF_EINVAL;
    if (p1 != 0 && p1 == p2 && (!strcmp(h1, h2) || is_wildcard(h1) || is_wildcard(h2)))
        return fief_errf(err, FIEF_EINVAL,
                         "listen_miners (%s) and listen_http (%s) use the same port",
                         c->listen_miners, c->listen_http);
    return 0;
}

int pool_cfg_check(const struct pool_cfg *c, char err[FIEF_ERR_LEN])
{
    if (!c->data_dir[0])
        return fief_errf(err, FIEF_EINVAL, "no data directory: $HOME is not set; give --data DIR");
    if (c->n_models == 0)
        return fief_errf(err, FIEF_EINVAL,
                         "no model registered: give --model NAME=PATH.gguf "
                         "or a [model NAME] section with a path");
    for (uint32_t i = 0; i < c->n_models; i++)
        if (!c->models[i].path[0])
            return fief_errf(err, FIEF_EINVAL, "model %s has prices but no path",
                             c->models[i].name);
    return check_listeners(c, err);
}

/* ---- INI files ---- */

struct ini_ctx {
    struct pool_cfg *cfg;
    char dir[POOL_CFG_STR]; /* the file's directory: relative paths start there */
    const char *pos;        /* the reader's position in the file's text */
    int line;               /* lines handed to inih so far */
    int err_line;           /* line of the first setting error, 0 if none */
    char msg[FIEF_ERR_LEN];
};

/* inih's reader: one line per call, with leading blanks dropped so an
 * indented line is a setting of its own rather than inih's "continuation"
 * of the previous value. Lines longer than inih's buffer were refused by
 * check_lines before parsing. */
static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_ctx *x = stream;
    if (!*x->pos)
        return NULL;
    x->line++;
    while (*x->pos == ' ' || *x->pos == '\t')
        x->pos++;
    int n = 0;
    while (n < num - 1 && *x->pos) {
        char ch = *x->pos++;
        str[n++] = ch;
        if (ch == '\n')
            break;
    }
    str[n] = 0;
    return str;
}

static int check_lines(const char *file, const char *text, char err[FIEF_ERR_LEN])
{
    int line = 1;
    size_t len = 0;
    for (const char *p = text;; p++) {
        if (*p == '\n' || !*p) {
            if (len > INI_LINE_MAX)
                return fief_errf(err, FIEF_EINVAL, "%s:%d: line longer than %d characters", file,
                                 line, INI_LINE_MAX);
            if (!*p)
                return 0;
            line++;
            len = 0;
        } else {
            len++;
        }
    }
}

/* A relative path in a file is relative to the file, not to wherever the
 * pool was started from. */
static const char *resolve(const struct ini_ctx *x, const char *v, char *buf, size_t cap)
{
    if (!*v || v[0] == '/' || v[0] == '~' || !strcmp(x->dir, "."))
        return v;
    if ((size_t)snprintf(buf, cap, "%s/%s", x->dir, v) >= cap)
        return v; /* cannot happen: dir < 256 bytes, a line < 200 */
    return buf;
}

/* Keep the first error (inih reports the first failing line) and tell inih
 * this line failed. */
__attribute__((format(printf, 2, 3))) static int ini_fail(struct ini_ctx *x, const char *fmt, ...)
{
    if (!x->err_line) {
        va_list ap;
        va_start(ap, fmt);
        x->err_line = x->line;
        vsnprintf(x->msg, sizeof x->msg, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int ini_pool_key(struct ini_ctx *x, const char *name, const char *value)
{
    char err[FIEF_ERR_LEN], path[2 * POOL_CFG_STR];
    if (!strncmp(name, "model.", 6))
        return ini_fail(x, "\"%s\" belongs in a [model NAME] section", name);
    const struct setting *st = find_setting(name);
    if (st && st->type == T_PATH)
        value = resolve(x, value, path, sizeof path);
    if (pool_cfg_set(x->cfg, name, value, err))
        return ini_fail(x, "%s", err);
    return 1;
}

/* model is the section's text after "model", already trimmed. */
static int ini_model_key(struct ini_ctx *x, const char *model, const char *name, const char *value)
{
    char err[FIEF_ERR_LEN], key[256], path[2 * POOL_CFG_STR];
    size_t n = strlen(model);
    if (n >= 2 && model[0] == '"' && model[n - 1] == '"') { /* [model "x"] */
        model++;
        n -= 2;
    }
    if (!strcmp(name, "path"))
        value = resolve(x, value, path, sizeof path);
    snprintf(key, sizeof key, "model.%.*s.%s", (int)n, model, name);
    if (pool_cfg_set(x->cfg, key, value, err))
        return ini_fail(x, "%s", err);
    return 1;
}

static int on_setting(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char sec[INI_MAX_LINE];
    /* inih keeps the blanks inside the brackets: "[ model x ]" */
    while (*section == ' ' || *section == '\t')
        section++;
    size_t n = strlen(section);
    while (n && (section[n - 1] == ' ' || section[n - 1] == '\t'))
        n--;
    snprintf(sec, sizeof sec, "%.*s", (int)n, section);
    if (!*sec || !strcmp(sec, "pool"))
        return ini_pool_key(x, name, value);
    if (!strncmp(sec, "model", 5) && (sec[5] == ' ' || sec[5] == '\t')) {
        const char *model = sec + 6;
        while (*model == ' ' || *model == '\t')
            model++;
        return ini_model_key(x, model, name, value);
    }
    if (!strcmp(sec, "model"))
        return ini_fail(x, "[model] needs the model's name: [model NAME]");
    return ini_fail(x, "unknown section [%s]: use [pool] or [model NAME]", sec);
}

static char *read_file(const char *path, char err[FIEF_ERR_LEN])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(INI_FILE_MAX + 1);
    errno = 0;
    size_t n = text ? fread(text, 1, INI_FILE_MAX + 1, f) : 0;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (!text || e || n > INI_FILE_MAX || memchr(text, 0, n)) {
        fief_errf(err, FIEF_EIO, "cannot read %s: %s", path,
                  !text              ? "out of memory"
                  : e                ? strerror(e)
                  : n > INI_FILE_MAX ? "larger than 1 MiB"
                                     : "not a text file (it holds NUL bytes)");
        free(text);
        return NULL;
    }
    text[n] = 0;
    return text;
}

int pool_cfg_load(struct pool_cfg *c, const char *path, char err[FIEF_ERR_LEN])
{
    struct ini_ctx x = {.cfg = c};
    const char *slash = strrchr(path, '/');
    size_t dl = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (dl >= sizeof x.dir)
        return fief_errf(err, FIEF_EINVAL, "%s: directory name too long", path);
    snprintf(x.dir, sizeof x.dir, "%.*s", (int)dl, dl ? path : ".");
    char *text = read_file(path, err);
    if (!text)
        return FIEF_EIO;
    int rc = check_lines(path, text, err);
    if (rc == 0) {
        x.pos = text;
        int line = ini_parse_stream(ini_read_line, &x, on_setting, &x);
        if (line > 0 && line == x.err_line)
            rc = fief_errf(err, FIEF_EINVAL, "%s:%d: %s", path, line, x.msg);
        else if (line > 0)
            rc = fief_errf(err, FIEF_EINVAL,
                           "%s:%d: not a setting: expected \"name = value\", "
                           "[pool] or [model NAME]",
                           path, line);
        else if (line < 0)
            rc = fief_errf(err, FIEF_ENOMEM, "%s: out of memory while parsing", path);
    }
    free(text);
    return rc;
}
