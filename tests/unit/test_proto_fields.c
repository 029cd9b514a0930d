/* SPDX-License-Identifier: MIT */
/* src/proto field rules: every limit at its boundary (n passes, n+1 fails),
 * every malformed field with the error it must produce (a table of changes
 * to valid messages), defaults and normalising, version handling, and the
 * example lines of docs/protocol.md. */
#include "testutil.h"
#include "proto/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64
#define DIGEST "sha256:" HEX64

static void expect_ok(int rc, const char *err)
{
    if (rc)
        fail_msg("decode failed: %s", err);
}

/* ---- field rules: each change to a valid message, with its verdict ---- */

enum which {
    W_HELLO,
    W_WELCOME,
    W_AUTH,
    W_AUTHED,
    W_OFFER,
    W_VERDICTS,
    W_JOB,
    W_TOKENS,
    W_TOKENS2,
    W_DONE,
    W_CANCEL,
    W_SCORE,
    W_SCORE_S, /* with the audited job's sampling */
    W_SCORED,
    W_NOTICE,
    W_RECEIPT,
    W_N
};

static const char *const base_json[W_N] = {
    [W_HELLO] = "{\"version\":1,\"agent\":\"fief-miner/0.1\",\"pubkey\":\"" HEX64 "\","
                "\"worker\":\"rig1\",\"payout\":\"alice\"}",
    [W_WELCOME] = "{\"version\":1,\"session\":\"s-1\",\"challenge\":\"" HEX64 "\",\"terms\":"
                  "{\"pool\":\"Test pool\",\"fee_ppm\":20000,\"scheme\":\"PPS\","
                  "\"maturity_s\":86400,\"audit_rate\":0.05}}",
    [W_AUTH] = "{\"signature\":\"" HEX128 "\"}",
    [W_AUTHED] = "{\"miner\":\"0123456789abcdef\"}",
    [W_OFFER] = "{\"models\":[{\"name\":\"tiny\",\"digest\":\"" DIGEST "\",\"ctx\":4096,"
                "\"slots\":2,\"tps\":31.5,\"caps\":[\"generate\",\"score\"]}]}",
    [W_VERDICTS] = "{\"models\":[{\"name\":\"tiny\",\"accepted\":true}]}",
    [W_JOB] = "{\"job\":\"j1.0\",\"model\":\"tiny\",\"prompt\":[1,2,3],\"max_tokens\":16,"
              "\"temperature\":0.7,\"top_k\":40,\"top_p\":0.95,\"min_p\":0.05,"
              "\"repeat_penalty\":1.1,\"seed\":42,\"top_n\":2}",
    [W_TOKENS] = "{\"job\":\"j1.0\",\"seq\":0,\"ids\":[42],\"logprobs\":[-0.25]}",
    [W_TOKENS2] = "{\"job\":\"j1.0\",\"seq\":5,\"ids\":[42,43],\"logprobs\":[-0.25,-1]}",
    [W_DONE] = "{\"finish\":\"length\",\"n\":16,\"prompt_ms\":1.5,\"gen_ms\":120.25}",
    [W_CANCEL] = "{\"job\":\"j1.0\"}",
    [W_SCORE] = "{\"job\":\"a1\",\"model\":\"tiny\",\"prompt\":[1,2],\"completion\":[3,4]}",
    /* (parenthesised: one string on purpose, says clang's -Wstring-concatenation) */
    [W_SCORE_S] = ("{\"job\":\"a1\",\"model\":\"tiny\",\"prompt\":[1,2],\"completion\":[3,4],"
                   "\"sampling\":{\"temperature\":0.7,\"top_k\":40,\"top_p\":0.95,\"min_p\":0.05,"
                   "\"repeat_penalty\":1.1,\"seed\":42}}"),
    [W_SCORED] = ("{\"logprobs\":[-0.5,-1],\"top_ids\":[3,9],\"top_logprobs\":[-0.5,-0.25],"
                  "\"picks\":[3,9],\"margins\":[0,0.25]}"),
    [W_NOTICE] = "{\"kind\":\"message\",\"message\":\"maintenance at 12:00 UTC\"}",
    [W_RECEIPT] = "{\"request\":\"chatcmpl-1\",\"receipt\":{\"request\":\"chatcmpl-1\",\"cost\":1}}",
};

union any {
    struct proto_hello hello;
    struct proto_welcome welcome;
    struct proto_auth auth;
    struct proto_authed authed;
    struct proto_offer offer;
    struct proto_verdicts verdicts;
    struct proto_job job;
    struct proto_tokens tokens;
    struct proto_job_done done;
    struct proto_cancel cancel;
    struct proto_score score;
    struct proto_scored scored;
    struct proto_notice notice;
    struct proto_receipt receipt;
};

/* Decode o as message w into u (caller clears with clear_any). */
static int decode_any(int w, json_t *o, union any *u, char *err)
{
    switch (w) {
    case W_HELLO:
        return proto_hello_decode(o, &u->hello, err);
    case W_WELCOME:
        return proto_welcome_decode(o, &u->welcome, err);
    case W_AUTH:
        return proto_auth_decode(o, &u->auth, err);
    case W_AUTHED:
        return proto_authed_decode(o, &u->authed, err);
    case W_OFFER:
        return proto_offer_decode(o, &u->offer, err);
    case W_VERDICTS:
        return proto_verdicts_decode(o, &u->verdicts, err);
    case W_JOB:
        return proto_job_decode(o, &u->job, err);
    case W_TOKENS:
    case W_TOKENS2:
        return proto_tokens_decode(o, &u->tokens, err);
    case W_DONE:
        return proto_job_done_decode(o, &u->done, err);
    case W_CANCEL:
        return proto_cancel_decode(o, &u->cancel, err);
    case W_SCORE:
    case W_SCORE_S:
        return proto_score_decode(o, &u->score, err);
    case W_SCORED:
        return proto_scored_decode(o, &u->scored, err);
    case W_RECEIPT:
        return proto_receipt_decode(o, &u->receipt, err);
    default:
        return proto_notice_decode(o, &u->notice, err);
    }
}

