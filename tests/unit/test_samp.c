/* SPDX-License-Identifier: MIT */
/* Sampler: greedy ties, filters, the purity of seeded choices, and that the
 * draw follows the distribution. */
#include "testutil.h"
#include "engine/engine.h"

#include <math.h>
#include <string.h>

#define NV 64

static void fill(float *l, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < NV; i++)
        l[i] = tu_randf(&s) * 4.0f;
}

static struct eng_sampling greedy(void)
{
    struct eng_sampling p;
    eng_sampling_defaults(&p);
    return p;
}

static void test_greedy_and_ties(void **state)
{
    (void)state;
    struct eng_sampler *s = eng_sampler_new(NV);
    float l[NV] = {0};
    l[7] = 2.0f;
    l[3] = 2.0f; /* tie: the lower id wins */
    struct eng_sampling p = greedy();
    struct eng_pick pick;
    assert_int_equal(eng_sample(s, &p, l, 0, NULL, 0, 3, &pick), 0);
    assert_int_equal(pick.id, 3);
    assert_int_equal(pick.n_top, 3);
    assert_int_equal(pick.top[0].id, 3);
    assert_int_equal(pick.top[1].id, 7);
    assert_int_equal(pick.top[2].id, 0);
    /* logprob = 2 - log(2 e^2 + 62) */
    double want = 2.0 - log(2 * exp(2.0) + 62.0);
    assert_true(fabs(pick.logprob - want) < 1e-6);
    assert_true(fabs(pick.top[2].logprob - (0.0 - log(2 * exp(2.0) + 62.0))) < 1e-6);
    eng_sampler_free(s);
}

static void test_pure_function(void **state)
{
    (void)state;
    struct eng_sampler *a = eng_sampler_new(NV), *b = eng_sampler_new(NV);
    float l[NV];
    struct eng_sampling p = greedy();
    p.temperature = 1.0f;
    p.seed = 1234;
    int differ = 0;
    for (uint32_t pos = 0; pos < 200; pos++) {
        fill(l, pos);
        struct eng_pick x, y, z;
        assert_int_equal(eng_sample(a, &p, l, pos, NULL, 0, 0, &x), 0);
        /* a different sampler object, history of other calls: same choice */
        assert_int_equal(eng_sample(b, &p, l, pos, NULL, 0, 0, &y), 0);
        assert_int_equal(x.id, y.id);
        p.seed++;
        assert_int_equal(eng_sample(b, &p, l, pos, NULL, 0, 0, &z), 0);
        p.seed--;
        differ += z.id != x.id;
    }
    assert_true(differ > 50); /* the seed matters */
    eng_sampler_free(a);
    eng_sampler_free(b);
}

static void test_filters(void **state)
{
    (void)state;
    struct eng_sampler *s = eng_sampler_new(NV);
    float l[NV];
    fill(l, 99);
    int order[NV];
    for (int i = 0; i < NV; i++)
        order[i] = i;
    /* sort ids by logit desc, id asc */
    for (int i = 0; i < NV; i++)
        for (int j = i + 1; j < NV; j++)
            if (l[order[j]] > l[order[i]] || (l[order[j]] == l[order[i]] && order[j] < order[i])) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    struct eng_sampling p = greedy();
    p.temperature = 5.0f;
    p.top_k = 3;
    for (uint32_t pos = 0; pos < 300; pos++) {
        struct eng_pick pick;
        p.seed = pos * 7919u;
        assert_int_equal(eng_sample(s, &p, l, pos, NULL, 0, 0, &pick), 0);
        assert_true(pick.id == order[0] || pick.id == order[1] || pick.id == order[2]);
    }
    p.top_k = 0;
    p.min_p = 1.0f; /* only the best survives */
    for (uint32_t pos = 0; pos < 50; pos++) {
        struct eng_pick pick;
        assert_int_equal(eng_sample(s, &p, l, pos, NULL, 0, 0, &pick), 0);
        assert_int_equal(pick.id, order[0]);
    }
    p.min_p = 0;
    p.top_p = 1e-6f; /* the smallest nucleus is the best token alone */
    struct eng_pick pick;
    assert_int_equal(eng_sample(s, &p, l, 5, NULL, 0, 0, &pick), 0);
    assert_int_equal(pick.id, order[0]);
    eng_sampler_free(s);
}

static void test_distribution(void **state)
{
    (void)state;
    /* Two tokens with probabilities 0.75 / 0.25 at temperature 1. */
    struct eng_sampler *s = eng_sampler_new(2);
    float l[2] = {(float)log(3.0), 0.0f};
    struct eng_sampling p = greedy();
    p.temperature = 1.0f;
    p.seed = 42;
    int n0 = 0, n = 20000;
    for (int pos = 0; pos < n; pos++) {
        struct eng_pick pick;
        assert_int_equal(eng_sample(s, &p, l, (uint32_t)pos, NULL, 0, 0, &pick), 0);
        n0 += pick.id == 0;
    }
    double f = (double)n0 / n; /* binomial sd ~ 0.003 */
    assert_true(f > 0.735 && f < 0.765);
    eng_sampler_free(s);
}

static void test_repeat_penalty(void **state)
{
    (void)state;
    struct eng_sampler *s = eng_sampler_new(4);
    float l[4] = {1.0f, 0.9f, -5.0f, -5.0f};
    struct eng_sampling p = greedy();
    p.repeat_penalty = 2.0f;
    int32_t hist[3] = {0, 0, 0}; /* token 0 repeated: 1.0 / 2 = 0.5 < 0.9 */
    struct eng_pick pick;
    assert_int_equal(eng_sample(s, &p, l, 3, hist, 3, 0, &pick), 0);
    assert_int_equal(pick.id, 1);
    /* the reported logprob is the model's own, before the penalty */
    assert_true(fabs(pick.logprob - (0.9 - log(exp(1.0) + exp(0.9) + 2 * exp(-5.0)))) < 1e-6);
    eng_sampler_free(s);
}

static void test_uniform_range(void **state)
{
    (void)state;
    double sum = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        double u = eng_sample_uniform(7, i);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(fabs(sum / 10000 - 0.5) < 0.02);
    assert_true(eng_sample_uniform(7, 1) != eng_sample_uniform(8, 1));
}

static void test_bad_args(void **state)
{
    (void)state;
    struct eng_sampler *s = eng_sampler_new(4);
    float l[4] = {0};
    struct eng_sampling p = greedy();
    struct eng_pick pick;
    assert_int_equal(eng_sample(s, &p, l, 0, NULL, 0, ENG_MAX_TOP + 1, &pick), FIEF_EINVAL);
    l[1] = NAN;
    assert_int_equal(eng_sample(s, &p, l, 0, NULL, 0, 0, &pick), FIEF_EINVAL);
    assert_null(eng_sampler_new(0));
    eng_sampler_free(s);
    eng_sampler_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_ties), cmocka_unit_test(test_pure_function),
        cmocka_unit_test(test_filters),         cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_repeat_penalty),  cmocka_unit_test(test_uniform_range),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
