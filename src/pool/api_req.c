/* SPDX-License-Identifier: MIT */
/* OpenAI request bodies into struct api_req: each known field's type and range
 * is checked and a rejection names the field, the way OpenAI's own API does;
 * then the prompt is rendered and tokenized the way the pool's model expects,
 * and the request must fit the model's context. */
#include "pool/api_req.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "proto/proto.h"

#define INVALID "invalid_request_error"

int api_err_set(struct api_err *e, int status, const char *type, const char *param,
                const char *code, const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return FIEF_EINVAL;
}

#define BAD(e, param, code, ...) api_err_set((e), 400, INVALID, (param), (code), __VA_ARGS__)

int api_req_idem(const char *h, char out[API_MAX_IDEM + 1], struct api_err *e)
{
    out[0] = 0;
    if (!h)
        return 0;
    size_t n = strlen(h);
    bool printable = true;
    for (size_t i = 0; i < n && printable; i++)
        printable = h[i] >= 0x20 && h[i] <= 0x7e;
    if (n == 0 || n > API_MAX_IDEM || !printable)
        return BAD(e, NULL, "invalid_idempotency_key",
                   "Invalid Idempotency-Key header: expected 1 to %d printable ASCII "
                   "characters, but got %s.",
                   API_MAX_IDEM, n == 0 ? "an empty value" : n > API_MAX_IDEM ? "a longer one"
                                                                        : "other bytes");
    memcpy(out, h, n + 1);
    return 0;
}

uint64_t api_seed_reduce(int64_t seed)
{
    /* Two's complement bits, masked: negative seeds land in range too, and
     * every seed a JSON double can hold exactly maps to itself. */
    return (uint64_t)seed & PROTO_MAX_ID;
}

/* ---- typed getters: JSON null counts as absent ---- */

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static json_t *member(const json_t *o, const char *name)
{
    json_t *j = json_object_get(o, name);
    return json_is_null(j) ? NULL : j;
}

static int bad_type(const json_t *j, const char *param, const char *want, struct api_err *e)
{
    return BAD(e, param, "invalid_type", "Invalid type for '%s': expected %s, but got %s.", param,
               want, type_name(j));
}

static int missing(const char *param, struct api_err *e)
{
    return BAD(e, param, "missing_required_parameter", "Missing required parameter: '%s'.", param);
}

static int get_real(const json_t *o, const char *name, double lo, double hi, bool lo_open,
                    float *out, struct api_err *e)
{
    json_t *j = member(o, name);
    if (!j)
        return 0;
    if (!json_is_number(j))
        return bad_type(j, name, "a number", e);
    double x = json_number_value(j);
    if (x < lo || x > hi || (lo_open && x <= lo))
        return BAD(e, name, "invalid_value",
                   "Invalid '%s': expected a number %s %g and <= %g, but got %g.", name,
                   lo_open ? ">" : ">=", lo, hi, x);
    *out = (float)x;
    return 0;
}

static int get_int(const json_t *o, const char *name, int64_t lo, int64_t hi, int64_t *out,
                   bool *given, struct api_err *e)
{
    json_t *j = member(o, name);
    if (given)
        *given = j != NULL;
    if (!j)
        return 0;
    if (!json_is_integer(j))
        return bad_type(j, name, "an integer", e);
    int64_t x = json_integer_value(j);
    if (x < lo || x > hi)
        return BAD(e, name, "invalid_value",
                   "Invalid '%s': expected an integer from %lld to %lld, but got %lld.", name,
                   (long long)lo, (long long)hi, (long long)x);
    *out = x;
    return 0;
}

static int get_bool(const json_t *o, const char *name, bool *out, struct api_err *e)
{
    json_t *j = member(o, name);
    if (!j)
        return 0;
    if (!json_is_boolean(j))
        return bad_type(j, name, "a boolean", e);
    *out = json_is_true(j);
    return 0;
}

/* ---- features this pool does not offer ---- */

/* A value that asks for nothing: null, false, 0, "", "none", "auto", [], {},
 * {"type":"text"}. Such values of unsupported fields are accepted, because
 * many clients send them by default. */
