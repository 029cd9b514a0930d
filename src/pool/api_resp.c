/* SPDX-License-Identifier: MIT */
/* OpenAI response objects, built with jansson: the exact field sets of
 * chat.completion(.chunk) and text_completion, both logprobs formats, usage,
 * errors and model entries, so the official SDKs parse them unchanged. */
#include "pool/api_resp.h"

#include <string.h>

#include "common/buf.h"
#include "common/receipt.h"
#include "pool/disp.h"
#include "pool/textout.h"

/* jansson's setters steal the value; these keep the builders one line each. */
static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v ? v : json_null());
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* ---- logprobs ---- */

/* A token's text as the customer sees it (control tokens by name), in raw
 * bytes and as a valid UTF-8 string. */
struct tok_text {
    char raw[256];
    size_t len;
    struct buf str;
};

static void tok_text_get(const struct eng_vocab *v, int32_t id, struct tok_text *t)
{
    int n = eng_token_piece(v, id, t->raw, sizeof t->raw, ENG_PIECE_SPECIAL);
    t->len = n < 0 ? 0 : (size_t)n > sizeof t->raw ? sizeof t->raw : (size_t)n;
    buf_init(&t->str);
    textout_utf8_sanitize(t->raw, t->len, &t->str);
}

static json_t *tok_json_string(struct tok_text *t)
{
    return json_stringn(t->str.data ? t->str.data : "", t->str.len);
}

static json_t *bytes_json(const struct tok_text *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->len; i++)
        json_array_append_new(a, json_integer((unsigned char)t->raw[i]));
    return a;
}

/* chat: {"id","token","logprob","bytes"} (+ "top_logprobs" for the chosen one) */
static json_t *chat_entry(const struct eng_vocab *v, int32_t id, float lp)
{
    struct tok_text t;
    tok_text_get(v, id, &t);
    json_t *o = json_object();
    set(o, "id", json_integer(id));
    set(o, "token", tok_json_string(&t));
    set(o, "logprob", json_real(lp));
    set(o, "bytes", bytes_json(&t));
    buf_deinit(&t.str);
    return o;
}

static void add_chat(json_t *lp, const struct eng_vocab *v, const struct resp_tok *t,
                     uint32_t n_top)
{
    json_t *o = chat_entry(v, t->id, t->logprob);
    json_t *tops = json_array();
    for (uint32_t i = 0; i < t->n_top && i < n_top; i++)
        json_array_append_new(tops, chat_entry(v, t->top[i].id, t->top[i].logprob));
    set(o, "top_logprobs", tops);
    json_array_append_new(json_object_get(lp, "content"), o);
}

static void add_legacy(json_t *lp, const struct eng_vocab *v, const struct resp_tok *t,
                       uint32_t n_top, size_t *text_offset)
{
    struct tok_text tt;
    tok_text_get(v, t->id, &tt);
    json_array_append_new(json_object_get(lp, "tokens"), tok_json_string(&tt));
    json_array_append_new(json_object_get(lp, "token_logprobs"), json_real(t->logprob));
    json_array_append_new(json_object_get(lp, "text_offset"), json_integer((json_int_t)*text_offset));
    *text_offset += textout_utf8_chars(tt.raw, tt.len);
    buf_deinit(&tt.str);
    json_t *tops = json_object_get(lp, "top_logprobs");
    if (!json_is_array(tops))
        return;
    json_t *d = json_object();
    for (uint32_t i = 0; i < t->n_top && i < n_top; i++) {
        tok_text_get(v, t->top[i].id, &tt);
        /* two alternatives with the same text keep the likelier (listed first) */
        if (!json_object_get(d, tt.str.data ? tt.str.data : ""))
            set(d, tt.str.data ? tt.str.data : "", json_real(t->top[i].logprob));
        buf_deinit(&tt.str);
    }
    json_array_append_new(tops, d);
}

json_t *resp_logprobs_new(enum api_kind kind, bool with_top)
{
    json_t *o = json_object();
    if (kind == API_CHAT) {
        set(o, "content", json_array());
        set(o, "refusal", NULL);
        return o;
    }
    set(o, "tokens", json_array());
    set(o, "token_logprobs", json_array());
    set(o, "top_logprobs", with_top ? json_array() : NULL);
    set(o, "text_offset", json_array());
    return o;
}

void resp_logprobs_add(json_t *lp, enum api_kind kind, const struct eng_vocab *v,
                       const struct resp_tok *t, uint32_t n_top, size_t *text_offset)
{
    if (eng_vocab_is_eog(v, t->id))
        return;
    if (kind == API_CHAT)
        add_chat(lp, v, t, n_top);
    else
        add_legacy(lp, v, t, n_top, text_offset);
}

bool resp_logprobs_empty(const json_t *lp, enum api_kind kind)
{
    return json_array_size(json_object_get(lp, kind == API_CHAT ? "content" : "tokens")) == 0;
}

/* ---- envelopes ---- */

