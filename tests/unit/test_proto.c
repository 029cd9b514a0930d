/* SPDX-License-Identifier: MIT */
/* src/proto: framing, the envelope and its malformed lines, writing lines,
 * every message's round trip through a real line, the largest legal
 * messages, and the auth message. Field rules are in test_proto_fields.c. */
#include "testutil.h"
#include "proto/proto.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64
#define DIGEST "sha256:" HEX64

/* ---- helpers ---- */

/* b holds exactly one line: frame it and parse it into m. */
static void line_parse(const struct buf *b, struct proto_msg *m)
{
    char err[FIEF_ERR_LEN] = "";
    assert_true(b->len >= 1);
    assert_int_equal(b->data[b->len - 1], '\n');
    assert_int_equal(proto_frame(b->data, b->len), (long)b->len - 1);
    int rc = proto_parse(b->data, b->len - 1, m, err);
    if (rc)
        fail_msg("%s -> %s", b->data, err);
}

/* Send j (consumed) as a request, notification or result with id 7, parse
 * the line back and return its params/result (borrowed from m). */
static json_t *wire(json_t *j, enum proto_kind how, enum proto_method pm, struct proto_msg *m)
{
    struct buf b;
    buf_init(&b);
    assert_non_null(j);
    if (how == PROTO_REQUEST)
        proto_put_request(&b, 7, pm, j);
    else if (how == PROTO_NOTIFY)
        proto_put_notify(&b, pm, j);
    else
        proto_put_result(&b, 7, j);
    json_decref(j);
    line_parse(&b, m);
    buf_deinit(&b);
    assert_int_equal(m->kind, how);
    if (how != PROTO_NOTIFY)
        assert_int_equal(m->id, 7);
    if (how == PROTO_REPLY)
        return m->result;
    assert_int_equal(m->method, pm);
    return m->params;
}

static void expect_ok(int rc, const char *err)
{
    if (rc)
        fail_msg("decode failed: %s", err);
}

/* ---- framing ---- */

static void test_frame(void **state)
{
    (void)state;
    assert_int_equal(proto_frame("", 0), -1);
    assert_int_equal(proto_frame("abc", 3), -1);
    assert_int_equal(proto_frame("abc\n", 4), 3);
    assert_int_equal(proto_frame("\n", 1), 0);
    assert_int_equal(proto_frame("ab\r\nxy", 6), 3);
    assert_int_equal(proto_frame("a\nb\n", 4), 1);
    size_t big = (size_t)PROTO_MAX_LINE + 2;
    char *d = malloc(big);
    assert_non_null(d);
    memset(d, 'x', big);
    assert_int_equal(proto_frame(d, PROTO_MAX_LINE), -1);              /* may still end */
    assert_int_equal(proto_frame(d, PROTO_MAX_LINE + 1), FIEF_ELIMIT); /* cannot */
    d[PROTO_MAX_LINE] = '\n';
    assert_int_equal(proto_frame(d, PROTO_MAX_LINE + 1), PROTO_MAX_LINE);
    d[PROTO_MAX_LINE] = 'x';
    d[PROTO_MAX_LINE + 1] = '\n';
    assert_int_equal(proto_frame(d, big), FIEF_ELIMIT);
    free(d);
}

/* ---- the envelope ---- */

static void parse_ok(const char *line, struct proto_msg *m)
{
    char err[FIEF_ERR_LEN] = "";
    int rc = proto_parse(line, strlen(line), m, err);
    if (rc)
        fail_msg("%s -> %s", line, err);
}

static void test_parse_ok(void **state)
{
    (void)state;
    struct proto_msg m;
    parse_ok("{\"id\":3,\"method\":\"ping\",\"params\":{}}", &m);
    assert_int_equal(m.kind, PROTO_REQUEST);
    assert_int_equal(m.method, PM_PING);
    assert_int_equal(m.id, 3);
    assert_true(json_is_object(m.params));
    proto_msg_clear(&m);
    assert_null(m.root);

    parse_ok("{\"method\":\"ping\",\"id\":0}", &m); /* absent params = {} */
    assert_true(json_is_object(m.params));
    assert_int_equal(json_object_size(m.params), 0);
    proto_msg_clear(&m);

    parse_ok(" {\"id\":9007199254740991,\"result\":{\"x\":[1]},\"extra\":true}\r", &m);
    assert_int_equal(m.kind, PROTO_REPLY);
    assert_int_equal(m.id, PROTO_MAX_ID);
    assert_false(m.is_error);
    assert_true(json_is_object(m.result));
    proto_msg_clear(&m);

    parse_ok("{\"method\":\"tokens\",\"params\":{\"a\":1}}", &m);
    assert_int_equal(m.kind, PROTO_NOTIFY);
    assert_int_equal(m.method, PM_TOKENS);
    proto_msg_clear(&m);

    parse_ok("{\"id\":5,\"method\":\"teleport\",\"params\":{}}", &m); /* unknown: not here */
    assert_int_equal(m.kind, PROTO_REQUEST);
    assert_int_equal(m.method, PM_UNKNOWN);
    proto_msg_clear(&m);
    parse_ok("{\"method\":\"teleport\"}", &m);
    assert_int_equal(m.kind, PROTO_NOTIFY);
    proto_msg_clear(&m);

    parse_ok("{\"id\":4,\"error\":{\"code\":-32602,\"message\":\"bad \\\"x\\\"\",\"data\":1}}", &m);
    assert_true(m.is_error);
    assert_int_equal(m.err_code, PROTO_ERR_PARAMS);
    assert_string_equal(m.err_msg, "bad \"x\"");
    assert_null(m.result);
    proto_msg_clear(&m);

    parse_ok("{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}", &m);
    assert_true(m.id == PROTO_NO_ID);
    proto_msg_clear(&m);
}