static bool neutral(const json_t *j)
{
    if (!j || json_is_null(j) || json_is_false(j))
        return true;
    if (json_is_number(j))
        return json_number_value(j) == 0;
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        return !*s || !strcmp(s, "none") || !strcmp(s, "auto");
    }
    if (json_is_array(j))
        return json_array_size(j) == 0;
    if (json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "type"));
        return json_object_size(j) == 0 || (json_object_size(j) == 1 && t && !strcmp(t, "text"));
    }
    return false;
}

static int check_unsupported(const json_t *root, enum api_kind kind, struct api_err *e)
{
    static const char *const common[] = {"tools", "tool_choice", "functions", "function_call",
                                         "response_format", "logit_bias", "audio", "prediction"};
    static const char *const legacy[] = {"echo", "suffix"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        if (!neutral(json_object_get(root, common[i])))
            return BAD(e, common[i], "unsupported_parameter",
                       "'%s' is not supported by this pool: it serves plain text generation.",
                       common[i]);
    for (size_t i = 0; kind == API_COMPLETION && i < sizeof legacy / sizeof *legacy; i++)
        if (!neutral(json_object_get(root, legacy[i])))
            return BAD(e, legacy[i], "unsupported_parameter",
                       "'%s' is not supported by this pool.", legacy[i]);
    json_t *bo = member(root, "best_of");
    if (bo && !(json_is_integer(bo) && json_integer_value(bo) == 1))
        return BAD(e, "best_of", "unsupported_parameter",
                   "'best_of' other than 1 is not supported by this pool; use 'n'.");
    static const char *const pen[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < 2; i++) {
        float x = 0;
        if (get_real(root, pen[i], -2, 2, false, &x, e))
            return FIEF_EINVAL;
        if (x != 0)
            return BAD(e, pen[i], "unsupported_value",
                       "'%s' other than 0 is not supported by this pool (its miners' samplers "
                       "are audited, and only the documented parameters are). "
                       "'repeat_penalty' (a multiplier, 1 = off) is available.",
                       pen[i]);
    }
    return 0;
}

/* ---- chat messages ---- */

/* One text part of a content array; p names the part ("messages[1].content[0]"). */
static int content_part(const json_t *part, const char *p, struct buf *b, struct api_err *e)
{
    char param[96];
    if (!json_is_object(part))
        return bad_type(part, p, "an object", e);
    const char *type = json_string_value(json_object_get(part, "type"));
    json_t *text = json_object_get(part, "text");
    snprintf(param, sizeof param, "%s.type", p);
    if (!type)
        return missing(param, e);
    if (strcmp(type, "text") != 0)
        return BAD(e, param, "unsupported_value",
                   "Content parts of type '%.32s' are not supported by this pool; only 'text' "
                   "is.", type);
    snprintf(param, sizeof param, "%s.text", p);
    if (!json_is_string(text))
        return text ? bad_type(text, param, "a string", e) : missing(param, e);
    buf_append(b, json_string_value(text), json_string_length(text));
    return 0;
}

/* content of message i: a string, or an array of {"type":"text","text":...}
 * parts joined by newlines; null only where may_be_null (an assistant turn). */
static int parse_content(const json_t *c, size_t i, bool may_be_null, char **out,
                         struct api_err *e)
{
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (!c || json_is_null(c)) {
        if (!may_be_null)
            return missing(param, e);
        *out = xstrdup("");
        return 0;
    }
    if (json_is_string(c)) {
        *out = xstrndup(json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c))
        return bad_type(c, param, "a string or an array of text parts", e);
    struct buf b;
    buf_init(&b);
    size_t k;
    json_t *part;
    json_array_foreach(c, k, part) {
        char pp[80];
        snprintf(pp, sizeof pp, "messages[%zu].content[%zu]", i, k);
        if (k)
            buf_putc(&b, '\n');
        if (content_part(part, pp, &b, e)) {
            buf_deinit(&b);
            return FIEF_EINVAL;
        }
    }
    *out = b.data ? buf_steal(&b) : xstrdup("");
    return 0;
}

static int parse_role(const json_t *m, const char *p, const char **role, struct api_err *e)
{
    char param[96];
    snprintf(param, sizeof param, "%s.role", p);
    json_t *r = json_object_get(m, "role");
    if (!r)
        return missing(param, e);
    if (!json_is_string(r))
        return bad_type(r, param, "a string", e);
    const char *s = json_string_value(r);
    if (!strcmp(s, "system") || !strcmp(s, "developer"))
        *role = "system"; /* developer is the newer name for the same turn */
    else if (!strcmp(s, "user"))
        *role = "user";
    else if (!strcmp(s, "assistant"))
        *role = "assistant";
    else if (!strcmp(s, "tool") || !strcmp(s, "function"))
        return BAD(e, param, "unsupported_value",
                   "Messages with role '%s' are not supported by this pool (no tool calls).", s);
    else
        return BAD(e, param, "invalid_value",
                   "Invalid value for '%s': '%.32s'. Supported values are: 'system', "
                   "'developer', 'user' and 'assistant'.", param, s);
    return 0;
}

static int parse_messages(const json_t *root, struct api_req *r, struct api_err *e)
{
    json_t *a = member(root, "messages");
    if (!a)
        return missing("messages", e);
    if (!json_is_array(a))
        return bad_type(a, "messages", "an array", e);
    size_t n = json_array_size(a);
    if (n == 0)
        return BAD(e, "messages", "invalid_value", "'messages' must hold at least one message.");
    if (n > API_MAX_MESSAGES)
        return BAD(e, "messages", "invalid_value", "'messages' holds %zu messages; at most %d.",
                   n, API_MAX_MESSAGES);
    r->msgs = xcalloc(n, sizeof *r->msgs);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(a, i);
        char p[32];
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m))
            return bad_type(m, p, "an object", e);
        const char *role = NULL;
        char *content = NULL;
        if (parse_role(m, p, &role, e))
            return FIEF_EINVAL;
        if (!neutral(json_object_get(m, "tool_calls")) ||
            !neutral(json_object_get(m, "function_call")))
            return BAD(e, p, "unsupported_parameter",
                       "Tool calls in messages are not supported by this pool.");
        if (parse_content(json_object_get(m, "content"), i, !strcmp(role, "assistant"), &content,
                          e))
            return FIEF_EINVAL;
        r->msgs[i] = (struct eng_chat_msg){.role = role, .content = content};
        r->n_msgs = i + 1;
    }
    return 0;
}

