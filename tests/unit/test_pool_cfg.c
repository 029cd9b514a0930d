/* SPDX-License-Identifier: MIT */
/* The pool's configuration: defaults, every setting by flag and by INI file,
 * bad values and their messages, exact money and fee parsing, and the INI
 * loader's file:line errors. */
#include "testutil.h"

#include "common/buf.h"
#include "pool/pool_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_ok(struct pool_cfg *c, const char *key, const char *value)
{
    char err[FIEF_ERR_LEN] = "";
    int rc = pool_cfg_set(c, key, value, err);
    if (rc)
        fprintf(stderr, "pool_cfg_set(%s, %s): %s\n", key, value, err);
    assert_int_equal(rc, 0);
}

/* pool_cfg_set must fail with a message holding want (and the setting). */
static void set_bad(const char *key, const char *value, const char *want)
{
    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    pool_cfg_defaults(&c);
    int rc = pool_cfg_set(&c, key, value, err);
    if (rc == 0 || !strstr(err, want))
        fprintf(stderr, "pool_cfg_set(%s, \"%s\") = %d, \"%s\"; wanted \"%s\"\n", key, value, rc,
                err, want);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, want));
}

static const char *write_file(const char *name, const char *text)
{
    static char path[8][512];
    static int n;
    char *p = path[n++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Load text as an INI file; returns the code, err gets the message. */
static int load_text(struct pool_cfg *c, const char *text, char err[FIEF_ERR_LEN])
{
    pool_cfg_defaults(c);
    return pool_cfg_load(c, write_file("t.ini", text), err);
}

static void load_bad(const char *text, const char *want1, const char *want2)
{
    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    int rc = load_text(&c, text, err);
    if (rc == 0 || !strstr(err, want1) || (want2 && !strstr(err, want2)))
        fprintf(stderr, "load: %d \"%s\"; wanted \"%s\" and \"%s\"\n", rc, err, want1,
                want2 ? want2 : "");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, want1));
    if (want2)
        assert_non_null(strstr(err, want2));
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct pool_cfg c;
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/home/tester", 1);
    pool_cfg_defaults(&c);
    assert_string_equal(c.name, "fief");
    assert_string_equal(c.listen_miners, "0.0.0.0:3333");
    assert_string_equal(c.listen_http, "0.0.0.0:8080");
    assert_string_equal(c.data_dir, "/home/tester/.fief/pool");
    assert_string_equal(c.admin_token, "");
    assert_int_equal(c.fee_ppm, 20000);
    assert_int_equal(c.maturity_s, 86400);
    assert_true(c.audit_rate == 1.0);
    assert_int_equal(c.queue_max, 256);
    assert_int_equal(c.first_token_ms, 30000);
    assert_int_equal(c.token_ms, 10000);
    assert_int_equal(c.max_tokens_default, 256);
    assert_int_equal(c.max_body, 4 << 20);
    assert_int_equal(c.max_miners, 4096);
    assert_int_equal(c.max_unauth_per_ip, 16);
    assert_int_equal(c.auth_timeout_ms, 10000);
    assert_int_equal(c.ping_ms, 15000);
    assert_string_equal(c.log_level, "notice");
    assert_int_equal(c.n_models, 0);

    /* only a model is missing for a config that starts */
    char err[FIEF_ERR_LEN] = "";
    assert_int_equal(pool_cfg_check(&c, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "--model"));
    assert_int_equal(pool_cfg_set_model_flag(&c, "x=/m/x.gguf", err), 0);
    assert_int_equal(pool_cfg_check(&c, err), 0);
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
}

/* ---- every setting, by flag and by file ---- */