static void clear_any(int w, union any *u)
{
    if (w == W_JOB)
        proto_job_clear(&u->job);
    else if (w == W_TOKENS || w == W_TOKENS2)
        proto_tokens_clear(&u->tokens);
    else if (w == W_SCORE || w == W_SCORE_S)
        proto_score_clear(&u->score);
    else if (w == W_SCORED)
        proto_scored_clear(&u->scored);
    else if (w == W_RECEIPT)
        proto_receipt_clear(&u->receipt);
}

/* A value: JSON text, or "@str:N:c" (N bytes of c), "@rep:N:JSON" (an array
 * of N copies), "@top:N:K:JSON" (N rows of K copies). */
static json_t *make_value(const char *v)
{
    unsigned n, k;
    int used = 0;
    if (sscanf(v, "@str:%u:%n", &n, &used) == 1 && used) {
        char *s = malloc(n + 1);
        memset(s, v[used], n);
        json_t *j = json_stringn(s, n);
        free(s);
        return j;
    }
    json_t *a = json_array();
    if (sscanf(v, "@rep:%u:%n", &n, &used) == 1 && used) {
        json_t *e = make_value(v + used);
        for (unsigned i = 0; i < n; i++)
            json_array_append(a, e);
        json_decref(e);
        return a;
    }
    if (sscanf(v, "@top:%u:%u:%n", &n, &k, &used) == 2 && used) {
        char rep[64];
        snprintf(rep, sizeof rep, "@rep:%u:%s", k, v + used);
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(a, make_value(rep));
        return a;
    }
    json_decref(a);
    json_error_t je;
    json_t *j = json_loads(v, JSON_DECODE_ANY, &je);
    if (!j)
        fail_msg("bad test value %s: %s", v, je.text);
    return j;
}

/* Set (or with "@del" delete) the value at a dotted path: "models.0.slots";
 * "a,b" sets both. */
static void set_path(json_t *root, const char *path, const char *value)
{
    char buf[128], *save = NULL;
    const char *comma = strchr(path, ',');
    if (comma) {
        snprintf(buf, sizeof buf, "%.*s", (int)(comma - path), path);
        set_path(root, buf, value);
        set_path(root, comma + 1, value);
        return;
    }
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *seg = strtok_r(buf, ".", &save), *next;
    for (; (next = strtok_r(NULL, ".", &save)) != NULL; seg = next)
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(seg, NULL, 10))
                                 : json_object_get(cur, seg);
    assert_non_null(cur);
    if (strcmp(value, "@del") == 0)
        json_object_del(cur, seg);
    else if (json_is_array(cur))
        json_array_set_new(cur, strtoul(seg, NULL, 10), make_value(value));
    else
        json_object_set_new(cur, seg, make_value(value));
}

struct mut {
    int w;
    const char *path, *value;   /* one change */
    const char *path2, *value2; /* and another (arrays that go together), or NULL */
    int rc;
    const char *frag; /* expected in err */
};

/* clang-format off */
#define OK(w, p, v) {w, p, v, NULL, NULL, 0, NULL}
#define OK2(w, p, v, p2, v2) {w, p, v, p2, v2, 0, NULL}
#define BAD(w, p, v, frag) {w, p, v, NULL, NULL, FIEF_EPROTO, frag}
#define BAD2(w, p, v, p2, v2, frag) {w, p, v, p2, v2, FIEF_EPROTO, frag}
/* clang-format on */

