/* SPDX-License-Identifier: MIT */
/* The ledger's pure arithmetic: cost rounding, exact splits (remainders
 * included), overflow, and credits as text, each checked on hand-picked
 * cases and on random ones against 128-bit reference arithmetic. */
#include "testutil.h"

#include "ledger/ledger.h"

#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ---- cost ---- */

static int64_t cost_ok(uint64_t pin, uint64_t pout, uint64_t nin, uint64_t nout)
{
    int64_t c = -1;
    assert_int_equal(ledger_cost(pin, pout, nin, nout, &c), 0);
    return c;
}

static void test_cost_cases(void **state)
{
    (void)state;
    assert_int_equal(cost_ok(0, 0, 1000, 1000), 0);
    assert_int_equal(cost_ok(1000000, 2000000, 1000, 500), 2000); /* 1 and 2 credits per M */
    assert_int_equal(cost_ok(1, 0, 1, 0), 1);                     /* rounds up */
    assert_int_equal(cost_ok(1, 1, 999999, 1), 1);                /* exactly 1e6: no round */
    assert_int_equal(cost_ok(1, 1, 999999, 2), 2);
    assert_int_equal(cost_ok(100000, 200000, 0, 0), 0);
    assert_int_equal(cost_ok(500000, 1500000, 7, 3), 8); /* 3.5 + 4.5 = 8 */
    /* docs/operating.md's worked example: the hold, then the cost */
    assert_int_equal(cost_ok(500000, 1500000, 1200, 1024), 2136);
    assert_int_equal(cost_ok(500000, 1500000, 1200, 800), 1800);
    int64_t c;
    assert_int_equal(ledger_cost(UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, &c),
                     FIEF_ERANGE);
    assert_int_equal(ledger_cost(UINT64_MAX, 0, 1000000, 0, &c), FIEF_ERANGE);
    assert_int_equal(ledger_cost(UINT64_MAX, 0, 2, 0, &c), 0); /* 2^65 / 1e6 fits */
    assert_int_equal(c, 36893488147420);
    /* the largest cost that fits, and one more micro-credit */
    assert_int_equal(ledger_cost((uint64_t)LEDGER_MAX_AMOUNT, 0, 1000000, 0, &c), 0);
    assert_int_equal(c, LEDGER_MAX_AMOUNT);
    assert_int_equal(ledger_cost((uint64_t)LEDGER_MAX_AMOUNT, 0, 1000001, 0, &c), FIEF_ERANGE);
}

static void test_cost_random(void **state)
{
    (void)state;
    uint64_t rng = 7;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = tu_rand(&rng);
        /* mix small, realistic and huge magnitudes */
        int shift = (int)(r % 64);
        uint64_t pin = tu_rand(&rng) >> shift, pout = tu_rand(&rng) >> (63 - shift % 63);
        uint64_t nin = tu_rand(&rng) >> (32 + r % 32), nout = tu_rand(&rng) >> (r % 64);
        u128 a = (u128)pin * nin, b = (u128)pout * nout, sum = a + b;
        bool wraps = sum < a;
        u128 want = sum / 1000000 + (sum % 1000000 != 0);
        int64_t got;
        int rc = ledger_cost(pin, pout, nin, nout, &got);
        if (wraps || want > (u128)LEDGER_MAX_AMOUNT) {
            assert_int_equal(rc, FIEF_ERANGE);
        } else {
            assert_int_equal(rc, 0);
            assert_true((u128)got == want);
            /* never undercharges, overcharges by less than one micro-credit */
            assert_true((u128)got * 1000000 >= sum && (u128)got * 1000000 < sum + 1000000);
        }
    }
}

/* ---- split ---- */

static void parts_set(struct store_job_part *p, uint32_t n, const uint32_t *tokens)
{
    for (uint32_t i = 0; i < n; i++) {
        snprintf(p[i].pubkey, sizeof p[i].pubkey, "m%u", i);
        p[i].tokens = tokens[i];
    }
}

