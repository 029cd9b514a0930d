/* SPDX-License-Identifier: MIT */
/* The audit verdict (pool/verdict.h): each of docs/audits.md's rules just
 * below, at and just above its threshold; greedy against sampled positions;
 * the slack, absolute and by rate, at the edge; impossible auditor answers
 * (NaN, infinities, positive log-probs, margins out of range) refused; the
 * worst offenders ranked; the evidence's JSON. */
#include "testutil.h"

#include "pool/audit.h"
#include "pool/verdict.h"

#include <math.h>
#include <string.h>

static const struct verdict_cfg CFG = {.greedy_margin = 0.05,
                                       .sample_margin = 0.002,
                                       .logprob_tol = 0.05,
                                       .tie_tol = 0.1,
                                       .slack = 1,
                                       .slack_rate = 0.01};

/* An honest position: the claim is the pick, log-probs agree. */
static struct verdict_pos honest(int32_t tok)
{
    struct verdict_pos p = {.token = tok,
                            .claimed_lp = -1.0f,
                            .lp = -1.0f,
                            .top_id = tok,
                            .top_lp = -1.0f,
                            .pick = tok,
                            .margin = 0.0f,
                            .pick_lp = NAN};
    return p;
}

static struct verdict judge(bool greedy, const struct verdict_pos *p, uint32_t n)
{
    struct verdict v;
    char err[FIEF_ERR_LEN] = "";
    int rc = verdict_judge(&CFG, greedy, p, n, &v, err);
    if (rc)
        fail_msg("verdict_judge: %s", err);
    return v;
}

/* Whether one position alone disagrees (and why). */
static uint32_t one(bool greedy, struct verdict_pos p)
{
    struct verdict v = judge(greedy, &p, 1);
    assert_int_equal(v.positions, 1);
    assert_true(v.pass); /* one position is within the slack of 1 */
    return v.disagree ? v.worst[0].why : 0;
}

static void test_honest_parts_pass(void **state)
{
    (void)state;
    struct verdict_pos p[300];
    for (int i = 0; i < 300; i++)
        p[i] = honest(i);
    for (int g = 0; g < 2; g++) {
        struct verdict v = judge(g, p, 300);
        assert_true(v.pass);
        assert_int_equal(v.disagree, 0);
        assert_int_equal(v.n_worst, 0);
        assert_int_equal(v.limit, 3);
    }
}

/* Greedy: another pick is forgiven up to greedy_margin (a near-tie). */
static void test_greedy_margin(void **state)
{
    (void)state;
    struct verdict_pos p = honest(5);
    p.pick = 6;
    p.margin = 0.049f;
    assert_int_equal(one(true, p), 0);
    p.margin = 0.05f; /* at the threshold: still a tie (the rule is "more than") */
    assert_int_equal(one(true, p), 0);
    p.margin = 0.0501f;
    assert_int_equal(one(true, p), VERDICT_PICK);
    p.margin = 7.0f;
    assert_int_equal(one(true, p), VERDICT_PICK);
    /* the claim is the pick: a margin means nothing for greedy */
    p.pick = 5;
    assert_int_equal(one(true, p), 0);
}

/* Sampled: the margin alone decides, up to sample_margin; 1 = not a candidate. */
static void test_sample_margin(void **state)
{
    (void)state;
    struct verdict_pos p = honest(5);
    p.pick = 6;
    p.margin = 0.0019f;
    assert_int_equal(one(false, p), 0);
    p.margin = 0.002f;
    assert_int_equal(one(false, p), 0);
    p.margin = 0.00201f;
    assert_int_equal(one(false, p), VERDICT_PICK);
    p.margin = 1.0f;
    assert_int_equal(one(false, p), VERDICT_PICK);
    /* a greedy margin of 0.04 would be a tie; sampled it is far off */
    p.margin = 0.04f;
    assert_int_equal(one(false, p), VERDICT_PICK);
    assert_int_equal(one(true, p), 0);
}