static const struct mut muts[] = {
    /* hello */
    OK(W_HELLO, "agent", "@str:64:a"),
    BAD(W_HELLO, "agent", "@str:65:a", "hello: \"agent\" is 65 bytes; the limit is 64"),
    BAD(W_HELLO, "agent", "\"\"", "hello: \"agent\" is empty"),
    BAD(W_HELLO, "agent", "\"x\\u0001\"", "\"agent\" has a character that is not printable"),
    BAD(W_HELLO, "agent", "\"caf\\u00e9\"", "not printable ASCII at byte 3"),
    BAD(W_HELLO, "agent", "5", "\"agent\" must be a string"),
    BAD(W_HELLO, "agent", "null", "\"agent\" must be a string"),
    BAD(W_HELLO, "agent", "@del", "hello: \"agent\" is missing"),
    OK(W_HELLO, "pubkey", "@str:64:F"),
    BAD(W_HELLO, "pubkey", "@str:63:a", "\"pubkey\" must be 64 hex digits"),
    BAD(W_HELLO, "pubkey", "@str:65:a", "\"pubkey\" must be 64 hex digits"),
    BAD(W_HELLO, "pubkey", "@str:64:g", "\"pubkey\" must be 64 hex digits"),
    OK(W_HELLO, "worker", "@str:64:w"),
    OK(W_HELLO, "worker", "\"A-z_0.9\""),
    BAD(W_HELLO, "worker", "@str:65:w", "\"worker\" is 65 bytes"),
    BAD(W_HELLO, "worker", "\"rig 1\"",
        "\"worker\" has a character outside [A-Za-z0-9._-] "
        "at byte 3"),
    BAD(W_HELLO, "worker", "\"rig/1\"", "outside [A-Za-z0-9._-]"),
    OK(W_HELLO, "payout", "@str:512:p"),
    BAD(W_HELLO, "payout", "@str:513:p", "\"payout\" is 513 bytes; the limit is 512"),
    BAD(W_HELLO, "payout", "\"\"", "\"payout\" is empty"),
    BAD(W_HELLO, "payout", "\"a\\tb\"", "\"payout\" has a character that is not printable"),
    BAD(W_HELLO, "version", "0", "hello: \"version\" = 0 is out of range"),
    BAD(W_HELLO, "version", "1.0", "\"version\" must be an integer"),
    BAD(W_HELLO, "version", "\"1\"", "\"version\" must be an integer"),
    BAD(W_HELLO, "version", "@del", "\"version\" is missing"),
    OK(W_HELLO, "extra", "{\"future\":[1,{\"x\":null}]}"),
    /* hello result */
    OK(W_WELCOME, "session", "@str:64:s"),
    BAD(W_WELCOME, "session", "@str:65:s", "hello result: \"session\" is 65 bytes"),
    BAD(W_WELCOME, "challenge", "@str:63:0", "\"challenge\" must be 64 hex digits"),
    OK(W_WELCOME, "terms.pool", "@str:64:p"),
    OK(W_WELCOME, "terms.pool_key", "\"" HEX64 "\""),
    BAD(W_WELCOME, "terms.pool_key", "\"abc\"", "\"pool_key\""),
    BAD(W_WELCOME, "terms.pool_key", "7", "\"pool_key\""),
    BAD(W_WELCOME, "terms.pool", "@str:65:p", "hello result: \"terms\".\"pool\" is 65 bytes"),
    OK(W_WELCOME, "terms.fee_ppm", "1000000"),
    BAD(W_WELCOME, "terms.fee_ppm", "1000001",
        "\"terms\".\"fee_ppm\" = 1000001 is out of "
        "range 0..1000000"),
    BAD(W_WELCOME, "terms.fee_ppm", "-1", "out of range"),
    OK(W_WELCOME, "terms.scheme", "@str:15:P"),
    BAD(W_WELCOME, "terms.scheme", "@str:16:P",
        "\"terms\".\"scheme\" is 16 bytes; the limit "
        "is 15"),
    OK(W_WELCOME, "terms.maturity_s", "4294967295"),
    BAD(W_WELCOME, "terms.maturity_s", "4294967296", "\"maturity_s\" = 4294967296 is out of"),
    OK(W_WELCOME, "terms.audit_rate", "1"),
    OK(W_WELCOME, "terms.audit_rate", "0"),
    BAD(W_WELCOME, "terms.audit_rate", "1.000001", "\"audit_rate\" = 1 is out of range [0, 1]"),
    BAD(W_WELCOME, "terms.audit_rate", "-0.01", "\"audit_rate\" = -0.01 is out of range"),
    BAD(W_WELCOME, "terms.audit_rate", "\"0.1\"", "\"audit_rate\" must be a number"),
    BAD(W_WELCOME, "terms", "[]", "hello result: \"terms\" must be an object"),
    BAD(W_WELCOME, "terms", "@del", "\"terms\" is missing"),
    BAD(W_WELCOME, "terms.pool", "@del", "\"terms\".\"pool\" is missing"),
    /* auth */
    OK(W_AUTH, "signature", "@str:128:A"),
    BAD(W_AUTH, "signature", "@str:127:a", "auth: \"signature\" must be 128 hex digits"),
    BAD(W_AUTH, "signature", "@str:129:a", "must be 128 hex digits"),
    BAD(W_AUTH, "signature", "@str:128:z", "must be 128 hex digits"),
    OK(W_AUTHED, "miner", "@str:64:m"),
    BAD(W_AUTHED, "miner", "@str:65:m", "auth result: \"miner\" is 65 bytes"),
    /* offer */
    OK(W_OFFER, "models",
       "@rep:16:{\"name\":\"m\",\"digest\":\"" DIGEST "\",\"ctx\":1,"
       "\"slots\":1,\"tps\":0,\"caps\":[]}"),
    BAD(W_OFFER, "models", "@rep:17:{}", "offer: \"models\" has 17 entries; allowed 1..16"),
    BAD(W_OFFER, "models", "[]", "\"models\" has 0 entries; allowed 1..16"),
    BAD(W_OFFER, "models", "{}", "\"models\" must be an array"),
    BAD(W_OFFER, "models.0", "7", "offer: \"models\"[0] must be an object"),
    OK(W_OFFER, "models.0.name", "\"org/Model-7B:q4_K_M\""),
    BAD(W_OFFER, "models.0.name", "\"my model\"",
        "offer: \"models\"[0].\"name\" has a character "
        "outside [A-Za-z0-9._:/-] at byte 2"),
    BAD(W_OFFER, "models.0.name", "@str:65:n", "\"models\"[0].\"name\" is 65 bytes"),
    OK(W_OFFER, "models.0.digest",
       "\"sha256:"
       "0123456789ABCDEF0123456789ABCDEF"
       "0123456789ABCDEF0123456789ABCDEF\""),
    BAD(W_OFFER, "models.0.digest", "\"sha512:" HEX64 "\"", "\"digest\" must be \"sha256:\" and"),
    BAD(W_OFFER, "models.0.digest", "\"SHA256:" HEX64 "\"", "\"digest\" must be \"sha256:\""),
    BAD(W_OFFER, "models.0.digest", "\"sha256:" HEX64 "0\"", "\"digest\" must be \"sha256:\""),
    BAD(W_OFFER, "models.0.digest", "\"" HEX64 "1234567\"", "\"digest\" must be \"sha256:\""),
    OK(W_OFFER, "models.0.slots", "64"),
    BAD(W_OFFER, "models.0.slots", "65", "\"models\"[0].\"slots\" = 65 is out of range 1..64"),
    BAD(W_OFFER, "models.0.slots", "0", "\"slots\" = 0 is out of range 1..64"),
    OK(W_OFFER, "models.0.ctx", "16777216"),
    BAD(W_OFFER, "models.0.ctx", "16777217", "\"ctx\" = 16777217 is out of range"),
    BAD(W_OFFER, "models.0.ctx", "0", "\"ctx\" = 0 is out of range"),
    OK(W_OFFER, "models.0.tps", "1000000"),
    OK(W_OFFER, "models.0.tps", "0"),
    BAD(W_OFFER, "models.0.tps", "1000000.5", "\"tps\" = 1e+06 is out of range"),
    BAD(W_OFFER, "models.0.tps", "-1", "\"tps\" = -1 is out of range"),
    BAD(W_OFFER, "models.0.tps", "\"fast\"", "\"tps\" must be a number"),
    OK(W_OFFER, "models.0.caps", "@rep:8:\"score\""),
    OK(W_OFFER, "models.0.caps", "[\"generate\",\"teleport\"]"),
    BAD(W_OFFER, "models.0.caps", "@rep:9:\"score\"", "\"caps\" has 9 entries; the limit is 8"),
    BAD(W_OFFER, "models.0.caps", "[1]", "\"models\"[0].\"caps\"[0] must be a string"),
    BAD(W_OFFER, "models.0.caps", "\"generate\"", "\"caps\" must be an array"),
    BAD(W_OFFER, "models.0.caps", "@del", "\"models\"[0].\"caps\" is missing"),
    /* offer result */
    OK(W_VERDICTS, "models.0.reason", "@str:512:r"),
    OK(W_VERDICTS, "models.0.reason", "\"d\\u00e9j\\u00e0 vu \\u2713\""),
    BAD(W_VERDICTS, "models.0.reason", "@str:513:r",
        "offer result: \"models\"[0].\"reason\" is "
        "513 bytes"),
    BAD(W_VERDICTS, "models.0.reason", "\"a\\nb\"",
        "\"reason\" has a control character at "
        "byte 1"),
    BAD(W_VERDICTS, "models.0.reason", "\"a\\u009bb\"", "has a control character at byte 1"),
    BAD(W_VERDICTS, "models.0.reason", "\"\\u007f\"", "has a control character at byte 0"),
    BAD(W_VERDICTS, "models.0.accepted", "\"true\"", "\"accepted\" must be true or false"),
    BAD(W_VERDICTS, "models.0.accepted", "1", "\"accepted\" must be true or false"),
    BAD(W_VERDICTS, "models", "@rep:17:{}", "\"models\" has 17 entries"),
    /* job */
    OK(W_JOB, "prompt", "@rep:131072:16777215"),
    BAD(W_JOB, "prompt", "@rep:131073:1",
        "job: \"prompt\" has 131073 entries; allowed "
        "1..131072"),
    BAD(W_JOB, "prompt", "[]", "\"prompt\" has 0 entries"),
    BAD(W_JOB, "prompt", "[1,2,-3]", "job: \"prompt\"[2] = -3 is not a token id"),
    BAD(W_JOB, "prompt", "[16777216]", "\"prompt\"[0] = 16777216 is not a token id"),
    BAD(W_JOB, "prompt", "[1.5]", "\"prompt\"[0] must be an integer"),
    BAD(W_JOB, "prompt", "[1.0]", "\"prompt\"[0] must be an integer"),
    BAD(W_JOB, "prompt", "[\"1\"]", "\"prompt\"[0] must be an integer"),
    BAD(W_JOB, "prompt", "[[1]]", "\"prompt\"[0] must be an integer"),
    BAD(W_JOB, "prompt", "\"1,2\"", "\"prompt\" must be an array"),
    OK(W_JOB, "max_tokens", "32768"),
    BAD(W_JOB, "max_tokens", "32769", "job: \"max_tokens\" = 32769 is out of range 1..32768"),
    BAD(W_JOB, "max_tokens", "0", "\"max_tokens\" = 0 is out of range"),
    BAD(W_JOB, "max_tokens", "1.5", "\"max_tokens\" must be an integer"),
    BAD(W_JOB, "max_tokens", "\"1\"", "\"max_tokens\" must be an integer"),
    OK(W_JOB, "temperature", "0"),
    OK(W_JOB, "temperature", "100"),
    BAD(W_JOB, "temperature", "100.001", "\"temperature\" = 100.001 is out of range [0, 100]"),
    BAD(W_JOB, "temperature", "-0.001", "\"temperature\" = -0.001 is out of range"),
    BAD(W_JOB, "temperature", "\"1\"", "\"temperature\" must be a number"),
    BAD(W_JOB, "temperature", "true", "\"temperature\" must be a number"),
    BAD(W_JOB, "temperature", "@del", "\"temperature\" is missing"),
    OK(W_JOB, "top_k", "16777216"),
    OK(W_JOB, "top_k", "@del"),
    BAD(W_JOB, "top_k", "16777217", "\"top_k\" = 16777217 is out of range"),
    BAD(W_JOB, "top_k", "-1", "\"top_k\" = -1 is out of range"),
    OK(W_JOB, "top_p", "0"),
    OK(W_JOB, "top_p", "1"),
    BAD(W_JOB, "top_p", "1.01", "\"top_p\" = 1.01 is out of range [0, 1]"),
    OK(W_JOB, "min_p", "1"),
    BAD(W_JOB, "min_p", "-0.5", "\"min_p\" = -0.5 is out of range"),
    OK(W_JOB, "repeat_penalty", "0.01"),
    OK(W_JOB, "repeat_penalty", "100"),
    BAD(W_JOB, "repeat_penalty", "0.0099", "\"repeat_penalty\" = 0.0099 is out of range"),
    BAD(W_JOB, "repeat_penalty", "0", "\"repeat_penalty\" = 0 is out of range"),
    BAD(W_JOB, "repeat_penalty", "100.01", "\"repeat_penalty\" = 100.01 is out of range"),
    OK(W_JOB, "seed", "9007199254740991"),
    OK(W_JOB, "seed", "0"),
    BAD(W_JOB, "seed", "9007199254740992", "\"seed\" = 9007199254740992 is out of range"),
    BAD(W_JOB, "seed", "-1", "\"seed\" = -1 is out of range"),
    BAD(W_JOB, "seed", "1e3", "\"seed\" must be an integer"),
    BAD(W_JOB, "seed", "@del", "\"seed\" is missing"),
    OK(W_JOB, "top_n", "20"),
    BAD(W_JOB, "top_n", "21", "\"top_n\" = 21 is out of range 0..20"),
    OK(W_JOB, "job", "@str:64:j"),
    BAD(W_JOB, "job", "@str:65:j", "job: \"job\" is 65 bytes"),
    BAD(W_JOB, "job", "\"a/b\"", "\"job\" has a character outside [A-Za-z0-9._-]"),
    BAD(W_JOB, "job", "\"\"", "job: \"job\" is empty"),
    OK(W_JOB, "model", "@str:64:m"),
    BAD(W_JOB, "model", "@str:65:m", "\"model\" is 65 bytes"),
    BAD(W_JOB, "model", "@del", "job: \"model\" is missing"),
    /* tokens */
    OK2(W_TOKENS, "ids", "@rep:4096:16777215", "logprobs", "@rep:4096:-1"),
    BAD2(W_TOKENS, "ids", "@rep:4097:1", "logprobs", "@rep:4097:-1",
         "tokens: \"ids\" has 4097 entries; allowed 1..4096"),
    BAD2(W_TOKENS, "ids", "[]", "logprobs", "[]", "\"ids\" has 0 entries"),
    BAD(W_TOKENS, "logprobs", "[-1,-2]", "tokens: \"logprobs\" has 2 entries; \"ids\" has 1"),
    BAD(W_TOKENS, "logprobs", "[]", "\"logprobs\" has 0 entries; \"ids\" has 1"),
    BAD(W_TOKENS, "logprobs", "@del", "\"logprobs\" is missing"),
    OK(W_TOKENS, "logprobs", "[0]"),
    OK(W_TOKENS, "logprobs", "[-0.0]"),
    OK(W_TOKENS, "logprobs", "[-3.4e38]"),
    OK(W_TOKENS, "logprobs", "[-1e-50]"),
    BAD(W_TOKENS, "logprobs", "[0.5]",
        "tokens: \"logprobs\"[0] = 0.5 is not a log-probability "
        "(finite, <= 0)"),
    BAD(W_TOKENS, "logprobs", "[1e-30]", "is not a log-probability"),
    BAD(W_TOKENS, "logprobs", "[-1e39]", "\"logprobs\"[0] = -1e+39 is not a log-probability"),
    BAD(W_TOKENS, "logprobs", "[\"-1\"]", "\"logprobs\"[0] must be a number"),
    BAD(W_TOKENS, "logprobs", "[null]", "\"logprobs\"[0] must be a number"),
    BAD(W_TOKENS, "ids", "[-1]", "\"ids\"[0] = -1 is not a token id"),
    OK(W_TOKENS, "seq", "32767"),
    BAD(W_TOKENS, "seq", "32768", "tokens: \"seq\" = 32768 is out of range 0..32767"),
    BAD(W_TOKENS, "seq", "-1", "\"seq\" = -1 is out of range"),
    BAD2(W_TOKENS, "seq", "32767", "ids", "[1,2]", "\"logprobs\" has 1 entries; \"ids\" has 2"),
    OK2(W_TOKENS, "top_ids", "[[1]]", "top_logprobs", "[[-1]]"),
    OK2(W_TOKENS, "top_ids", "@top:1:20:7", "top_logprobs", "@top:1:20:-1"),
    BAD2(W_TOKENS, "top_ids", "@top:1:21:7", "top_logprobs", "@top:1:21:-1",
         "tokens: \"top_ids\"[0] has 21 entries; allowed 1..20"),
    BAD2(W_TOKENS, "top_ids", "[[]]", "top_logprobs", "[[]]", "\"top_ids\"[0] has 0 entries"),
    BAD(W_TOKENS, "top_ids", "[[1]]",
        "\"top_logprobs\" is missing: \"top_ids\" and "
        "\"top_logprobs\" come together"),
    BAD(W_TOKENS, "top_logprobs", "[[-1]]", "\"top_ids\" is missing"),
    BAD2(W_TOKENS, "top_ids", "[[1,2]]", "top_logprobs", "[[-1]]",
         "\"top_logprobs\"[0] has 1 entries; each row must have 2"),
    BAD2(W_TOKENS, "top_ids", "[[1],[2]]", "top_logprobs", "[[-1]]",
         "\"top_ids\" has 2 entries; \"ids\" has 1"),
    BAD2(W_TOKENS, "top_ids", "[1]", "top_logprobs", "[[-1]]", "\"top_ids\"[0] must be an array"),
    BAD2(W_TOKENS, "top_ids", "[[-1]]", "top_logprobs", "[[-1]]",
         "tokens: \"top_ids\"[0][0] = -1 is not a token id"),
    BAD2(W_TOKENS, "top_ids", "[[1]]", "top_logprobs", "[[1]]",
         "\"top_logprobs\"[0][0] = 1 is not a log-probability"),
    BAD2(W_TOKENS, "top_ids", "[[1]]", "top_logprobs", "[\"x\"]",
         "\"top_logprobs\"[0] must be an array"),
    BAD2(W_TOKENS, "top_ids", "{}", "top_logprobs", "[[-1]]", "\"top_ids\" must be an array"),
    OK2(W_TOKENS2, "top_ids", "@top:2:20:16777215", "top_logprobs", "@top:2:20:-0.5"),
    BAD2(W_TOKENS2, "top_ids", "[[1],[2,3]]", "top_logprobs", "[[-1],[-2]]",
         "tokens: \"top_ids\"[1] has 2 entries; each row must have 1"),
    BAD2(W_TOKENS2, "top_ids", "[[1],[2]]", "top_logprobs", "[[-1],[-2,-3]]",
         "\"top_logprobs\"[1] has 2 entries; each row must have 1"),
    BAD2(W_TOKENS2, "top_ids", "[[1],[2]]", "top_logprobs", "[[-1],[0.5]]",
         "\"top_logprobs\"[1][0] = 0.5 is not a log-probability"),
    BAD2(W_TOKENS2, "top_ids", "[[1],[2]]", "top_logprobs", "[[-1]]",
         "\"top_logprobs\" has 1 entries; \"ids\" has 2"),
    BAD(W_TOKENS2, "logprobs", "[-1,\"x\"]", "\"logprobs\"[1] must be a number"),
    /* job result */
    OK(W_DONE, "finish", "\"eog\""),
    OK(W_DONE, "finish", "\"cancelled\""),
    BAD(W_DONE, "finish", "\"stop\"", "job result: \"finish\" is not a known value"),
    BAD(W_DONE, "finish", "1", "\"finish\" must be a string"),
    OK(W_DONE, "n", "32768"),
    OK(W_DONE, "n", "0"),
    BAD(W_DONE, "n", "32769", "\"n\" = 32769 is out of range 0..32768"),
    BAD(W_DONE, "prompt_ms", "-1", "\"prompt_ms\" = -1 is out of range"),
    BAD(W_DONE, "gen_ms", "\"1\"", "\"gen_ms\" must be a number"),
    /* cancel */
    BAD(W_CANCEL, "job", "\"\"", "cancel: \"job\" is empty"),
    BAD(W_CANCEL, "job", "@del", "cancel: \"job\" is missing"),
    /* score */
    OK(W_SCORE, "prompt", "@rep:131072:5"),
    BAD(W_SCORE, "prompt", "@rep:131073:5", "score: \"prompt\" has 131073 entries"),
    OK(W_SCORE, "completion", "@rep:32768:5"),
    BAD(W_SCORE, "completion", "@rep:32769:5",
        "\"completion\" has 32769 entries; allowed "
        "1..32768"),
    BAD(W_SCORE, "completion", "[]", "\"completion\" has 0 entries"),
    BAD(W_SCORE, "completion", "[1,16777216]", "\"completion\"[1] = 16777216 is not a token"),
    /* score: the audited job's sampling, a job's ranges */
    OK(W_SCORE_S, "sampling", "{\"temperature\":0,\"seed\":0}"),
    OK(W_SCORE_S, "sampling.temperature", "100"),
    BAD(W_SCORE_S, "sampling.temperature", "100.001",
        "score: \"sampling\".\"temperature\" = 100.001 is out of range [0, 100]"),
    BAD(W_SCORE_S, "sampling.temperature", "@del", "\"sampling\".\"temperature\" is missing"),
    OK(W_SCORE_S, "sampling.top_k", "16777216"),
    BAD(W_SCORE_S, "sampling.top_k", "-1", "\"sampling\".\"top_k\" = -1 is out of range"),
    BAD(W_SCORE_S, "sampling.top_p", "1.01", "\"sampling\".\"top_p\" = 1.01 is out of range"),
    BAD(W_SCORE_S, "sampling.min_p", "-0.5", "\"sampling\".\"min_p\" = -0.5 is out of range"),
    OK(W_SCORE_S, "sampling.repeat_penalty", "0.01"),
    BAD(W_SCORE_S, "sampling.repeat_penalty", "0", "\"repeat_penalty\" = 0 is out of range"),
    OK(W_SCORE_S, "sampling.seed", "9007199254740991"),
    BAD(W_SCORE_S, "sampling.seed", "9007199254740992", "\"seed\" = 9007199254740992 is out of"),
    BAD(W_SCORE_S, "sampling.seed", "@del", "score: \"sampling\".\"seed\" is missing"),
    BAD(W_SCORE_S, "sampling.seed", "\"42\"", "\"sampling\".\"seed\" must be an integer"),
    BAD(W_SCORE_S, "sampling", "null", "score: \"sampling\" must be an object"),
    BAD(W_SCORE_S, "sampling", "[0.7]", "\"sampling\" must be an object"),
    OK(W_SCORE_S, "sampling.future", "{\"x\":1}"),
    /* score result */
    OK2(W_SCORED, "logprobs,top_logprobs", "@rep:32768:-1", "top_ids,picks,margins",
        "@rep:32768:1"),
    OK(W_SCORED, "margins", "[1e-45,3.4e38]"),
    OK(W_SCORED, "margins", "[0,-0.0]"),
    BAD(W_SCORED, "margins", "[0,-1e-9]",
        "score result: \"margins\"[1] = -1e-09 is not a margin (finite, >= 0)"),
    BAD(W_SCORED, "margins", "[0,1e39]", "\"margins\"[1] = 1e+39 is not a margin"),
    BAD(W_SCORED, "margins", "[0,\"0\"]", "\"margins\"[1] must be a number"),
    BAD(W_SCORED, "margins", "[0]", "\"margins\" has 1 entries; \"logprobs\" has 2"),
    BAD(W_SCORED, "margins", "@del", "score result: \"margins\" is missing"),
    BAD(W_SCORED, "picks", "[3,-1]", "score result: \"picks\"[1] = -1 is not a token id"),
    BAD(W_SCORED, "picks", "[3,9,9]", "\"picks\" has 3 entries; \"logprobs\" has 2"),
    BAD(W_SCORED, "picks", "@del", "\"picks\" is missing"),
    OK(W_SCORED, "pick_logprobs", "[-0.5,-0.25]"), /* optional: absent in the base example */
    BAD(W_SCORED, "pick_logprobs", "[-0.5]", "\"pick_logprobs\" has 1 entries; \"logprobs\" has 2"),
    BAD(W_SCORED, "pick_logprobs", "[-0.5,\"x\"]", "\"pick_logprobs\"[1] must be a number"),
    BAD(W_SCORED, "logprobs", "@rep:32769:-1", "score result: \"logprobs\" has 32769 entries"),
    BAD(W_SCORED, "top_ids", "[1]", "\"top_ids\" has 1 entries; \"logprobs\" has 2"),
    BAD(W_SCORED, "top_logprobs", "[-1,-1,-1]", "\"top_logprobs\" has 3 entries"),
    BAD(W_SCORED, "top_logprobs", "[-1,1]", "\"top_logprobs\"[1] = 1 is not a log-probability"),
    BAD(W_SCORED, "top_ids", "@del", "\"top_ids\" is missing"),
    /* notice */
    /* receipt */
    OK(W_RECEIPT, "request,receipt.request", "@str:64:r"),
    BAD(W_RECEIPT, "request,receipt.request", "@str:65:r", "receipt: \"request\" is 65 bytes"),
    BAD(W_RECEIPT, "request", "\"chatcmpl-2\"", "not the receipt of request \"chatcmpl-2\""),
    BAD(W_RECEIPT, "receipt.request", "@del", "not the receipt of request"),
    BAD(W_RECEIPT, "receipt", "\"{}\"", "\"receipt\" must be an object"),
    BAD(W_RECEIPT, "receipt", "@del", "\"receipt\" is missing"),
    BAD(W_RECEIPT, "receipt.pad", "@str:16384:x", "larger than 16384 bytes"),
    OK(W_RECEIPT, "receipt.pad", "@str:16300:x"),
    OK(W_NOTICE, "message", "@str:512:m"),
    OK(W_NOTICE, "message", "\"h\\u00e9llo \\u2713 \\ud83d\\ude00\""),
    BAD(W_NOTICE, "message", "@str:513:m", "notice: \"message\" is 513 bytes"),
    BAD(W_NOTICE, "message", "\"bell\\u0007\"", "\"message\" has a control character at byte 4"),
    BAD(W_NOTICE, "message", "\"nel\\u0085\"", "\"message\" has a control character at byte 3"),
    BAD(W_NOTICE, "message", "\"\"", "\"message\" is missing (a message notice)"),
    BAD(W_NOTICE, "kind", "\"weather\"", "notice: \"kind\" is not a known value"),
    OK(W_NOTICE, "kind", "\"shutdown\""),
    OK2(W_NOTICE, "kind", "\"fee\"", "fee_ppm", "0"),
    OK2(W_NOTICE, "kind", "\"fee\"", "fee_ppm", "1000000"),
    BAD2(W_NOTICE, "kind", "\"fee\"", "fee_ppm", "1000001", "\"fee_ppm\" = 1000001 is out of"),
    BAD(W_NOTICE, "kind", "\"fee\"", "\"fee_ppm\" is missing (a fee notice)"),
    OK2(W_NOTICE, "kind", "\"redirect\"", "url", "\"fief+tcp://10.0.0.2:3333\""),
    OK2(W_NOTICE, "kind", "\"redirect\"", "url", "\"fief+tls://pool.example.org\""),
    BAD(W_NOTICE, "kind", "\"redirect\"", "\"url\" is missing (a redirect notice)"),
    BAD2(W_NOTICE, "kind", "\"redirect\"", "url", "\"http://pool.example.org\"",
         "\"url\" must be a fief+tcp:// or fief+tls:// URL"),
    BAD2(W_NOTICE, "kind", "\"redirect\"", "url", "\"fief+tcp://\"", "\"url\" must be a"),
    BAD2(W_NOTICE, "kind", "\"redirect\"", "url", "\"fief+tcp://a b\"",
         "\"url\" has a space or a character that is not printable ASCII at byte 12"),
    BAD2(W_NOTICE, "kind", "\"redirect\"", "url", "@str:513:u", "\"url\" is 513 bytes"),
};

