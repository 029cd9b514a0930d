/* SPDX-License-Identifier: MIT */
/* Request bodies of /v1/chat/completions and /v1/completions: defaults, every
 * field's accepted forms, every field's bad values (each error names its
 * field), and prompt tokenization against the shared stories260K vocabulary
 * (counts cross-checked with llama.cpp's recorded usage). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engine/engine.h"
#include "pool/api_req.h"
#include "proto/proto.h"

#define CHAT_MIN "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"
#define CMPL_MIN "\"model\":\"m\",\"prompt\":\"Once\""

static void parse_ok(enum api_kind kind, const char *body, struct api_req *r)
{
    struct api_err e = {0};
    int rc = api_req_parse(kind, body, strlen(body), r, &e);
    if (rc)
        fprintf(stderr, "unexpected error for %s: %s (param %s)\n", body, e.message, e.param);
    assert_int_equal(rc, 0);
}

/* body must fail with 400 naming param (and code, when given). */
static void parse_bad(enum api_kind kind, const char *body, const char *param, const char *code)
{
    struct api_req r;
    struct api_err e = {0};
    int rc = api_req_parse(kind, body, strlen(body), &r, &e);
    if (rc == 0 || strcmp(e.param, param) || (code && strcmp(e.code, code)))
        fprintf(stderr, "body %s: rc %d, param '%s' code '%s' message '%s'; wanted '%s' '%s'\n",
                body, rc, e.param, e.code, e.message, param, code ? code : "");
    assert_int_equal(rc, FIEF_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_string_equal(e.param, param);
    if (code)
        assert_string_equal(e.code, code);
    assert_true(strlen(e.message) > 10);
    /* nothing to free, and freeing is harmless */
    api_req_free(&r);
}

static void chat_bad(const char *extra, const char *param, const char *code)
{
    char body[2048];
    snprintf(body, sizeof body, "{" CHAT_MIN ",%s}", extra);
    parse_bad(API_CHAT, body, param, code);
}

static void cmpl_bad(const char *extra, const char *param, const char *code)
{
    char body[2048];
    snprintf(body, sizeof body, "{" CMPL_MIN ",%s}", extra);
    parse_bad(API_COMPLETION, body, param, code);
}

/* ---- accepted forms ---- */

static void test_chat_minimal_defaults(void **state)
{
    (void)state;
    struct api_req r;
    parse_ok(API_CHAT, "{" CHAT_MIN "}", &r);
    assert_int_equal(r.kind, API_CHAT);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_msgs, 1);
    assert_string_equal(r.msgs[0].role, "user");
    assert_string_equal(r.msgs[0].content, "Hi");
    assert_int_equal(r.max_tokens, 0);
    assert_true(r.temperature == 1.0f && r.top_p == 1.0f && r.repeat_penalty == 1.0f);
    assert_int_equal(r.top_k, 0);
    assert_false(r.has_seed);
    assert_int_equal(r.n_stops, 0);
    assert_false(r.logprobs);
    assert_int_equal(r.n, 1);
    assert_false(r.stream);
    assert_false(r.include_usage);
    api_req_free(&r);
    api_req_free(&r); /* idempotent */
}

static void test_chat_all_fields(void **state)
{
    (void)state;
    struct api_req r;
    parse_ok(API_CHAT,
             "{\"model\":\"stories\",\"messages\":["
             "{\"role\":\"developer\",\"content\":\"Be brief.\"},"
             "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
             "{\"type\":\"text\",\"text\":\"b\"}]},"
             "{\"role\":\"user\",\"content\":\"Hi\",\"name\":\"bob\"},"
             "{\"role\":\"assistant\",\"content\":null},"
             "{\"role\":\"user\",\"content\":[]}],"
             "\"max_tokens\":10,\"max_completion_tokens\":20,\"temperature\":0,\"top_p\":0.5,"
             "\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,\"seed\":-1,"
             "\"stop\":[\"\\n\",\"\",\"END\"],\"logprobs\":true,\"top_logprobs\":20,\"n\":8,"
             "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"u1\","
             "\"presence_penalty\":0,\"frequency_penalty\":0.0,\"tools\":[],"
             "\"tool_choice\":\"none\",\"response_format\":{\"type\":\"text\"},"
             "\"logit_bias\":{},\"parallel_tool_calls\":true,\"store\":false,"
             "\"metadata\":{\"x\":\"y\"},\"unknown_field\":[1,2,3]}",
             &r);
    assert_int_equal(r.n_msgs, 5);
    assert_string_equal(r.msgs[0].role, "system"); /* developer is system */
    assert_string_equal(r.msgs[1].content, "a\nb");
    assert_string_equal(r.msgs[3].role, "assistant");
    assert_string_equal(r.msgs[3].content, "");
    assert_string_equal(r.msgs[4].content, "");
    assert_int_equal(r.max_tokens, 20); /* max_completion_tokens wins */
    assert_true(r.temperature == 0.0f && r.top_p == 0.5f);
    assert_int_equal(r.top_k, 40);
    assert_true(r.min_p > 0.049f && r.min_p < 0.051f);
    assert_true(r.has_seed);
    assert_int_equal(r.seed, PROTO_MAX_ID); /* -1 reduced */
    assert_int_equal(r.n_stops, 2);         /* the empty one is dropped */
    assert_string_equal(r.stops[0], "\n");
    assert_string_equal(r.stops[1], "END");
    assert_int_equal(r.stop_lens[1], 3);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 20);
    assert_int_equal(r.n, 8);
    assert_true(r.stream && r.include_usage);
    api_req_free(&r);
}