static const char *const all_settings[][2] = {
    {"name", "My Pool"},
    {"listen_miners", "127.0.0.1:4444"},
    {"listen_http", "[::1]:9090"},
    {"data_dir", "/var/lib/fief"},
    {"admin_token", "0123456789abcdef0123"},
    {"fee", "1.5%"},
    {"maturity_s", "3600"},
    {"audit_rate", "0.25"},
    {"audit_half", "50"},
    {"audit_floor", "0.01"},
    {"greedy_margin", "0.5"},
    {"sample_margin", "0.004"},
    {"logprob_tol", "0.1"},
    {"tie_tol", "0.25"},
    {"audit_slack", "2"},
    {"audit_slack_rate", "0.02"},
    {"audit_timeout_ms", "5000"},
    {"audit_queue", "16"},
    {"audit_strikes", "3"},
    {"audit_recheck", "0.5"},
    {"validators", "AB" "00000000000000000000000000000000000000000000000000000000000000"
                   ", cd00000000000000000000000000000000000000000000000000000000000000"},
    {"queue_max", "10"},
    {"first_token_ms", "5000"},
    {"token_ms", "2000"},
    {"max_tokens_default", "64"},
    {"max_body", "65536"},
    {"max_miners", "100"},
    {"max_unauth_per_ip", "4"},
    {"auth_timeout_ms", "3000"},
    {"ping_ms", "1000"},
    {"log_level", "debug"},
    {"model.tiny.path", "/models/tiny.gguf"},
    {"model.tiny.price_in", "0.5"},
    {"model.tiny.price_out", "2"},
    {"model.qwen2.5-0.5b.path", "/models/q.gguf"},
};
#define N_ALL (sizeof all_settings / sizeof all_settings[0])

static void assert_all_set(const struct pool_cfg *c)
{
    assert_string_equal(c->name, "My Pool");
    assert_string_equal(c->listen_miners, "127.0.0.1:4444");
    assert_string_equal(c->listen_http, "[::1]:9090");
    assert_string_equal(c->data_dir, "/var/lib/fief");
    assert_string_equal(c->admin_token, "0123456789abcdef0123");
    assert_int_equal(c->fee_ppm, 15000);
    assert_int_equal(c->maturity_s, 3600);
    assert_true(c->audit_rate == 0.25);
    assert_int_equal(c->audit_half, 50);
    assert_true(c->audit_floor == 0.01);
    assert_true(c->greedy_margin == 0.5);
    assert_true(c->sample_margin == 0.004);
    assert_true(c->logprob_tol == 0.1);
    assert_true(c->tie_tol == 0.25);
    assert_int_equal(c->audit_slack, 2);
    assert_true(c->audit_slack_rate == 0.02);
    assert_int_equal(c->audit_timeout_ms, 5000);
    assert_int_equal(c->audit_queue, 16);
    assert_int_equal(c->audit_strikes, 3);
    assert_true(c->audit_recheck == 0.5);
    assert_int_equal(c->n_validators, 2); /* lowercased */
    assert_string_equal(c->validators[0],
                        "ab00000000000000000000000000000000000000000000000000000000000000");
    assert_string_equal(c->validators[1],
                        "cd00000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(c->queue_max, 10);
    assert_int_equal(c->first_token_ms, 5000);
    assert_int_equal(c->token_ms, 2000);
    assert_int_equal(c->max_tokens_default, 64);
    assert_int_equal(c->max_body, 65536);
    assert_int_equal(c->max_miners, 100);
    assert_int_equal(c->max_unauth_per_ip, 4);
    assert_int_equal(c->auth_timeout_ms, 3000);
    assert_int_equal(c->ping_ms, 1000);
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->n_models, 2);
    assert_string_equal(c->models[0].name, "tiny");
    assert_string_equal(c->models[0].path, "/models/tiny.gguf");
    assert_int_equal(c->models[0].price_in, 500000);
    assert_int_equal(c->models[0].price_out, 2000000);
    assert_string_equal(c->models[1].name, "qwen2.5-0.5b");
    assert_string_equal(c->models[1].path, "/models/q.gguf");
    assert_int_equal(c->models[1].price_in, 0);
}

static void test_set_everything(void **state)
{
    (void)state;
    struct pool_cfg c;
    pool_cfg_defaults(&c);
    for (size_t i = 0; i < N_ALL; i++)
        set_ok(&c, all_settings[i][0], all_settings[i][1]);
    assert_all_set(&c);
    char err[FIEF_ERR_LEN];
    assert_int_equal(pool_cfg_check(&c, err), 0);

    /* flag spelling: '-' for '_' */
    set_ok(&c, "listen-http", ":8081");
    assert_string_equal(c.listen_http, ":8081");
    set_ok(&c, "max-tokens-default", "7");
    assert_int_equal(c.max_tokens_default, 7);
    /* an empty admin token turns /admin off again */
    set_ok(&c, "admin_token", "");
    assert_string_equal(c.admin_token, "");
}