struct bad_line {
    const char *line;
    int rc;
    const char *frag;
};

static const struct bad_line bad_lines[] = {
    {"", FIEF_EFORMAT, "not JSON"},
    {"   ", FIEF_EFORMAT, "not JSON"},
    {"{", FIEF_EFORMAT, "not JSON"},
    {"[1,2]", FIEF_EFORMAT, "not a JSON object"},
    {"\"hello\"", FIEF_EFORMAT, "not JSON"},
    {"42", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{}} {}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{}}x", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"id\":2,\"result\":{}}", FIEF_EFORMAT, "duplicate"},
    {"{\"id\":1,\"result\":{\"a\":1,\"a\":2}}", FIEF_EFORMAT, "duplicate"},
    {"{\"id\":1,\"result\":{\"s\":\"\\u0000\"}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{\"s\":\"\xff\"}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{\"s\":\"\xc0\xaf\"}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{\"x\":1e999}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{\"x\":NaN}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":1,\"result\":{\"x\":01}}", FIEF_EFORMAT, "not JSON"},
    {"{\"id\":99999999999999999999,\"result\":{}}", FIEF_EFORMAT, "not JSON"},
    {"{'id':1}", FIEF_EFORMAT, "not JSON"},
    {"{\"method\":\"ping\",\"id\":1.0}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"method\":\"ping\",\"id\":\"1\"}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"method\":\"ping\",\"id\":true}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"method\":\"ping\",\"id\":null}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"method\":\"ping\",\"id\":-1}", FIEF_EPROTO, "\"id\" = -1 is out of range"},
    {"{\"method\":\"ping\",\"id\":9007199254740992}", FIEF_EPROTO, "out of range"},
    {"{\"method\":1,\"id\":1}", FIEF_EPROTO, "\"method\" must be a string"},
    {"{\"method\":null}", FIEF_EPROTO, "\"method\" must be a string"},
    {"{\"method\":\"ping\",\"id\":1,\"params\":[]}", FIEF_EPROTO, "\"params\" must be an object"},
    {"{\"method\":\"ping\",\"id\":1,\"params\":null}", FIEF_EPROTO, "\"params\" must be an"},
    {"{\"method\":\"ping\",\"id\":1,\"params\":\"x\"}", FIEF_EPROTO, "\"params\" must be an"},
    {"{\"method\":\"ping\",\"id\":1,\"result\":{}}", FIEF_EPROTO, "cannot carry"},
    {"{\"method\":\"tokens\",\"error\":{}}", FIEF_EPROTO, "cannot carry"},
    {"{\"method\":\"tokens\",\"id\":1,\"params\":{}}", FIEF_EPROTO, "is a notification"},
    {"{\"method\":\"cancel\",\"id\":1}", FIEF_EPROTO, "is a notification"},
    {"{\"method\":\"notice\",\"id\":1}", FIEF_EPROTO, "is a notification"},
    {"{\"method\":\"job\",\"params\":{}}", FIEF_EPROTO, "is a request"},
    {"{\"method\":\"hello\"}", FIEF_EPROTO, "is a request"},
    {"{\"method\":\"ping\"}", FIEF_EPROTO, "is a request"},
    {"{}", FIEF_EPROTO, "no \"method\" and no \"id\""},
    {"{\"result\":{}}", FIEF_EPROTO, "no \"method\" and no \"id\""},
    {"{\"id\":1}", FIEF_EPROTO, "exactly one"},
    {"{\"id\":1,\"params\":{}}", FIEF_EPROTO, "exactly one"},
    {"{\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"x\"}}", FIEF_EPROTO,
     "exactly one"},
    {"{\"id\":1,\"result\":[]}", FIEF_EPROTO, "\"result\" must be an object"},
    {"{\"id\":1,\"result\":null}", FIEF_EPROTO, "\"result\" must be an object"},
    {"{\"id\":1,\"result\":true}", FIEF_EPROTO, "\"result\" must be an object"},
    {"{\"id\":null,\"result\":{}}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"id\":1.5,\"result\":{}}", FIEF_EPROTO, "\"id\" must be an integer"},
    {"{\"id\":1,\"error\":\"boom\"}", FIEF_EPROTO, "\"error\" must be an object"},
    {"{\"id\":1,\"error\":null}", FIEF_EPROTO, "\"error\" must be an object"},
    {"{\"id\":1,\"error\":{\"message\":\"x\"}}", FIEF_EPROTO, "\"code\" must be"},
    {"{\"id\":1,\"error\":{\"code\":1.5,\"message\":\"x\"}}", FIEF_EPROTO, "\"code\" must be"},
    {"{\"id\":1,\"error\":{\"code\":\"1\",\"message\":\"x\"}}", FIEF_EPROTO, "\"code\" must be"},
    {"{\"id\":1,\"error\":{\"code\":2147483648,\"message\":\"x\"}}", FIEF_EPROTO, "\"code\""},
    {"{\"id\":1,\"error\":{\"code\":-2147483649,\"message\":\"x\"}}", FIEF_EPROTO, "\"code\""},
    {"{\"id\":1,\"error\":{\"code\":1}}", FIEF_EPROTO, "\"message\" must be a string"},
    {"{\"id\":1,\"error\":{\"code\":1,\"message\":[]}}", FIEF_EPROTO, "\"message\" must be"},
};