/* ---- completion prompt ---- */

static int parse_ids(const json_t *a, struct api_req *r, struct api_err *e)
{
    size_t n = json_array_size(a);
    if (n > PROTO_MAX_PROMPT)
        return BAD(e, "prompt", "invalid_value", "The prompt holds %zu token ids; at most %u.", n,
                   (unsigned)PROTO_MAX_PROMPT);
    r->prompt_ids = xmalloc(n * sizeof *r->prompt_ids);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(a, i);
        char p[40];
        snprintf(p, sizeof p, "prompt[%zu]", i);
        if (!json_is_integer(t))
            return bad_type(t, p, "an integer token id", e);
        json_int_t id = json_integer_value(t);
        if (id < 0 || id > PROTO_MAX_TOKEN_ID)
            return BAD(e, p, "invalid_value", "Invalid token id %lld in 'prompt'.",
                       (long long)id);
        r->prompt_ids[i] = (int32_t)id;
    }
    r->n_prompt_ids = n;
    return 0;
}

static int parse_prompt(const json_t *root, struct api_req *r, struct api_err *e)
{
    json_t *j = member(root, "prompt");
    if (!j)
        return missing("prompt", e);
    if (json_is_array(j)) {
        size_t n = json_array_size(j);
        json_t *first = json_array_get(j, 0);
        if (n == 0)
            return BAD(e, "prompt", "invalid_value", "'prompt' must not be an empty array.");
        if (json_is_integer(first))
            return parse_ids(j, r, e);
        if (!json_is_string(first) && !json_is_array(first))
            return bad_type(first, "prompt[0]", "a string or an array of token ids", e);
        if (n > 1)
            return BAD(e, "prompt", "unsupported_value",
                       "Batched prompts are not supported by this pool: send one prompt per "
                       "request (this one holds %zu).", n);
        j = first;
        if (json_is_array(j)) {
            if (json_array_size(j) == 0)
                return BAD(e, "prompt", "invalid_value", "'prompt' must not be empty.");
            return parse_ids(j, r, e);
        }
    }
    if (!json_is_string(j))
        return bad_type(j, "prompt", "a string or an array of token ids", e);
    r->prompt_len = json_string_length(j);
    r->prompt = xstrndup(json_string_value(j), r->prompt_len);
    return 0;
}