static void test_ini_everything(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "; every setting\n[pool]\n");
    for (size_t i = 0; i < N_ALL; i++) {
        const char *k = all_settings[i][0];
        if (strncmp(k, "model.", 6))
            buf_printf(&b, "%s = %s\n", k, all_settings[i][1]);
    }
    buf_puts(&b, "\n[model tiny]\npath = /models/tiny.gguf\nprice_in = 0.5\n"
                 "price_out = 2 ; credits per million\n"
                 "# a comment\n[model \"qwen2.5-0.5b\"]\n  path = /models/q.gguf\n");
    struct pool_cfg c, flags;
    char err[FIEF_ERR_LEN] = "";
    int rc = load_text(&c, b.data, err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_all_set(&c);
    /* a file and the same flags give the same struct */
    pool_cfg_defaults(&flags);
    for (size_t i = 0; i < N_ALL; i++)
        set_ok(&flags, all_settings[i][0], all_settings[i][1]);
    assert_memory_equal(&c, &flags, sizeof c);
    buf_deinit(&b);
}

/* ---- bad values ---- */

static void test_bad_values(void **state)
{
    (void)state;
    set_bad("nmae", "x", "unknown setting \"nmae\"");
    set_bad("name", "", "name: must be 1 to 64");
    set_bad("name", "a\tb", "control character");
    set_bad("listen_miners", "localhost", "listen_miners");
    set_bad("listen_miners", "1.2.3.4:70000", "port");
    set_bad("listen_http", "1.2.3.4:", "port");
    set_bad("listen_http", "1.2.3.4:http", "port");
    set_bad("admin_token", "short", "admin_token: must be 16");
    set_bad("admin_token", "has a space in it, too long", "space");
    set_bad("fee", "60%", "above the maximum, 50%");
    set_bad("fee", "two percent", "not a fee");
    set_bad("fee", "-1%", "not a fee");
    set_bad("maturity_s", "-1", "maturity_s: \"-1\" is not an integer in [0, 31622400]");
    set_bad("maturity_s", "1e3", "not an integer");
    set_bad("maturity_s", "99999999999", "not an integer");
    set_bad("queue_max", "0", "queue_max");
    set_bad("queue_max", "", "queue_max");
    set_bad("queue_max", " 5", "queue_max");
    set_bad("first_token_ms", "5", "[100, 3600000]");
    set_bad("max_body", "1", "max_body");
    set_bad("audit_rate", "1.5", "between 0 and 1");
    set_bad("audit_rate", "nan", "between 0 and 1");
    set_bad("audit_rate", "", "between 0 and 1");
    set_bad("audit_half", "0", "audit_half");
    set_bad("audit_floor", "-0.1", "between 0 and 1");
    set_bad("greedy_margin", "inf", "not a number between 0 and 100");
    set_bad("logprob_tol", "x", "not a number between 0 and 100");
    set_bad("validators", "abc", "is not a miner key (64 hex digits)");
    set_bad("validators", "zz00000000000000000000000000000000000000000000000000000000000000",
            "is not a miner key");
    set_bad("log_level", "loud", "err, warn, notice, info, debug");
    set_bad("data_dir", "", "empty");
    set_bad("data_dir", "~bob/x", "only ~ and ~/");
    char longpath[400];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = 0;
    set_bad("data_dir", longpath, "too long");
    set_bad("model.x.price_in", "1e3", "model x: price_in");
    set_bad("model.x.price_in", "0.0000001", "at most 6 decimals");
    set_bad("model.x.price_out", "99999999999999999999", "too large");
    set_bad("model.x.speed", "1", "unknown setting \"speed\"");
    set_bad("model.x.path", "", "empty");
    set_bad("model.bad name.path", "/x", "model name");
    set_bad("model..path", "/x", "model name");
    set_bad("model.path", "/x", "expected model.NAME.path");
    set_bad("model.nodot", "/x", "expected model.NAME.path");
}