/* Log-probs: |claimed - auditor's| up to logprob_tol, either sign. */
static void test_logprob_tol(void **state)
{
    (void)state;
    struct verdict_pos p = honest(3);
    p.lp = -2.0f;
    const float d[] = {0.0499f, 0.05f, 0.0502f};
    const uint32_t want[] = {0, 0, VERDICT_LOGPROB};
    for (int i = 0; i < 3; i++)
        for (int sign = -1; sign <= 1; sign += 2) {
            p.claimed_lp = -2.0f + (float)sign * d[i];
            if (p.claimed_lp > 0)
                continue;
            assert_int_equal(one(true, p), want[i]);
            assert_int_equal(one(false, p), want[i]);
        }
    /* both rules at once */
    p.claimed_lp = -0.5f;
    p.pick = 4;
    p.margin = 0.5f;
    assert_int_equal(one(false, p), VERDICT_PICK | VERDICT_LOGPROB);
}

/* A part of n positions fails past max(slack, ceil(slack_rate * n)). */
static void test_slack(void **state)
{
    (void)state;
    assert_int_equal(verdict_limit(&CFG, 1), 1);
    assert_int_equal(verdict_limit(&CFG, 100), 1); /* 0.01 * 100 is 1, not 2 */
    assert_int_equal(verdict_limit(&CFG, 101), 2); /* ceil(1.01) */
    assert_int_equal(verdict_limit(&CFG, 200), 2);
    assert_int_equal(verdict_limit(&CFG, 201), 3);
    assert_int_equal(verdict_limit(&CFG, 1000), 10);
    struct verdict_cfg c = CFG;
    c.slack = 0;
    c.slack_rate = 0;
    assert_int_equal(verdict_limit(&c, 1000), 0);
    c.slack_rate = 1;
    assert_int_equal(verdict_limit(&c, 7), 7);
    c.slack_rate = 0.1;
    assert_int_equal(verdict_limit(&c, 30), 3); /* 0.1 * 30 = 3.0000000000000004 */
    c.slack = 5;
    assert_int_equal(verdict_limit(&c, 30), 5);

    /* 200 positions: 2 disagreeing pass, 3 fail */
    struct verdict_pos p[200];
    for (int i = 0; i < 200; i++)
        p[i] = honest(i);
    p[10].claimed_lp = -3.0f;
    p[50].claimed_lp = -3.0f;
    struct verdict v = judge(false, p, 200);
    assert_true(v.pass);
    assert_int_equal(v.disagree, 2);
    assert_int_equal(v.limit, 2);
    p[150].claimed_lp = -3.0f;
    v = judge(false, p, 200);
    assert_false(v.pass);
    assert_int_equal(v.disagree, 3);
    /* short parts: the absolute slack rules (1 of 2 passes, 2 of 2 fail) */
    p[0].claimed_lp = -3.0f;
    p[1].claimed_lp = -3.0f;
    assert_true(judge(true, p, 1).pass);
    assert_false(judge(true, p, 2).pass);
}

/* What an auditor cannot have computed is its fault: the call fails. */
static void test_impossible_answers(void **state)
{
    (void)state;
    const float bad_lp[] = {NAN, INFINITY, -INFINITY, 0.001f};
    char err[FIEF_ERR_LEN];
    struct verdict v;
    struct verdict_pos p[3] = {honest(1), honest(2), honest(3)};
    for (int i = 0; i < 4; i++) {
        p[1] = honest(2);
        p[1].lp = bad_lp[i];
        assert_int_equal(verdict_judge(&CFG, false, p, 3, &v, err), FIEF_EPROTO);
        assert_non_null(strstr(err, "position 1"));
        p[1] = honest(2);
        p[1].top_lp = bad_lp[i];
        assert_int_equal(verdict_judge(&CFG, true, p, 3, &v, err), FIEF_EPROTO);
    }
    p[1] = honest(2);
    const float bad_margin[] = {NAN, INFINITY, -INFINITY, -0.001f};
    for (int i = 0; i < 4; i++)
        for (int g = 0; g < 2; g++) {
            p[2] = honest(3);
            p[2].margin = bad_margin[i];
            assert_int_equal(verdict_judge(&CFG, g, p, 3, &v, err), FIEF_EPROTO);
            assert_non_null(strstr(err, "position 2"));
        }
    /* a sampled margin is a share of probability mass: at most 1; greedy is a logit gap */
    p[2] = honest(3);
    p[2].pick = 4;
    p[2].margin = 1.5f;
    assert_int_equal(verdict_judge(&CFG, false, p, 3, &v, err), FIEF_EPROTO);
    assert_int_equal(verdict_judge(&CFG, true, p, 3, &v, err), 0);
    p[2] = honest(3);
    p[2].pick = -1;
    assert_int_equal(verdict_judge(&CFG, true, p, 3, &v, err), FIEF_EPROTO);
    assert_int_equal(verdict_judge(&CFG, true, p, 0, &v, err), FIEF_EPROTO);
    /* boundaries that are legal: log-prob 0 (certainty), margin exactly 1 */
    p[2] = honest(3);
    p[2].lp = p[2].claimed_lp = p[2].top_lp = 0.0f;
    p[0].margin = 1.0f;
    p[0].pick = 9;
    assert_int_equal(verdict_judge(&CFG, false, p, 3, &v, err), 0);
    assert_int_equal(v.disagree, 1);
}

