/* SPDX-License-Identifier: MIT */
/* Billing a generation request (pool/api_bill.h): the most a request may
 * cost, the parts per miner trimmed to what was delivered and merged over
 * the choices, the cost the response shows; and the store's views behind
 * /api/account, /api/receipts and /api/miners/{id}, on both backends. */
#include "testutil.h"
#include "tu_books.h"

#include <string.h>

#include "pool/api_bill.h"
#include "pool/models.h"

/* The docs' worked example (docs/operating.md): 0.5 and 1.5 credits per
 * million tokens. */
static struct pool_model example_model(void)
{
    struct pool_model m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "qwen2.5-0.5b");
    snprintf(m.digest, sizeof m.digest, "sha256:%064d", 0);
    m.price_in = 500000;
    m.price_out = 1500000;
    return m;
}

static void test_max(void **state)
{
    (void)state;
    int64_t max = -1;
    assert_int_equal(api_bill_max(500000, 1500000, 1200, 1024, 1, &max), 0);
    assert_int_equal(max, 2136); /* the docs' hold */
    /* three choices: the prompt is billed once, the completions add up */
    assert_int_equal(api_bill_max(500000, 1500000, 1200, 1024, 3, &max), 0);
    assert_int_equal(max, (1200 * 500000LL + 3 * 1024 * 1500000LL) / 1000000);
    assert_int_equal(api_bill_max(0, 0, 1200, 1024, 8, &max), 0);
    assert_int_equal(max, 0); /* free */
    assert_int_equal(api_bill_max(1, 1, 1, 1, 1, &max), 0);
    assert_int_equal(max, 1); /* rounded up: never 0 for a priced model */
    /* prices beyond any balance */
    assert_int_equal(api_bill_max(0, UINT64_MAX, 1, 32768, 8, &max), FIEF_ERANGE);
    assert_int_equal(api_bill_max(0, (uint64_t)INT64_MAX, 1, 32768, 8, &max), 0);
    assert_true(max > 0 && max <= LEDGER_MAX_AMOUNT);
    assert_int_equal(api_bill_max((uint64_t)1 << 62, 0, 2000000, 1, 1, &max), FIEF_ERANGE);
}

static void part(struct store_job_part *p, const char *who, uint32_t tokens)
{
    snprintf(p->pubkey, sizeof p->pubkey, "%s", who);
    p->tokens = tokens;
}

static void expect_parts(const struct api_bill *b, uint32_t n, const char *const *who,
                         const uint32_t *tokens)
{
    assert_int_equal(b->n_parts, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_string_equal(b->parts[i].pubkey, who[i]);
        assert_int_equal(b->parts[i].tokens, tokens[i]);
    }
}

static void test_parts(void **state)
{
    (void)state;
    struct pool_model m = example_model();
    struct api_bill b;
    struct store_job_part p[STORE_JOB_MAX_PARTS + 2];
    api_bill_init(&b, "chatcmpl-x", 1, NULL, &m, 20000);
    /* choice 0: A made 500, failed over, B made 300; all delivered */
    part(&p[0], MINER_A, 500);
    part(&p[1], MINER_B, 300);
    api_bill_add_parts(&b, p, 2, 800);
    /* choice 1: B then A; a stop sequence cut it at 12 of 15 tokens: A's
     * last 3 were never delivered */
    part(&p[0], MINER_B, 10);
    part(&p[1], MINER_A, 5);
    api_bill_add_parts(&b, p, 2, 12);
    expect_parts(&b, 2, (const char *const[]){MINER_A, MINER_B}, (const uint32_t[]){502, 310});
    /* a choice that delivered nothing adds nothing; nor does a part of 0 */
    part(&p[0], "cc", 7);
    api_bill_add_parts(&b, p, 1, 0);
    part(&p[0], "dd", 0);
    part(&p[1], "cc", 4);
    api_bill_add_parts(&b, p, 2, 4);
    expect_parts(&b, 3, (const char *const[]){MINER_A, MINER_B, "cc"},
                 (const uint32_t[]){502, 310, 4});
    api_bill_deinit(&b);
    /* more miners than a settlement keeps: the rest folds into the last */
    api_bill_init(&b, "chatcmpl-y", 1, NULL, &m, 20000);
    for (uint32_t i = 0; i < STORE_JOB_MAX_PARTS + 2; i++) {
        char who[8];
        snprintf(who, sizeof who, "m%u", i);
        part(&p[i], who, 1 + i);
    }
    api_bill_add_parts(&b, p, STORE_JOB_MAX_PARTS + 2, 1000);
    assert_int_equal(b.n_parts, STORE_JOB_MAX_PARTS);
    assert_string_equal(b.parts[STORE_JOB_MAX_PARTS - 1].pubkey, "m7");
    assert_int_equal(b.parts[STORE_JOB_MAX_PARTS - 1].tokens, 8 + 9 + 10);
    api_bill_deinit(&b);
}

