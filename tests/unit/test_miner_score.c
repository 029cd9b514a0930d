/* SPDX-License-Identifier: MIT */
/* The miner as an auditor, against the fake pool of tu_miner.h: score
 * requests answered with eng_score's results (greedy, and with a job's
 * sampling: its picks and margins), a sampled job the miner generated audited
 * back to picks equal to its tokens, a forged token caught by its margin,
 * hostile score requests, a validator that offers only scoring, and a miner
 * on the portable kernels (--no-simd). */
#include "tu_miner.h"

#include "engine/quant.h"

#include <math.h>

/* The sampling send_job uses for a sampled job at temperature temp. */
static struct proto_sampling job_sampling(float temp)
{
    return (struct proto_sampling){
        .temperature = temp, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.1f, .seed = 42};
}

static struct eng_sampling engine_sampling(const struct proto_sampling *q)
{
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    sp.temperature = q->temperature;
    sp.top_k = q->top_k;
    sp.top_p = q->top_p;
    sp.min_p = q->min_p;
    sp.repeat_penalty = q->repeat_penalty;
    sp.seed = q->seed;
    sp.repeat_last_n = PROTO_REPEAT_LAST_N;
    return sp;
}

/* Ask for a score of completion[0..nc) after prompt7 (sampled when q is
 * given) and decode the result into r (the caller clears it). */
static void score_on(struct fconn *c, uint64_t id, const int32_t *completion, uint32_t nc,
                     const struct proto_sampling *q, struct proto_scored *r)
{
    struct proto_score sc = {.job = "audit-1",
                             .model = POOL_MODEL,
                             .n_prompt = 7,
                             .prompt = (int32_t *)prompt7,
                             .n_completion = nc,
                             .completion = (int32_t *)completion,
                             .has_sampling = q != NULL};
    if (q)
        sc.sampling = *q;
    fc_request(c, id, PM_SCORE, proto_score_encode(&sc));
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    expect_reply(c, id, 0, &m);
    if (proto_scored_decode(m.result, r, err))
        fail_msg("score result: %s", err);
    proto_msg_clear(&m);
    assert_int_equal(r->n, nc);
}

/* The reply is eng_score's on the reference engine, to the bit. */
static void assert_scored_is_engines(const struct proto_scored *r, const int32_t *completion,
                                     uint32_t nc, const struct proto_sampling *q)
{
    struct eng_score_tok *want = calloc(nc, sizeof *want);
    struct eng_sampling sp = q ? engine_sampling(q) : (struct eng_sampling){0};
    assert_int_equal(eng_score(ref_ctx, ref_sampler, q ? &sp : NULL, prompt7, 7, completion, nc,
                               want),
                     0);
    for (uint32_t i = 0; i < nc; i++) {
        assert_true(r->logprobs[i] == want[i].logprob);
        assert_int_equal(r->top_ids[i], want[i].top_id);
        assert_true(r->top_logprobs[i] == want[i].top_logprob);
        assert_int_equal(r->picks[i], want[i].pick);
        assert_true(r->margins[i] == want[i].margin);
        assert_non_null(r->pick_logprobs);
        assert_true(r->pick_logprobs[i] == want[i].pick_logprob);
        if (want[i].pick == completion[i]) /* the same token, the same number */
            assert_true(want[i].pick_logprob == want[i].logprob);
    }
    free(want);
}

/* Without sampling the picks are greedy: the top-1, margins its logit gap. */
static void test_score_greedy(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    int32_t completion[] = {7, 8, 9, 300, 1, 44};
    struct proto_scored r;
    score_on(&s.c[0], 5, completion, 6, NULL, &r);
    assert_scored_is_engines(&r, completion, 6, NULL);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r.picks[i], r.top_ids[i]);
        assert_true((r.margins[i] == 0) == (completion[i] == r.top_ids[i]));
    }
    proto_scored_clear(&r);

    /* a greedy job's tokens are their own picks, margins 0 */
    struct gen *g = malloc(sizeof *g);
    send_job(&s.c[0], 6, "greedy-1", prompt7, 7, 24, 0, 0);
    collect(&s.c[0], 6, "greedy-1", g, NULL);
    score_on(&s.c[0], 7, g->ids, g->n, NULL, &r);
    for (uint32_t i = 0; i < g->n; i++) {
        assert_int_equal(r.picks[i], g->ids[i]);
        assert_true(r.margins[i] == 0);
        assert_true(r.logprobs[i] == g->lps[i]);
    }
    proto_scored_clear(&r);
    free(g);
    session_close(&s);
}

/* A sampled job, audited with its own sampling and seed: every pick is the
 * token the miner sent, every margin 0; a forged token stands out. */
static void test_score_sampled(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    struct gen *g = malloc(sizeof *g);
    send_job(&s.c[0], 1, "sampled-1", prompt7, 7, 40, 0.8f, 0);
    collect(&s.c[0], 1, "sampled-1", g, NULL);
    assert_true(g->n >= 2);
    struct proto_sampling q = job_sampling(0.8f);
    struct proto_scored r;
    score_on(&s.c[0], 2, g->ids, g->n, &q, &r);
    assert_scored_is_engines(&r, g->ids, g->n, &q);
    for (uint32_t i = 0; i < g->n; i++) {
        assert_int_equal(r.picks[i], g->ids[i]);
        assert_true(r.margins[i] == 0);
        assert_true(r.logprobs[i] == g->lps[i]);
    }
    proto_scored_clear(&r);

    /* another seed: the same tokens are mostly not what it picks */
    q.seed = 43;
    score_on(&s.c[0], 3, g->ids, g->n, &q, &r);
    assert_scored_is_engines(&r, g->ids, g->n, &q);
    uint32_t off = 0;
    for (uint32_t i = 0; i < g->n; i++)
        off += r.margins[i] > 0;
    assert_true(off > 0);
    proto_scored_clear(&r);

    /* the last token forged: its margin is positive, the others unchanged */
    q.seed = 42;
    int32_t last = g->ids[g->n - 1];
    g->ids[g->n - 1] = last == 300 ? 301 : 300;
    score_on(&s.c[0], 4, g->ids, g->n, &q, &r);
    assert_int_equal(r.picks[g->n - 1], last);
    assert_true(r.margins[g->n - 1] > 0 && r.margins[g->n - 1] <= 1);
    assert_true(r.margins[0] == 0);
    proto_scored_clear(&r);
    free(g);
    session_close(&s);
}

