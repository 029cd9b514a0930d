/* SPDX-License-Identifier: MIT */
/* The pool side of the miner suites (test_miner.c, test_miner_score.c): a
 * generated model with a reference engine, the miner's test configuration, a
 * fake pool on loopback sockets that speaks the protocol with proto.h's
 * codecs, jobs and their reference results, and a miner running on its own
 * thread. Header-only; static inline, so each suite uses what it needs. */
#ifndef FIEF_TU_MINER_H
#define FIEF_TU_MINER_H

#include "testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/net.h"
#include "engine/engine.h"
#include "engine/genmodel.h"
#include "miner/miner.h"
#include "proto/proto.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MODEL_CTX 4096
#define POOL_MODEL "gen:test" /* the pool's name for the model: differs from the miner's */
#define T_IO 10.0             /* seconds any expected message may take */

/* ---- fixtures: the model and a reference engine ---- */

static char model_path[512];
static struct eng_model *ref_model;
static struct eng_threads *ref_threads;
static struct eng_ctx *ref_ctx;
static struct eng_sampler *ref_sampler;
static int32_t n_vocab;
static unsigned char pool_pk[32], pool_sk[64]; /* the fake pool's receipt key */
static char pool_pk_hex[65];

/* What the next offer must say about its one model (the generated one, unless
 * a test serves another). */
static struct offer_want {
    const char *name;
    char digest[DIGEST_LEN + 1];
    uint32_t ctx;
    uint32_t caps; /* PROTO_CAP_* */
} want_offer = {"miner-model", "", MODEL_CTX, PROTO_CAP_GENERATE | PROTO_CAP_SCORE};

/* Slow enough (~1 ms a token) that a cancel lands mid-job, small enough to
 * write in a blink. */
static inline int group_setup(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN];
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.dim = 256;
    s.layers = 4;
    s.heads = 4;
    s.kv_heads = 4;
    s.ffn = 768;
    s.ctx = MODEL_CTX;
    s.seed = 7;
    snprintf(model_path, sizeof model_path, "%s/miner-model.gguf", tu_tmpdir());
    if (genmodel_write(model_path, &s, err) || digest_file(model_path, want_offer.digest, err) ||
        eng_model_load(model_path, &ref_model, err)) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    ref_threads = eng_threads_new(1);
    if (eng_ctx_new(ref_model, MODEL_CTX, ref_threads, &ref_ctx, err))
        return -1;
    struct eng_model_info info;
    eng_model_get_info(ref_model, &info);
    n_vocab = info.n_vocab;
    ref_sampler = eng_sampler_new(n_vocab);
    signal(SIGPIPE, SIG_IGN); /* the fake pool writes to sockets the miner may close */
    crypto_sign_keypair(pool_pk, pool_sk);
    hex_encode(pool_pk, sizeof pool_pk, pool_pk_hex);
    return 0;
}

static inline int group_teardown(void **state)
{
    (void)state;
    eng_sampler_free(ref_sampler);
    eng_ctx_free(ref_ctx);
    eng_threads_free(ref_threads);
    eng_model_free(ref_model);
    return 0;
}

/* ---- the miner's configuration ---- */

static inline void test_cfg(struct miner_cfg *c, const char *url0, const char *url1)
{
    static char dir[600];
    miner_cfg_defaults(c);
    snprintf(dir, sizeof dir, "%s/data", tu_tmpdir());
    c->urls[c->n_urls++] = url0;
    if (url1)
        c->urls[c->n_urls++] = url1;
    c->payout = "acct-1";
    c->worker = "rig1";
    c->models[c->n_models++].path = model_path;
    c->threads = 1;
    c->data_dir = dir;
    c->backoff_min_s = 0.05;
    c->backoff_max_s = 0.2;
    c->probe_s = 0.3;
    c->bench_tokens = 4;
}

/* ---- the fake pool: blocking-with-timeout socket helpers ---- */

struct fconn {
    int fd;
    struct buf in; /* received, not yet consumed */
};

static inline int pool_listen(int port, char *url, size_t cap)
{
    char hp[64], err[FIEF_ERR_LEN];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    int fd = net_listen(hp, err);
    if (fd < 0)
        fail_msg("listen: %s", err);
    snprintf(url, cap, "fief+tcp://127.0.0.1:%d", net_local_port(fd));
    return fd;
}