/* seq 32767 with one token is the last position; two tokens go past the end. */
static void test_tokens_seq_end(void **state)
{
    (void)state;
    json_t *o = make_value(base_json[W_TOKENS]);
    union any u;
    char err[FIEF_ERR_LEN];
    set_path(o, "seq", "32767");
    set_path(o, "ids", "[1,2]");
    set_path(o, "logprobs", "[-1,-2]");
    assert_int_equal(decode_any(W_TOKENS, o, &u, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "tokens: \"seq\" + 2 tokens goes past 32768"));
    json_decref(o);
}

static void test_fields(void **state)
{
    (void)state;
    /* the bases themselves are valid */
    for (int w = 0; w < W_N; w++) {
        json_t *o = make_value(base_json[w]);
        union any u;
        char err[FIEF_ERR_LEN] = "";
        int rc = decode_any(w, o, &u, err);
        if (rc)
            fail_msg("base %d: %s", w, err);
        clear_any(w, &u);
        json_decref(o);
    }
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) {
        const struct mut *t = &muts[i];
        json_t *o = make_value(base_json[t->w]);
        set_path(o, t->path, t->value);
        if (t->path2)
            set_path(o, t->path2, t->value2);
        union any u;
        char err[FIEF_ERR_LEN] = "";
        memset(&u, 0, sizeof u);
        int rc = decode_any(t->w, o, &u, err);
        if (rc != t->rc || (t->frag && !strstr(err, t->frag)))
            fail_msg("case %zu (%s = %.40s): rc %d (want %d), err \"%s\" (want \"%s\")", i, t->path,
                     t->value, rc, t->rc, err, t->frag ? t->frag : "");
        if (rc) { /* a failed decode leaves nothing behind */
            union any zero;
            memset(&zero, 0, sizeof zero);
            assert_memory_equal(&u, &zero, sizeof u);
        }
        clear_any(t->w, &u);
        json_decref(o);
    }
}