static void test_chat_nulls_are_absent(void **state)
{
    (void)state;
    struct api_req r;
    parse_ok(API_CHAT,
             "{" CHAT_MIN ",\"max_tokens\":null,\"temperature\":null,\"seed\":null,\"stop\":null,"
             "\"n\":null,\"stream\":null,\"stream_options\":null,\"logprobs\":null,"
             "\"top_logprobs\":null,\"tools\":null,\"presence_penalty\":null}",
             &r);
    assert_int_equal(r.max_tokens, 0);
    assert_true(r.temperature == 1.0f);
    assert_false(r.has_seed);
    assert_int_equal(r.n, 1);
    api_req_free(&r);
}

static void test_seed_reduction(void **state)
{
    (void)state;
    assert_int_equal(api_seed_reduce(0), 0);
    assert_int_equal(api_seed_reduce(42), 42);
    assert_int_equal(api_seed_reduce((int64_t)PROTO_MAX_ID), PROTO_MAX_ID);
    assert_int_equal(api_seed_reduce((int64_t)PROTO_MAX_ID + 1), 0);
    assert_int_equal(api_seed_reduce(-1), PROTO_MAX_ID);
    assert_int_equal(api_seed_reduce(INT64_MIN), 0);
    assert_true(api_seed_reduce(INT64_MAX) <= PROTO_MAX_ID);
    struct api_req r;
    parse_ok(API_CHAT, "{" CHAT_MIN ",\"seed\":9223372036854775807}", &r);
    assert_int_equal(r.seed, PROTO_MAX_ID);
    api_req_free(&r);
    parse_ok(API_CHAT, "{" CHAT_MIN ",\"seed\":-9223372036854775808}", &r);
    assert_int_equal(r.seed, 0);
    api_req_free(&r);
}

static void test_stop_forms(void **state)
{
    (void)state;
    struct api_req r;
    parse_ok(API_CHAT, "{" CHAT_MIN ",\"stop\":\"###\"}", &r);
    assert_int_equal(r.n_stops, 1);
    assert_string_equal(r.stops[0], "###");
    api_req_free(&r);
    parse_ok(API_CHAT, "{" CHAT_MIN ",\"stop\":\"\"}", &r);
    assert_int_equal(r.n_stops, 0);
    api_req_free(&r);
    parse_ok(API_CHAT, "{" CHAT_MIN ",\"stop\":[\"a\",\"b\",\"\\u00e9t\\u00e9\",\"d\"]}", &r);
    assert_int_equal(r.n_stops, 4);
    assert_string_equal(r.stops[2], "\xC3\xA9t\xC3\xA9");
    api_req_free(&r);
    char body[1024], stop[TEXTOUT_MAX_STOP_LEN + 1];
    memset(stop, 'x', TEXTOUT_MAX_STOP_LEN);
    stop[TEXTOUT_MAX_STOP_LEN] = '\0';
    snprintf(body, sizeof body, "{" CHAT_MIN ",\"stop\":\"%s\"}", stop);
    parse_ok(API_CHAT, body, &r);
    assert_int_equal(r.stop_lens[0], TEXTOUT_MAX_STOP_LEN);
    api_req_free(&r);
}