static void test_parse_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        const struct bad_line *t = &bad_lines[i];
        struct proto_msg m;
        char err[FIEF_ERR_LEN] = "";
        int rc = proto_parse(t->line, strlen(t->line), &m, err);
        if (rc != t->rc || !strstr(err, t->frag))
            fail_msg("line %zu %s: rc %d (want %d), err \"%s\" (want \"%s\")", i, t->line, rc,
                     t->rc, err, t->frag);
        assert_null(m.root);
        assert_null(m.params);
        assert_int_equal(m.kind, 0);
    }
}

/* A NUL byte inside the line (the length says so) is not JSON. */
static void test_parse_nul(void **state)
{
    (void)state;
    static const char line[] = "{\"id\":1,\"result\":{}}\0";
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    assert_int_equal(proto_parse(line, sizeof line - 1, &m, err), FIEF_EFORMAT);
    assert_int_equal(proto_parse(line, sizeof line - 2, &m, err), 0);
    proto_msg_clear(&m);
}

/* A line of exactly PROTO_MAX_LINE bytes parses; one more byte is refused
 * before any parsing. */
static void test_parse_line_limit(void **state)
{
    (void)state;
    static const char head[] = "{\"id\":1,\"result\":{\"pad\":\"";
    static const char tail[] = "\"}}";
    size_t n = PROTO_MAX_LINE;
    char *line = malloc(n + 1);
    assert_non_null(line);
    memcpy(line, head, sizeof head - 1);
    memset(line + sizeof head - 1, 'a', n - (sizeof head - 1) - (sizeof tail - 1));
    memcpy(line + n - (sizeof tail - 1), tail, sizeof tail - 1);
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    assert_int_equal(proto_parse(line, n, &m, err), 0);
    proto_msg_clear(&m);
    line[n] = ' ';
    assert_int_equal(proto_parse(line, n + 1, &m, err), FIEF_ELIMIT);
    assert_non_null(strstr(err, "limit"));
    free(line);
}

static char *nested(int depth, const char *open, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close);
    static const char head[] = "{\"id\":1,\"result\":{\"x\":";
    char *s = malloc(sizeof head + (size_t)depth * (lo + lc) + 8);
    char *p = s;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (int i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    *p++ = '1';
    for (int i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    strcpy(p, "}}");
    return s;
}

/* The envelope uses two levels; PROTO_MAX_DEPTH counts them all. Brackets in
 * strings do not count, and a bracket bomb is refused without recursion. */
static void test_parse_depth(void **state)
{
    (void)state;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    char *ok = nested(PROTO_MAX_DEPTH - 2, "[", "]");
    char *deep = nested(PROTO_MAX_DEPTH - 1, "[", "]");
    char *objs = nested(PROTO_MAX_DEPTH - 1, "{\"a\":", "}");
    assert_int_equal(proto_parse(ok, strlen(ok), &m, err), 0);
    proto_msg_clear(&m);
    assert_int_equal(proto_parse(deep, strlen(deep), &m, err), FIEF_EFORMAT);
    assert_non_null(strstr(err, "nested deeper"));
    assert_int_equal(proto_parse(objs, strlen(objs), &m, err), FIEF_EFORMAT);
    free(ok);
    free(deep);
    free(objs);

    const char *strs = "{\"id\":1,\"result\":{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                       "\\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"}}";
    assert_int_equal(proto_parse(strs, strlen(strs), &m, err), 0);
    proto_msg_clear(&m);

    size_t n = 1000000;
    char *bomb = malloc(n);
    memset(bomb, '[', n);
    assert_int_equal(proto_parse(bomb, n, &m, err), FIEF_EFORMAT);
    free(bomb);
}

/* ---- writing lines ---- */

static void test_put(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    proto_put_request(&b, 1, PM_PING, NULL);
    assert_string_equal(b.data, "{\"id\":1,\"method\":\"ping\",\"params\":{}}\n");
    buf_reset(&b);
    proto_put_result(&b, 9007199254740991ull, NULL);
    assert_string_equal(b.data, "{\"id\":9007199254740991,\"result\":{}}\n");
    buf_reset(&b);
    proto_put_error(&b, 3, PROTO_ERR_PARAMS, "bad \"x\"\\");
    assert_string_equal(
        b.data, "{\"id\":3,\"error\":{\"code\":-32602,\"message\":\"bad \\\"x\\\"\\\\\"}}\n");
    buf_reset(&b);
    proto_put_error(&b, PROTO_NO_ID, PROTO_ERR_PARSE, NULL);
    assert_string_equal(b.data, "{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"\"}}\n");
    buf_reset(&b);
    /* appends: two lines in one buffer */
    json_t *p = json_pack("{s:s}", "job", "j1");
    proto_put_notify(&b, PM_CANCEL, p);
    proto_put_notify(&b, PM_CANCEL, p);
    json_decref(p);
    assert_string_equal(b.data, "{\"method\":\"cancel\",\"params\":{\"job\":\"j1\"}}\n"
                                "{\"method\":\"cancel\",\"params\":{\"job\":\"j1\"}}\n");
    buf_deinit(&b);
}

/* Error messages from our side and from the peer are cleaned: no control
 * characters, no broken UTF-8, at most PROTO_MAX_TEXT bytes on a character
 * boundary. */
static void test_error_text(void **state)
{
    (void)state;
    struct buf b;
    struct proto_msg m;
    buf_init(&b);
    proto_put_error(&b, 1, 9, "a\nb\x01\x7f\xc2\x85\xff\xe2\x82 caf\xc3\xa9 \xe2\x9c\x93");
    line_parse(&b, &m);
    /* \n \x01 DEL C1 \xff and the two bytes of a cut-short sequence: 6 '?' */
    assert_string_equal(m.err_msg, "a?b?????? caf\xc3\xa9 \xe2\x9c\x93");
    proto_msg_clear(&m);

    char big[2000];
    memset(big, 'a', sizeof big);
    memcpy(big + PROTO_MAX_TEXT - 1, "\xc3\xa9", 2); /* straddles the limit */
    big[sizeof big - 1] = 0;
    buf_reset(&b);
    proto_put_error(&b, 1, 9, big);
    line_parse(&b, &m);
    assert_int_equal(strlen(m.err_msg), PROTO_MAX_TEXT - 1);
    proto_msg_clear(&m);

    /* a peer's long message with a control character */
    buf_reset(&b);
    buf_puts(&b, "{\"id\":2,\"error\":{\"code\":4,\"message\":\"\\u001b[31m");
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "\xe2\x9c\x93");
    buf_puts(&b, "\"}}\n");
    line_parse(&b, &m);
    assert_int_equal(strncmp(m.err_msg, "?[31m", 5), 0);
    assert_true(strlen(m.err_msg) <= PROTO_MAX_TEXT);
    assert_int_equal((strlen(m.err_msg) - 5) % 3, 0); /* whole characters only */
    proto_msg_clear(&m);
    buf_deinit(&b);
}

