/* SPDX-License-Identifier: MIT */
/* fief-rogue's cheats (tests/tools/rogue.h) on a generated model: when they
 * cheat (--cheat-after, --cheat-rate), and what each one reports where the
 * honest miner would report eng_generate's tokens or eng_score's results:
 * random ids, forged log-probs, a replayed completion, an early fake eog, a
 * smaller model's tokens, seen prompts answered honestly, lying scores. */
#include "testutil.h"

#include "../tools/rogue.h"
#include "common/log.h"
#include "engine/genmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX 256
#define MAXN 64

static char big_path[512], small_path[512];
static struct eng_model *big;
static struct eng_threads *threads;
static struct eng_ctx *ctx;
static struct eng_sampler *sampler;
static int32_t n_vocab;

static int write_model(const char *path, int32_t dim, int32_t layers, uint64_t seed)
{
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.dim = dim;
    s.layers = layers;
    s.seed = seed;
    char err[FIEF_ERR_LEN];
    int rc = genmodel_write(path, &s, err);
    if (rc)
        fprintf(stderr, "genmodel: %s\n", err);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN];
    log_level = LOG_LVL_WARN; /* the rogue's per-job lines */
    snprintf(big_path, sizeof big_path, "%s/rogue-big.gguf", tu_tmpdir());
    snprintf(small_path, sizeof small_path, "%s/rogue-small.gguf", tu_tmpdir());
    if (write_model(big_path, 64, 2, 1) || write_model(small_path, 32, 1, 2) ||
        eng_model_load(big_path, &big, err))
        return -1;
    struct eng_model_info info;
    eng_model_get_info(big, &info);
    n_vocab = info.n_vocab;
    threads = eng_threads_new(1);
    if (!threads || eng_ctx_new(big, CTX, threads, &ctx, err) ||
        !(sampler = eng_sampler_new(n_vocab)))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    eng_sampler_free(sampler);
    eng_ctx_free(ctx);
    eng_threads_free(threads);
    eng_model_free(big);
    return 0;
}

/* ---- a job through the hook, and the honest reference ---- */

struct got {
    struct eng_pick p[MAXN];
    uint32_t n;
    uint32_t stop_at; /* the cb asks to stop after this many (0: never) */
};

static int collect(void *ud, const struct eng_pick *p)
{
    struct got *g = ud;
    if (g->n < MAXN)
        g->p[g->n] = *p;
    g->n++;
    return g->stop_at && g->n >= g->stop_at;
}

static const int32_t PROMPT[] = {1, 40, 41, 42, 43, 44};
static const int32_t PROMPT2[] = {1, 50, 60, 70};

static struct eng_sampling sampling(float temperature, uint64_t seed)
{
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    sp.temperature = temperature;
    sp.seed = seed;
    sp.top_k = 40;
    sp.repeat_last_n = 64;
    return sp;
}

static struct miner_gen job(const struct eng_sampling *sp, const int32_t *prompt, uint32_t np,
                            uint32_t max_tokens, int top_n)
{
    struct miner_gen j = {.slot = 0,
                          .model = 0,
                          .engine = big,
                          .n_vocab = n_vocab,
                          .n_ctx = CTX,
                          .ctx = ctx,
                          .sampler = sampler,
                          .threads = threads,
                          .sp = sp,
                          .prompt = prompt,
                          .n_prompt = np,
                          .max_tokens = max_tokens,
                          .top_n = top_n};
    return j;
}

static void run(struct rogue *r, const struct miner_gen *j, struct got *g)
{
    memset(g, 0, sizeof *g);
    struct eng_gen_stats st = {0};
    assert_int_equal(rogue_generate(r, j, collect, g, &st), 0);
    assert_true(g->n <= j->max_tokens);
}

static void honest(const struct miner_gen *j, struct got *g)
{
    memset(g, 0, sizeof *g);
    struct eng_gen_stats st = {0};
    assert_int_equal(eng_generate(j->ctx, j->sampler, j->sp, j->prompt, j->n_prompt,
                                  (int32_t)j->max_tokens, j->top_n, collect, g, &st),
                     0);
}

static bool same_ids(const struct got *a, const struct got *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (a->p[i].id != b->p[i].id)
            return false;
    return true;
}

