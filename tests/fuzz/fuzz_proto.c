/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the wire protocol: frame the input into lines, parse
 * each, decode it with its method's decoder (a result with every reply
 * decoder), then re-encode what decoded, parse that line back and decode it
 * again: this must succeed and give the very same line. Any failure must say
 * why. Seeds: tests/fuzz/corpus/proto/ (one line per message kind). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

union any {
    struct proto_hello hello;
    struct proto_welcome welcome;
    struct proto_auth auth;
    struct proto_authed authed;
    struct proto_offer offer;
    struct proto_verdicts verdicts;
    struct proto_job job;
    struct proto_tokens tokens;
    struct proto_job_done job_done;
    struct proto_cancel cancel;
    struct proto_score score;
    struct proto_scored scored;
    struct proto_notice notice;
};

struct codec {
    enum proto_kind kind;     /* how it travels */
    enum proto_method method; /* requests and notifications */
    int (*dec)(json_t *o, union any *u, char *err);
    json_t *(*enc)(const union any *u);
    void (*clear)(union any *u); /* NULL: nothing to free */
};

/* Uniform signatures over the typed codecs. */
#define WRAP(name)                                                                                 \
    static int dec_##name(json_t *o, union any *u, char *err)                                      \
    {                                                                                              \
        return proto_##name##_decode(o, &u->name, err);                                            \
    }                                                                                              \
    static json_t *enc_##name(const union any *u)                                                  \
    {                                                                                              \
        return proto_##name##_encode(&u->name);                                                    \
    }
#define WRAP_CLEAR(name)                                                                           \
    WRAP(name)                                                                                     \
    static void clear_##name(union any *u)                                                         \
    {                                                                                              \
        proto_##name##_clear(&u->name);                                                            \
    }

WRAP(hello)
WRAP(welcome)
WRAP(auth)
WRAP(authed)
WRAP(offer)
WRAP(verdicts)
WRAP_CLEAR(job)
WRAP_CLEAR(tokens)
WRAP(job_done)
WRAP(cancel)
WRAP_CLEAR(score)
WRAP_CLEAR(scored)
WRAP(notice)

static const struct codec calls[] = {
    [PM_HELLO] = {PROTO_REQUEST, PM_HELLO, dec_hello, enc_hello, NULL},
    [PM_AUTH] = {PROTO_REQUEST, PM_AUTH, dec_auth, enc_auth, NULL},
    [PM_OFFER] = {PROTO_REQUEST, PM_OFFER, dec_offer, enc_offer, NULL},
    [PM_JOB] = {PROTO_REQUEST, PM_JOB, dec_job, enc_job, clear_job},
    [PM_TOKENS] = {PROTO_NOTIFY, PM_TOKENS, dec_tokens, enc_tokens, clear_tokens},
    [PM_CANCEL] = {PROTO_NOTIFY, PM_CANCEL, dec_cancel, enc_cancel, NULL},
    [PM_SCORE] = {PROTO_REQUEST, PM_SCORE, dec_score, enc_score, clear_score},
    [PM_NOTICE] = {PROTO_NOTIFY, PM_NOTICE, dec_notice, enc_notice, NULL},
};

static const struct codec replies[] = {
    {PROTO_REPLY, PM_UNKNOWN, dec_welcome, enc_welcome, NULL},
    {PROTO_REPLY, PM_UNKNOWN, dec_authed, enc_authed, NULL},
    {PROTO_REPLY, PM_UNKNOWN, dec_verdicts, enc_verdicts, NULL},
    {PROTO_REPLY, PM_UNKNOWN, dec_job_done, enc_job_done, NULL},
    {PROTO_REPLY, PM_UNKNOWN, dec_scored, enc_scored, clear_scored},
};

/* line[0..len) need not be NUL-terminated. */
static void die(const char *what, const char *line, size_t len, const char *err)
{
    fprintf(stderr, "fuzz_proto: %s\n  line: %.*s\n  err: %s\n", what, (int)(len < 300 ? len : 300),
            line, err);
    __builtin_trap();
}