/* ---- sampling and output options ---- */

static int add_stop(struct api_req *r, const json_t *s, const char *param, struct api_err *e)
{
    size_t len = json_string_length(s);
    if (len > TEXTOUT_MAX_STOP_LEN)
        return BAD(e, param, "invalid_value",
                   "A stop sequence is %zu bytes long; at most %d are allowed.", len,
                   TEXTOUT_MAX_STOP_LEN);
    if (len == 0)
        return 0; /* an empty stop would end every completion before it starts */
    r->stops[r->n_stops] = xstrndup(json_string_value(s), len);
    r->stop_lens[r->n_stops++] = len;
    return 0;
}

static int parse_stop(const json_t *root, struct api_req *r, struct api_err *e)
{
    json_t *j = member(root, "stop");
    if (!j)
        return 0;
    if (json_is_string(j))
        return add_stop(r, j, "stop", e);
    if (!json_is_array(j))
        return bad_type(j, "stop", "a string or an array of strings", e);
    if (json_array_size(j) > TEXTOUT_MAX_STOPS)
        return BAD(e, "stop", "invalid_value", "'stop' holds %zu sequences; at most %d.",
                   json_array_size(j), TEXTOUT_MAX_STOPS);
    size_t i;
    json_t *s;
    json_array_foreach(j, i, s) {
        char p[32];
        snprintf(p, sizeof p, "stop[%zu]", i);
        if (!json_is_string(s))
            return bad_type(s, p, "a string", e);
        if (add_stop(r, s, p, e))
            return FIEF_EINVAL;
    }
    return 0;
}

static int parse_logprobs(const json_t *root, struct api_req *r, struct api_err *e)
{
    int64_t top = 0;
    bool given;
    if (r->kind == API_COMPLETION) {
        /* legacy: an integer, the number of alternatives (0 = the chosen token's only) */
        if (get_int(root, "logprobs", 0, API_MAX_LEGACY_LOGPROBS, &top, &given, e))
            return FIEF_EINVAL;
        r->logprobs = given;
        r->top_logprobs = (uint32_t)top;
        return 0;
    }
    if (get_bool(root, "logprobs", &r->logprobs, e) ||
        get_int(root, "top_logprobs", 0, API_MAX_TOP_LOGPROBS, &top, &given, e))
        return FIEF_EINVAL;
    if (top > 0 && !r->logprobs)
        return BAD(e, "top_logprobs", "invalid_value",
                   "'top_logprobs' needs 'logprobs' set to true.");
    r->top_logprobs = (uint32_t)top;
    return 0;
}

static int parse_max_tokens(const json_t *root, struct api_req *r, struct api_err *e)
{
    int64_t v = 0;
    bool given;
    if (get_int(root, "max_tokens", 1, PROTO_MAX_GEN, &v, &given, e))
        return FIEF_EINVAL;
    if (given)
        r->max_tokens = (uint32_t)v;
    if (r->kind == API_CHAT) {
        /* the newer name wins when a client sends both */
        if (get_int(root, "max_completion_tokens", 1, PROTO_MAX_GEN, &v, &given, e))
            return FIEF_EINVAL;
        if (given)
            r->max_tokens = (uint32_t)v;
    }
    return 0;
}