static void test_completion_prompt_forms(void **state)
{
    (void)state;
    struct api_req r;
    parse_ok(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"Once upon\"}", &r);
    assert_string_equal(r.prompt, "Once upon");
    assert_int_equal(r.prompt_len, 9);
    assert_null(r.prompt_ids);
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"\"}", &r);
    assert_string_equal(r.prompt, "");
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"one\"]}", &r);
    assert_string_equal(r.prompt, "one");
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2,16777215]}", &r);
    assert_int_equal(r.n_prompt_ids, 3);
    assert_int_equal(r.prompt_ids[2], 16777215);
    assert_null(r.prompt);
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[[5,6]]}", &r);
    assert_int_equal(r.n_prompt_ids, 2);
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{" CMPL_MIN ",\"logprobs\":0,\"echo\":false,\"suffix\":null,"
             "\"best_of\":1}", &r);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    api_req_free(&r);
    parse_ok(API_COMPLETION, "{" CMPL_MIN ",\"logprobs\":5,\"max_completion_tokens\":0}", &r);
    assert_int_equal(r.top_logprobs, 5);
    assert_int_equal(r.max_tokens, 0); /* not a completions field: ignored */
    api_req_free(&r);
}

/* ---- rejected bodies ---- */

static void test_bad_json(void **state)
{
    (void)state;
    parse_bad(API_CHAT, "", "", NULL);
    parse_bad(API_CHAT, "{", "", NULL);
    parse_bad(API_CHAT, "[1]", "", NULL);
    parse_bad(API_CHAT, "\"str\"", "", NULL);
    parse_bad(API_CHAT, "{" CHAT_MIN "} trailing", "", NULL);
    parse_bad(API_CHAT, "{\"model\":\"a\",\"model\":\"b\"}", "", NULL); /* duplicate key */
    parse_bad(API_CHAT, "{\"model\":\"a\\u0000b\"}", "", NULL);       /* NUL in a string */
    parse_bad(API_CHAT, "{\"model\":\"\xC3\"}", "", NULL);            /* invalid UTF-8 */
    parse_bad(API_CHAT, "{" CHAT_MIN ",\"seed\":99999999999999999999}", "", NULL);
}

/* Idempotency-Key: 1..128 printable ASCII bytes; anything else is a 400
 * that names the header. No header: no key. */
static void test_idempotency_key(void **state)
{
    (void)state;
    struct api_err e;
    char out[API_MAX_IDEM + 1], k128[API_MAX_IDEM + 2];
    assert_int_equal(api_req_idem(NULL, out, &e), 0);
    assert_string_equal(out, "");
    assert_int_equal(api_req_idem("order-42/retry 1", out, &e), 0);
    assert_string_equal(out, "order-42/retry 1");
    memset(k128, 'k', API_MAX_IDEM);
    k128[API_MAX_IDEM] = 0;
    assert_int_equal(api_req_idem(k128, out, &e), 0);
    assert_string_equal(out, k128);
    k128[API_MAX_IDEM] = 'k';
    k128[API_MAX_IDEM + 1] = 0;
    const char *bad[] = {"", k128, "caf\xc3\xa9", "tab\there", "del\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        strcpy(out, "stale");
        assert_int_equal(api_req_idem(bad[i], out, &e), FIEF_EINVAL);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "invalid_idempotency_key");
        assert_non_null(strstr(e.message, "Idempotency-Key"));
        assert_string_equal(out, "");
    }
}

static void test_bad_model(void **state)
{
    (void)state;
    parse_bad(API_CHAT, "{\"messages\":[]}", "model", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":null}", "model", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":7}", "model", "invalid_type");
    parse_bad(API_CHAT, "{\"model\":\"\"}", "model", "invalid_value");
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"%065d\"}", 0);
    parse_bad(API_CHAT, body, "model", "invalid_value");
}

static void test_bad_messages(void **state)
{
    (void)state;
    parse_bad(API_CHAT, "{\"model\":\"m\"}", "messages", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages", "invalid_type");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "invalid_value");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", "messages[0]", "invalid_type");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role",
              "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":1,\"content\":\"x\"}]}",
              "messages[0].role", "invalid_type");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
              "{\"role\":\"robot\",\"content\":\"x\"}]}",
              "messages[1].role", "invalid_value");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
              "messages[0].role", "unsupported_value");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}",
              "messages[0].content", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":null}]}",
              "messages[0].content", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
              "messages[0].content", "invalid_type");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
              "\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
              "messages[0].content[0].type", "unsupported_value");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
              "\"text\":\"a\"},{\"type\":\"text\"}]}]}",
              "messages[0].content[1].text", "missing_required_parameter");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
              "\"text\":3}]}]}",
              "messages[0].content[0].text", "invalid_type");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
              "messages[0].content[0].type", "missing_required_parameter");
    parse_bad(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[7]}]}",
              "messages[0].content[0]", "invalid_type");
    parse_bad(API_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null,"
              "\"tool_calls\":[{\"id\":\"x\"}]}]}",
              "messages[0]", "unsupported_parameter");
}

