/* SPDX-License-Identifier: MIT */
/* The wire protocol's envelope: framing lines, parsing a line into a request,
 * reply or notification, writing those lines, and the bytes a miner signs.
 * The message bodies are in proto_msg.c. */
#include "proto/proto.h"
#include "proto/proto_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- methods ---- */

struct method_def {
    const char *name;
    enum proto_kind kind; /* how the method must be sent */
};

static const struct method_def methods[] = {
    [PM_HELLO] = {"hello", PROTO_REQUEST},  [PM_AUTH] = {"auth", PROTO_REQUEST},
    [PM_OFFER] = {"offer", PROTO_REQUEST},  [PM_JOB] = {"job", PROTO_REQUEST},
    [PM_TOKENS] = {"tokens", PROTO_NOTIFY}, [PM_CANCEL] = {"cancel", PROTO_NOTIFY},
    [PM_SCORE] = {"score", PROTO_REQUEST},  [PM_PING] = {"ping", PROTO_REQUEST},
    [PM_NOTICE] = {"notice", PROTO_NOTIFY}, [PM_RECEIPT] = {"receipt", PROTO_NOTIFY},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

const char *proto_method_name(enum proto_method m)
{
    if ((size_t)m >= N_METHODS || !methods[m].name)
        return "?";
    return methods[m].name;
}

static enum proto_method method_find(const char *name)
{
    for (size_t i = 1; i < N_METHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return (enum proto_method)i;
    return PM_UNKNOWN;
}

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at s[0..n) and its code point, or 0
 * when the bytes there are not one (overlong forms and surrogates included). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        *cp = c & 0x0f;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        *cp = c & 0x07;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    return len;
}

static int is_ctl(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

size_t proto_text_clean(char *dst, size_t cap, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_seq(s + i, len - i, &cp);
        int keep = n && !is_ctl(cp);
        size_t w = keep ? n : 1;
        if (o + w > cap - 1)
            break;
        if (keep)
            memcpy(dst + o, s + i, n);
        else
            dst[o] = '?';
        o += w;
        i += n ? n : 1;
    }
    dst[o] = 0;
    return o;
}

long proto_text_ctl(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++)
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < len && u[i + 1] <= 0x9f))
            return (long)i;
    return -1;
}

/* ---- framing ---- */

long proto_frame(const char *data, size_t len)
{
    size_t scan = len < (size_t)PROTO_MAX_LINE + 1 ? len : (size_t)PROTO_MAX_LINE + 1;
    const char *nl = memchr(data, '\n', scan);
    if (nl)
        return nl - data;
    return len > PROTO_MAX_LINE ? FIEF_ELIMIT : -1;
}

/* ---- parsing ---- */

/* jansson recurses once per nesting level (up to 2048): bound it first, so a
 * line of brackets cannot use much stack on a small thread. Brackets inside
 * strings do not count. */
static int depth_ok(const char *s, size_t n)
{
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                i += s[i] == '\\';
        } else if (c == '[' || c == '{') {
            if (++depth > PROTO_MAX_DEPTH)
                return 0;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 1;
}

/* "id": an integer in [0, PROTO_MAX_ID]; null only where null_ok (error replies). */
static int get_id(json_t *v, int null_ok, uint64_t *out, char *err)
{
    if (null_ok && json_is_null(v)) {
        *out = PROTO_NO_ID;
        return 0;
    }
    if (!json_is_integer(v))
        return fief_errf(err, FIEF_EPROTO, "\"id\" must be an integer");
    json_int_t id = json_integer_value(v);
    if (id < 0 || (uint64_t)id > PROTO_MAX_ID)
        return fief_errf(err, FIEF_EPROTO, "\"id\" = %lld is out of range 0..2^53-1",
                         (long long)id);
    *out = (uint64_t)id;
    return 0;
}

/* A request or notification: {"id"?, "method", "params"?}. */
static int parse_call(json_t *root, json_t *method, json_t *id, struct proto_msg *m, char *err)
{
    if (!json_is_string(method))
        return fief_errf(err, FIEF_EPROTO, "\"method\" must be a string");
    if (json_object_get(root, "result") || json_object_get(root, "error"))
        return fief_errf(err, FIEF_EPROTO, "a request cannot carry \"result\" or \"error\"");
    m->method = method_find(json_string_value(method));
    m->kind = id ? PROTO_REQUEST : PROTO_NOTIFY;
    if (id && get_id(id, 0, &m->id, err))
        return FIEF_EPROTO;
    if (m->method != PM_UNKNOWN && methods[m->method].kind != m->kind)
        return fief_errf(err, FIEF_EPROTO, "\"%s\" is a %s: it must %s an \"id\"",
                         methods[m->method].name,
                         m->kind == PROTO_REQUEST ? "notification" : "request",
                         m->kind == PROTO_REQUEST ? "not have" : "have");
    json_t *params = json_object_get(root, "params");
    if (!params) { /* absent params = {} (ping) */
        params = json_object();
        json_object_set_new_nocheck(root, "params", params);
    }
    if (!json_is_object(params))
        return fief_errf(err, FIEF_EPROTO, "\"params\" must be an object");
    m->params = params;
    return 0;
}

