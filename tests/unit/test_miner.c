/* SPDX-License-Identifier: MIT */
/* The miner against a pool played by this test: real loopback sockets, the
 * real engine on a generated model, the miner running in-process on its own
 * thread. The test speaks the protocol with proto.h's codecs and checks the
 * handshake, streamed tokens against eng_generate, cancel, hostile jobs,
 * liveness, reconnect, failover, fees and redirects, and receipts. The fake
 * pool is tu_miner.h; test_miner_score.c covers audits (score requests, the
 * validator) and test_miner_setup.c the key file and the configuration. */
#include "tu_miner.h"

static void print_relay(const char *what, const struct miner_stats *st)
{
    fprintf(stderr,
            "%s: engine callback -> socket write over %llu lines: mean %.0f us, "
            "p50 %.0f, p99 %.0f, max %.0f; of which callback -> loop: mean %.0f, p50 %.0f, "
            "p99 %.0f\n",
            what, (unsigned long long)st->relay_n, st->relay_mean_us, st->relay_p50_us,
            st->relay_p99_us, st->relay_max_us, st->wake_mean_us, st->wake_p50_us, st->wake_p99_us);
}

/* ---- tests ---- */

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
        cmocka_unit_test(test_hostile_jobs),
        cmocka_unit_test(test_liveness_and_reconnect), cmocka_unit_test(test_failover_and_return),
        cmocka_unit_test(test_fee_and_redirect),       cmocka_unit_test(test_stories_model),
        cmocka_unit_test(test_receipts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