static void start(struct rogue *r, enum rogue_kind k, void (*tweak)(struct rogue_opts *))
{
    struct rogue_opts o;
    rogue_opts_defaults(&o);
    o.kind = k;
    o.small = small_path;
    if (tweak)
        tweak(&o);
    char err[FIEF_ERR_LEN] = "";
    int rc = rogue_init(r, &o, big_path, 1, err);
    if (rc)
        fail_msg("rogue_init: %s", err);
}

/* ---- when ---- */

static void test_decide(void **state)
{
    (void)state;
    struct rogue r;
    struct rogue_opts o;
    rogue_opts_defaults(&o);
    o.after = 3;
    char err[FIEF_ERR_LEN];
    assert_int_equal(rogue_init(&r, &o, big_path, 1, err), 0);
    uint64_t c = 0, idx;
    for (int i = 0; i < 3; i++)
        assert_false(rogue_decide(&r, &c, &idx));
    assert_int_equal(idx, 2);
    for (int i = 0; i < 10; i++)
        assert_true(rogue_decide(&r, &c, NULL));
    assert_int_equal(r.cheated, 10);
    assert_int_equal(r.honest, 3);
    rogue_deinit(&r);

    /* A rate: about that share, and the same draws for the same seed. */
    o.after = 0;
    o.rate = 0.25;
    int yes[2] = {0, 0};
    bool first[64];
    for (int run = 0; run < 2; run++) {
        assert_int_equal(rogue_init(&r, &o, big_path, 1, err), 0);
        c = 0;
        for (int i = 0; i < 1000; i++) {
            bool d = rogue_decide(&r, &c, NULL);
            yes[run] += d;
            if (i < 64 && !run)
                first[i] = d;
            else if (i < 64)
                assert_int_equal(first[i], d);
        }
        rogue_deinit(&r);
    }
    assert_int_equal(yes[0], yes[1]);
    assert_true(yes[0] > 180 && yes[0] < 320);
    o.rate = 0;
    assert_int_equal(rogue_init(&r, &o, big_path, 1, err), 0);
    c = 0;
    for (int i = 0; i < 100; i++)
        assert_false(rogue_decide(&r, &c, NULL));
    rogue_deinit(&r);
}

static void test_set(void **state)
{
    (void)state;
    struct rogue_set s = {0};
    for (uint64_t i = 0; i < 1000; i++)
        assert_false(rogue_set_add(&s, i * 7919));
    for (uint64_t i = 0; i < 1000; i++)
        assert_true(rogue_set_add(&s, i * 7919));
    assert_int_equal(s.n, 1000);
    rogue_set_free(&s);
    uint64_t a = rogue_prompt_hash(0, PROMPT, 6), b = rogue_prompt_hash(0, PROMPT, 5);
    assert_true(a != b);
    assert_true(a != rogue_prompt_hash(1, PROMPT, 6));
    assert_true(a == rogue_prompt_hash(0, PROMPT, 6));
}

static void test_pieces(void **state)
{
    (void)state;
    const struct eng_vocab *v = eng_model_vocab(big);
    uint64_t rng = 5;
    for (int i = 0; i < 500; i++) {
        struct eng_pick p;
        rogue_random_pick(&rng, v, n_vocab, 3, &p);
        assert_true(p.id >= 0 && p.id < n_vocab);
        assert_false(eng_vocab_is_eog(v, p.id));
        assert_true(p.id != eng_vocab_bos(v));
        assert_true(p.logprob <= -0.05f && p.logprob >= -3.06f);
        assert_int_equal(p.n_top, 3);
        assert_int_equal(p.top[0].id, p.id);
        assert_true(p.top[1].logprob < p.top[0].logprob && p.top[2].logprob < p.top[1].logprob);
    }
    struct rogue_opts o;
    rogue_opts_defaults(&o);
    assert_true(rogue_forge_lp(&o, -3.0f) == -0.01f);
    o.forge_shift = true;
    o.forge_add = 1.0f;
    assert_true(rogue_forge_lp(&o, -3.0f) == -2.0f);
    assert_true(rogue_forge_lp(&o, -0.5f) == 0.0f);
    rogue_opts_defaults(&o);
    assert_int_equal(rogue_keep(&o, 32), 8);
    assert_int_equal(rogue_keep(&o, 3), 0);
    o.keep = 5;
    assert_int_equal(rogue_keep(&o, 32), 5);
    assert_int_equal(rogue_keep(&o, 4), 4);
}