static void test_bad_prompt(void **state)
{
    (void)state;
    parse_bad(API_COMPLETION, "{\"model\":\"m\"}", "prompt", "missing_required_parameter");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":5}", "prompt", "invalid_type");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":{}}", "prompt", "invalid_type");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[]}", "prompt", "invalid_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[[]]}", "prompt", "invalid_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt",
              "unsupported_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1],[2]]}", "prompt",
              "unsupported_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,\"a\"]}", "prompt[1]", "invalid_type");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,-2]}", "prompt[1]", "invalid_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[16777216]}", "prompt[0]",
              "invalid_value");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[1.5]}", "prompt[0]", "invalid_type");
    parse_bad(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[true]}", "prompt[0]", "invalid_type");
}

static void test_bad_numbers(void **state)
{
    (void)state;
    chat_bad("\"max_tokens\":0", "max_tokens", "invalid_value");
    chat_bad("\"max_tokens\":-1", "max_tokens", "invalid_value");
    chat_bad("\"max_tokens\":1.5", "max_tokens", "invalid_type");
    chat_bad("\"max_tokens\":\"10\"", "max_tokens", "invalid_type");
    chat_bad("\"max_tokens\":32769", "max_tokens", "invalid_value");
    chat_bad("\"max_completion_tokens\":0", "max_completion_tokens", "invalid_value");
    chat_bad("\"temperature\":-0.1", "temperature", "invalid_value");
    chat_bad("\"temperature\":2.01", "temperature", "invalid_value");
    chat_bad("\"temperature\":\"hot\"", "temperature", "invalid_type");
    chat_bad("\"temperature\":true", "temperature", "invalid_type");
    chat_bad("\"top_p\":0", "top_p", "invalid_value");
    chat_bad("\"top_p\":1.5", "top_p", "invalid_value");
    chat_bad("\"top_k\":-1", "top_k", "invalid_value");
    chat_bad("\"min_p\":1.5", "min_p", "invalid_value");
    chat_bad("\"repeat_penalty\":0", "repeat_penalty", "invalid_value");
    chat_bad("\"n\":0", "n", "invalid_value");
    chat_bad("\"n\":9", "n", "invalid_value");
    chat_bad("\"n\":2.0", "n", "invalid_type");
    chat_bad("\"seed\":1.5", "seed", "invalid_type");
    chat_bad("\"seed\":\"7\"", "seed", "invalid_type");
    cmpl_bad("\"max_tokens\":0", "max_tokens", "invalid_value");
    cmpl_bad("\"n\":100", "n", "invalid_value");
}

static void test_bad_stop(void **state)
{
    (void)state;
    chat_bad("\"stop\":5", "stop", "invalid_type");
    chat_bad("\"stop\":{\"a\":1}", "stop", "invalid_type");
    chat_bad("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop", "invalid_value");
    chat_bad("\"stop\":[\"a\",1]", "stop[1]", "invalid_type");
    chat_bad("\"stop\":[null]", "stop[0]", "invalid_type");
    char extra[600], stop[TEXTOUT_MAX_STOP_LEN + 2];
    memset(stop, 'x', TEXTOUT_MAX_STOP_LEN + 1);
    stop[TEXTOUT_MAX_STOP_LEN + 1] = '\0';
    snprintf(extra, sizeof extra, "\"stop\":\"%s\"", stop);
    chat_bad(extra, "stop", "invalid_value");
    snprintf(extra, sizeof extra, "\"stop\":[\"ok\",\"%s\"]", stop);
    chat_bad(extra, "stop[1]", "invalid_value");
}