/* ---- round trips ---- */

static void test_rt_hello(void **state)
{
    (void)state;
    struct proto_hello h, d;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    memset(&h, 0, sizeof h);
    h.version = PROTO_VERSION;
    strcpy(h.agent, "fief-miner/0.1 (linux; x86_64)");
    strcpy(h.pubkey, HEX64);
    strcpy(h.worker, "rig-1.a_B");
    strcpy(h.payout, "acct:alice@example.org");
    json_t *p = wire(proto_hello_encode(&h), PROTO_REQUEST, PM_HELLO, &m);
    expect_ok(proto_hello_decode(p, &d, err), err);
    assert_memory_equal(&h, &d, sizeof h);
    proto_msg_clear(&m);
}

static void test_rt_welcome(void **state)
{
    (void)state;
    struct proto_welcome w, d;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    memset(&w, 0, sizeof w);
    w.version = PROTO_VERSION;
    strcpy(w.session, "s-00af");
    strcpy(w.challenge, HEX64);
    strcpy(w.terms.pool, "Example pool (EU)");
    w.terms.fee_ppm = 20000;
    strcpy(w.terms.scheme, "PPS");
    w.terms.maturity_s = 86400;
    w.terms.audit_rate = 0.05;
    json_t *r = wire(proto_welcome_encode(&w), PROTO_REPLY, PM_UNKNOWN, &m);
    assert_null(json_object_get(json_object_get(r, "terms"), "pool_key")); /* optional: left out */
    expect_ok(proto_welcome_decode(r, &d, err), err);
    assert_memory_equal(&w, &d, sizeof w);
    proto_msg_clear(&m);
    strcpy(w.terms.pool_key, HEX64); /* the pool's receipt key travels when it has one */
    r = wire(proto_welcome_encode(&w), PROTO_REPLY, PM_UNKNOWN, &m);
    expect_ok(proto_welcome_decode(r, &d, err), err);
    assert_string_equal(d.terms.pool_key, HEX64);
    assert_memory_equal(&w, &d, sizeof w);
    proto_msg_clear(&m);
}

/* A welcome whose pool_key is not 64 hex digits is refused, naming it. */
static void test_welcome_bad_key(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN] = "";
    struct proto_welcome d;
    json_t *r = json_pack("{s:i, s:s, s:s, s:{s:s, s:i, s:s, s:i, s:f, s:s}}", "version", 1,
                          "session", "s1", "challenge", HEX64, "terms", "pool", "p", "fee_ppm",
                          0, "scheme", "PPS", "maturity_s", 0, "audit_rate", 0.5, "pool_key",
                          "xyz");
    assert_int_equal(proto_welcome_decode(r, &d, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "pool_key"));
    json_decref(r);
}

/* A receipt as the ledger writes it (fields sorted, integers only). */
static json_t *sample_receipt(const char *req)
{
    return json_pack("{s:I, s:I, s:s, s:I, s:I, s:[{s:I, s:s, s:I}], s:s, s:s, s:s, s:I, "
                     "s:I, s:I, s:s, s:s, s:I, s:I}",
                     "completion_tokens", (json_int_t)800, "cost", (json_int_t)1800, "digest",
                     "sha256:" HEX64, "fee", (json_int_t)36, "fee_ppm", (json_int_t)20000,
                     "miners", "amount", (json_int_t)1764, "miner", HEX64, "tokens",
                     (json_int_t)800, "model", "m", "pool", "p", "pool_key", HEX64,
                     "price_in", (json_int_t)500000, "price_out", (json_int_t)1500000,
                     "prompt_tokens", (json_int_t)1200, "request", req, "signature", HEX128,
                     "time_ms", (json_int_t)1795615821000, "v", (json_int_t)1);
}

static void test_rt_receipt(void **state)
{
    (void)state;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    struct proto_receipt r = {.request = "chatcmpl-abc123"}, d;
    r.receipt = sample_receipt("chatcmpl-abc123");
    json_t *p = wire(proto_receipt_encode(&r), PROTO_NOTIFY, PM_RECEIPT, &m);
    expect_ok(proto_receipt_decode(p, &d, err), err);
    assert_string_equal(d.request, r.request);
    assert_true(json_equal(d.receipt, r.receipt));
    proto_receipt_clear(&d);
    assert_null(d.receipt);
    proto_msg_clear(&m);
    json_decref(r.receipt);
    /* "receipt" is a notification: sent with an id it is an invalid request */
    const char line[] = "{\"id\":3,\"method\":\"receipt\",\"params\":{}}";
    assert_int_equal(proto_parse(line, strlen(line), &m, err), FIEF_EPROTO);
    assert_string_equal(proto_method_name(PM_RECEIPT), "receipt");
}

