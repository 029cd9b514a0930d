/* SPDX-License-Identifier: MIT */
/* Inside the HTTP API: the server struct and what its files share. api.c
 * routes; api_http.c replies and reads requests; api_gen.c runs generation
 * requests; api_money.c bills them; api_views.c answers /api; api_admin.c
 * answers /admin. Loop thread only. */
#ifndef FIEF_POOL_API_IMPL_H
#define FIEF_POOL_API_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/store.h"
#include "pool/api.h"
#include "pool/api_req.h"

struct evhttp;
struct evhttp_request;
struct gen;
struct api_wait;

struct api {
    struct pool *p;
    struct evhttp *http;
    int port;
    char fingerprint[40]; /* system_fingerprint: "fief-<version>" */
    struct api_stats stats;
    struct gen *gens; /* generation requests in flight (a list) */
    struct api_wait *waits; /* replies waiting for their settlement (api_wait.c) */
};

/* ---- api_http.c: replies (each sends the whole reply; libevent frees req) ---- */

/* j is consumed. */
void api_reply_json(struct api *a, struct evhttp_request *req, int status, json_t *j);
/* A body as it is (a stored idempotent response). */
void api_reply_body(struct api *a, struct evhttp_request *req, int status, const char *ctype,
                    const char *body, size_t len);
void api_reply_err(struct api *a, struct evhttp_request *req, const struct api_err *e);
void api_reply_errf(struct api *a, struct evhttp_request *req, int status, const char *type,
                    const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Count a reply's status for /metrics (the helpers above do). */
void api_count_status(struct api *a, int status);
/* Add a response header. */
void api_header_add(struct evhttp_request *req, const char *name, const char *value);

/* ---- api_http.c: reading requests ---- */

/* A request header, or NULL. */
const char *api_header(struct evhttp_request *req, const char *name);
/* The customer's key from "Authorization: Bearer fief-...": 0 and *info, or
 * a 401 in e. */
int api_key_check(struct api *a, struct evhttp_request *req, struct store_key *info,
                  struct api_err *e);
/* The body as NUL-terminated text (borrowed from the request) and its length. */
const char *api_body(struct evhttp_request *req, size_t *len);
/* A query parameter (?name=value, decoded) into out: 1 when present, 0 when
 * absent, FIEF_EINVAL when the query cannot be parsed or the value is longer
 * than cap - 1. */
int api_query(struct evhttp_request *req, const char *name, char *out, size_t cap);
/* A query parameter that must be an integer in [lo, hi]: 0 (and *out, left
 * as it is when absent) or a 400 in e naming it. */
int api_query_int(struct evhttp_request *req, const char *name, int64_t lo, int64_t hi,
                  int64_t *out, struct api_err *e);

/* ---- api_wait.c: the last bytes of a priced request go out once its
 * settlement has committed ---- */

/* Send bytes (a stream's tail: the chunk, then the reply's end; or the whole
 * reply with status and ctype) when api_settled(req_id) comes, or after a
 * bounded wait. req stays the caller's until then: it must not touch it. */
void api_wait_reply(struct api *a, const char *req_id, struct evhttp_request *req, bool stream,
                    int status, const char *ctype, const char *bytes, size_t len);
/* Send every reply waiting now (shutdown). */
void api_wait_flush(struct api *a);

/* ---- the routes of the other files ---- */

/* api_gen.c: POST /v1/chat/completions and /v1/completions. */
void api_gen_handle(struct api *a, struct evhttp_request *req, enum api_kind kind,
                    const struct store_key *key);
/* api_gen.c: end every open generation (shutdown). */
void api_gen_free_all(struct api *a);

/* api_views.c: GET /v1/models[/{id}], /api/pool, /api/models, /api/miners[/{id}],
 * /api/account, /api/receipts/{req}, /metrics. path is the URL's path. */
void api_views_models(struct api *a, struct evhttp_request *req, const char *one);
void api_views_pool(struct api *a, struct evhttp_request *req, const char *path);
void api_views_account(struct api *a, struct evhttp_request *req, const struct store_key *key);
void api_views_receipt(struct api *a, struct evhttp_request *req, const struct store_key *key,
                       const char *request_id);
void api_views_metrics(struct api *a, struct evhttp_request *req);

/* api_admin.c: every /admin route (token checked there). */
void api_admin_handle(struct api *a, struct evhttp_request *req, const char *path);

#endif
