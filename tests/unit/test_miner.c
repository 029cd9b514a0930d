/* SPDX-License-Identifier: MIT */
/* The miner against a pool played by this test: real loopback sockets, the
 * real engine on a generated model, the miner running in-process on its own
 * thread. The test speaks the protocol with proto.h's codecs and checks the
 * handshake, streamed tokens against eng_generate, cancel, scoring, hostile
 * jobs, liveness, reconnect, failover, fees and redirects, and receipts.
 * (test_miner_setup.c covers the key file and the configuration checks.) */
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
} want_offer = {"miner-model", "", MODEL_CTX};

/* Slow enough (~1 ms a token) that a cancel lands mid-job, small enough to
 * write in a blink. */
static int group_setup(void **state)
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

static int group_teardown(void **state)
{
    (void)state;
    eng_sampler_free(ref_sampler);
    eng_ctx_free(ref_ctx);
    eng_threads_free(ref_threads);
    eng_model_free(ref_model);
    return 0;
}

/* ---- the miner's configuration ---- */

static void test_cfg(struct miner_cfg *c, const char *url0, const char *url1)
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

static int pool_listen(int port, char *url, size_t cap)
{
    char hp[64], err[FIEF_ERR_LEN];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    int fd = net_listen(hp, err);
    if (fd < 0)
        fail_msg("listen: %s", err);
    snprintf(url, cap, "fief+tcp://127.0.0.1:%d", net_local_port(fd));
    return fd;
}

static bool wait_fd(int fd, short what, double timeout)
{
    struct pollfd p = {.fd = fd, .events = what};
    return poll(&p, 1, (int)(timeout * 1000)) == 1;
}

static void pool_accept(int lfd, struct fconn *c)
{
    if (!wait_fd(lfd, POLLIN, T_IO))
        fail_msg("the miner did not connect");
    c->fd = accept(lfd, NULL, NULL);
    assert_true(c->fd >= 0);
    buf_init(&c->in);
}

static void fc_close(struct fconn *c)
{
    close(c->fd);
    buf_deinit(&c->in);
}