/* Each malformed receipt notification is refused with the field named. */
static void test_receipt_bad(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN];
    struct proto_receipt d;
    struct {
        json_t *params;
        const char *want;
    } cases[] = {
        {json_pack("{s:s}", "request", "r1"), "\"receipt\" is missing"},
        {json_pack("{s:s, s:[]}", "request", "r1", "receipt"), "\"receipt\" must be an object"},
        {json_pack("{s:s, s:o}", "request", "r1", "receipt", sample_receipt("r2")),
         "not the receipt of request \"r1\""},
        {json_pack("{s:s, s:{}}", "request", "r1", "receipt"), "not the receipt of request"},
        {json_pack("{s:s, s:o}", "request", "r 1", "receipt", sample_receipt("r 1")),
         "\"request\""},
        {json_pack("{s:o}", "receipt", sample_receipt("r1")), "\"request\" is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        assert_int_equal(proto_receipt_decode(cases[i].params, &d, err), FIEF_EPROTO);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" does not say %s", i, err, cases[i].want);
        assert_null(d.receipt);
        json_decref(cases[i].params);
    }
    /* over PROTO_MAX_RECEIPT bytes: refused before anything else reads it */
    json_t *big = sample_receipt("r1");
    char pad[PROTO_MAX_RECEIPT];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    json_object_set_new(big, "pad", json_string(pad));
    json_t *p = json_pack("{s:s, s:o}", "request", "r1", "receipt", big);
    assert_int_equal(proto_receipt_decode(p, &d, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "larger than 16384 bytes"));
    json_decref(p);
}

static void test_rt_auth(void **state)
{
    (void)state;
    struct proto_auth a, d;
    struct proto_authed x, y;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    memset(&a, 0, sizeof a);
    strcpy(a.signature, HEX128);
    json_t *p = wire(proto_auth_encode(&a), PROTO_REQUEST, PM_AUTH, &m);
    expect_ok(proto_auth_decode(p, &d, err), err);
    assert_memory_equal(&a, &d, sizeof a);
    proto_msg_clear(&m);
    memset(&x, 0, sizeof x);
    strcpy(x.miner, "0123456789abcdef");
    json_t *r = wire(proto_authed_encode(&x), PROTO_REPLY, PM_UNKNOWN, &m);
    expect_ok(proto_authed_decode(r, &y, err), err);
    assert_memory_equal(&x, &y, sizeof x);
    proto_msg_clear(&m);
}

static void test_rt_offer(void **state)
{
    (void)state;
    struct proto_offer o, d;
    struct proto_verdicts v, dv;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    memset(&o, 0, sizeof o);
    o.n = PROTO_MAX_MODELS;
    for (uint32_t i = 0; i < o.n; i++) {
        snprintf(o.m[i].name, sizeof o.m[i].name, "org/model-%u:q4_k", i);
        strcpy(o.m[i].digest, DIGEST);
        o.m[i].ctx = 4096 << (i % 3);
        o.m[i].slots = 1 + i;
        o.m[i].tps = 12.5 * i;
        o.m[i].caps = i % 4; /* none, generate, score, both */
    }
    json_t *p = wire(proto_offer_encode(&o), PROTO_REQUEST, PM_OFFER, &m);
    expect_ok(proto_offer_decode(p, &d, err), err);
    assert_memory_equal(&o, &d, sizeof o);
    proto_msg_clear(&m);

    memset(&v, 0, sizeof v);
    v.n = 2;
    strcpy(v.v[0].name, "tiny");
    v.v[0].accepted = true;
    strcpy(v.v[1].name, "mine");
    strcpy(v.v[1].reason, "no registered model has digest sha256:01\xe2\x80\xa6");
    json_t *r = wire(proto_verdicts_encode(&v), PROTO_REPLY, PM_UNKNOWN, &m);
    expect_ok(proto_verdicts_decode(r, &dv, err), err);
    assert_memory_equal(&v, &dv, sizeof v);
    proto_msg_clear(&m);
}

static void test_rt_job(void **state)
{
    (void)state;
    int32_t prompt[] = {0, 1, 128000, PROTO_MAX_TOKEN_ID};
    struct proto_job j = {.prompt = prompt,
                          .n_prompt = 4,
                          .max_tokens = 100,
                          .temperature = 0.7f,
                          .top_k = 40,
                          .top_p = 0.95f,
                          .min_p = 0.05f,
                          .repeat_penalty = 1.1f,
                          .seed = PROTO_MAX_ID,
                          .top_n = 5};
    struct proto_job d;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    strcpy(j.job, "7f3a.0");
    strcpy(j.model, "llama-3.2-1b");
    json_t *p = wire(proto_job_encode(&j), PROTO_REQUEST, PM_JOB, &m);
    expect_ok(proto_job_decode(p, &d, err), err);
    assert_string_equal(d.job, j.job);
    assert_string_equal(d.model, j.model);
    assert_int_equal(d.n_prompt, 4);
    assert_memory_equal(d.prompt, prompt, sizeof prompt);
    assert_int_equal(d.max_tokens, 100);
    assert_true(d.temperature == 0.7f && d.top_p == 0.95f && d.min_p == 0.05f);
    assert_true(d.repeat_penalty == 1.1f);
    assert_int_equal(d.top_k, 40);
    assert_true(d.seed == PROTO_MAX_ID);
    assert_int_equal(d.top_n, 5);
    proto_job_clear(&d);
    assert_null(d.prompt);
    proto_msg_clear(&m);
}