/* Values the decoders fill in or normalise. */
static void test_defaults_and_normalising(void **state)
{
    (void)state;
    union any u;
    char err[FIEF_ERR_LEN];
    json_t *o = make_value(base_json[W_JOB]);
    for (const char *const *k =
             (const char *const[]){"top_k", "top_p", "min_p", "repeat_penalty", "top_n", NULL};
         *k; k++)
        json_object_del(o, *k);
    expect_ok(decode_any(W_JOB, o, &u, err), err);
    assert_int_equal(u.job.top_k, 0);
    assert_true(u.job.top_p == 1.0f && u.job.min_p == 0.0f && u.job.repeat_penalty == 1.0f);
    assert_int_equal(u.job.top_n, 0);
    clear_any(W_JOB, &u);
    json_decref(o);

    /* a score without sampling is greedy; one with it takes a job's defaults */
    o = make_value(base_json[W_SCORE]);
    expect_ok(decode_any(W_SCORE, o, &u, err), err);
    assert_false(u.score.has_sampling);
    clear_any(W_SCORE, &u);
    set_path(o, "sampling", "{\"temperature\":0.5,\"seed\":7}");
    expect_ok(decode_any(W_SCORE, o, &u, err), err);
    assert_true(u.score.has_sampling && u.score.sampling.temperature == 0.5f);
    assert_true(u.score.sampling.top_k == 0 && u.score.sampling.top_p == 1.0f &&
                u.score.sampling.min_p == 0.0f && u.score.sampling.repeat_penalty == 1.0f);
    assert_int_equal(u.score.sampling.seed, 7);
    clear_any(W_SCORE, &u);
    json_decref(o);

    o = make_value(base_json[W_HELLO]);
    set_path(o, "pubkey", "\"0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef\"");
    expect_ok(decode_any(W_HELLO, o, &u, err), err);
    assert_string_equal(u.hello.pubkey, HEX64);
    json_decref(o);

    o = make_value(base_json[W_OFFER]);
    set_path(o, "models.0.caps", "[\"score\",\"teleport\",\"score\"]");
    expect_ok(decode_any(W_OFFER, o, &u, err), err);
    assert_int_equal(u.offer.m[0].caps, PROTO_CAP_SCORE);
    set_path(o, "models.0.digest", "\"sha256:ABCDEF0123456789" HEX64 "\"");
    assert_int_equal(decode_any(W_OFFER, o, &u, err), FIEF_EPROTO); /* 80 bytes */
    set_path(o, "models.0.digest",
             "\"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789"
             "abcdef0123456789\"");
    expect_ok(decode_any(W_OFFER, o, &u, err), err);
    assert_string_equal(u.offer.m[0].digest, "sha256:abcdef0123456789abcdef0123456789abcdef01"
                                             "23456789abcdef0123456789");
    json_decref(o);

    o = make_value(base_json[W_VERDICTS]);
    expect_ok(decode_any(W_VERDICTS, o, &u, err), err);
    assert_string_equal(u.verdicts.v[0].reason, "");
    json_decref(o);

    /* decoders need an object */
    json_t *arr = json_array();
    assert_int_equal(proto_cancel_decode(arr, &u.cancel, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "cancel: not an object"));
    json_decref(arr);
}