static int parse_sampling(const json_t *root, struct api_req *r, struct api_err *e)
{
    int64_t v = 0;
    bool given;
    if (get_real(root, "temperature", 0, 2, false, &r->temperature, e) ||
        get_real(root, "top_p", 0, 1, true, &r->top_p, e) ||
        get_real(root, "min_p", 0, 1, false, &r->min_p, e) ||
        get_real(root, "repeat_penalty", 0.01, 10, false, &r->repeat_penalty, e))
        return FIEF_EINVAL;
    if (get_int(root, "top_k", 0, 1 << 24, &v, &given, e))
        return FIEF_EINVAL;
    r->top_k = (int32_t)v;
    if (get_int(root, "seed", INT64_MIN, INT64_MAX, &v, &r->has_seed, e))
        return FIEF_EINVAL;
    r->seed = api_seed_reduce(v);
    if (get_int(root, "n", 1, API_MAX_N, &v, &given, e))
        return FIEF_EINVAL;
    r->n = given ? (uint32_t)v : 1;
    return 0;
}

static int parse_stream(const json_t *root, struct api_req *r, struct api_err *e)
{
    if (get_bool(root, "stream", &r->stream, e))
        return FIEF_EINVAL;
    json_t *so = member(root, "stream_options");
    if (!so)
        return 0;
    if (!json_is_object(so))
        return bad_type(so, "stream_options", "an object", e);
    json_t *iu = member(so, "include_usage");
    if (iu && !json_is_boolean(iu))
        return bad_type(iu, "stream_options.include_usage", "a boolean", e);
    r->include_usage = json_is_true(iu);
    return 0;
}

static int parse_model(const json_t *root, struct api_req *r, struct api_err *e)
{
    json_t *m = member(root, "model");
    if (!m)
        return missing("model", e);
    if (!json_is_string(m))
        return bad_type(m, "model", "a string", e);
    size_t len = json_string_length(m);
    if (len == 0 || len > API_MAX_MODEL)
        return BAD(e, "model", "invalid_value",
                   "Invalid 'model': a model name is 1 to %d bytes long.", API_MAX_MODEL);
    memcpy(r->model, json_string_value(m), len + 1);
    return 0;
}

static int parse_fields(const json_t *root, struct api_req *r, struct api_err *e)
{
    if (parse_model(root, r, e))
        return FIEF_EINVAL;
    if (r->kind == API_CHAT ? parse_messages(root, r, e) : parse_prompt(root, r, e))
        return FIEF_EINVAL;
    if (check_unsupported(root, r->kind, e) || parse_max_tokens(root, r, e) ||
        parse_sampling(root, r, e) || parse_stop(root, r, e) || parse_logprobs(root, r, e) ||
        parse_stream(root, r, e))
        return FIEF_EINVAL;
    return 0;
}

int api_req_parse(enum api_kind kind, const char *body, size_t len, struct api_req *r,
                  struct api_err *e)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->temperature = 1; /* OpenAI's defaults */
    r->top_p = 1;
    r->repeat_penalty = 1;
    r->n = 1;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return BAD(e, NULL, NULL,
                   "We could not parse the JSON body of your request: %s (line %d, column %d).",
                   je.text, je.line, je.column);
    int rc = json_is_object(root) ? parse_fields(root, r, e)
                                  : BAD(e, NULL, NULL,
                                        "The request body must be a JSON object, not %s.",
                                        type_name(root));
    json_decref(root);
    if (rc) {
        api_req_free(r);
        r->kind = kind;
    }
    return rc;
}

void api_req_free(struct api_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_msgs; i++)
        free((char *)r->msgs[i].content);
    free(r->msgs);
    free(r->prompt);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_stops; i++)
        free(r->stops[i]);
    memset(r, 0, sizeof *r);
}

/* ---- prompt tokens ---- */

static int tokenize(const struct eng_vocab *v, const char *text, size_t len, int flags,
                    int32_t **ids, uint32_t *n, struct api_err *e)
{
    size_t cap = len + 8, got = 0; /* one token per byte at most, plus BOS and a space */
    for (int pass = 0; pass < 2; pass++) {
        int32_t *out = malloc(cap * sizeof *out);
        if (!out)
            return api_err_set(e, 500, "server_error", NULL, NULL, "Out of memory.");
        int rc = eng_tokenize(v, text, len, flags, out, cap, &got);
        if (rc == 0 && got <= cap) {
            *ids = out;
            *n = (uint32_t)got;
            return 0;
        }
        free(out);
        if (rc)
            return BAD(e, "prompt", "invalid_value", "The prompt cannot be tokenized: %s.",
                       fief_strerror(rc));
        cap = got;
    }
    return api_err_set(e, 500, "server_error", NULL, NULL, "Tokenizer size mismatch.");
}