static void test_model_flag_and_limits(void **state)
{
    (void)state;
    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    pool_cfg_defaults(&c);
    assert_int_equal(pool_cfg_set_model_flag(&c, "a=/x/a.gguf", err), 0);
    assert_int_equal(pool_cfg_set_model_flag(&c, "a=/x/b.gguf", err), 0); /* same model */
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].path, "/x/b.gguf");
    assert_int_equal(pool_cfg_set_model_flag(&c, "a.gguf", err), FIEF_EINVAL);
    assert_non_null(strstr(err, "NAME=PATH"));
    assert_int_equal(pool_cfg_set_model_flag(&c, "=x", err), FIEF_EINVAL);
    assert_int_equal(pool_cfg_set_model_flag(&c, "x=", err), FIEF_EINVAL);
    assert_int_equal(pool_cfg_set_model_flag(&c, "a b=x", err), FIEF_EINVAL);
    assert_non_null(strstr(err, "model name"));

    /* "~/" expands to $HOME */
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/h", 1);
    assert_int_equal(pool_cfg_set_model_flag(&c, "b=~/m.gguf", err), 0);
    assert_string_equal(c.models[1].path, "/h/m.gguf");
    set_ok(&c, "data_dir", "~");
    assert_string_equal(c.data_dir, "/h");
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }

    for (int i = (int)c.n_models; i < POOL_MAX_MODELS; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "m%d=/x.gguf", i);
        assert_int_equal(pool_cfg_set_model_flag(&c, arg, err), 0);
    }
    assert_int_equal(pool_cfg_set_model_flag(&c, "one-more=/x.gguf", err), FIEF_ELIMIT);
    assert_non_null(strstr(err, "64"));
    assert_int_equal(pool_cfg_check(&c, err), 0);

    /* a model with prices but no path */
    pool_cfg_defaults(&c);
    set_ok(&c, "model.p.price_in", "1");
    assert_int_equal(pool_cfg_check(&c, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "model p"));
}

static void test_check_listeners(void **state)
{
    (void)state;
    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    pool_cfg_defaults(&c);
    assert_int_equal(pool_cfg_set_model_flag(&c, "m=/m.gguf", err), 0);
    set_ok(&c, "listen_http", ":3333");
    assert_int_equal(pool_cfg_check(&c, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "same port"));
    set_ok(&c, "listen_miners", "127.0.0.1:3333");
    assert_int_equal(pool_cfg_check(&c, err), FIEF_EINVAL); /* wildcard covers it */
    set_ok(&c, "listen_http", "127.0.0.2:3333");
    assert_int_equal(pool_cfg_check(&c, err), 0); /* two addresses */
    set_ok(&c, "listen_http", "127.0.0.1:0");
    set_ok(&c, "listen_miners", "127.0.0.1:0");
    assert_int_equal(pool_cfg_check(&c, err), 0); /* two free ports */
    c.data_dir[0] = 0;
    assert_int_equal(pool_cfg_check(&c, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "--data"));
}

/* ---- money ---- */

static void credits(const char *s, int rc, uint64_t want)
{
    uint64_t v = 12345;
    int got = pool_cfg_parse_credits(s, &v);
    if (got != rc)
        fprintf(stderr, "parse_credits(\"%s\") = %d, wanted %d\n", s, got, rc);
    assert_int_equal(got, rc);
    if (rc == 0)
        assert_int_equal(v, want);
    else
        assert_int_equal(v, 12345); /* untouched on failure */
}