/* Score requests the miner cannot serve get the right errors; it serves on. */
static void test_score_hostile(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, NULL);
    struct fconn *c = &s.c[0];
    int32_t bad[] = {1, n_vocab + 5};
    struct proto_score sc = {.job = "audit-2",
                             .model = POOL_MODEL,
                             .n_prompt = 7,
                             .prompt = (int32_t *)prompt7,
                             .n_completion = 2,
                             .completion = bad};
    fc_request(c, 6, PM_SCORE, proto_score_encode(&sc));
    expect_reply(c, 6, PROTO_ERR_PARAMS, NULL);
    fc_raw(c, "{\"id\":7,\"method\":\"score\",\"params\":{\"job\":\"a\",\"model\":\"" POOL_MODEL
              "\",\"prompt\":[1],\"completion\":[2],\"sampling\":{\"temperature\":-1,"
              "\"seed\":1}}}\n");
    expect_reply(c, 7, PROTO_ERR_PARAMS, NULL);
    fc_raw(c, "{\"id\":8,\"method\":\"score\",\"params\":{\"job\":\"a\",\"model\":\"" POOL_MODEL
              "\",\"prompt\":[1],\"completion\":[2],\"sampling\":{\"temperature\":1}}}\n");
    expect_reply(c, 8, PROTO_ERR_PARAMS, NULL); /* no seed */
    int32_t ok[] = {5};
    struct proto_scored r;
    score_on(c, 9, ok, 1, NULL, &r);
    proto_scored_clear(&r);
    session_close(&s);
}

static void as_validator(struct miner_cfg *c)
{
    c->validator = true;
}

/* A validator offers only "score" and refuses jobs, but audits. */
static void test_validator(void **state)
{
    (void)state;
    struct offer_want saved = want_offer;
    want_offer.caps = PROTO_CAP_SCORE; /* pool_admit checks the offer */
    struct session s;
    session_open(&s, as_validator);
    expect_job_error(&s.c[0], 1, prompt7, 7, 4, PROTO_ERR_MODEL);
    int32_t completion[] = {7, 8, 9};
    struct proto_sampling q = job_sampling(1.0f);
    struct proto_scored r;
    score_on(&s.c[0], 2, completion, 3, &q, &r);
    assert_scored_is_engines(&r, completion, 3, &q);
    proto_scored_clear(&r);
    session_close(&s);
    want_offer = saved;
}

static void portable(struct miner_cfg *c)
{
    c->no_simd = true;
}

/* --no-simd switches the process to the portable kernels; an honest job
 * still audits clean on them (other summation order, same picks here). */
static void test_no_simd(void **state)
{
    (void)state;
    struct session s;
    session_open(&s, portable);
    assert_string_equal(quant_simd_name(), "portable");
    struct gen *g = malloc(sizeof *g);
    send_job(&s.c[0], 1, "sampled-2", prompt7, 7, 24, 0.8f, 0);
    collect(&s.c[0], 1, "sampled-2", g, NULL);
    struct proto_sampling q = job_sampling(0.8f);
    struct proto_scored r;
    score_on(&s.c[0], 2, g->ids, g->n, &q, &r);
    for (uint32_t i = 0; i < g->n; i++) {
        assert_int_equal(r.picks[i], g->ids[i]);
        assert_true(r.margins[i] == 0);
    }
    proto_scored_clear(&r);
    session_close(&s);
    quant_set_simd(true);
    /* An auditor on the SIMD kernels sees the same distribution up to float
     * noise: log-probs within it, and now and then another pick, where the
     * draw falls next to a boundary or two near-equal candidates swap places
     * in the sorted list (the margin is then about the other's share). */
    struct eng_score_tok *t = calloc(g->n, sizeof *t);
    struct eng_sampling sp = engine_sampling(&q);
    assert_int_equal(eng_score(ref_ctx, ref_sampler, &sp, prompt7, 7, g->ids, g->n, t), 0);
    uint32_t differ = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        assert_true(fabsf(t[i].logprob - g->lps[i]) < 2e-3f);
        differ += t[i].pick != g->ids[i];
        assert_true((t[i].pick == g->ids[i]) == (t[i].margin == 0));
    }
    assert_true(differ <= g->n / 4);
    print_message("portable miner audited on %s: %u of %u picks differ\n", quant_simd_name(),
                  differ, g->n);
    free(t);
    free(g);
}

int main(void)
{
    const char *lvl = getenv("FIEF_LOG_LEVEL"); /* e.g. debug, to follow a failure */
    if (lvl)
        log_level_parse(lvl, &log_level);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_greedy),  cmocka_unit_test(test_score_sampled),
        cmocka_unit_test(test_score_hostile), cmocka_unit_test(test_validator),
        cmocka_unit_test(test_no_simd),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