static inline bool wait_fd(int fd, short what, double timeout)
{
    struct pollfd p = {.fd = fd, .events = what};
    return poll(&p, 1, (int)(timeout * 1000)) == 1;
}

static inline void pool_accept(int lfd, struct fconn *c)
{
    if (!wait_fd(lfd, POLLIN, T_IO))
        fail_msg("the miner did not connect");
    c->fd = accept(lfd, NULL, NULL);
    assert_true(c->fd >= 0);
    buf_init(&c->in);
}

static inline void fc_close(struct fconn *c)
{
    close(c->fd);
    buf_deinit(&c->in);
}

static inline bool fc_write(struct fconn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* The next message; false on EOF or timeout. */
static inline bool fc_read(struct fconn *c, struct proto_msg *m, double timeout)
{
    double end = clock_mono_s() + timeout;
    for (;;) {
        char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - c->in.data);
            char err[FIEF_ERR_LEN];
            if (proto_parse(c->in.data, len, m, err))
                fail_msg("the miner sent a bad line: %s", err);
            memmove(c->in.data, nl + 1, c->in.len - len - 1);
            c->in.len -= len + 1;
            return true;
        }
        char tmp[65536];
        double left = end - clock_mono_s();
        ssize_t n = left > 0 && wait_fd(c->fd, POLLIN, left) ? recv(c->fd, tmp, sizeof tmp, 0) : 0;
        if (n <= 0)
            return false;
        buf_append(&c->in, tmp, (size_t)n);
    }
}

/* The miner closes the connection within timeout (lines before EOF are skipped). */
static inline bool fc_eof(struct fconn *c, double timeout)
{
    double end = clock_mono_s() + timeout;
    char tmp[4096];
    while (clock_mono_s() < end) {
        if (!wait_fd(c->fd, POLLIN, end - clock_mono_s()))
            return false;
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            return true;
    }
    return false;
}

/* One line from the pool: a request, a notification or a result; body is stolen. */
static inline void fc_send(struct fconn *c, enum proto_kind k, uint64_t id, enum proto_method m,
                    json_t *body)
{
    struct buf b;
    buf_init(&b);
    if (k == PROTO_REQUEST)
        proto_put_request(&b, id, m, body);
    else if (k == PROTO_NOTIFY)
        proto_put_notify(&b, m, body);
    else
        proto_put_result(&b, id, body);
    json_decref(body);
    fc_write(c, b.data, b.len);
    buf_deinit(&b);
}

static inline void fc_request(struct fconn *c, uint64_t id, enum proto_method m, json_t *params)
{
    fc_send(c, PROTO_REQUEST, id, m, params);
}

static inline void fc_notify(struct fconn *c, enum proto_method m, json_t *params)
{
    fc_send(c, PROTO_NOTIFY, 0, m, params);
}

static inline void fc_result(struct fconn *c, uint64_t id, json_t *result)
{
    fc_send(c, PROTO_REPLY, id, PM_UNKNOWN, result);
}

static inline void fc_raw(struct fconn *c, const char *line)
{
    fc_write(c, line, strlen(line));
}

/* The next message must be a request of method m (its id in *id). */
static inline void expect_request(struct fconn *c, enum proto_method m, struct proto_msg *msg)
{
    if (!fc_read(c, msg, T_IO))
        fail_msg("no %s from the miner", proto_method_name(m));
    assert_int_equal(msg->kind, PROTO_REQUEST);
    assert_string_equal(proto_method_name(msg->method), proto_method_name(m));
}

/* The next message must be the reply to id: an error with code, or a result
 * (code 0). The message is left in *out when out is given. */
static inline void expect_reply(struct fconn *c, uint64_t id, int code, struct proto_msg *out)
{
    struct proto_msg m;
    if (!fc_read(c, &m, T_IO))
        fail_msg("no reply to request %llu", (unsigned long long)id);
    assert_int_equal(m.kind, PROTO_REPLY);
    assert_int_equal(m.id, id);
    assert_int_equal(m.is_error ? m.err_code : 0, code);
    if (out)
        *out = m;
    else
        proto_msg_clear(&m);
}

