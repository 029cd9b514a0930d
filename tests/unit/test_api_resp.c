/* SPDX-License-Identifier: MIT */
/* Response builders: the exact shapes of chat.completion(.chunk),
 * text_completion, usage chunks, both logprobs formats (against the shared
 * stories260K vocabulary), errors, model entries and SSE framing. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/engine.h"
#include "pool/api_resp.h"
#include "pool/disp.h"

static const struct resp_meta chat_meta = {API_CHAT, "chatcmpl-X", 1700000000, "stories",
                                           "fief-0.1.0", false};
static const struct resp_meta cmpl_meta = {API_COMPLETION, "cmpl-X", 1700000000, "stories",
                                           "fief-0.1.0", false};

/* Serialize j (consumed) and compare with the expected text. */
static void expect_json(json_t *j, const char *want)
{
    struct buf b;
    buf_init(&b);
    resp_dump(j, false, &b);
    if (strcmp(b.data, want))
        fprintf(stderr, "got:  %s\nwant: %s\n", b.data, want);
    assert_string_equal(b.data, want);
    buf_deinit(&b);
}

#define ENV_CHUNK "\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
                  "\"model\":\"stories\",\"system_fingerprint\":\"fief-0.1.0\""

/* Amounts are exact integers and 6-decimal strings; the cost rides on a
 * completion or chunk as one more top-level field. */
static void test_amounts(void **state)
{
    (void)state;
    expect_json(resp_amount(1800), "{\"micro\":1800,\"credits\":\"0.001800\"}");
    expect_json(resp_amount(0), "{\"micro\":0,\"credits\":\"0.000000\"}");
    expect_json(resp_amount(12500000), "{\"micro\":12500000,\"credits\":\"12.500000\"}");
    expect_json(resp_amount(-2500001), "{\"micro\":-2500001,\"credits\":\"-2.500001\"}");
    expect_json(resp_amount(INT64_MAX),
                "{\"micro\":9223372036854775807,\"credits\":\"9223372036854.775807\"}");
    expect_json(resp_amount(INT64_MIN),
                "{\"micro\":-9223372036854775808,\"credits\":\"-9223372036854.775808\"}");
    struct resp_usage u = {29, 4};
    expect_json(resp_with_cost(resp_usage_chunk(&chat_meta, &u), 39),
                "{" ENV_CHUNK ",\"choices\":[],\"usage\":{\"prompt_tokens\":29,"
                "\"completion_tokens\":4,\"total_tokens\":33},"
                "\"cost\":{\"micro\":39,\"credits\":\"0.000039\"}}");
}

static void test_chat_chunks(void **state)
{
    (void)state;
    expect_json(resp_chunk(&chat_meta, 0, "assistant", "", 0, NULL, NULL),
                "{" ENV_CHUNK ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}");
    expect_json(resp_chunk(&chat_meta, 2, NULL, "Hi\"\n", 4, NULL, NULL),
                "{" ENV_CHUNK ",\"choices\":[{\"index\":2,\"delta\":{\"content\":\"Hi\\\"\\n\"},"
                "\"logprobs\":null,\"finish_reason\":null}]}");
    expect_json(resp_chunk(&chat_meta, 1, NULL, NULL, 0, NULL, "length"),
                "{" ENV_CHUNK ",\"choices\":[{\"index\":1,\"delta\":{},\"logprobs\":null,"
                "\"finish_reason\":\"length\"}]}");
    struct resp_meta m = chat_meta;
    m.usage_null = true;
    expect_json(resp_chunk(&m, 0, NULL, "a", 1, NULL, NULL),
                "{" ENV_CHUNK ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
                "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    struct resp_usage u = {29, 4};
    expect_json(resp_usage_chunk(&m, &u),
                "{" ENV_CHUNK ",\"choices\":[],\"usage\":{\"prompt_tokens\":29,"
                "\"completion_tokens\":4,\"total_tokens\":33}}");
}

#define ENV_CMPL "\"id\":\"cmpl-X\",\"object\":\"text_completion\",\"created\":1700000000," \
                 "\"model\":\"stories\",\"system_fingerprint\":\"fief-0.1.0\""

static void test_completion_chunks(void **state)
{
    (void)state;
    expect_json(resp_chunk(&cmpl_meta, 0, NULL, " there", 6, NULL, NULL),
                "{" ENV_CMPL ",\"choices\":[{\"index\":0,\"text\":\" there\",\"logprobs\":null,"
                "\"finish_reason\":null}]}");
    expect_json(resp_chunk(&cmpl_meta, 0, NULL, NULL, 0, NULL, "stop"),
                "{" ENV_CMPL ",\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,"
                "\"finish_reason\":\"stop\"}]}");
}

static void test_full_responses(void **state)
{
    (void)state;
    struct resp_usage u = {5, 3};
    struct resp_choice c[2] = {{"ab", 2, NULL, "stop"}, {NULL, 0, NULL, "length"}};
    expect_json(resp_full(&chat_meta, c, 2, &u),
                "{\"id\":\"chatcmpl-X\",\"object\":\"chat.completion\",\"created\":1700000000,"
                "\"model\":\"stories\",\"system_fingerprint\":\"fief-0.1.0\",\"choices\":["
                "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ab\","
                "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"},"
                "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"\","
                "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"length\"}],"
                "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}");
    struct resp_choice d = {"x", 1, json_object(), "length"};
    expect_json(resp_full(&cmpl_meta, &d, 1, &u),
                "{" ENV_CMPL ",\"choices\":[{\"index\":0,\"text\":\"x\",\"logprobs\":{},"
                "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,"
                "\"completion_tokens\":3,\"total_tokens\":8}}");
    assert_null(d.logprobs); /* stolen */
}