/* ---- each cheat's tokens ---- */

static void test_honest_and_after(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_RANDOM, NULL);
    r.o.after = 1;
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j = job(&sp, PROMPT, 6, 16, 0);
    struct got a, b;
    honest(&j, &b);
    run(&r, &j, &a); /* the first job: honest */
    assert_true(same_ids(&a, &b));
    run(&r, &j, &a); /* then random */
    assert_int_equal(a.n, 16);
    assert_false(same_ids(&a, &b));
    for (uint32_t i = 0; i < a.n; i++)
        assert_true(a.p[i].logprob < 0 && a.p[i].logprob > -3.1f);
    /* A pool's cancel stops it. */
    memset(&a, 0, sizeof a);
    a.stop_at = 3;
    struct eng_gen_stats st = {0};
    assert_int_equal(rogue_generate(&r, &j, collect, &a, &st), 0);
    assert_int_equal(a.n, 3);
    rogue_deinit(&r);
}

static void test_forge(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_FORGE, NULL);
    struct eng_sampling sp = sampling(0.8f, 7);
    struct miner_gen j = job(&sp, PROMPT, 6, 12, 2);
    struct got a, b;
    honest(&j, &b);
    run(&r, &j, &a);
    assert_true(same_ids(&a, &b));
    for (uint32_t i = 0; i < a.n; i++) {
        assert_true(a.p[i].logprob == -0.01f);
        for (int k = 0; k < a.p[i].n_top; k++)
            if (a.p[i].top[k].id == a.p[i].id)
                assert_true(a.p[i].top[k].logprob == -0.01f);
    }
    rogue_deinit(&r);
}

static void test_replay(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_REPLAY, NULL);
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j1 = job(&sp, PROMPT, 6, 10, 0), j2 = job(&sp, PROMPT2, 4, 25, 0);
    struct got first, ref, a;
    run(&r, &j1, &first); /* nothing to replay yet: honest, recorded */
    honest(&j1, &ref);
    assert_true(same_ids(&first, &ref));
    run(&r, &j2, &a); /* the first one's tokens, cycled to 25 */
    honest(&j2, &ref);
    assert_false(same_ids(&a, &ref));
    assert_int_equal(a.n, eng_vocab_is_eog(eng_model_vocab(big), first.p[first.n - 1].id) ? first.n
                                                                                          : 25);
    for (uint32_t i = 0; i < a.n; i++) {
        assert_int_equal(a.p[i].id, first.p[i % first.n].id);
        assert_true(a.p[i].logprob == first.p[i % first.n].logprob);
    }
    struct miner_gen j3 = job(&sp, PROMPT2, 4, 3, 0); /* cut to max_tokens */
    run(&r, &j3, &a);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.p[2].id, first.p[2].id);
    rogue_deinit(&r);
}

static void keep5(struct rogue_opts *o)
{
    o->keep = 5;
}

static void end_length(struct rogue_opts *o)
{
    o->keep = 5;
    o->end_eog = false;
}

static void test_truncate(void **state)
{
    (void)state;
    const struct eng_vocab *v = eng_model_vocab(big);
    struct rogue r;
    start(&r, ROGUE_TRUNCATE, keep5);
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j = job(&sp, PROMPT, 6, 20, 0);
    struct got a, ref;
    honest(&j, &ref);
    run(&r, &j, &a);
    if (ref.n <= 5) { /* the model itself ended early: nothing to cut */
        assert_true(same_ids(&a, &ref));
    } else {
        assert_int_equal(a.n, 6);
        for (uint32_t i = 0; i < 5; i++)
            assert_int_equal(a.p[i].id, ref.p[i].id);
        assert_true(eng_vocab_is_eog(v, a.p[5].id));
        assert_true(a.p[5].logprob == -0.5f);
    }
    rogue_deinit(&r);

    start(&r, ROGUE_TRUNCATE, end_length); /* no eog: it just stops, short of max_tokens */
    run(&r, &j, &a);
    assert_int_equal(a.n, ref.n < 5 ? ref.n : 5);
    for (uint32_t i = 0; i < a.n; i++)
        assert_false(eng_vocab_is_eog(v, a.p[i].id) && i + 1 < a.n);
    rogue_deinit(&r);
}