/* ---- the handshake, pool side ---- */

/* Read hello, check its fields, answer with terms charging fee_ppm. */
static inline void pool_welcome(struct fconn *c, const char *pubkey, uint32_t fee_ppm,
                         struct proto_welcome *w)
{
    struct proto_msg m;
    struct proto_hello h;
    char err[FIEF_ERR_LEN];
    expect_request(c, PM_HELLO, &m);
    assert_int_equal(proto_hello_decode(m.params, &h, err), 0);
    assert_int_equal(h.version, PROTO_VERSION);
    assert_string_equal(h.agent, "fief-miner/" FIEF_VERSION);
    assert_string_equal(h.pubkey, pubkey);
    assert_string_equal(h.worker, "rig1");
    assert_string_equal(h.payout, "acct-1");
    *w = (struct proto_welcome){.version = PROTO_VERSION,
                                .session = "s-test",
                                .terms = {"test pool", fee_ppm, "PPS", 3600, 0.1, ""}};
    snprintf(w->terms.pool_key, sizeof w->terms.pool_key, "%s", pool_pk_hex);
    unsigned char nonce[32];
    randombytes_buf(nonce, sizeof nonce);
    hex_encode(nonce, sizeof nonce, w->challenge);
    fc_result(c, m.id, proto_welcome_encode(w));
    proto_msg_clear(&m);
}

/* Auth (signature checked against the hello's key) and offer (digest checked),
 * all models accepted as POOL_MODEL. With early_job, a job is sent before the
 * verdicts and must be refused as out of state. */
static inline void pool_admit(struct fconn *c, const char *pubkey, const struct proto_welcome *w,
                       bool early_job)
{
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    struct proto_auth a;
    expect_request(c, PM_AUTH, &m);
    assert_int_equal(proto_auth_decode(m.params, &a, err), 0);
    unsigned char sig[64], pk[32];
    char msg[128];
    size_t n = proto_auth_message(w->challenge, msg, sizeof msg);
    assert_int_equal(hex_decode(a.signature, 128, sig, 64), 0);
    assert_int_equal(hex_decode(pubkey, 64, pk, 32), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, (unsigned char *)msg, n, pk), 0);
    struct proto_authed ad = {"miner-1"};
    fc_result(c, m.id, proto_authed_encode(&ad));
    proto_msg_clear(&m);

    struct proto_offer o;
    expect_request(c, PM_OFFER, &m);
    assert_int_equal(proto_offer_decode(m.params, &o, err), 0);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.m[0].name, want_offer.name);
    assert_string_equal(o.m[0].digest, want_offer.digest);
    assert_int_equal(o.m[0].ctx, want_offer.ctx);
    assert_int_equal(o.m[0].slots, 1);
    assert_true(o.m[0].tps > 0);
    assert_int_equal(o.m[0].caps, want_offer.caps);
    if (early_job) {
        int32_t p[] = {0, 5};
        struct proto_job j = {.job = "early",
                              .model = POOL_MODEL,
                              .prompt = p,
                              .n_prompt = 2,
                              .max_tokens = 2,
                              .top_p = 1,
                              .repeat_penalty = 1};
        fc_request(c, 900, PM_JOB, proto_job_encode(&j));
        expect_reply(c, 900, PROTO_ERR_STATE, NULL);
    }
    struct proto_verdicts v = {.n = 1};
    v.v[0].accepted = true;
    snprintf(v.v[0].name, sizeof v.v[0].name, POOL_MODEL);
    fc_result(c, m.id, proto_verdicts_encode(&v));
    proto_msg_clear(&m);
}

static inline void pool_handshake(struct fconn *c, const char *pubkey)
{
    struct proto_welcome w;
    pool_welcome(c, pubkey, 10000, &w);
    pool_admit(c, pubkey, &w, false);
}

/* ---- jobs, pool side ---- */

struct gen {
    uint32_t n;
    int32_t ids[MODEL_CTX];
    float lps[MODEL_CTX];
    int32_t tids[64 * PROTO_MAX_TOP]; /* alternatives of the first 64 tokens */
    float tlps[64 * PROTO_MAX_TOP];
    uint32_t top_n;
    bool failed; /* error reply */
    int err_code;
    struct proto_job_done done;
};