/* The hot path: one token, then a batch with alternatives, log-probs at the
 * edges of float (the 9-digit encoding must bring back the same bits). */
static void test_rt_tokens(void **state)
{
    (void)state;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    int32_t id1 = 42;
    float lp1 = -0.25f;
    struct proto_tokens t = {.job = "j1", .seq = 0, .n = 1, .ids = &id1, .logprobs = &lp1}, d;
    struct buf b;
    buf_init(&b);
    json_t *p = proto_tokens_encode(&t);
    proto_put_notify(&b, PM_TOKENS, p);
    json_decref(p);
    assert_string_equal(b.data, "{\"method\":\"tokens\",\"params\":{\"job\":\"j1\",\"seq\":0,"
                                "\"ids\":[42],\"logprobs\":[-0.25]}}\n");
    buf_deinit(&b);

    enum { N = 12, K = 3 };
    int32_t ids[N], top_ids[N * K];
    float lps[N] = {-0.0f, 0.0f,   -FLT_MAX,     -FLT_MIN,     -1.4e-45f, -1.17549421e-38f,
                    -0.1f, -1e-7f, -123456.789f, -3.14159274f, -2.5e-10f, -16777217.0f};
    float top_lps[N * K];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++)
        ids[i] = (int32_t)(tu_rand(&rng) % (PROTO_MAX_TOKEN_ID + 1u));
    for (int i = 0; i < N * K; i++) {
        top_ids[i] = (int32_t)(tu_rand(&rng) % 1000u);
        top_lps[i] = -fabsf(tu_randf(&rng)) * 30.0f;
    }
    t = (struct proto_tokens){.job = "job.1-x_Y",
                              .seq = PROTO_MAX_GEN - N,
                              .n = N,
                              .ids = ids,
                              .logprobs = lps,
                              .top_n = K,
                              .top_ids = top_ids,
                              .top_logprobs = top_lps};
    p = wire(proto_tokens_encode(&t), PROTO_NOTIFY, PM_TOKENS, &m);
    expect_ok(proto_tokens_decode(p, &d, err), err);
    assert_string_equal(d.job, t.job);
    assert_int_equal(d.seq, t.seq);
    assert_int_equal(d.n, N);
    assert_int_equal(d.top_n, K);
    assert_memory_equal(d.ids, ids, sizeof ids);
    assert_memory_equal(d.logprobs, lps, sizeof lps); /* bit for bit, -0.0 included */
    assert_memory_equal(d.top_ids, top_ids, sizeof top_ids);
    assert_memory_equal(d.top_logprobs, top_lps, sizeof top_lps);
    proto_tokens_clear(&d);
    assert_null(d.ids);
    assert_null(d.top_logprobs);
    proto_msg_clear(&m);
}

/* Every float32 log-prob survives the wire: a sweep of random bit patterns. */
static void test_rt_float_bits(void **state)
{
    (void)state;
    enum { N = 4096 };
    int32_t *ids = calloc(N, sizeof *ids);
    float *lps = malloc(N * sizeof *lps);
    uint64_t rng = 99;
    for (int i = 0; i < N; i++) {
        uint32_t bits = (uint32_t)tu_rand(&rng) | 0x80000000u; /* negative */
        if ((bits & 0x7f800000u) == 0x7f800000u)               /* not inf/nan */
            bits &= 0xbf7fffffu;
        memcpy(&lps[i], &bits, sizeof bits);
    }
    struct proto_tokens t = {.job = "j", .n = N, .ids = ids, .logprobs = lps}, d;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    json_t *p = wire(proto_tokens_encode(&t), PROTO_NOTIFY, PM_TOKENS, &m);
    expect_ok(proto_tokens_decode(p, &d, err), err);
    assert_memory_equal(d.logprobs, lps, N * sizeof *lps);
    assert_null(d.top_ids);
    assert_int_equal(d.top_n, 0);
    proto_tokens_clear(&d);
    proto_msg_clear(&m);
    free(ids);
    free(lps);
}

static void test_rt_done_cancel(void **state)
{
    (void)state;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    for (int f = PROTO_FIN_LENGTH; f <= PROTO_FIN_CANCELLED; f++) {
        struct proto_job_done x = {.finish = (enum proto_finish)f,
                                   .n = 17,
                                   .prompt_ms = 3.25,
                                   .gen_ms = 812.5},
                              y;
        json_t *r = wire(proto_job_done_encode(&x), PROTO_REPLY, PM_UNKNOWN, &m);
        expect_ok(proto_job_done_decode(r, &y, err), err);
        assert_memory_equal(&x, &y, sizeof x);
        proto_msg_clear(&m);
    }
    struct proto_cancel c = {.job = "abc.3"}, e;
    json_t *p = wire(proto_cancel_encode(&c), PROTO_NOTIFY, PM_CANCEL, &m);
    expect_ok(proto_cancel_decode(p, &e, err), err);
    assert_string_equal(e.job, "abc.3");
    proto_msg_clear(&m);
}