static json_t *envelope(const struct resp_meta *m, bool chunk)
{
    json_t *o = json_object();
    set(o, "id", json_string(m->id));
    set(o, "object", json_string(m->kind == API_COMPLETION ? "text_completion"
                                 : chunk                  ? "chat.completion.chunk"
                                                          : "chat.completion"));
    set(o, "created", json_integer(m->created));
    set(o, "model", json_string(m->model));
    set(o, "system_fingerprint", json_string(m->fingerprint));
    return o;
}

static json_t *usage_json(const struct resp_usage *u)
{
    json_t *o = json_object();
    set(o, "prompt_tokens", json_integer((json_int_t)u->prompt_tokens));
    set(o, "completion_tokens", json_integer((json_int_t)u->completion_tokens));
    set(o, "total_tokens", json_integer((json_int_t)(u->prompt_tokens + u->completion_tokens)));
    return o;
}

json_t *resp_chunk(const struct resp_meta *m, uint32_t index, const char *role, const char *text,
                   size_t len, json_t *logprobs, const char *finish)
{
    json_t *o = envelope(m, true);
    json_t *c = json_object();
    set(c, "index", json_integer(index));
    if (m->kind == API_CHAT) {
        json_t *d = json_object();
        if (role)
            set(d, "role", json_string(role));
        if (text)
            set(d, "content", json_stringn(text, len));
        set(c, "delta", d);
    } else {
        set(c, "text", json_stringn(text ? text : "", text ? len : 0));
    }
    set(c, "logprobs", logprobs);
    set(c, "finish_reason", str_or_null(finish));
    json_t *choices = json_array();
    json_array_append_new(choices, c);
    set(o, "choices", choices);
    if (m->usage_null)
        set(o, "usage", NULL);
    return o;
}

json_t *resp_usage_chunk(const struct resp_meta *m, const struct resp_usage *u)
{
    json_t *o = envelope(m, true);
    set(o, "choices", json_array());
    set(o, "usage", usage_json(u));
    return o;
}

json_t *resp_full(const struct resp_meta *m, struct resp_choice *c, size_t n,
                  const struct resp_usage *u)
{
    json_t *o = envelope(m, false);
    json_t *choices = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_object();
        json_t *text = json_stringn(c[i].text ? c[i].text : "", c[i].text ? c[i].len : 0);
        set(ch, "index", json_integer((json_int_t)i));
        if (m->kind == API_CHAT) {
            json_t *msg = json_object();
            set(msg, "role", json_string("assistant"));
            set(msg, "content", text);
            set(msg, "refusal", NULL);
            set(ch, "message", msg);
        } else {
            set(ch, "text", text);
        }
        set(ch, "logprobs", c[i].logprobs);
        c[i].logprobs = NULL;
        set(ch, "finish_reason", str_or_null(c[i].finish));
        json_array_append_new(choices, ch);
    }
    set(o, "choices", choices);
    set(o, "usage", usage_json(u));
    return o;
}

json_t *resp_error(const struct api_err *e)
{
    json_t *err = json_object();
    json_t *msg = json_string(e->message);
    if (!msg) { /* a message quoting invalid UTF-8 from the customer */
        struct buf b;
        buf_init(&b);
        textout_utf8_sanitize(e->message, strlen(e->message), &b);
        msg = json_string(b.data ? b.data : "");
        buf_deinit(&b);
    }
    set(err, "message", msg);
    set(err, "type", json_string(e->type ? e->type : "invalid_request_error"));
    set(err, "param", str_or_null(e->param));
    set(err, "code", str_or_null(e->code));
    json_t *o = json_object();
    set(o, "error", err);
    return o;
}

json_t *resp_model(const char *id, int64_t created, const char *owned_by, uint64_t price_in,
                   uint64_t price_out, const struct disp_model_stats *st)
{
    json_t *o = json_object();
    set(o, "id", json_string(id));
    set(o, "object", json_string("model"));
    set(o, "created", json_integer(created));
    set(o, "owned_by", json_string(owned_by));
    /* credits per million tokens (the config's unit); stored as micro-credits */
    set(o, "price_in", json_real((double)price_in / 1e6));
    set(o, "price_out", json_real((double)price_out / 1e6));
    if (st) {
        set(o, "miners", json_integer(st->miners));
        set(o, "slots", json_integer(st->slots));
        set(o, "busy", json_integer(st->busy));
        set(o, "queued", json_integer(st->queued));
        set(o, "tps", json_real(st->tps));
    }
    return o;
}

/* ---- money ---- */

json_t *resp_amount(int64_t micro)
{
    char c[32];
    json_t *o = json_object();
    set(o, "micro", json_integer(micro));
    set(o, "credits", json_string(receipt_credits(micro, c)));
    return o;
}

json_t *resp_with_cost(json_t *o, int64_t micro)
{
    set(o, "cost", resp_amount(micro));
    return o;
}

static int dump_cb(const char *s, size_t n, void *ud)
{
    buf_append(ud, s, n);
    return 0;
}

void resp_dump(json_t *j, bool sse, struct buf *out)
{
    if (sse)
        buf_append(out, "data: ", 6);
    json_dump_callback(j, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (sse)
        buf_append(out, "\n\n", 2);
    json_decref(j);
}