static void test_parse_credits(void **state)
{
    (void)state;
    credits("0", 0, 0);
    credits("0.000001", 0, 1);
    credits("0.5", 0, 500000);
    credits("1", 0, 1000000);
    credits("12.34", 0, 12340000);
    credits("007.100000", 0, 7100000);
    credits("9223372036854.775807", 0, INT64_MAX);
    credits("9223372036854.775808", FIEF_ERANGE, 0);
    credits("9223372036855", FIEF_ERANGE, 0);
    credits("99999999999999999999999", FIEF_ERANGE, 0);
    credits("18446744073709551616", FIEF_ERANGE, 0);
    credits("1e3", FIEF_EINVAL, 0);
    credits("1.2345678", FIEF_EINVAL, 0);
    credits("0.0000001", FIEF_EINVAL, 0);
    credits("-1", FIEF_EINVAL, 0);
    credits("+1", FIEF_EINVAL, 0);
    credits("", FIEF_EINVAL, 0);
    credits(".5", FIEF_EINVAL, 0);
    credits("1.", FIEF_EINVAL, 0);
    credits("1.2.3", FIEF_EINVAL, 0);
    credits("1,5", FIEF_EINVAL, 0);
    credits(" 1", FIEF_EINVAL, 0);
    credits("1 ", FIEF_EINVAL, 0);
    credits("0x10", FIEF_EINVAL, 0);
    credits("inf", FIEF_EINVAL, 0);
}

static void fee(const char *s, int rc, uint32_t want)
{
    uint32_t v = 777;
    int got = pool_cfg_parse_fee(s, &v);
    if (got != rc)
        fprintf(stderr, "parse_fee(\"%s\") = %d, wanted %d\n", s, got, rc);
    assert_int_equal(got, rc);
    assert_int_equal(v, rc == 0 ? want : 777);
}

static void test_parse_fee(void **state)
{
    (void)state;
    fee("2%", 0, 20000);
    fee("0.02", 0, 20000);
    fee("20000ppm", 0, 20000);
    fee("0", 0, 0);
    fee("0%", 0, 0);
    fee("0ppm", 0, 0);
    fee("2.5%", 0, 25000);
    fee("0.0001%", 0, 1);
    fee("0.000001", 0, 1);
    fee("50%", 0, 500000);
    fee("0.5", 0, 500000);
    fee("500000ppm", 0, 500000);
    fee("50.0001%", FIEF_ERANGE, 0);
    fee("0.500001", FIEF_ERANGE, 0);
    fee("500001ppm", FIEF_ERANGE, 0);
    fee("1", FIEF_ERANGE, 0); /* a fraction: 100% */
    fee("2", FIEF_ERANGE, 0); /* meant 2%? still refused, not guessed */
    fee("99999999999%", FIEF_ERANGE, 0);
    fee("0.00001%", FIEF_EINVAL, 0); /* finer than 1 ppm */
    fee("1.5ppm", FIEF_EINVAL, 0);
    fee("%", FIEF_EINVAL, 0);
    fee("ppm", FIEF_EINVAL, 0);
    fee("", FIEF_EINVAL, 0);
    fee("-2%", FIEF_EINVAL, 0);
    fee("2 %", FIEF_EINVAL, 0);
    fee("2%%", FIEF_EINVAL, 0);
    fee("two", FIEF_EINVAL, 0);
}

/* ---- INI files ---- */

static void test_ini_errors(void **state)
{
    (void)state;
    load_bad("[pool]\nname = x\nbogus = 1\n", "t.ini:3: ", "unknown setting \"bogus\"");
    load_bad("[pool]\n\nfee = 80%\n", "t.ini:3: fee:", "50%");
    load_bad("[pool]\nname = x\n[nope]\nname = y\n", "t.ini:4: ", "unknown section [nope]");
    load_bad("[pool]\nthis line has no equals sign\n", "t.ini:2: ", "not a setting");
    load_bad("[pool]\n[broken\n", "t.ini:2: ", "not a setting");
    load_bad("[model]\npath = x\n", "t.ini:2: ", "[model NAME]");
    load_bad("[model a]\nspeed = 3\n", "t.ini:2: ", "unknown setting \"speed\"");
    load_bad("[model a]\nprice_in = 0.1234567\n", "t.ini:2: model a: price_in", "6 decimals");
    load_bad("[model bad!]\npath = x\n", "t.ini:2: ", "model name");
    load_bad("[pool]\nmodel.a.path = /x\n", "t.ini:2: ", "[model NAME]");
    /* the first error wins, whether a syntax error or a bad value */
    load_bad("name = x\nfee = 90%\njunk\nqueue_max = 0\n", "t.ini:2: fee", NULL);
    load_bad("name = x\njunk\nfee = 90%\n", "t.ini:2: not a setting", NULL);
    /* an indented line is a setting of its own, not a continuation */
    load_bad("[pool]\nname = x\n   queue_max = 0\n", "t.ini:3: queue_max", NULL);

    char line[300];
    snprintf(line, sizeof line, "[pool]\nname = %0200d\n", 0);
    load_bad(line, "t.ini:2: line longer than 198", NULL);

    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    pool_cfg_defaults(&c);
    assert_int_equal(pool_cfg_load(&c, "/nonexistent/pool.ini", err), FIEF_EIO);
    assert_non_null(strstr(err, "/nonexistent/pool.ini"));
    assert_int_equal(pool_cfg_load(&c, tu_tmpdir(), err), FIEF_EIO); /* a directory */
}