/* The worst offenders: the most severe first, at most VERDICT_WORST. */
static void test_worst_ranked(void **state)
{
    (void)state;
    struct verdict_pos p[40];
    for (int i = 0; i < 40; i++) {
        p[i] = honest(i);
        if (i % 3 == 0) /* 14 disagreeing positions, of growing severity */
            p[i].claimed_lp = -1.0f - 0.1f * (float)(i + 1);
    }
    p[7].pick = 99; /* a sampled miss far beyond its threshold: the worst */
    p[7].margin = 0.9f;
    struct verdict v = judge(false, p, 40);
    assert_false(v.pass);
    assert_int_equal(v.disagree, 15);
    assert_int_equal(v.n_worst, VERDICT_WORST);
    assert_int_equal(v.worst[0].i, 7);
    assert_int_equal(v.worst[0].why, VERDICT_PICK);
    assert_true(fabs(v.worst[0].severity - 0.9 / 0.002) < 1e-3);
    assert_int_equal(v.worst[1].i, 39);
    assert_int_equal(v.worst[1].why, VERDICT_LOGPROB);
    for (uint32_t k = 1; k < v.n_worst; k++)
        assert_true(v.worst[k - 1].severity >= v.worst[k].severity);
    assert_int_equal(v.worst[VERDICT_WORST - 1].i, 21); /* 7, then 39, 36, ..., 21 */
}

static void test_evidence_json(void **state)
{
    (void)state;
    struct verdict_pos p[4] = {honest(1), honest(2), honest(3), honest(4)};
    p[2].pick = 8;
    p[2].margin = 0.5f;
    p[2].claimed_lp = -4.0f;
    struct verdict v = judge(true, p, 4);
    json_t *j = verdict_json(&v, 100);
    assert_true(json_is_true(json_object_get(j, "pass")));
    assert_int_equal(json_integer_value(json_object_get(j, "positions")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "disagree")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "limit")), 1);
    json_t *w = json_array_get(json_object_get(j, "worst"), 0);
    assert_int_equal(json_integer_value(json_object_get(w, "i")), 102);
    assert_int_equal(json_integer_value(json_object_get(w, "pick")), 8);
    assert_int_equal(json_integer_value(json_object_get(w, "token")), 3);
    assert_int_equal(json_array_size(json_object_get(w, "why")), 2);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(s, "\"why\":[\"pick\",\"logprob\"]"));
    free(s);
    json_decref(j);
}

/* Sampled near-ties: a claim as likely as the auditor's pick (to tie_tol)
 * is forgiven whatever the margin; greedy positions keep their own rule. */
