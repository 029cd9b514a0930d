/* SPDX-License-Identifier: MIT */
/* The HTTP API on libevent's evhttp: the route table, the customer's key on
 * the routes that need one, and the server's life. The routes' work lives in
 * api_gen.c (generation, billed by api_bill.c), api_views.c (read-only
 * views) and api_admin.c (the operator's /admin). */
#include "pool/api_impl.h"

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/net.h"
#include "common/xalloc.h"
#include "pool/pool.h"

#ifndef FIEF_VERSION
#define FIEF_VERSION "0"
#endif

enum route {
    R_NONE,
    R_CHAT,
    R_CMPL,
    R_MODELS,
    R_MODEL,
    R_VIEW,
    R_ACCOUNT,
    R_RECEIPT,
    R_ADMIN,
    R_HEALTH,
    R_METRICS,
};

struct route_def {
    const char *path;
    bool prefix; /* path + one more segment ("/v1/models/{id}") */
    enum evhttp_cmd_type method;
    enum route r;
    bool key; /* needs the customer's key */
};

static const struct route_def routes[] = {
    {"/v1/chat/completions", false, EVHTTP_REQ_POST, R_CHAT, true},
    {"/v1/completions", false, EVHTTP_REQ_POST, R_CMPL, true},
    {"/v1/models", false, EVHTTP_REQ_GET, R_MODELS, true},
    {"/v1/models/", true, EVHTTP_REQ_GET, R_MODEL, true},
    {"/api/pool", false, EVHTTP_REQ_GET, R_VIEW, false},
    {"/api/models", false, EVHTTP_REQ_GET, R_VIEW, false},
    {"/api/miners", false, EVHTTP_REQ_GET, R_VIEW, false},
    {"/api/miners/", true, EVHTTP_REQ_GET, R_VIEW, false},
    {"/api/account", false, EVHTTP_REQ_GET, R_ACCOUNT, true},
    {"/api/receipts/", true, EVHTTP_REQ_GET, R_RECEIPT, true},
    {"/admin/credit", false, EVHTTP_REQ_POST, R_ADMIN, false},
    {"/admin/ledger", false, EVHTTP_REQ_GET, R_ADMIN, false},
    {"/admin/payouts", false, EVHTTP_REQ_GET, R_ADMIN, false},
    {"/admin/payouts/", true, EVHTTP_REQ_GET, R_ADMIN, false},
    {"/health", false, EVHTTP_REQ_GET, R_HEALTH, false},
    {"/metrics", false, EVHTTP_REQ_GET, R_METRICS, false},
};

static const struct route_def *route_of(const char *path)
{
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        size_t n = strlen(routes[i].path);
        bool hit = routes[i].prefix
                       ? !strncmp(path, routes[i].path, n) && path[n] && !strchr(path + n, '/')
                       : !strcmp(path, routes[i].path);
        if (hit)
            return &routes[i];
    }
    return NULL;
}

/* libevent calls us without a URI when it rejected the request itself (body
 * over the limit, malformed headers): answer in our error shape. */
static void reply_early_error(struct api *a, struct evhttp_request *req)
{
    int st = evhttp_request_get_response_code(req) == 413 ? 413 : 400;
    if (st == 413)
        api_reply_errf(a, req, 413, "invalid_request_error", NULL,
                       "The request body is larger than this pool accepts (%u bytes).",
                       pool_get_cfg(a->p)->max_body);
    else
        api_reply_errf(a, req, 400, "invalid_request_error", NULL,
                       "The HTTP request is malformed.");
}

static void dispatch(struct api *a, struct evhttp_request *req, const struct route_def *rd,
                     const char *path)
{
    struct api_err e;
    struct store_key key = {0};
    if (rd->key && api_key_check(a, req, &key, &e))
        return api_reply_err(a, req, &e);
    switch (rd->r) {
    case R_CHAT:
        return api_gen_handle(a, req, API_CHAT, &key);
    case R_CMPL:
        return api_gen_handle(a, req, API_COMPLETION, &key);
    case R_MODELS:
        return api_views_models(a, req, NULL);
    case R_MODEL:
        return api_views_models(a, req, path + strlen("/v1/models/"));
    case R_VIEW:
        return api_views_pool(a, req, path);
    case R_ACCOUNT:
        return api_views_account(a, req, &key);
    case R_RECEIPT:
        return api_views_receipt(a, req, &key, path + strlen("/api/receipts/"));
    case R_ADMIN:
        return api_admin_handle(a, req, path);
    case R_HEALTH:
        return api_reply_json(a, req, 200, json_pack("{s:s}", "status", "ok"));
    case R_METRICS:
        return api_views_metrics(a, req);
    default:
        break;
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    a->stats.requests++;
    if (!evhttp_request_get_uri(req))
        return reply_early_error(a, req);
    /* Nagle plus the client's delayed ACK would hold small SSE events ~40 ms. */
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    net_nodelay(bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)));

    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const struct route_def *rd = route_of(path ? path : "");
    /* With no admin token, /admin does not exist: it says nothing about itself. */
    if (!rd || (rd->r == R_ADMIN && !pool_get_cfg(a->p)->admin_token[0]))
        return api_reply_errf(a, req, 404, "invalid_request_error", "unknown_url",
                              "Invalid URL (%s): no such endpoint on this pool.",
                              path ? path : "?");
    if (evhttp_request_get_command(req) != rd->method) {
        const char *allow = rd->method == EVHTTP_REQ_POST ? "POST" : "GET";
        api_header_add(req, "Allow", allow);
        return api_reply_errf(a, req, 405, "invalid_request_error", "method_not_allowed",
                              "Method not allowed: %s takes %s.", path, allow);
    }
    dispatch(a, req, rd, path);
}

/* ---- lifecycle ---- */

int api_start(struct pool *p, const char *listen, struct api **out, char err[FIEF_ERR_LEN])
{
    int fd = net_listen(listen, err);
    if (fd < 0)
        return FIEF_EIO;
    struct api *a = xcalloc(1, sizeof *a);
    a->p = p;
    snprintf(a->fingerprint, sizeof a->fingerprint, "fief-%s", FIEF_VERSION);
    a->http = evhttp_new(pool_base(p));
    if (!a->http) {
        close(fd);
        free(a);
        return fief_errf(err, FIEF_EIO, "HTTP API: cannot create the server");
    }
    evhttp_set_max_body_size(a->http, pool_get_cfg(p)->max_body);
    evhttp_set_max_headers_size(a->http, 64 * 1024);
    /* every method reaches us, so a wrong one gets our 405 rather than libevent's */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, on_request, a);
    if (!evhttp_accept_socket_with_handle(a->http, fd)) {
        close(fd);
        evhttp_free(a->http);
        free(a);
        return fief_errf(err, FIEF_EIO, "HTTP API: cannot accept on %s", listen);
    }
    a->port = net_local_port(fd);
    *out = a;
    return 0;
}

int api_port(const struct api *a)
{
    return a ? a->port : -1;
}

void api_get_stats(const struct api *a, struct api_stats *out)
{
    *out = a->stats;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    /* Freeing the server closes every connection; each open request's
     * closecb cancels its jobs, settles it and frees it. */
    api_wait_flush(a); /* shutting down: the store flushes their settlements next */
    evhttp_free(a->http);
    api_gen_free_all(a);
    free(a);
}