static void test_error_shape(void **state)
{
    (void)state;
    struct api_err e;
    api_err_set(&e, 400, "invalid_request_error", "temperature", "invalid_value", "bad %d", 3);
    expect_json(resp_error(&e), "{\"error\":{\"message\":\"bad 3\",\"type\":"
                                "\"invalid_request_error\",\"param\":\"temperature\","
                                "\"code\":\"invalid_value\"}}");
    api_err_set(&e, 401, "invalid_request_error", NULL, NULL, "no key");
    expect_json(resp_error(&e), "{\"error\":{\"message\":\"no key\",\"type\":"
                                "\"invalid_request_error\",\"param\":null,\"code\":null}}");
    /* a message that quotes the customer's invalid bytes still makes valid JSON */
    api_err_set(&e, 404, "invalid_request_error", "model", "model_not_found", "no '%s'", "\xC3");
    expect_json(resp_error(&e), "{\"error\":{\"message\":\"no '\xEF\xBF\xBD'\",\"type\":"
                                "\"invalid_request_error\",\"param\":\"model\","
                                "\"code\":\"model_not_found\"}}");
}

static void test_model_entry_and_sse(void **state)
{
    (void)state;
    struct disp_model_stats st = {.miners = 2, .slots = 8, .busy = 3, .queued = 1, .tps = 1500.5};
    expect_json(resp_model("stories", 1700000000, "fief", 500000, 2000000, &st),
                "{\"id\":\"stories\",\"object\":\"model\",\"created\":1700000000,"
                "\"owned_by\":\"fief\",\"price_in\":0.5,\"price_out\":2.0,\"miners\":2,"
                "\"slots\":8,\"busy\":3,\"queued\":1,\"tps\":1500.5}");
    struct buf b;
    buf_init(&b);
    resp_dump(json_pack("{s:f}", "lp", -0.86348658800125122), true, &b);
    assert_string_equal(b.data, "data: {\"lp\":-0.863486588}\n\n");
    buf_deinit(&b);
}

/* ---- logprobs with a real vocabulary ---- */

static void test_logprobs_formats(void **state)
{
    (void)state;
    const char *path = tu_model_path("stories260K.gguf");
    if (!path)
        skip();
    char err[FIEF_ERR_LEN];
    struct eng_vocab *v;
    assert_int_equal(eng_vocab_open(path, &v, err), 0);
    int32_t ids[8];
    size_t n;
    assert_int_equal(eng_tokenize(v, "there was", 9, 0, ids, 8, &n), 0);
    assert_int_equal(n, 2); /* " there", " was" */
    struct pjob_alt alts[2] = {{ids[0], -0.5f}, {ids[1], -2.0f}};
    struct resp_tok t0 = {ids[0], -0.5f, alts, 2};
    struct resp_tok t1 = {ids[1], -0.25f, NULL, 0};
    struct resp_tok eos = {eng_vocab_eos(v), -0.1f, NULL, 0};

    json_t *lp = resp_logprobs_new(API_CHAT, true);
    assert_true(resp_logprobs_empty(lp, API_CHAT));
    size_t off = 0;
    resp_logprobs_add(lp, API_CHAT, v, &t0, 1, &off); /* only 1 alternative wanted */
    resp_logprobs_add(lp, API_CHAT, v, &eos, 1, &off); /* skipped: no text */
    assert_false(resp_logprobs_empty(lp, API_CHAT));
    char want[512];
    snprintf(want, sizeof want,
             "{\"content\":[{\"id\":%d,\"token\":\" there\",\"logprob\":-0.5,\"bytes\":[32,116,"
             "104,101,114,101],\"top_logprobs\":[{\"id\":%d,\"token\":\" there\",\"logprob\":"
             "-0.5,\"bytes\":[32,116,104,101,114,101]}]}],\"refusal\":null}",
             ids[0], ids[0]);
    expect_json(lp, want);

    lp = resp_logprobs_new(API_COMPLETION, true);
    off = 0;
    resp_logprobs_add(lp, API_COMPLETION, v, &t0, 2, &off);
    resp_logprobs_add(lp, API_COMPLETION, v, &t1, 2, &off);
    assert_int_equal(off, 10);
    expect_json(lp, "{\"tokens\":[\" there\",\" was\"],\"token_logprobs\":[-0.5,-0.25],"
                    "\"top_logprobs\":[{\" there\":-0.5,\" was\":-2.0},{}],"
                    "\"text_offset\":[0,6]}");
    lp = resp_logprobs_new(API_COMPLETION, false);
    off = 0;
    resp_logprobs_add(lp, API_COMPLETION, v, &t1, 0, &off);
    expect_json(lp, "{\"tokens\":[\" was\"],\"token_logprobs\":[-0.25],\"top_logprobs\":null,"
                    "\"text_offset\":[0]}");
    eng_vocab_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_chat_chunks),
        cmocka_unit_test(test_completion_chunks),
        cmocka_unit_test(test_full_responses),
        cmocka_unit_test(test_error_shape),
        cmocka_unit_test(test_model_entry_and_sse),
        cmocka_unit_test(test_logprobs_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