/* Another protocol version is answered as such, before any other field. */
static void test_version(void **state)
{
    (void)state;
    struct proto_hello h;
    struct proto_welcome w;
    char err[FIEF_ERR_LEN];
    json_t *o = json_pack("{s:i}", "version", 2); /* nothing else: a v2 may differ */
    assert_int_equal(proto_hello_decode(o, &h, err), FIEF_EUNSUPPORTED);
    assert_int_equal(h.version, 2);
    assert_non_null(strstr(err, "hello: protocol version 2 is not supported"));
    assert_int_equal(proto_welcome_decode(o, &w, err), FIEF_EUNSUPPORTED);
    assert_int_equal(w.version, 2);
    json_decref(o);
    o = json_pack("{s:s}", "version", "1");
    assert_int_equal(proto_hello_decode(o, &h, err), FIEF_EPROTO);
    assert_int_equal(h.version, 0);
    json_decref(o);
}

/* ---- docs/protocol.md: its example lines are real messages ----
 * Checked: every line of a ```json block, and every line of any code block
 * that starts with "miner> " or "pool> " (the session transcript). */

/* Try every reply decoder; an empty result (ping) or an error reply passes. */
static int decode_reply(const struct proto_msg *m, char *err)
{
    static const int replies[] = {W_WELCOME, W_AUTHED, W_VERDICTS, W_DONE, W_SCORED};
    if (m->is_error || json_object_size(m->result) == 0)
        return 0;
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        union any u;
        if (decode_any(replies[i], m->result, &u, err) == 0) {
            clear_any(replies[i], &u);
            return 0;
        }
    }
    return FIEF_EPROTO;
}