static void test_tie_tol(void **state)
{
    (void)state;
    struct verdict_pos p = honest(5);
    p.pick = 6;
    p.margin = 0.5f;    /* the two swapped places in the auditor's order */
    p.pick_lp = -0.95f; /* claim -1.0: 0.05 apart */
    assert_int_equal(one(false, p), 0);
    p.pick_lp = -0.91f; /* 0.09: still a tie */
    assert_int_equal(one(false, p), 0);
    p.pick_lp = -0.85f;
    assert_int_equal(one(false, p), VERDICT_PICK);
    p.pick_lp = -1.5f; /* a pick less likely than the claim: a tie too */
    assert_int_equal(one(false, p), 0);
    p.margin = 1.0f; /* the claim cut at the top-k edge, the pick its neighbour */
    assert_int_equal(one(false, p), 0);
    p.pick_lp = NAN; /* an auditor that does not say */
    assert_int_equal(one(false, p), VERDICT_PICK);
    p.pick_lp = -0.95f;
    p.claimed_lp = -0.5f; /* a tie does not excuse a forged log-prob */
    assert_int_equal(one(false, p), VERDICT_LOGPROB);
    struct verdict_pos g = honest(5); /* greedy: the logit gap decides */
    g.pick = 6;
    g.margin = 0.5f;
    g.pick_lp = -0.99f;
    assert_int_equal(one(true, g), VERDICT_PICK);
    struct verdict v;
    char err[FIEF_ERR_LEN];
    p.pick_lp = 0.5f; /* impossible: the auditor's fault */
    assert_int_equal(verdict_judge(&CFG, false, &p, 1, &v, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "pick's log-prob"));
}

/* A claimed end of generation has no slack: one disagreeing position, which
 * a whole part would forgive, is a forged end. */
static void test_forged_end(void **state)
{
    (void)state;
    struct verdict_pos p = honest(2);
    assert_false(verdict_forged_end(&CFG, true, &p));
    assert_false(verdict_forged_end(&CFG, false, &p));
    p.pick = 7; /* greedy: the auditor would have gone on with 7 */
    p.margin = 3.0f;
    assert_int_equal(one(true, p), VERDICT_PICK);    /* inside the part's slack ... */
    assert_true(verdict_forged_end(&CFG, true, &p)); /* ... not at its end */
    p.margin = 0.04f;                                /* a near-tie with the pick */
    assert_false(verdict_forged_end(&CFG, true, &p));
    struct verdict_pos s = honest(2); /* sampled: off the draw, but tied with the pick */
    s.pick = 7;
    s.margin = 0.3f;
    s.pick_lp = -0.97f;
    assert_false(verdict_forged_end(&CFG, false, &s));
    s.pick_lp = -0.2f; /* the pick far likelier than the claimed end */
    assert_true(verdict_forged_end(&CFG, false, &s));
    s = honest(2);
    s.claimed_lp = -0.5f; /* the end's log-prob forged */
    assert_true(verdict_forged_end(&CFG, false, &s));
}

/* The audit rate: a new key at rate0, half after `half` passes, never below
 * the floor (docs/audits.md "Choosing what to audit"). */
static void test_rate_formula(void **state)
{
    (void)state;
    assert_true(audit_rate_formula(1, 20, 0.02, 0) == 1.0);
    assert_true(audit_rate_formula(1, 20, 0.02, 20) == 0.5);
    assert_true(fabs(audit_rate_formula(1, 20, 0.02, 180) - 0.1) < 1e-12);
    assert_true(audit_rate_formula(1, 20, 0.02, 980) == 0.02); /* 0.02 exactly at 980 */
    assert_true(audit_rate_formula(1, 20, 0.02, 100000) == 0.02);
    assert_true(audit_rate_formula(1, 20, 0.02, -5) == 1.0); /* nonsense counts as new */
    assert_true(audit_rate_formula(0, 20, 0, 0) == 0.0);     /* audits off */
    assert_true(audit_rate_formula(0.5, 1, 0, 1) == 0.25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_parts_pass),
        cmocka_unit_test(test_greedy_margin),
        cmocka_unit_test(test_sample_margin),
        cmocka_unit_test(test_logprob_tol),
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_impossible_answers),
        cmocka_unit_test(test_worst_ranked),
        cmocka_unit_test(test_evidence_json),
        cmocka_unit_test(test_rate_formula),
        cmocka_unit_test(test_tie_tol),
        cmocka_unit_test(test_forged_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