static int prompt_ids(const struct api_req *r, const struct eng_vocab *v, enum eng_chat_family f,
                      int32_t **ids, uint32_t *n, struct api_err *e)
{
    int flags = ENG_TOK_PARSE_SPECIAL | (eng_vocab_adds_bos(v) ? ENG_TOK_ADD_BOS : 0);
    if (r->kind == API_COMPLETION && r->prompt_ids) {
        for (size_t i = 0; i < r->n_prompt_ids; i++)
            if (r->prompt_ids[i] >= eng_vocab_size(v))
                return BAD(e, "prompt", "invalid_value",
                           "Token id %d in 'prompt' is outside this model's vocabulary of %d "
                           "tokens.", r->prompt_ids[i], eng_vocab_size(v));
        *ids = xmalloc((r->n_prompt_ids ? r->n_prompt_ids : 1) * sizeof **ids);
        memcpy(*ids, r->prompt_ids, r->n_prompt_ids * sizeof **ids);
        *n = (uint32_t)r->n_prompt_ids;
        return 0;
    }
    if (r->kind == API_COMPLETION)
        return tokenize(v, r->prompt, r->prompt_len, flags, ids, n, e);
    struct buf text;
    char err[FIEF_ERR_LEN];
    buf_init(&text);
    if (eng_chat_apply(f, r->msgs, r->n_msgs, true, &text, err)) {
        buf_deinit(&text);
        return BAD(e, "messages", "invalid_value", "The messages cannot be rendered: %s.", err);
    }
    int rc = tokenize(v, text.data ? text.data : "", text.len, flags, ids, n, e);
    buf_deinit(&text);
    return rc;
}

int api_req_prompt(const struct api_req *r, const struct eng_vocab *v, enum eng_chat_family f,
                   int32_t n_ctx, uint32_t max_default, int32_t **ids, uint32_t *n_ids,
                   uint32_t *max_tokens, struct api_err *e)
{
    const char *what = r->kind == API_CHAT ? "messages" : "prompt";
    *ids = NULL;
    if (prompt_ids(r, v, f, ids, n_ids, e))
        return FIEF_EINVAL;
    uint64_t ctx = n_ctx > 0 ? (uint64_t)n_ctx : (uint64_t)PROTO_MAX_PROMPT + PROTO_MAX_GEN;
    uint64_t np = *n_ids;
    int rc = 0;
    if (np == 0)
        rc = BAD(e, what, "invalid_value", "The %s is empty: there is nothing to continue.",
                 r->kind == API_CHAT ? "rendered conversation" : "prompt");
    else if (np > PROTO_MAX_PROMPT || np >= ctx)
        rc = BAD(e, what, "context_length_exceeded",
                 "This model's context is %llu tokens, and the %s alone take %llu, leaving no "
                 "room for a completion. Shorten the %s.", (unsigned long long)ctx, what,
                 (unsigned long long)np, what);
    else if (r->max_tokens && np + r->max_tokens > ctx)
        rc = BAD(e, what, "context_length_exceeded",
                 "This model's context is %llu tokens, but this request needs %llu: %llu in the "
                 "%s plus max_tokens %u. Shorten the %s or lower max_tokens to %llu or less.",
                 (unsigned long long)ctx, (unsigned long long)(np + r->max_tokens),
                 (unsigned long long)np, what, r->max_tokens, what,
                 (unsigned long long)(ctx - np));
    if (rc) {
        free(*ids);
        *ids = NULL;
        return rc;
    }
    uint64_t room = ctx - np < PROTO_MAX_GEN ? ctx - np : PROTO_MAX_GEN;
    uint64_t want = r->max_tokens ? r->max_tokens : (max_default ? max_default : 1);
    *max_tokens = (uint32_t)(want < room ? want : room);
    return 0;
}
