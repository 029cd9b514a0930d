/* SPDX-License-Identifier: MIT */
/* Read-only answers: /v1/models, the public /api views (pool, models,
 * miners), the customer's /api/account and receipts, and /metrics. Each
 * reads the store on the loop thread (one indexed query or a few: tens of
 * microseconds on SQLite). */
#include "pool/api_impl.h"
#include "common/log.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ledger/ledger.h"
#include "pool/api_resp.h"
#include "pool/disp.h"
#include "pool/metrics.h"
#include "pool/models.h"
#include "pool/pool.h"

#define RECENT_DEFAULT 20 /* /api/account's latest requests */
#define RECENT_MAX 100

static void not_found(struct api *a, struct evhttp_request *req, const char *code, const char *msg)
{
    api_reply_errf(a, req, 404, "invalid_request_error", code, "%s", msg);
}

void api_views_models(struct api *a, struct evhttp_request *req, const char *one)
{
    struct pool_models *ms = pool_models(a->p);
    const char *owner = pool_get_cfg(a->p)->name;
    json_t *data = json_array();
    for (size_t i = 0; i < models_count(ms); i++) {
        struct pool_model *m = models_at(ms, i);
        struct disp_model_stats st;
        disp_model_stats(pool_disp(a->p), m, &st);
        if (one && !strcmp(one, m->name)) {
            json_decref(data);
            return api_reply_json(
                a, req, 200,
                resp_model(m->name, m->created_s, owner, m->price_in, m->price_out, &st));
        }
        if (!one && st.miners > 0) /* the list shows what can be served now */
            json_array_append_new(
                data, resp_model(m->name, m->created_s, owner, m->price_in, m->price_out, &st));
    }
    if (one) {
        json_decref(data);
        struct api_err e;
        api_err_set(&e, 404, "invalid_request_error", "model", "model_not_found",
                    "The model '%s' does not exist on this pool. GET /v1/models lists the "
                    "models it serves.",
                    one);
        return api_reply_err(a, req, &e);
    }
    api_reply_json(a, req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void api_views_pool(struct api *a, struct evhttp_request *req, const char *path)
{
    json_t *j = NULL;
    bool one_miner = false;
    if (!strcmp(path, "/api/pool"))
        j = pool_info_json(a->p);
    else if (!strcmp(path, "/api/models"))
        j = pool_models_json(a->p);
    else if (!strcmp(path, "/api/miners"))
        j = pool_miners_json(a->p);
    else
        one_miner = (j = pool_miner_json(a->p, path + strlen("/api/miners/"))) == NULL;
    if (one_miner)
        return not_found(a, req, "not_found",
                         "No miner with that id is known to this pool (its 16-digit id, or "
                         "its whole public key).");
    if (!j) { /* a view that cannot be built is the pool's bug, not the caller's */
        struct api_err e;
        log_err("api: cannot build the view of %s", path);
        api_err_set(&e, 500, "server_error", NULL, NULL, "The pool could not build this view.");
        return api_reply_err(a, req, &e);
    }
    api_reply_json(a, req, 200, j);
}

/* ---- the customer's account ---- */

static json_t *settled_json(const struct store_settled *s)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:o, s:I}", "request", s->req, "model", s->model,
                     "prompt_tokens", (json_int_t)s->prompt_tokens, "completion_tokens",
                     (json_int_t)s->completion_tokens, "cost", resp_amount(s->cost), "time_ms",
                     (json_int_t)s->created_ms);
}

static json_t *recent_json(struct store *s, int64_t key_id, uint32_t limit)
{
    struct store_settled rows[RECENT_MAX];
    uint32_t n = 0;
    json_t *arr = json_array();
    store_settled_recent(s, key_id, rows, limit, &n);
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(arr, settled_json(&rows[i]));
    return arr;
}

void api_views_account(struct api *a, struct evhttp_request *req, const struct store_key *key)
{
    struct api_err e;
    int64_t limit = RECENT_DEFAULT;
    if (api_query_int(req, "limit", 0, RECENT_MAX, &limit, &e))
        return api_reply_err(a, req, &e);
    struct store *s = pool_store(a->p);
    struct ledger_key_balance b;
    struct store_usage u;
    if (ledger_key_balance(s, key->id, &b) || store_usage_for_key(s, key->id, &u))
        return api_reply_errf(a, req, 500, "server_error", NULL,
                              "The pool cannot read its books; try again later.");
    json_t *j = json_pack(
        "{s:s, s:{s:I, s:s, s:s, s:I}, s:{s:o, s:o, s:o, s:o}, s:{s:I, s:I, s:I}, s:o}", "object",
        "account", "key", "id", (json_int_t)key->id, "name", key->name, "prefix", key->prefix,
        "created_ms", (json_int_t)key->created_ms, "balance", "available", resp_amount(b.available),
        "held", resp_amount(b.held), "spent", resp_amount(b.spent), "deposited",
        resp_amount(b.deposited), "usage", "requests", (json_int_t)u.requests, "prompt_tokens",
        (json_int_t)u.prompt_tokens, "completion_tokens", (json_int_t)u.completion_tokens, "recent",
        recent_json(s, key->id, (uint32_t)limit));
    api_reply_json(a, req, 200, j);
}

/* The receipt of a settled request, for the key that paid for it: 404 for
 * anyone else (a request id reveals nothing to those who do not hold it). */
void api_views_receipt(struct api *a, struct evhttp_request *req, const struct store_key *key,
                       const char *request_id)
{
    struct store *s = pool_store(a->p);
    struct store_settled st;
    char *r = NULL;
    int rc = store_settled_get(s, request_id, &st);
    if (rc == 0 && st.key_id == key->id)
        r = ledger_receipt_get(s, request_id);
    if (!r)
        return rc == FIEF_EIO
                   ? api_reply_errf(a, req, 500, "server_error", NULL,
                                    "The pool cannot read its books; try again later.")
                   : not_found(a, req, "receipt_not_found",
                               "No receipt for that request and this key: it is not settled "
                               "yet (try again in a moment), it produced nothing and cost "
                               "nothing, or another key paid for it.");
    size_t n = strlen(r);
    struct buf b;
    buf_init(&b);
    buf_append(&b, r, n);
    buf_putc(&b, '\n');
    api_reply_body(a, req, 200, "application/json", b.data, b.len);
    buf_deinit(&b);
    free(r);
}

void api_views_metrics(struct api *a, struct evhttp_request *req)
{
    struct buf b;
    buf_init(&b);
    metrics_render(a->p, &a->stats, &b);
    api_reply_body(a, req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    buf_deinit(&b);
}