static inline void send_job(struct fconn *c, uint64_t id, const char *name, const int32_t *prompt,
                     uint32_t np, uint32_t max_tokens, float temp, uint32_t top_n)
{
    struct proto_job j = {.n_prompt = np,
                          .max_tokens = max_tokens,
                          .temperature = temp,
                          .top_k = temp > 0 ? 40 : 0,
                          .top_p = temp > 0 ? 0.95f : 1,
                          .min_p = temp > 0 ? 0.05f : 0,
                          .repeat_penalty = temp > 0 ? 1.1f : 1,
                          .seed = 42,
                          .top_n = top_n,
                          .prompt = (int32_t *)prompt};
    snprintf(j.job, sizeof j.job, "%s", name);
    snprintf(j.model, sizeof j.model, POOL_MODEL);
    fc_request(c, id, PM_JOB, proto_job_encode(&j));
}

/* Append one token and its top_n alternatives. */
static inline void gen_put(struct gen *g, int32_t id, float lp, uint32_t top_n, const int32_t *tids,
                    const float *tlps)
{
    assert_true(g->n < MODEL_CTX);
    g->ids[g->n] = id;
    g->lps[g->n] = lp;
    for (uint32_t a = 0; a < top_n && g->n < 64; a++) {
        g->tids[g->n * top_n + a] = tids[a];
        g->tlps[g->n * top_n + a] = tlps[a];
    }
    g->top_n = top_n;
    g->n++;
}

static inline void add_tokens(struct gen *g, const struct proto_tokens *t)
{
    assert_int_equal(t->seq, g->n);     /* contiguous, from 0 */
    for (uint32_t i = 0; i < t->n; i++) /* the top arrays are NULL when top_n is 0 */
        gen_put(g, t->ids[i], t->logprobs[i], t->top_n, t->top_n ? t->top_ids + i * t->top_n : NULL,
                t->top_n ? t->top_logprobs + i * t->top_n : NULL);
}

/* Read until the reply to job request id; tokens of `name` are collected.
 * on_first (if set) runs once after the first tokens arrive. */
static inline void collect(struct fconn *c, uint64_t id, const char *name, struct gen *g,
                    void (*on_first)(struct fconn *c, const char *name))
{
    char err[FIEF_ERR_LEN];
    memset(g, 0, sizeof *g);
    for (;;) {
        struct proto_msg m;
        if (!fc_read(c, &m, T_IO))
            fail_msg("job %s: no reply", name);
        if (m.kind == PROTO_NOTIFY && m.method == PM_TOKENS) {
            struct proto_tokens t;
            assert_int_equal(proto_tokens_decode(m.params, &t, err), 0);
            if (!strcmp(t.job, name)) {
                bool first = g->n == 0;
                add_tokens(g, &t);
                if (first && on_first)
                    on_first(c, name);
            }
            proto_tokens_clear(&t);
        } else if (m.kind == PROTO_REPLY && m.id == id) {
            g->failed = m.is_error;
            g->err_code = m.err_code;
            if (!m.is_error)
                assert_int_equal(proto_job_done_decode(m.result, &g->done, err), 0);
            proto_msg_clear(&m);
            return;
        }
        proto_msg_clear(&m);
    }
}

/* Send a job and expect an error reply with code. */
static inline void expect_job_error(struct fconn *c, uint64_t id, const int32_t *prompt, uint32_t np,
                             uint32_t max_tokens, int code)
{
    struct gen *g = malloc(sizeof *g);
    send_job(c, id, "bad", prompt, np, max_tokens, 0, 0);
    collect(c, id, "bad", g, NULL);
    assert_true(g->failed);
    assert_int_equal(g->err_code, code);
    free(g);
}

/* ---- reference results ---- */

static inline int ref_cb(void *ud, const struct eng_pick *p)
{
    int32_t tids[ENG_MAX_TOP];
    float tlps[ENG_MAX_TOP];
    for (int a = 0; a < p->n_top; a++) {
        tids[a] = p->top[a].id;
        tlps[a] = p->top[a].logprob;
    }
    gen_put(ud, p->id, p->logprob, (uint32_t)p->n_top, tids, tlps);
    return 0;
}