static void test_cost(void **state)
{
    (void)state;
    struct pool_model m = example_model();
    struct api_bill b;
    api_bill_init(&b, "chatcmpl-x", 1, "", &m, 20000);
    assert_int_equal(api_bill_cost(&b, 1200, 800), 0); /* nothing held: nothing charged */
    b.hold = 2136;
    assert_int_equal(api_bill_cost(&b, 1200, 800), 1800); /* the docs' settlement */
    assert_int_equal(api_bill_cost(&b, 1200, 0), 0);      /* produced nothing: free */
    assert_int_equal(api_bill_cost(&b, 1200, 5000), 2136); /* never above the hold */
    api_bill_deinit(&b);
}

/* ---- the store's views ---- */

static void job(struct store *s, const char *id, const char *model, int64_t t,
                const char *miner1, uint32_t n1, const char *miner2, uint32_t n2)
{
    struct store_job j = {.key_id = 1, .status = STORE_JOB_DONE, .prompt_tokens = 3,
                          .completion_tokens = n1 + n2, .created_ms = t, .finished_ms = t};
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.model, sizeof j.model, "%s", model);
    part(&j.parts[j.n_parts++], miner1, n1);
    if (miner2)
        part(&j.parts[j.n_parts++], miner2, n2);
    store_job_finish_async(s, &j);
}

static void test_views(void **state)
{
    struct books b;
    books_open(state, "views", &b);
    int64_t k1 = new_key(b.s, 10 * CREDIT), k2 = new_key(b.s, 10 * CREDIT);
    settle_one(b.s, k1, "r1", 100, 0);
    settle_one(b.s, k2, "r2", 10, 0);
    settle_one(b.s, k1, "r3", 60, 40);
    job(b.s, "j1", "stories", 1000, MINER_A, 7, NULL, 0);
    job(b.s, "j2", "stories", 2000, MINER_A, 5, MINER_B, 6);
    job(b.s, "j3", "tiny", 3000, MINER_B, 2, MINER_A, 1);
    store_miner_seen_async(b.s, "ab00000000000000000000000000000000000000000000000000000000000000",
                           "p", "w", 1);
    store_flush(b.s);

    struct store_settled st, rows[4];
    uint32_t n;
    assert_int_equal(store_settled_get(b.s, "r3", &st), 0);
    assert_int_equal(st.key_id, k1);
    assert_int_equal(st.completion_tokens, 100);
    assert_int_equal(st.cost, 200); /* 100 tokens at 2 credits per million */
    assert_int_equal(st.fee, 4);    /* 2% */
    assert_int_equal(store_settled_get(b.s, "nope", &st), FIEF_ENOTFOUND);
    assert_int_equal(store_settled_recent(b.s, k1, rows, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].req, "r3"); /* newest first */
    assert_string_equal(rows[1].req, "r1");
    assert_int_equal(store_settled_recent(b.s, k1, rows, 1, &n), 0);
    assert_int_equal(n, 1);

    char pk[65];
    assert_int_equal(store_miner_find(b.s, "aa00000000000000", pk), 0);
    assert_string_equal(pk, MINER_A);
    assert_int_equal(store_miner_find(b.s, MINER_B, pk), 0);
    assert_string_equal(pk, MINER_B);
    assert_int_equal(store_miner_find(b.s, "a000000000000000", pk), FIEF_ENOTFOUND);
    assert_int_equal(store_miner_find(b.s, "AA00000000000000", pk), FIEF_ENOTFOUND);
    assert_int_equal(store_miner_find(b.s, "aa", pk), FIEF_ENOTFOUND); /* too short */
    assert_int_equal(store_miner_find(b.s, "a00000000", pk), FIEF_ENOTFOUND);
    assert_int_equal(store_miner_find(b.s, "a0'; --", pk), FIEF_ENOTFOUND);

    struct store_model_work w[4];
    assert_int_equal(store_miner_models(b.s, MINER_A, w, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(w[0].model, "stories");
    assert_int_equal(w[0].jobs, 2);
    assert_int_equal(w[0].tokens, 12);
    assert_string_equal(w[1].model, "tiny");
    assert_int_equal(w[1].tokens, 1);
    struct store_miner_job mj[4];
    assert_int_equal(store_miner_jobs(b.s, MINER_B, mj, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(mj[0].job, "j3");
    assert_int_equal(mj[0].tokens, 2);
    assert_int_equal(mj[0].status, STORE_JOB_DONE);
    assert_string_equal(mj[1].job, "j2");
    assert_int_equal(mj[1].tokens, 6);
    assert_int_equal(store_miner_jobs(b.s, "ff", mj, 4, &n), 0);
    assert_int_equal(n, 0);
    store_close(b.s);
}

/* A prefix two miners share is ambiguous. */
static void test_views_ambiguous(void **state)
{
    struct books b;
    books_open(state, "ambiguous", &b);
    store_miner_seen_async(b.s, "aa00000000000000000000000000000000000000000000000000000000000001",
                           "p", "w", 1);
    store_flush(b.s);
    char pk[65];
    assert_int_equal(store_miner_find(b.s, "aa00000000000000", pk), FIEF_EINVAL);
    assert_int_equal(store_miner_find(b.s, MINER_A, pk), 0);
    store_close(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_cost),
        TU_BOTH(test_views),
        TU_BOTH(test_views_ambiguous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