static void test_ini_paths_and_lines(void **state)
{
    (void)state;
    struct pool_cfg c;
    char err[FIEF_ERR_LEN] = "";
    /* no section means [pool]; CRLF endings; relative paths start at the file */
    const char *text = "name = crlf\r\ndata_dir = state\r\n[model m]\r\npath = m/x.gguf\r\n"
                       "[model abs]\npath = /abs/y.gguf\n";
    assert_int_equal(load_text(&c, text, err), 0);
    char want[600];
    assert_string_equal(c.name, "crlf");
    snprintf(want, sizeof want, "%s/state", tu_tmpdir());
    assert_string_equal(c.data_dir, want);
    snprintf(want, sizeof want, "%s/m/x.gguf", tu_tmpdir());
    assert_string_equal(c.models[0].path, want);
    assert_string_equal(c.models[1].path, "/abs/y.gguf");

    /* blanks inside the brackets do not matter */
    assert_int_equal(load_text(&c, "[ pool ]\nname = b\n[ model  sp ]\npath = /p\n", err), 0);
    assert_string_equal(c.name, "b");
    assert_string_equal(c.models[0].name, "sp");

    /* a line of exactly the longest length loads */
    char line[300];
    snprintf(line, sizeof line, "admin_token = %0184d\n", 0);
    assert_int_equal(strlen(line), 199);
    assert_int_equal(load_text(&c, line, err), 0);
    assert_int_equal(strlen(c.admin_token), 184);

    /* a file sets only what it names; flags applied after it win */
    pool_cfg_defaults(&c);
    set_ok(&c, "queue_max", "5");
    assert_int_equal(pool_cfg_load(&c, write_file("u.ini", "fee = 1%\n"), err), 0);
    assert_int_equal(c.queue_max, 5);
    assert_int_equal(c.fee_ppm, 10000);
    set_ok(&c, "fee", "3%");
    assert_int_equal(c.fee_ppm, 30000);
}

static void test_example_ini(void **state)
{
    (void)state;
    /* docs/pool.example.ini, found from this source file's path */
    char path[1024];
    const char *src = __FILE__, *cut = strstr(src, "tests/unit/");
    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*sdocs/pool.example.ini", (int)(cut - src), src);
    struct pool_cfg c, d;
    char err[FIEF_ERR_LEN] = "";
    pool_cfg_defaults(&c);
    int rc = pool_cfg_load(&c, path, err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(pool_cfg_check(&c, err), 0);
    /* it shows the defaults */
    pool_cfg_defaults(&d);
    assert_string_equal(c.data_dir, d.data_dir);
    assert_int_equal(c.fee_ppm, d.fee_ppm);
    assert_int_equal(c.ping_ms, d.ping_ms);
    assert_int_equal(c.n_models, 2);
    assert_int_equal(c.models[1].price_out, 1500000);
}

static void test_help(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    pool_cfg_help(&b);
    assert_non_null(strstr(b.data, "--listen-http HOST:PORT"));
    assert_non_null(strstr(b.data, "--fee FEE"));
    assert_non_null(strstr(b.data, "--max-unauth-per-ip N"));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_everything),
        cmocka_unit_test(test_ini_everything),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_model_flag_and_limits),
        cmocka_unit_test(test_check_listeners),
        cmocka_unit_test(test_parse_credits),
        cmocka_unit_test(test_parse_fee),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_ini_paths_and_lines),
        cmocka_unit_test(test_example_ini),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