static void test_split_cases(void **state)
{
    (void)state;
    struct store_job_part p[STORE_JOB_MAX_PARTS];
    struct ledger_split sp;
    /* docs/operating.md's worked example: 2% of 1800, A 500 then B 300 tokens;
     * 1102.5 and 661.5, the leftover to the earlier of equal remainders */
    parts_set(p, 2, (uint32_t[]){500, 300});
    ledger_split(1800, 20000, p, 2, &sp);
    assert_int_equal(sp.fee, 36);
    assert_int_equal(sp.shares[0].amount, 1103);
    assert_int_equal(sp.shares[1].amount, 661);
    /* 2% of 2000, 300 + 200 tokens: no leftover */
    parts_set(p, 2, (uint32_t[]){300, 200});
    ledger_split(2000, 20000, p, 2, &sp);
    assert_int_equal(sp.fee, 40);
    assert_int_equal(sp.shares[0].amount, 1176);
    assert_int_equal(sp.shares[1].amount, 784);
    assert_string_equal(sp.shares[1].pubkey, "m1");
    /* three equal parts of 100: 98 after a 2% fee; 1 left goes to the first */
    parts_set(p, 3, (uint32_t[]){1, 1, 1});
    ledger_split(100, 20000, p, 3, &sp);
    assert_int_equal(sp.fee, 2);
    assert_int_equal(sp.shares[0].amount, 33);
    assert_int_equal(sp.shares[1].amount, 33);
    assert_int_equal(sp.shares[2].amount, 32);
    /* largest remainder wins over order: 10 into 3:2:2 (4.29, 2.86, 2.86) */
    parts_set(p, 3, (uint32_t[]){3, 2, 2});
    ledger_split(10, 0, p, 3, &sp);
    assert_int_equal(sp.shares[0].amount, 4);
    assert_int_equal(sp.shares[1].amount, 3);
    assert_int_equal(sp.shares[2].amount, 3);
    /* a part with no tokens gets nothing, even with leftovers */
    parts_set(p, 3, (uint32_t[]){1, 0, 2});
    ledger_split(7, 0, p, 3, &sp);
    assert_int_equal(sp.shares[1].amount, 0);
    assert_int_equal(sp.shares[0].amount + sp.shares[2].amount, 7);
    assert_int_equal(sp.shares[2].amount, 5); /* 4.67 -> 5, 2.33 -> 2 */
    /* no tokens at all: the pool keeps it; zero cost: nothing for anyone */
    parts_set(p, 2, (uint32_t[]){0, 0});
    ledger_split(50, 20000, p, 2, &sp);
    assert_int_equal(sp.fee, 50);
    ledger_split(0, 20000, p, 2, &sp);
    assert_int_equal(sp.fee, 0);
    /* a 100% fee, and a fee rounding down */
    parts_set(p, 1, (uint32_t[]){5});
    ledger_split(9, 1000000, p, 1, &sp);
    assert_int_equal(sp.fee, 9);
    assert_int_equal(sp.shares[0].amount, 0);
    ledger_split(49, 20000, p, 1, &sp); /* 0.98 -> 0 */
    assert_int_equal(sp.fee, 0);
    assert_int_equal(sp.shares[0].amount, 49);
    /* the largest amounts do not overflow */
    parts_set(p, 2, (uint32_t[]){UINT32_MAX, UINT32_MAX - 1});
    ledger_split(LEDGER_MAX_AMOUNT, 500000, p, 2, &sp);
    assert_int_equal(sp.fee + sp.shares[0].amount + sp.shares[1].amount, LEDGER_MAX_AMOUNT);
}

/* Every share against the 128-bit reference: floor(rest * t / T) plus one
 * for the (rest - sum) parts with the largest remainders (earlier first). */
static void check_split(int64_t cost, uint32_t fee_ppm, const struct store_job_part *p, uint32_t n,
                        const struct ledger_split *sp)
{
    u128 fee = (u128)cost * fee_ppm / 1000000, rest = (u128)cost - fee, T = 0;
    for (uint32_t i = 0; i < n; i++)
        T += p[i].tokens;
    assert_true((u128)sp->fee == (T ? fee : (u128)cost));
    if (!T)
        return;
    u128 base[STORE_JOB_MAX_PARTS], rem[STORE_JOB_MAX_PARTS], given = 0;
    for (uint32_t i = 0; i < n; i++) {
        base[i] = rest * p[i].tokens / T;
        rem[i] = rest * p[i].tokens % T;
        given += base[i];
    }
    u128 left = rest - given;
    int64_t sum = sp->fee;
    for (uint32_t i = 0; i < n; i++) {
        /* rank: parts ahead of i in the leftover order */
        u128 ahead = 0;
        for (uint32_t k = 0; k < n; k++)
            ahead += rem[k] > rem[i] || (rem[k] == rem[i] && k < i);
        u128 want = base[i] + (rem[i] > 0 && ahead < left);
        assert_true((u128)sp->shares[i].amount == want);
        assert_true(p[i].tokens > 0 || sp->shares[i].amount == 0);
        sum += sp->shares[i].amount;
    }
    assert_int_equal(sum, cost);
}