/* A score request with and without the audited job's sampling. */
static void rt_score_request(bool sampled)
{
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    int32_t pr[] = {1, 2, 3}, co[] = {4, 5};
    struct proto_score s = {.job = "a1",
                            .model = "tiny",
                            .prompt = pr,
                            .n_prompt = 3,
                            .completion = co,
                            .n_completion = 2,
                            .has_sampling = sampled,
                            .sampling = {0.7f, 40, 0.95f, 0.05f, 1.1f, PROTO_MAX_ID}},
                       d;
    json_t *p = wire(proto_score_encode(&s), PROTO_REQUEST, PM_SCORE, &m);
    assert_true(!json_object_get(p, "sampling") == !sampled);
    expect_ok(proto_score_decode(p, &d, err), err);
    assert_string_equal(d.job, "a1");
    assert_string_equal(d.model, "tiny");
    assert_int_equal(d.n_prompt, 3);
    assert_int_equal(d.n_completion, 2);
    assert_memory_equal(d.prompt, pr, sizeof pr);
    assert_memory_equal(d.completion, co, sizeof co);
    assert_int_equal(d.has_sampling, sampled);
    const struct proto_sampling *a = &d.sampling, *b = &s.sampling;
    assert_true(!sampled || (a->temperature == b->temperature && a->top_k == b->top_k &&
                             a->top_p == b->top_p && a->min_p == b->min_p &&
                             a->repeat_penalty == b->repeat_penalty && a->seed == b->seed));
    proto_score_clear(&d);
    proto_msg_clear(&m);
}

static void test_rt_score(void **state)
{
    (void)state;
    rt_score_request(false);
    rt_score_request(true);
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    /* margins at their edges: 0 (the pick), the smallest positive float (u on
     * an interval's edge), 1 (not a candidate), the largest logit gap */
    float lp[] = {-0.5f, -7.0f, -1, -2}, tlp[] = {-0.5f, -0.125f, -1, -1};
    float mg[] = {0, FLT_TRUE_MIN, 1, FLT_MAX};
    int32_t tid[] = {4, 9, 3, 3}, pk[] = {4, 8, 7, PROTO_MAX_TOKEN_ID};
    struct proto_scored x = {.n = 4,
                             .logprobs = lp,
                             .top_ids = tid,
                             .top_logprobs = tlp,
                             .picks = pk,
                             .margins = mg},
                        y;
    json_t *r = wire(proto_scored_encode(&x), PROTO_REPLY, PM_UNKNOWN, &m);
    expect_ok(proto_scored_decode(r, &y, err), err);
    assert_int_equal(y.n, 4);
    assert_memory_equal(y.logprobs, lp, sizeof lp);
    assert_memory_equal(y.top_ids, tid, sizeof tid);
    assert_memory_equal(y.top_logprobs, tlp, sizeof tlp);
    assert_memory_equal(y.picks, pk, sizeof pk);
    assert_memory_equal(y.margins, mg, sizeof mg);
    proto_scored_clear(&y);
    proto_msg_clear(&m);
}

static void test_rt_notice(void **state)
{
    (void)state;
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    struct proto_notice ns[4];
    memset(ns, 0, sizeof ns);
    ns[0].kind = PROTO_NOTICE_MESSAGE;
    strcpy(ns[0].message, "maintenance at 12:00 UTC \xe2\x80\x94 back in 5 min");
    ns[1].kind = PROTO_NOTICE_FEE;
    ns[1].fee_ppm = 0; /* zero is a real fee, and must be sent */
    strcpy(ns[1].message, "fee drops to 0%");
    ns[2].kind = PROTO_NOTICE_SHUTDOWN;
    ns[3].kind = PROTO_NOTICE_REDIRECT;
    strcpy(ns[3].url, "fief+tls://pool2.example.org:3334");
    for (int i = 0; i < 4; i++) {
        struct proto_notice d;
        json_t *p = wire(proto_notice_encode(&ns[i]), PROTO_NOTIFY, PM_NOTICE, &m);
        assert_true((json_object_get(p, "fee_ppm") != NULL) == (i == 1));
        expect_ok(proto_notice_decode(p, &d, err), err);
        assert_memory_equal(&ns[i], &d, sizeof d);
        proto_msg_clear(&m);
    }
}

/* Exact lines for the docs' examples: keys in table order, sampling floats
 * in their shortest form, optional empties left out. */
static void test_golden_job(void **state)
{
    (void)state;
    int32_t prompt[] = {1, 15043, 3186};
    struct proto_job j = {.job = "q1.0",
                          .model = "tiny",
                          .prompt = prompt,
                          .n_prompt = 3,
                          .max_tokens = 64,
                          .temperature = 0.7f,
                          .top_k = 40,
                          .top_p = 0.9f,
                          .min_p = 0.05f,
                          .repeat_penalty = 1.0f,
                          .seed = 1234,
                          .top_n = 0};
    struct buf b;
    buf_init(&b);
    json_t *p = proto_job_encode(&j);
    proto_put_request(&b, 12, PM_JOB, p);
    json_decref(p);
    assert_string_equal(b.data,
                        "{\"id\":12,\"method\":\"job\",\"params\":{\"job\":\"q1.0\",\"model\":"
                        "\"tiny\",\"prompt\":[1,15043,3186],\"max_tokens\":64,\"temperature\":0.7,"
                        "\"top_k\":40,\"top_p\":0.9,\"min_p\":0.05,\"repeat_penalty\":1.0,"
                        "\"seed\":1234,\"top_n\":0}}\n");
    buf_deinit(&b);
}

/* ---- the largest legal messages fit in a line ---- */

static size_t line_len(json_t *j, enum proto_kind how, enum proto_method pm)
{
    struct buf b;
    struct proto_msg m;
    buf_init(&b);
    if (how == PROTO_REQUEST)
        proto_put_request(&b, PROTO_MAX_ID, pm, j);
    else if (how == PROTO_NOTIFY)
        proto_put_notify(&b, pm, j);
    else
        proto_put_result(&b, PROTO_MAX_ID, j);
    json_decref(j);
    line_parse(&b, &m); /* fails if over PROTO_MAX_LINE */
    proto_msg_clear(&m);
    size_t n = b.len;
    buf_deinit(&b);
    return n;
}