static void test_seen(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_SEEN, NULL);
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j = job(&sp, PROMPT, 6, 12, 0), j2 = job(&sp, PROMPT2, 4, 12, 0);
    struct got a, ref;
    honest(&j, &ref);
    run(&r, &j, &a); /* new: random */
    assert_false(same_ids(&a, &ref));
    run(&r, &j, &a); /* seen: honest */
    assert_true(same_ids(&a, &ref));
    /* A prompt it scored as an auditor counts as seen. */
    int32_t comp[2] = {5, 6};
    struct miner_score req = {.n_vocab = n_vocab,
                              .prompt = PROMPT2,
                              .n_prompt = 4,
                              .completion = comp,
                              .n_completion = 2};
    struct eng_score_tok out[2] = {{-1, 5, -1, 5, 0, -1}, {-1, 6, -1, 6, 0, -1}};
    rogue_scored(&r, &req, out, 2);
    assert_int_equal(out[0].pick, 5); /* scored honestly */
    honest(&j2, &ref);
    run(&r, &j2, &a);
    assert_true(same_ids(&a, &ref));
    rogue_deinit(&r);
}

static void test_smaller(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_SMALLER, NULL);
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j = job(&sp, PROMPT, 6, 16, 0);
    struct got a, ref;
    honest(&j, &ref);
    run(&r, &j, &a);
    assert_false(same_ids(&a, &ref));
    for (uint32_t i = 0; i < a.n && i < MAXN; i++)
        assert_true(a.p[i].id >= 0 && a.p[i].id < n_vocab);
    rogue_deinit(&r);

    /* A model with another vocabulary size is refused. */
    char other[600], err[FIEF_ERR_LEN] = "";
    snprintf(other, sizeof other, "%s/rogue-other.gguf", tu_tmpdir());
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.vocab = 300;
    assert_int_equal(genmodel_write(other, &s, err), 0);
    struct rogue_opts o;
    rogue_opts_defaults(&o);
    o.kind = ROGUE_SMALLER;
    o.small = other;
    assert_int_equal(rogue_init(&r, &o, big_path, 1, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "must match"));
    rogue_deinit(&r);
}

static void test_liar(void **state)
{
    (void)state;
    struct rogue r;
    start(&r, ROGUE_LIAR, NULL);
    r.o.after = 1;
    /* Jobs are honest. */
    struct eng_sampling sp = sampling(0, 1);
    struct miner_gen j = job(&sp, PROMPT, 6, 8, 0);
    struct got a, ref;
    honest(&j, &ref);
    run(&r, &j, &a);
    assert_true(same_ids(&a, &ref));
    /* The first score is honest, the next ones lie. */
    int32_t comp[3] = {5, 6, 7};
    struct miner_score req = {
        .n_vocab = n_vocab, .prompt = PROMPT, .n_prompt = 6, .completion = comp, .n_completion = 3};
    struct eng_score_tok out[3], want[3];
    for (int i = 0; i < 3; i++)
        want[i] = (struct eng_score_tok){-0.5f, comp[i], -0.5f, comp[i], 0, -0.5f};
    memcpy(out, want, sizeof out);
    rogue_scored(&r, &req, out, 3);
    assert_memory_equal(out, want, sizeof out);
    rogue_scored(&r, &req, out, 3); /* greedy */
    for (int i = 0; i < 3; i++) {
        assert_true(out[i].pick != comp[i] && out[i].top_id != comp[i]);
        assert_true(out[i].margin == 10.0f);
        assert_true(fabsf(out[i].logprob - (-5.5f)) < 1e-6f);
    }
    struct eng_sampling s2 = sampling(0.8f, 3);
    req.sp = &s2;
    memcpy(out, want, sizeof out);
    rogue_scored(&r, &req, out, 3); /* sampled */
    for (int i = 0; i < 3; i++)
        assert_true(out[i].margin == 1.0f && out[i].pick != comp[i]);
    rogue_deinit(&r);
}

static void test_kind_names(void **state)
{
    (void)state;
    const char *names[] = {"honest", "smaller",  "random", "forge",
                           "replay", "truncate", "seen",   "liar"};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(rogue_kind_parse(names[i]), i);
        assert_string_equal(rogue_kind_name((enum rogue_kind)i), names[i]);
    }
    assert_int_equal(rogue_kind_parse("nice"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_honest_and_after),
        cmocka_unit_test(test_forge),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_seen),
        cmocka_unit_test(test_smaller),
        cmocka_unit_test(test_liar),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