static int parse_error_obj(json_t *e, struct proto_msg *m, char *err)
{
    if (!json_is_object(e))
        return fief_errf(err, FIEF_EPROTO, "\"error\" must be an object");
    json_t *code = json_object_get(e, "code"), *msg = json_object_get(e, "message");
    if (!json_is_integer(code) || json_integer_value(code) < INT32_MIN ||
        json_integer_value(code) > INT32_MAX)
        return fief_errf(err, FIEF_EPROTO, "\"error\".\"code\" must be a 32-bit integer");
    if (!json_is_string(msg))
        return fief_errf(err, FIEF_EPROTO, "\"error\".\"message\" must be a string");
    m->is_error = true;
    m->err_code = (int)json_integer_value(code);
    proto_text_clean(m->err_msg, sizeof m->err_msg, json_string_value(msg),
                     json_string_length(msg));
    return 0;
}

/* A reply: {"id", "result"} or {"id", "error"}. */
static int parse_reply(json_t *root, json_t *id, struct proto_msg *m, char *err)
{
    json_t *result = json_object_get(root, "result"), *error = json_object_get(root, "error");
    m->kind = PROTO_REPLY;
    if (!id)
        return fief_errf(err, FIEF_EPROTO, "no \"method\" and no \"id\"");
    if (!result == !error)
        return fief_errf(err, FIEF_EPROTO, "a reply has exactly one of \"result\" and \"error\"");
    if (get_id(id, error != NULL, &m->id, err))
        return FIEF_EPROTO;
    if (error)
        return parse_error_obj(error, m, err);
    if (!json_is_object(result))
        return fief_errf(err, FIEF_EPROTO, "\"result\" must be an object");
    m->result = result;
    return 0;
}

int proto_parse(const char *line, size_t len, struct proto_msg *out, char err[FIEF_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    if (len > PROTO_MAX_LINE)
        return fief_errf(err, FIEF_ELIMIT, "line of %zu bytes; the limit is %u", len,
                         PROTO_MAX_LINE);
    if (!depth_ok(line, len))
        return fief_errf(err, FIEF_EFORMAT, "nested deeper than %d", PROTO_MAX_DEPTH);
    /* No JSON_DECODE_ANY: a bare scalar is refused. JSON_REJECT_DUPLICATES:
     * {"id":1,"id":2} must mean nothing rather than whichever came last. No
     * JSON_ALLOW_NUL: "\u0000" is refused, so every string is a C string. */
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char why[sizeof je.text];
        proto_text_clean(why, sizeof why, je.text, strnlen(je.text, sizeof je.text));
        return fief_errf(err, FIEF_EFORMAT, "not JSON: %s (byte %d)", why, je.position);
    }
    int rc;
    if (!json_is_object(root)) {
        rc = fief_errf(err, FIEF_EFORMAT, "not a JSON object");
    } else {
        json_t *method = json_object_get(root, "method"), *id = json_object_get(root, "id");
        rc = method ? parse_call(root, method, id, out, err) : parse_reply(root, id, out, err);
    }
    if (rc) {
        json_decref(root);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->root = root;
    return 0;
}

void proto_msg_clear(struct proto_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

/* ---- writing ---- */

static int dump_cb(const char *s, size_t n, void *ud)
{
    buf_append(ud, s, n);
    return 0;
}

/* params/result as compact JSON; reals with 9 significant digits, enough for
 * any float32 to read back identical. */
static void put_obj(struct buf *out, json_t *o)
{
    if (!o || json_dump_callback(o, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0)
        buf_puts(out, "{}");
}

void proto_put_request(struct buf *out, uint64_t id, enum proto_method m, json_t *params)
{
    buf_printf(out, "{\"id\":%" PRIu64 ",\"method\":\"%s\",\"params\":", id, proto_method_name(m));
    put_obj(out, params);
    buf_puts(out, "}\n");
}

void proto_put_notify(struct buf *out, enum proto_method m, json_t *params)
{
    buf_puts(out, "{\"method\":\"");
    buf_puts(out, proto_method_name(m));
    buf_puts(out, "\",\"params\":");
    put_obj(out, params);
    buf_puts(out, "}\n");
}

void proto_put_result(struct buf *out, uint64_t id, json_t *result)
{
    buf_printf(out, "{\"id\":%" PRIu64 ",\"result\":", id);
    put_obj(out, result);
    buf_puts(out, "}\n");
}

void proto_put_error(struct buf *out, uint64_t id, int code, const char *msg)
{
    char clean[PROTO_MAX_TEXT + 1];
    size_t n = proto_text_clean(clean, sizeof clean, msg ? msg : "", msg ? strlen(msg) : 0);
    json_t *s = json_stringn_nocheck(clean, n); /* clean is valid UTF-8 */
    if (id == PROTO_NO_ID)
        buf_puts(out, "{\"id\":null");
    else
        buf_printf(out, "{\"id\":%" PRIu64, id);
    buf_printf(out, ",\"error\":{\"code\":%d,\"message\":", code);
    if (!s || json_dump_callback(s, dump_cb, out, JSON_ENCODE_ANY) != 0)
        buf_puts(out, "\"\"");
    json_decref(s);
    buf_puts(out, "}}\n");
}

/* ---- auth ---- */

size_t proto_auth_message(const char *challenge_hex, char *msg, size_t cap)
{
    size_t tag = sizeof PROTO_AUTH_TAG - 1;
    if (!challenge_hex || strnlen(challenge_hex, PROTO_NONCE_HEX + 1) != PROTO_NONCE_HEX ||
        cap < tag + PROTO_NONCE_HEX + 1)
        return 0;
    memcpy(msg, PROTO_AUTH_TAG, tag);
    for (size_t i = 0; i < PROTO_NONCE_HEX; i++) {
        char c = challenge_hex[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        msg[tag + i] = c;
    }
    msg[tag + PROTO_NONCE_HEX] = 0;
    return tag + PROTO_NONCE_HEX;
}