static void test_bad_logprobs(void **state)
{
    (void)state;
    chat_bad("\"logprobs\":1", "logprobs", "invalid_type");
    chat_bad("\"logprobs\":\"yes\"", "logprobs", "invalid_type");
    chat_bad("\"logprobs\":true,\"top_logprobs\":21", "top_logprobs", "invalid_value");
    chat_bad("\"logprobs\":true,\"top_logprobs\":-1", "top_logprobs", "invalid_value");
    chat_bad("\"top_logprobs\":2", "top_logprobs", "invalid_value");
    chat_bad("\"logprobs\":false,\"top_logprobs\":2", "top_logprobs", "invalid_value");
    chat_bad("\"logprobs\":true,\"top_logprobs\":1.5", "top_logprobs", "invalid_type");
    cmpl_bad("\"logprobs\":6", "logprobs", "invalid_value");
    cmpl_bad("\"logprobs\":-1", "logprobs", "invalid_value");
    cmpl_bad("\"logprobs\":true", "logprobs", "invalid_type");
}

static void test_bad_stream(void **state)
{
    (void)state;
    chat_bad("\"stream\":\"yes\"", "stream", "invalid_type");
    chat_bad("\"stream\":1", "stream", "invalid_type");
    chat_bad("\"stream\":true,\"stream_options\":true", "stream_options", "invalid_type");
    chat_bad("\"stream\":true,\"stream_options\":{\"include_usage\":1}",
             "stream_options.include_usage", "invalid_type");
}

static void test_unsupported_features(void **state)
{
    (void)state;
    chat_bad("\"presence_penalty\":0.5", "presence_penalty", "unsupported_value");
    chat_bad("\"frequency_penalty\":-1", "frequency_penalty", "unsupported_value");
    chat_bad("\"presence_penalty\":3", "presence_penalty", "invalid_value");
    chat_bad("\"frequency_penalty\":\"x\"", "frequency_penalty", "invalid_type");
    chat_bad("\"tools\":[{\"type\":\"function\"}]", "tools", "unsupported_parameter");
    chat_bad("\"tool_choice\":\"required\"", "tool_choice", "unsupported_parameter");
    chat_bad("\"functions\":[{}]", "functions", "unsupported_parameter");
    chat_bad("\"response_format\":{\"type\":\"json_object\"}", "response_format",
             "unsupported_parameter");
    chat_bad("\"logit_bias\":{\"50256\":-100}", "logit_bias", "unsupported_parameter");
    chat_bad("\"audio\":{\"voice\":\"x\"}", "audio", "unsupported_parameter");
    cmpl_bad("\"echo\":true", "echo", "unsupported_parameter");
    cmpl_bad("\"suffix\":\"end\"", "suffix", "unsupported_parameter");
    cmpl_bad("\"best_of\":3", "best_of", "unsupported_parameter");
}

/* ---- prompts against a real vocabulary ---- */

static struct eng_vocab *stories;

static int setup(void **state)
{
    (void)state;
    const char *path = tu_model_path("stories260K.gguf");
    char err[FIEF_ERR_LEN];
    if (path && eng_vocab_open(path, &stories, err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    eng_vocab_free(stories);
    return 0;
}

static int prompt_of(const char *body, enum api_kind kind, enum eng_chat_family f, int32_t n_ctx,
                     uint32_t def, int32_t **ids, uint32_t *n, uint32_t *max, struct api_err *e)
{
    struct api_req r;
    parse_ok(kind, body, &r);
    int rc = api_req_prompt(&r, stories, f, n_ctx, def, ids, n, max, e);
    api_req_free(&r);
    return rc;
}

static void test_prompt_matches_llama_cpp_counts(void **state)
{
    (void)state;
    if (!stories)
        skip();
    int32_t *ids;
    uint32_t n, max;
    struct api_err e;
    /* llama.cpp's recorded usage: 5 prompt tokens for this completion prompt, 54 for
     * this chat (its server renders ChatML for a model without a template) */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"Once upon a time\"}", API_COMPLETION,
                               ENG_CHAT_PLAIN, 512, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], eng_vocab_bos(stories));
    free(ids);
    assert_int_equal(prompt_of("{\"model\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"Tell me a story about Lily.\"}]}",
                               API_CHAT, ENG_CHAT_CHATML, 512, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(n, 54);
    free(ids);
}

static void test_prompt_chat_is_template_then_tokens(void **state)
{
    (void)state;
    if (!stories)
        skip();
    int32_t *ids, want[64];
    uint32_t n, max;
    size_t nw;
    struct api_err e;
    assert_int_equal(prompt_of("{\"model\":\"s\",\"messages\":[{\"role\":\"system\",\"content\":"
                               "\"Be kind.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}",
                               API_CHAT, ENG_CHAT_PLAIN, 512, 256, &ids, &n, &max, &e), 0);
    const char *text = "System: Be kind.\nUser: Hi\nAssistant:";
    assert_int_equal(eng_tokenize(stories, text, strlen(text),
                                  ENG_TOK_ADD_BOS | ENG_TOK_PARSE_SPECIAL, want, 64, &nw), 0);
    assert_int_equal(n, nw);
    assert_memory_equal(ids, want, nw * sizeof *ids);
    assert_int_equal(max, 256);
    free(ids);
}

static void test_prompt_ids_pass_through(void **state)
{
    (void)state;
    if (!stories)
        skip();
    int32_t *ids;
    uint32_t n, max;
    struct api_err e;
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":[1,400,511]}", API_COMPLETION,
                               ENG_CHAT_PLAIN, 512, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1); /* no BOS added to ids */
    assert_int_equal(ids[2], 511);
    free(ids);
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":[1,512]}", API_COMPLETION,
                               ENG_CHAT_PLAIN, 512, 256, &ids, &n, &max, &e), FIEF_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, "prompt");
    assert_non_null(strstr(e.message, "512"));
    assert_null(ids);
}