static void test_max_messages(void **state)
{
    (void)state;
    size_t np = PROTO_MAX_PROMPT, ng = PROTO_MAX_GEN, nb = PROTO_MAX_BATCH;
    size_t nt = (size_t)PROTO_MAX_BATCH * PROTO_MAX_TOP;
    int32_t *ids = malloc(np * sizeof *ids);
    float *lps = malloc(nt * sizeof *lps);
    for (size_t i = 0; i < np; i++)
        ids[i] = PROTO_MAX_TOKEN_ID;
    for (size_t i = 0; i < nt; i++)
        lps[i] = -1.17549435e-38f * 1.0000001f; /* the longest %.9g form */
    int32_t *tids = malloc(nt * sizeof *tids);
    for (size_t i = 0; i < nt; i++)
        tids[i] = PROTO_MAX_TOKEN_ID;
    struct proto_job j = {.n_prompt = (uint32_t)np,
                          .prompt = ids,
                          .max_tokens = PROTO_MAX_GEN,
                          .temperature = 99.9999f,
                          .top_p = 0.123456789f,
                          .seed = PROTO_MAX_ID};
    memset(j.job, 'j', PROTO_MAX_NAME);
    memset(j.model, 'm', PROTO_MAX_NAME);
    struct proto_score s = {.prompt = ids,
                            .n_prompt = (uint32_t)np,
                            .completion = ids,
                            .n_completion = (uint32_t)ng,
                            .has_sampling = true,
                            .sampling = {99.9999f, PROTO_MAX_TOKEN_ID + 1, 0.123456789f,
                                         0.123456789f, 0.0123456789f, PROTO_MAX_ID}};
    memcpy(s.job, j.job, sizeof s.job);
    memcpy(s.model, j.model, sizeof s.model);
    struct proto_tokens t = {.seq = 0,
                             .n = (uint32_t)nb,
                             .ids = ids,
                             .logprobs = lps,
                             .top_n = PROTO_MAX_TOP,
                             .top_ids = tids,
                             .top_logprobs = lps};
    memcpy(t.job, j.job, sizeof t.job);
    float *mgs = malloc(ng * sizeof *mgs);
    for (size_t i = 0; i < ng; i++)
        mgs[i] = 1.17549435e-38f * 1.0000001f; /* as long as a log-prob, unsigned */
    struct proto_scored sc = {.n = (uint32_t)ng,
                              .logprobs = lps,
                              .top_ids = ids,
                              .top_logprobs = lps,
                              .picks = ids,
                              .margins = mgs};
    size_t lj = line_len(proto_job_encode(&j), PROTO_REQUEST, PM_JOB);
    size_t ls = line_len(proto_score_encode(&s), PROTO_REQUEST, PM_SCORE);
    size_t lt = line_len(proto_tokens_encode(&t), PROTO_NOTIFY, PM_TOKENS);
    size_t lr = line_len(proto_scored_encode(&sc), PROTO_REPLY, PM_UNKNOWN);
    print_message("largest lines: job %zu, score %zu, tokens %zu, score result %zu bytes "
                  "(limit %u)\n",
                  lj, ls, lt, lr, PROTO_MAX_LINE);
    assert_true(lt > (1u << 20)); /* why the limit is not 1 MiB */
    free(ids);
    free(lps);
    free(tids);
    free(mgs);
}

/* ---- auth ---- */

static void test_auth_message(void **state)
{
    (void)state;
    char msg[14 + PROTO_NONCE_HEX];
    assert_int_equal(sizeof msg, 78);
    assert_int_equal(proto_auth_message(HEX64, msg, sizeof msg), 77);
    assert_string_equal(msg, "fief-auth-v1:" HEX64);
    assert_int_equal(proto_auth_message("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
                                        "0123456789ABCDEF",
                                        msg, sizeof msg),
                     77);
    assert_string_equal(msg, "fief-auth-v1:" HEX64); /* what the pool signed is lowercase */
    assert_int_equal(proto_auth_message(HEX64, msg, sizeof msg - 1), 0);
    assert_int_equal(proto_auth_message("0123", msg, sizeof msg), 0);
    assert_int_equal(proto_auth_message(HEX64 "0", msg, sizeof msg), 0);
    assert_int_equal(proto_auth_message(NULL, msg, sizeof msg), 0);
    char bad[] = HEX64;
    bad[10] = 'g';
    assert_int_equal(proto_auth_message(bad, msg, sizeof msg), 0);
}

static void test_method_names(void **state)
{
    (void)state;
    static const char *const names[] = {"?",      "hello",  "auth",  "offer", "job",
                                        "tokens", "cancel", "score", "ping",  "notice"};
    for (int m = PM_UNKNOWN; m <= PM_NOTICE; m++)
        assert_string_equal(proto_method_name((enum proto_method)m), names[m]);
    assert_string_equal(proto_method_name((enum proto_method)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_nul),
        cmocka_unit_test(test_parse_line_limit),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_rt_hello),
        cmocka_unit_test(test_rt_welcome),
        cmocka_unit_test(test_rt_auth),
        cmocka_unit_test(test_rt_offer),
        cmocka_unit_test(test_rt_job),
        cmocka_unit_test(test_rt_tokens),
        cmocka_unit_test(test_rt_float_bits),
        cmocka_unit_test(test_rt_done_cancel),
        cmocka_unit_test(test_rt_score),
        cmocka_unit_test(test_rt_notice),
        cmocka_unit_test(test_welcome_bad_key),
        cmocka_unit_test(test_rt_receipt),
        cmocka_unit_test(test_receipt_bad),
        cmocka_unit_test(test_golden_job),
        cmocka_unit_test(test_max_messages),
        cmocka_unit_test(test_auth_message),
        cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