static bool fc_write(struct fconn *c, const char *p, size_t n)
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
static bool fc_read(struct fconn *c, struct proto_msg *m, double timeout)
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
static bool fc_eof(struct fconn *c, double timeout)
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
static void fc_send(struct fconn *c, enum proto_kind k, uint64_t id, enum proto_method m,
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

static void fc_request(struct fconn *c, uint64_t id, enum proto_method m, json_t *params)
{
    fc_send(c, PROTO_REQUEST, id, m, params);
}

static void fc_notify(struct fconn *c, enum proto_method m, json_t *params)
{
    fc_send(c, PROTO_NOTIFY, 0, m, params);
}

static void fc_result(struct fconn *c, uint64_t id, json_t *result)
{
    fc_send(c, PROTO_REPLY, id, PM_UNKNOWN, result);
}

static void fc_raw(struct fconn *c, const char *line)
{
    fc_write(c, line, strlen(line));
}

/* The next message must be a request of method m (its id in *id). */
static void expect_request(struct fconn *c, enum proto_method m, struct proto_msg *msg)
{
    if (!fc_read(c, msg, T_IO))
        fail_msg("no %s from the miner", proto_method_name(m));
    assert_int_equal(msg->kind, PROTO_REQUEST);
    assert_string_equal(proto_method_name(msg->method), proto_method_name(m));
}

/* The next message must be the reply to id: an error with code, or a result
 * (code 0). The message is left in *out when out is given. */
static void expect_reply(struct fconn *c, uint64_t id, int code, struct proto_msg *out)
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
static void pool_welcome(struct fconn *c, const char *pubkey, uint32_t fee_ppm,
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
static void pool_admit(struct fconn *c, const char *pubkey, const struct proto_welcome *w,
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
    assert_int_equal(o.m[0].caps, PROTO_CAP_GENERATE | PROTO_CAP_SCORE);
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

static void pool_handshake(struct fconn *c, const char *pubkey)
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

static void send_job(struct fconn *c, uint64_t id, const char *name, const int32_t *prompt,
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
static void gen_put(struct gen *g, int32_t id, float lp, uint32_t top_n, const int32_t *tids,
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

static void add_tokens(struct gen *g, const struct proto_tokens *t)
{
    assert_int_equal(t->seq, g->n);     /* contiguous, from 0 */
    for (uint32_t i = 0; i < t->n; i++) /* the top arrays are NULL when top_n is 0 */
        gen_put(g, t->ids[i], t->logprobs[i], t->top_n, t->top_n ? t->top_ids + i * t->top_n : NULL,
                t->top_n ? t->top_logprobs + i * t->top_n : NULL);
}

/* Read until the reply to job request id; tokens of `name` are collected.
 * on_first (if set) runs once after the first tokens arrive. */
static void collect(struct fconn *c, uint64_t id, const char *name, struct gen *g,
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
static void expect_job_error(struct fconn *c, uint64_t id, const int32_t *prompt, uint32_t np,
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

static int ref_cb(void *ud, const struct eng_pick *p)
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
static void reference_on(struct eng_ctx *c, struct eng_sampler *sm, const int32_t *prompt,
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

static void reference(const int32_t *prompt, uint32_t np, uint32_t max_tokens, float temp,
                      uint32_t top_n, struct gen *g)
{
    reference_on(ref_ctx, ref_sampler, prompt, np, max_tokens, temp, top_n, g);
}

static void assert_same_tokens(const struct gen *got, const struct gen *want)
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

static void print_relay(const char *what, const struct miner_stats *st)
{
    fprintf(stderr,
            "%s: engine callback -> socket write over %llu lines: mean %.0f us, "
            "p50 %.0f, p99 %.0f, max %.0f; of which callback -> loop: mean %.0f, p50 %.0f, "
            "p99 %.0f\n",
            what, (unsigned long long)st->relay_n, st->relay_mean_us, st->relay_p50_us,
            st->relay_p99_us, st->relay_max_us, st->wake_mean_us, st->wake_p50_us, st->wake_p99_us);
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

static void *miner_main(void *arg)
{
    miner_run(arg);
    return NULL;
}

/* Start a miner that knows n_pools fresh listeners (tweak adjusts its cfg). */
static void session_start(struct session *s, int n_pools, void (*tweak)(struct miner_cfg *c))
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
static void session_join(struct session *s, int i)
{
    pool_accept(s->lfd[i], &s->c[i]);
    pool_handshake(&s->c[i], s->pk);
}

/* One pool, one served session. */
static void session_open(struct session *s, void (*tweak)(struct miner_cfg *c))
{
    session_start(s, 1, tweak);
    session_join(s, 0);
}

/* The miner left pool i (or must reconnect after the pool closed): it comes back. */
static void session_rejoin(struct session *s, int i)
{
    fc_close(&s->c[i]);
    session_join(s, i);
}

static void session_close(struct session *s)
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

/* ---- tests ---- */

static const int32_t prompt7[] = {0, 300, 301, 302, 303, 304, 305};

/* hello fields, the signature and the offer are checked inside the handshake;
 * then a greedy and a sampled job stream exactly what eng_generate produces. */
static void test_handshake_and_jobs(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    struct gen *got = malloc(sizeof *got), *want = malloc(sizeof *want);

    send_job(&s.c[0], 1, "greedy-1", prompt7, 7, 48, 0, 3);
    collect(&s.c[0], 1, "greedy-1", got, NULL);
    reference(prompt7, 7, 48, 0, 3, want);
    assert_false(got->failed);
    assert_same_tokens(got, want);
    assert_int_equal(got->done.n, want->n);
    assert_int_equal(got->done.finish, want->n < 48 ? PROTO_FIN_EOG : PROTO_FIN_LENGTH);
    assert_true(got->done.gen_ms > 0);
    uint32_t n1 = got->n;

    send_job(&s.c[0], 2, "sampled-1", prompt7, 7, 40, 0.8f, 0);
    collect(&s.c[0], 2, "sampled-1", got, NULL);
    reference(prompt7, 7, 40, 0.8f, 0, want);
    assert_same_tokens(got, want);

    struct miner_stats st;
    miner_get_stats(s.m, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.jobs, 2);
    assert_int_equal(st.tokens, n1 + got->n);
    print_relay("generated model", &st);
    free(got);
    free(want);
    session_close(&s);
}

static void send_cancel(struct fconn *c, const char *name)
{
    struct proto_cancel k;
    snprintf(k.job, sizeof k.job, "%s", name);
    fc_notify(c, PM_CANCEL, proto_cancel_encode(&k));
}

/* A long job is stopped by cancel; its slot is free again right after. */
static void test_cancel(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    struct gen *got = malloc(sizeof *got), *want = malloc(sizeof *want);
    uint32_t max = MODEL_CTX - 7;
    send_job(&s.c[0], 1, "long-1", prompt7, 7, max, 0.8f, 0);
    collect(&s.c[0], 1, "long-1", got, send_cancel);
    assert_false(got->failed);
    assert_int_equal(got->done.finish, PROTO_FIN_CANCELLED);
    assert_int_equal(got->done.n, got->n);
    assert_true(got->n >= 1 && got->n < max);
    /* what was sent before the cancel is still the true continuation */
    reference(prompt7, 7, got->n, 0.8f, 0, want);
    assert_same_tokens(got, want);

    send_job(&s.c[0], 2, "after-1", prompt7, 7, 4, 0, 0);
    collect(&s.c[0], 2, "after-1", got, NULL);
    assert_false(got->failed);
    assert_true(got->n >= 1);
    free(got);
    free(want);
    session_close(&s);
}

/* Hostile requests get the right error codes and the miner keeps serving. */
static void test_hostile_jobs(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    struct fconn *c = &s.c[0];
    int32_t bad_ids[] = {0, 5, n_vocab};
    expect_job_error(c, 10, bad_ids, 3, 4, PROTO_ERR_PARAMS); /* id >= vocab */
    expect_job_error(c, 11, prompt7, 7, MODEL_CTX - 6, PROTO_ERR_TOO_LARGE);
    expect_job_error(c, 12, prompt7, 7, PROTO_MAX_GEN + 1, PROTO_ERR_PARAMS); /* absurd */
    fc_raw(c, "{\"id\":13,\"method\":\"job\",\"params\":{\"job\":\"x\",\"model\":\"" POOL_MODEL
              "\",\"prompt\":[1,\"two\"],\"max_tokens\":4,\"temperature\":0,\"seed\":1}}\n");
    expect_reply(c, 13, PROTO_ERR_PARAMS, NULL);
    fc_raw(c, "{\"id\":14,\"method\":\"job\",\"params\":{\"job\":\"y\",\"model\":\"nope\","
              "\"prompt\":[1,2],\"max_tokens\":4,\"temperature\":0,\"seed\":1}}\n");
    expect_reply(c, 14, PROTO_ERR_MODEL, NULL);
    fc_raw(c, "{\"id\":15,\"method\":\"mine-bitcoin\",\"params\":{}}\n");
    expect_reply(c, 15, PROTO_ERR_METHOD, NULL);
    fc_raw(c, "{\"id\":16,\"method\":\"ping\"}\n");
    expect_reply(c, 16, 0, NULL);

    /* more jobs than slots: the second is refused, not queued */
    struct gen *g = malloc(sizeof *g);
    send_job(c, 20, "busy-1", prompt7, 7, MODEL_CTX - 7, 0.8f, 0);
    expect_job_error(c, 21, prompt7, 7, 4, PROTO_ERR_BUSY);
    send_cancel(c, "busy-1");
    collect(c, 20, "busy-1", g, NULL);
    assert_int_equal(g->done.finish, PROTO_FIN_CANCELLED);
    send_job(c, 22, "fine-1", prompt7, 7, 8, 0, 0);
    collect(c, 22, "fine-1", g, NULL);
    assert_false(g->failed);
    assert_true(g->n >= 1);
    free(g);

    /* a line over the limit: dropped, and the miner comes back */
    size_t big = PROTO_MAX_LINE + 16;
    char *junk = malloc(big);
    memset(junk, 'x', big);
    fc_write(c, junk, big);
    free(junk);
    assert_true(fc_eof(c, T_IO));
    session_rejoin(&s, 0);

    /* garbage: an error reply without id, dropped, back again */
    fc_raw(c, "this is not json\n");
    expect_reply(c, PROTO_NO_ID, PROTO_ERR_PARSE, NULL);
    assert_true(fc_eof(c, T_IO));
    session_rejoin(&s, 0);
    session_close(&s);
}

/* An audit: the reply is eng_score's, position by position. */
static void test_score(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    int32_t completion[] = {7, 8, 9, 300, 1, 44};
    struct proto_score sc = {.job = "audit-1",
                             .model = POOL_MODEL,
                             .n_prompt = 7,
                             .prompt = (int32_t *)prompt7,
                             .n_completion = 6,
                             .completion = completion};
    fc_request(&s.c[0], 5, PM_SCORE, proto_score_encode(&sc));
    struct proto_msg m;
    struct proto_scored r;
    char err[FIEF_ERR_LEN];
    expect_reply(&s.c[0], 5, 0, &m);
    assert_int_equal(proto_scored_decode(m.result, &r, err), 0);
    struct eng_score_tok want[6];
    assert_int_equal(eng_score(ref_ctx, prompt7, 7, completion, 6, want), 0);
    assert_int_equal(r.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_true(r.logprobs[i] == want[i].logprob);
        assert_int_equal(r.top_ids[i], want[i].top_id);
        assert_true(r.top_logprobs[i] == want[i].top_logprob);
    }
    proto_scored_clear(&r);
    proto_msg_clear(&m);

    int32_t bad[] = {1, n_vocab + 5};
    sc.completion = bad;
    sc.n_completion = 2;
    fc_request(&s.c[0], 6, PM_SCORE, proto_score_encode(&sc));
    expect_reply(&s.c[0], 6, PROTO_ERR_PARAMS, NULL);
    session_close(&s);
}

static void short_liveness(struct miner_cfg *c)
{
    c->ping_s = 0.2;
    c->silence_s = 0.9;
}

static void send_notice(struct fconn *c, enum proto_notice_kind kind, uint32_t fee_ppm,
                        const char *url)
{
    struct proto_notice n = {.kind = kind, .fee_ppm = fee_ppm, .message = "from the test"};
    snprintf(n.url, sizeof n.url, "%s", url ? url : "");
    fc_notify(c, PM_NOTICE, proto_notice_encode(&n));
}

/* A silent pool is pinged, then dropped; the miner reconnects (and a job sent
 * before the new offer is answered is refused as too early). So it does when
 * the pool closes the socket, and after a shutdown notice. */
static void test_liveness_and_reconnect(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, short_liveness);
    struct fconn *c = &s.c[0];
    struct proto_msg m;
    expect_request(c, PM_PING, &m); /* before the silence limit, or this reads EOF */
    fc_result(c, m.id, json_object());
    proto_msg_clear(&m);
    expect_request(c, PM_PING, &m); /* unanswered this time */
    proto_msg_clear(&m);
    assert_true(fc_eof(c, 3));
    fc_close(c);
    pool_accept(s.lfd[0], c);
    struct proto_welcome w;
    pool_welcome(c, s.pk, 0, &w);
    pool_admit(c, s.pk, &w, true);

    session_rejoin(&s, 0); /* we closed it */
    send_notice(c, PROTO_NOTICE_SHUTDOWN, 0, NULL);
    assert_true(fc_eof(c, T_IO));
    session_rejoin(&s, 0);
    struct miner_stats st;
    double end = clock_mono_s() + T_IO; /* the last verdicts may still be in flight */
    do
        miner_get_stats(s.m, &st);
    while (st.sessions < 4 && clock_mono_s() < end && usleep(1000) == 0);
    assert_int_equal(st.sessions, 4);
    session_close(&s);
}

/* A receipt as the pool signs it: miner earns amount of cost for 10 tokens,
 * signed with sk (the canonical form: sorted keys, compact). */
static json_t *signed_receipt(const char *req, const char *miner, int64_t amount,
                              const unsigned char *sk)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:i, "
                          "s:[{s:s, s:i, s:I}], s:I}",
                          "v", 1, "pool", "test pool", "pool_key", pool_pk_hex, "request", req,
                          "model", POOL_MODEL, "digest", want_offer.digest, "prompt_tokens", 7,
                          "completion_tokens", 10, "price_in", 1000000, "price_out", 2000000,
                          "cost", (json_int_t)(amount + 1), "fee", (json_int_t)1, "fee_ppm",
                          20000, "miners", "miner", miner, "tokens", 10, "amount",
                          (json_int_t)amount, "time_ms", (json_int_t)1795621123918);
    char *msg = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char sig[64];
    char hex[129];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), sk);
    hex_encode(sig, sizeof sig, hex);
    json_object_set_new(o, "signature", json_string(hex));
    free(msg);
    return o;
}

static void send_receipt(struct fconn *c, const char *req, json_t *receipt)
{
    struct proto_receipt r = {.receipt = receipt};
    snprintf(r.request, sizeof r.request, "%s", req);
    fc_notify(c, PM_RECEIPT, proto_receipt_encode(&r));
    json_decref(receipt);
}

/* Whether the miner's DATA/name holds text, within wait_s seconds. */
static bool filed(const char *name, const char *text, double wait_s)
{
    char path[700];
    snprintf(path, sizeof path, "%s/data/%s", tu_tmpdir(), name);
    double end = clock_mono_s() + wait_s;
    do {
        size_t len;
        char *t = tu_read_file(path, &len);
        bool hit = t && strstr(t, text);
        free(t);
        if (hit)
            return true;
    } while (clock_mono_s() < end && usleep(2000) == 0);
    return false;
}

/* Receipts signed with the key the hello reply published are filed in
 * DATA/receipts.jsonl; one signed by another key is kept aside; a malformed
 * notification is ignored, and the session carries on. */
static void test_receipts(void **state)
{
    (void)state;
    struct session s;
    unsigned char other_pk[32], other_sk[64];
    crypto_sign_keypair(other_pk, other_sk);
    session_open(&s, NULL);
    send_receipt(&s.c[0], "chatcmpl-good1", signed_receipt("chatcmpl-good1", s.pk, 1234, pool_sk));
    send_receipt(&s.c[0], "chatcmpl-forged1",
                 signed_receipt("chatcmpl-forged1", s.pk, 999999, other_sk));
    fc_raw(&s.c[0], "{\"method\":\"receipt\",\"params\":{\"request\":\"x\",\"receipt\":[]}}\n");
    assert_true(filed("receipts.jsonl", "\"request\":\"chatcmpl-good1\"", T_IO));
    assert_true(filed("receipts.rejected.jsonl", "\"request\":\"chatcmpl-forged1\"", T_IO));
    assert_false(filed("receipts.jsonl", "chatcmpl-forged1", 0)); /* filed in order: not later */
    /* still serving */
    struct gen *got = malloc(sizeof *got);
    send_job(&s.c[0], 1, "after-receipts", prompt7, 7, 4, 0, 0);
    collect(&s.c[0], 1, "after-receipts", got, NULL);
    assert_false(got->failed);
    free(got);
    session_close(&s);
}

/* The first pool goes away: the miner fails over to the second; when the
 * first is back, a probe finds it and the miner returns. */
static void test_failover_and_return(void **state)
{
    (void)state;
    struct session s;
    session_start(&s, 2, NULL);
    session_join(&s, 0);
    int port_a = net_local_port(s.lfd[0]);
    fc_close(&s.c[0]);
    close(s.lfd[0]);
    session_join(&s, 1);

    s.lfd[0] = pool_listen(port_a, s.url[0], sizeof s.url[0]);
    session_join(&s, 0);                /* the probe, then the whole handshake */
    assert_true(fc_eof(&s.c[1], T_IO)); /* the backup was left */
    struct gen *g = malloc(sizeof *g);
    send_job(&s.c[0], 1, "back-1", prompt7, 7, 3, 0, 0);
    collect(&s.c[0], 1, "back-1", g, NULL);
    assert_false(g->failed);
    free(g);
    session_close(&s);
}

static void max_fee_1pct(struct miner_cfg *c)
{
    c->max_fee_pct = 1.0;
}

/* A pool charging more than --max-fee is left before auth, and so is one
 * that raises its fee later; a redirect notice is followed. */
static void test_fee_and_redirect(void **state)
{
    (void)state;
    struct session s;
    struct proto_welcome w;
    session_start(&s, 2, max_fee_1pct);
    pool_accept(s.lfd[0], &s.c[0]);
    pool_welcome(&s.c[0], s.pk, 50000, &w); /* 5% */
    assert_true(fc_eof(&s.c[0], T_IO));     /* no auth: it left */
    fc_close(&s.c[0]);
    pool_accept(s.lfd[1], &s.c[1]);
    pool_welcome(&s.c[1], s.pk, 5000, &w); /* 0.5% */
    pool_admit(&s.c[1], s.pk, &w, false);

    send_notice(&s.c[1], PROTO_NOTICE_FEE, 20000, NULL);
    assert_true(fc_eof(&s.c[1], T_IO));
    session_join(&s, 0); /* back to the first (1% now), which redirects to the second */
    send_notice(&s.c[0], PROTO_NOTICE_REDIRECT, 0, s.url[1]);
    assert_true(fc_eof(&s.c[0], T_IO));
    session_rejoin(&s, 1);
    session_close(&s);
}

static const char *stories_path;

static void serve_stories(struct miner_cfg *c)
{
    c->models[0].path = stories_path;
    c->models[0].name = "stories";
}

/* The greedy path on the shared stories model, when it is there. */
static void test_stories_model(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "stories260K.gguf");
    struct offer_want saved = want_offer;
    struct eng_model *sm;
    struct eng_ctx *sc;
    struct eng_model_info info;
    char err[FIEF_ERR_LEN];
    assert_int_equal(eng_model_load(path, &sm, err), 0);
    eng_model_get_info(sm, &info);
    stories_path = path;
    want_offer.name = "stories";
    want_offer.ctx = info.n_ctx_train < 4096 ? (uint32_t)info.n_ctx_train : 4096;
    assert_int_equal(digest_file(path, want_offer.digest, err), 0);
    struct session s;
    session_open(&s, serve_stories);

    assert_int_equal(eng_ctx_new(sm, (int32_t)want_offer.ctx, ref_threads, &sc, err), 0);
    struct eng_sampler *ss = eng_sampler_new(info.n_vocab);
    int32_t prompt[] = {1, 403, 407, 261, 378};
    struct gen *got = malloc(sizeof *got), *want = malloc(sizeof *want);
    reference_on(sc, ss, prompt, 5, 100, 0, 2, want);
    send_job(&s.c[0], 1, "story-1", prompt, 5, 100, 0, 2);
    collect(&s.c[0], 1, "story-1", got, NULL);
    assert_same_tokens(got, want);
    struct miner_stats st;
    miner_get_stats(s.m, &st);
    print_relay("stories260K", &st);
    free(got);
    free(want);
    eng_sampler_free(ss);
    eng_ctx_free(sc);
    eng_model_free(sm);
    session_close(&s);
    want_offer = saved;
}

int main(void)
{
    const char *lvl = getenv("FIEF_LOG_LEVEL"); /* e.g. debug, to follow a failure */
    if (lvl)
        log_level_parse(lvl, &log_level);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_jobs),     cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_hostile_jobs),           cmocka_unit_test(test_score),
        cmocka_unit_test(test_liveness_and_reconnect), cmocka_unit_test(test_failover_and_return),
        cmocka_unit_test(test_fee_and_redirect),       cmocka_unit_test(test_stories_model),
        cmocka_unit_test(test_receipts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
