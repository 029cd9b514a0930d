/* SPDX-License-Identifier: MIT */
/* The HTTP API's plumbing on evhttp: whole replies in JSON (errors in
 * OpenAI's shape, with honest status codes), stored bodies sent as they are,
 * request headers, bodies and query parameters, and the customer's key. */
#include "pool/api_impl.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "pool/api_resp.h"
#include "pool/pool.h"

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

void api_count_status(struct api *a, int status)
{
    if (status >= 500)
        a->stats.errors_5xx++;
    else if (status >= 400)
        a->stats.errors_4xx++;
}

void api_header_add(struct evhttp_request *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

void api_reply_body(struct api *a, struct evhttp_request *req, int status, const char *ctype,
                    const char *body, size_t len)
{
    api_header_add(req, "Content-Type", ctype);
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    api_count_status(a, status);
    evhttp_send_reply(req, status, reason(status), NULL);
}

void api_reply_json(struct api *a, struct evhttp_request *req, int status, json_t *j)
{
    struct buf b;
    buf_init(&b);
    resp_dump(j, false, &b);
    buf_putc(&b, '\n');
    api_reply_body(a, req, status, "application/json", b.data, b.len);
    buf_deinit(&b);
}

void api_reply_err(struct api *a, struct evhttp_request *req, const struct api_err *e)
{
    const char *uri = evhttp_request_get_uri(req);
    log_debug("api: %s -> %d %s", uri ? uri : "?", e->status, e->message);
    api_reply_json(a, req, e->status, resp_error(e));
}

void api_reply_errf(struct api *a, struct evhttp_request *req, int status, const char *type,
                    const char *code, const char *fmt, ...)
{
    struct api_err e;
    char msg[sizeof e.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_err_set(&e, status, type, NULL, code, "%s", msg);
    api_reply_err(a, req, &e);
}

/* ---- reading ---- */

const char *api_header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

const char *api_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    if (!*len)
        return "";
    evbuffer_add(in, "", 1); /* a NUL after the body, not counted */
    return (const char *)evbuffer_pullup(in, -1);
}

int api_query(struct evhttp_request *req, const char *name, char *out, size_t cap)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    if (!q)
        return 0;
    if (evhttp_parse_query_str(q, &kv) != 0)
        return FIEF_EINVAL;
    const char *v = evhttp_find_header(&kv, name);
    int rc = !v ? 0 : strlen(v) < cap ? 1 : FIEF_EINVAL;
    if (rc == 1)
        memcpy(out, v, strlen(v) + 1);
    evhttp_clear_headers(&kv);
    return rc;
}

int api_query_int(struct evhttp_request *req, const char *name, int64_t lo, int64_t hi,
                  int64_t *out, struct api_err *e)
{
    char v[32], *end;
    int rc = api_query(req, name, v, sizeof v);
    if (rc == 0)
        return 0;
    long long x = rc == 1 ? strtoll(v, &end, 10) : 0;
    if (rc != 1 || end == v || *end || x < lo || x > hi)
        return api_err_set(e, 400, "invalid_request_error", name, "invalid_value",
                           "Invalid '%s': expected an integer from %lld to %lld.", name,
                           (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

int api_key_check(struct api *a, struct evhttp_request *req, struct store_key *info,
                  struct api_err *e)
{
    const char *h = api_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return api_err_set(e, 401, "invalid_request_error", NULL, NULL,
                           "You didn't provide an API key. Send it in the Authorization header "
                           "as a Bearer token (Authorization: Bearer fief-...); the pool's "
                           "operator creates keys with `fief keys create`.");
    const char *key = h + 7;
    size_t len = strlen(key);
    if (store_key_check(pool_store(a->p), key, len, info) != 0) {
        bool show = len >= 16 && len <= 128 &&
                    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                                "KLMNOPQRSTUVWXYZ0123456789-_") == len;
        return api_err_set(e, 401, "invalid_request_error", NULL, "invalid_api_key",
                           "Incorrect API key provided: %.8s...%s. The key is unknown or was "
                           "revoked; ask the pool's operator for a valid one.",
                           show ? key : "", show ? key + len - 4 : "");
    }
    return 0;
}