static int decode_call(const struct proto_msg *m, char *err)
{
    static const int by_method[] = {
        [PM_HELLO] = W_HELLO, [PM_AUTH] = W_AUTH,     [PM_OFFER] = W_OFFER,
        [PM_JOB] = W_JOB,     [PM_TOKENS] = W_TOKENS, [PM_CANCEL] = W_CANCEL,
        [PM_SCORE] = W_SCORE, [PM_NOTICE] = W_NOTICE, [PM_RECEIPT] = W_RECEIPT};
    if (m->method == PM_PING)
        return 0;
    if (m->method == PM_UNKNOWN)
        return fief_errf(err, FIEF_EPROTO, "unknown method");
    union any u;
    int rc = decode_any(by_method[m->method], m->params, &u, err);
    if (!rc)
        clear_any(by_method[m->method], &u);
    return rc;
}

static void test_doc_examples(void **state)
{
    (void)state;
    char path[512];
    const char *src = __FILE__, *cut = strstr(src, "tests/unit/");
    snprintf(path, sizeof path, "%.*sdocs/protocol.md", cut ? (int)(cut - src) : 0, src);
    size_t len;
    char *doc = tu_read_file(path, &len);
    if (!doc) {
        print_message("SKIP: %s not found\n", path);
        skip();
    }
    int in_block = 0, in_json = 0, n = 0;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "```", 3) == 0) {
            in_json = !in_block && strcmp(line, "```json") == 0;
            in_block = !in_block;
            continue;
        }
        int said = strncmp(line, "miner> ", 7) == 0 || strncmp(line, "pool> ", 6) == 0;
        if (!in_block || !(in_json || said))
            continue;
        char *brace = strchr(line, '{');
        if (!brace || (in_json && brace != line))
            fail_msg("docs/protocol.md: not a message line: %s", line);
        struct proto_msg m;
        char err[FIEF_ERR_LEN] = "";
        int rc = proto_parse(brace, strlen(brace), &m, err);
        if (!rc)
            rc = m.kind == PROTO_REPLY ? decode_reply(&m, err) : decode_call(&m, err);
        if (rc)
            fail_msg("docs/protocol.md example does not decode: %s\n  %s", brace, err);
        proto_msg_clear(&m);
        n++;
    }
    free(doc);
    print_message("%d example lines checked\n", n);
    assert_true(n >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_tokens_seq_end),
        cmocka_unit_test(test_defaults_and_normalising),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_doc_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