/* u encoded, sent as c says, into b (one line). */
static void put(struct buf *b, const struct codec *c, const union any *u)
{
    json_t *j = c->enc(u);
    if (!json_is_object(j))
        die("an encoder returned no object", "", 0, "");
    if (c->kind == PROTO_REQUEST)
        proto_put_request(b, PROTO_MAX_ID, c->method, j);
    else if (c->kind == PROTO_NOTIFY)
        proto_put_notify(b, c->method, j);
    else
        proto_put_result(b, PROTO_MAX_ID, j);
    json_decref(j);
}

/* A decoded message must survive the wire: encode, frame, parse, decode,
 * and encode again to the same bytes. */
static void roundtrip(const struct codec *c, const union any *u)
{
    struct buf b1, b2;
    struct proto_msg m;
    union any again;
    char err[FIEF_ERR_LEN] = "";
    buf_init(&b1);
    buf_init(&b2);
    put(&b1, c, u);
    if (proto_frame(b1.data, b1.len) != (long)b1.len - 1)
        die("an encoded message is not exactly one line", b1.data, b1.len, "");
    if (proto_parse(b1.data, b1.len - 1, &m, err) != 0)
        die("an encoded line does not parse", b1.data, b1.len, err);
    if (c->dec(c->kind == PROTO_REPLY ? m.result : m.params, &again, err) != 0)
        die("an encoded message does not decode", b1.data, b1.len, err);
    put(&b2, c, &again);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
        die("a message changed on its way round", b1.data, b1.len, b2.data);
    if (c->clear)
        c->clear(&again);
    proto_msg_clear(&m);
    buf_deinit(&b1);
    buf_deinit(&b2);
}

/* Decode o as c; when it decodes, round-trip it. */
static void try_codec(const struct codec *c, json_t *o, const char *line, size_t len)
{
    union any u;
    char err[FIEF_ERR_LEN] = "";
    int rc = c->dec(o, &u, err);
    if (rc == FIEF_EUNSUPPORTED) /* another protocol version */
        return;
    if (rc) {
        if (!err[0])
            die("a decoder failed without saying why", line, len, err);
        return;
    }
    roundtrip(c, &u);
    if (c->clear)
        c->clear(&u);
}

/* An error reply goes round with its code and its (already cleaned) message. */
static void error_roundtrip(const struct proto_msg *m, const char *line, size_t len)
{
    struct buf b;
    struct proto_msg back;
    char err[FIEF_ERR_LEN] = "";
    buf_init(&b);
    proto_put_error(&b, m->id, m->err_code, m->err_msg);
    if (proto_parse(b.data, b.len - 1, &back, err) != 0)
        die("an error reply does not parse back", b.data, b.len, err);
    if (back.id != m->id || back.err_code != m->err_code || strcmp(back.err_msg, m->err_msg))
        die("an error reply changed on its way round", line, len, b.data);
    proto_msg_clear(&back);
    buf_deinit(&b);
}

static void one_line(const char *line, size_t len)
{
    struct proto_msg m;
    char err[FIEF_ERR_LEN] = "";
    if (proto_parse(line, len, &m, err) != 0) {
        if (!err[0] || m.root)
            die("a refused line left no reason or a message behind", line, len, err);
        return;
    }
    if (m.kind == PROTO_REPLY && m.is_error) {
        error_roundtrip(&m, line, len);
    } else if (m.kind == PROTO_REPLY) {
        for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++)
            try_codec(&replies[i], m.result, line, len);
    } else if (m.method != PM_UNKNOWN && m.method != PM_PING) {
        try_codec(&calls[m.method], m.params, line, len);
    }
    proto_msg_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t left = size;
    while (left) {
        long n = proto_frame(p, left);
        if (n == FIEF_ELIMIT)
            break;
        /* the tail without a newline is parsed too: a line is a line */
        size_t len = n < 0 ? left : (size_t)n;
        char *copy = malloc(len ? len : 1); /* exactly len: ASan sees any read past it */
        memcpy(copy, p, len);
        one_line(copy, len);
        free(copy);
        if (n < 0)
            break;
        p += n + 1;
        left -= (size_t)n + 1;
    }
    return 0;
}