/* What eng_generate gives for the job send_job describes, on c (default: the
 * generated model's reference context). */
static inline void reference_on(struct eng_ctx *c, struct eng_sampler *sm, const int32_t *prompt,
                         uint32_t np, uint32_t max_tokens, float temp, uint32_t top_n,
                         struct gen *g)
{
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    if (temp > 0) {
        sp.temperature = temp;
        sp.top_k = 40;
        sp.top_p = 0.95f;
        sp.min_p = 0.05f;
        sp.repeat_penalty = 1.1f;
    }
    sp.seed = 42;
    sp.repeat_last_n = PROTO_REPEAT_LAST_N;
    memset(g, 0, sizeof *g);
    assert_int_equal(
        eng_generate(c, sm, &sp, prompt, np, (int32_t)max_tokens, (int)top_n, ref_cb, g, NULL), 0);
}

static inline void reference(const int32_t *prompt, uint32_t np, uint32_t max_tokens, float temp,
                      uint32_t top_n, struct gen *g)
{
    reference_on(ref_ctx, ref_sampler, prompt, np, max_tokens, temp, top_n, g);
}

static inline void assert_same_tokens(const struct gen *got, const struct gen *want)
{
    assert_int_equal(got->n, want->n);
    for (uint32_t i = 0; i < want->n; i++) {
        assert_int_equal(got->ids[i], want->ids[i]);
        assert_true(got->lps[i] == want->lps[i]); /* floats survive the wire exactly */
    }
    assert_int_equal(got->top_n, want->top_n);
    for (uint32_t i = 0; i < want->n && i < 64; i++)
        for (uint32_t a = 0; a < want->top_n; a++) {
            assert_int_equal(got->tids[i * want->top_n + a], want->tids[i * want->top_n + a]);
            assert_true(got->tlps[i * want->top_n + a] == want->tlps[i * want->top_n + a]);
        }
}

/* The miner on its thread and the pools it knows: listeners 0 and 1, and the
 * pool side of the connection to each. */
struct session {
    int lfd[2];
    char url[2][96];
    struct fconn c[2];
    struct miner *m;
    const char *pk;
    pthread_t tid;
};

static inline void *miner_main(void *arg)
{
    miner_run(arg);
    return NULL;
}

/* Start a miner that knows n_pools fresh listeners (tweak adjusts its cfg). */
static inline void session_start(struct session *s, int n_pools, void (*tweak)(struct miner_cfg *c))
{
    struct miner_cfg cfg;
    char err[FIEF_ERR_LEN];
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n_pools; i++)
        s->lfd[i] = pool_listen(0, s->url[i], sizeof s->url[i]);
    test_cfg(&cfg, s->url[0], n_pools > 1 ? s->url[1] : NULL);
    if (tweak)
        tweak(&cfg);
    if (miner_new(&cfg, &s->m, err))
        fail_msg("miner_new: %s", err);
    s->pk = miner_pubkey(s->m);
    assert_int_equal(pthread_create(&s->tid, NULL, miner_main, s->m), 0);
}

/* Accept the miner's next connection to pool i and admit it. */
static inline void session_join(struct session *s, int i)
{
    pool_accept(s->lfd[i], &s->c[i]);
    pool_handshake(&s->c[i], s->pk);
}

/* One pool, one served session. */
static inline void session_open(struct session *s, void (*tweak)(struct miner_cfg *c))
{
    session_start(s, 1, tweak);
    session_join(s, 0);
}

/* The miner left pool i (or must reconnect after the pool closed): it comes back. */
static inline void session_rejoin(struct session *s, int i)
{
    fc_close(&s->c[i]);
    session_join(s, i);
}

static inline void session_close(struct session *s)
{
    miner_stop(s->m);
    pthread_join(s->tid, NULL);
    miner_free(s->m);
    for (int i = 0; i < 2; i++) {
        if (s->c[i].fd > 0)
            fc_close(&s->c[i]);
        if (s->lfd[i] > 0)
            close(s->lfd[i]);
    }
}

static const int32_t prompt7[] = {0, 300, 301, 302, 303, 304, 305};

#endif