static void test_split_random(void **state)
{
    (void)state;
    uint64_t rng = 11;
    struct store_job_part p[STORE_JOB_MAX_PARTS];
    for (int iter = 0; iter < 100000; iter++) {
        uint32_t n = 1 + (uint32_t)(tu_rand(&rng) % STORE_JOB_MAX_PARTS);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t r = tu_rand(&rng);
            p[i].tokens = r % 5 == 0 ? 0 : (uint32_t)(r >> (33 + r % 31));
            snprintf(p[i].pubkey, sizeof p[i].pubkey, "m%u", i);
        }
        int64_t cost = (int64_t)(tu_rand(&rng) >> (2 + tu_rand(&rng) % 60));
        uint32_t fee = (uint32_t)(tu_rand(&rng) % 1000001);
        struct ledger_split sp;
        ledger_split(cost, fee, p, n, &sp);
        assert_int_equal(sp.n, n);
        assert_int_equal(sp.cost, cost);
        check_split(cost, fee, p, n, &sp);
    }
}

/* ---- credits as text ---- */

static void parse_is(const char *s, int rc, int64_t want)
{
    int64_t v = -12345;
    assert_int_equal(ledger_parse_credits(s, &v), rc);
    if (rc == 0)
        assert_int_equal(v, want);
    else
        assert_int_equal(v, -12345); /* untouched on failure */
}

static void test_parse_credits(void **state)
{
    (void)state;
    parse_is("12.5", 0, 12500000);
    parse_is("0", 0, 0);
    parse_is("0.000001", 0, 1);
    parse_is("1.000000", 0, 1000000);
    parse_is("007", 0, 7000000);
    parse_is("4611686018427.387904", 0, LEDGER_MAX_AMOUNT);
    parse_is("4611686018427.387905", FIEF_ERANGE, 0);
    parse_is("4611686018428", FIEF_ERANGE, 0);
    parse_is("99999999999999999999999999", FIEF_ERANGE, 0);
    const char *bad[] = {"",     "-1",   "+1",   "1.0000001", ".5",  "5.",   "1e6", " 1",
                         "1 ",   "1,5",  "0x10", "1.2.3",     "abc", "NaN",  "--1", "1-",
                         "1..2", "١٢",   "\t1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_is(bad[i], FIEF_EINVAL, 0);
    int64_t v;
    assert_int_equal(ledger_parse_credits(NULL, &v), FIEF_EINVAL);
}

static void format_is(int64_t micro, const char *want)
{
    char out[32];
    ledger_format_credits(micro, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_format_credits(void **state)
{
    (void)state;
    format_is(12500000, "12.5");
    format_is(0, "0");
    format_is(1, "0.000001");
    format_is(1000000, "1");
    format_is(-1500000, "-1.5");
    format_is(INT64_MIN, "-9223372036854.775808");
    format_is(LEDGER_MAX_AMOUNT, "4611686018427.387904");
    /* round trip on random amounts */
    uint64_t rng = 3;
    for (int i = 0; i < 100000; i++) {
        int64_t m = (int64_t)(tu_rand(&rng) % ((uint64_t)LEDGER_MAX_AMOUNT + 1)) >>
                    (tu_rand(&rng) % 62);
        char text[32];
        int64_t back;
        ledger_format_credits(m, text, sizeof text);
        assert_int_equal(ledger_parse_credits(text, &back), 0);
        assert_int_equal(back, m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_cases),     cmocka_unit_test(test_cost_random),
        cmocka_unit_test(test_split_cases),    cmocka_unit_test(test_split_random),
        cmocka_unit_test(test_parse_credits),  cmocka_unit_test(test_format_credits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