static void test_prompt_context_limits(void **state)
{
    (void)state;
    if (!stories)
        skip();
    int32_t *ids;
    uint32_t n, max;
    struct api_err e;
    /* default max_tokens shrinks to the room left */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"Once upon a time\"}", API_COMPLETION,
                               ENG_CHAT_PLAIN, 20, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(max, 15);
    free(ids);
    /* an explicit max_tokens that does not fit is an error with the numbers */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"Once upon a time\",\"max_tokens\":16}",
                               API_COMPLETION, ENG_CHAT_PLAIN, 20, 256, &ids, &n, &max, &e),
                     FIEF_EINVAL);
    assert_string_equal(e.code, "context_length_exceeded");
    assert_string_equal(e.param, "prompt");
    assert_non_null(strstr(e.message, "20 tokens"));
    assert_non_null(strstr(e.message, "21"));
    assert_non_null(strstr(e.message, "15 or less"));
    /* exactly full is fine */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"Once upon a time\",\"max_tokens\":15}",
                               API_COMPLETION, ENG_CHAT_PLAIN, 20, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(max, 15);
    free(ids);
    /* a prompt that fills the context leaves no room */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"Once upon a time\"}]}",
                               API_CHAT, ENG_CHAT_PLAIN, 5, 256, &ids, &n, &max, &e), FIEF_EINVAL);
    assert_string_equal(e.code, "context_length_exceeded");
    assert_string_equal(e.param, "messages");
    /* no context known: only the protocol's limits */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"x\",\"max_tokens\":32768}",
                               API_COMPLETION, ENG_CHAT_PLAIN, 0, 256, &ids, &n, &max, &e), 0);
    assert_int_equal(max, 32768);
    free(ids);
}

static void test_prompt_special_tokens_parsed(void **state)
{
    (void)state;
    if (!stories)
        skip();
    int32_t *ids;
    uint32_t n, max;
    struct api_err e;
    /* "</s>" in a completion prompt is the EOS token, as in llama.cpp's server */
    assert_int_equal(prompt_of("{\"model\":\"s\",\"prompt\":\"Hi</s>\"}", API_COMPLETION,
                               ENG_CHAT_PLAIN, 512, 8, &ids, &n, &max, &e), 0);
    assert_int_equal(ids[n - 1], eng_vocab_eos(stories));
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_minimal_defaults),
        cmocka_unit_test(test_chat_all_fields),
        cmocka_unit_test(test_chat_nulls_are_absent),
        cmocka_unit_test(test_seed_reduction),
        cmocka_unit_test(test_stop_forms),
        cmocka_unit_test(test_completion_prompt_forms),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_bad_model),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_bad_prompt),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_bad_stop),
        cmocka_unit_test(test_bad_logprobs),
        cmocka_unit_test(test_bad_stream),
        cmocka_unit_test(test_unsupported_features),
        cmocka_unit_test(test_prompt_matches_llama_cpp_counts),
        cmocka_unit_test(test_prompt_chat_is_template_then_tokens),
        cmocka_unit_test(test_prompt_ids_pass_through),
        cmocka_unit_test(test_prompt_context_limits),
        cmocka_unit_test(test_prompt_special_tokens_parsed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
