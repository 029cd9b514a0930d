/* SPDX-License-Identifier: MIT */
/* The operator's API under /admin, behind "Authorization: Bearer
 * <admin_token>": deposits to a customer's key (POST /admin/credit), the
 * books' transactions (GET /admin/ledger) and payout batches (GET
 * /admin/payouts[/{id}]). Bad input changes nothing and says what was wrong.
 * These calls are rare and synchronous: a deposit commits before its reply,
 * on the loop thread (a few milliseconds on SQLite). */
#include "pool/api_impl.h"

#include <ctype.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "ledger/ledger_admin.h"
#include "pool/api_resp.h"
#include "pool/pool.h"

#define INVALID "invalid_request_error"
#define KEY_ARG_MAX 64     /* an id, a prefix or a whole key (48 characters) */
#define ACCOUNT_ARG_MAX 80 /* KIND:OWNER, the owner a miner's 64-digit key */

/* ---- the token ---- */

/* Compared through hashes: equal lengths, constant time, so neither the
 * token's length nor its bytes leak through the reply's timing. */
static bool token_ok(const char *got, const char *want)
{
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)got, strlen(got), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)want, strlen(want), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

static int check_token(struct api *a, struct evhttp_request *req, struct api_err *e)
{
    const char *h = api_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return api_err_set(e, 401, INVALID, NULL, NULL,
                           "/admin needs the pool's admin token: Authorization: Bearer "
                           "<admin_token> (the pool's admin_token setting).");
    if (!token_ok(h + 7, pool_get_cfg(a->p)->admin_token))
        return api_err_set(e, 403, INVALID, NULL, "invalid_admin_token",
                           "The admin token is not this pool's.");
    return 0;
}

/* ---- POST /admin/credit ---- */

/* A string member, or a 400 in e: required ones must be there. */
static int get_str(json_t *o, const char *name, bool required, size_t max, const char **out,
                   struct api_err *e)
{
    json_t *j = json_object_get(o, name);
    *out = NULL;
    if (!j || json_is_null(j))
        return required ? api_err_set(e, 400, INVALID, name, "missing_required_parameter",
                                      "Missing required parameter: '%s'.", name)
                        : 0;
    if (!json_is_string(j))
        return api_err_set(e, 400, INVALID, name, "invalid_type",
                           "Invalid type for '%s': expected a string%s.", name,
                           !strcmp(name, "amount")
                               ? " of credits such as \"12.5\" (a JSON number could lose "
                                 "precision)"
                               : "");
    if (json_string_length(j) > max)
        return api_err_set(e, 400, INVALID, name, "invalid_value",
                           "Invalid '%s': at most %zu bytes.", name, max);
    *out = json_string_value(j);
    return 0;
}

static int parse_amount(const char *s, int64_t *micro, struct api_err *e)
{
    int rc = ledger_parse_credits(s, micro);
    if (rc == FIEF_ERANGE)
        return api_err_set(e, 400, INVALID, "amount", "invalid_value",
                           "Invalid 'amount' \"%.40s\": at most %lld credits.", s,
                           LEDGER_MAX_AMOUNT / LEDGER_MICRO);
    if (rc)
        return api_err_set(e, 400, INVALID, "amount", "invalid_value",
                           "Invalid 'amount' \"%.40s\": write credits as a plain decimal with "
                           "at most 6 decimals and no sign, e.g. \"12.5\".",
                           s);
    if (*micro == 0)
        return api_err_set(e, 400, INVALID, "amount", "invalid_value",
                           "Invalid 'amount': a credit must be more than zero.");
    return 0;
}

/* A failure of the store or the ledger as an HTTP error: whose fault. */
static int books_err(int rc, const char *param, char *err, struct api_err *e)
{
    err[0] = (char)toupper((unsigned char)err[0]); /* the books' messages start lowercase */
    if (rc == FIEF_ENOTFOUND)
        return api_err_set(e, 404, INVALID, param, "key_not_found", "%s.", err);
    if (rc == FIEF_EINVAL || rc == FIEF_ERANGE)
        return api_err_set(e, 400, INVALID, param, "invalid_value", "%s.", err);
    log_err("admin: %s", err);
    return api_err_set(e, 500, "server_error", NULL, NULL, "The books failed: %s.", err);
}

static json_t *deposit_json(const struct store_key *k, int64_t amount, int64_t avail, int64_t txn,
                            const char *memo)
{
    return json_pack("{s:s, s:I, s:{s:I, s:s, s:s}, s:o, s:o, s:s}", "object", "deposit", "txn",
                     (json_int_t)txn, "key", "id", (json_int_t)k->id, "name", k->name, "prefix",
                     k->prefix, "amount", resp_amount(amount), "available", resp_amount(avail),
                     "memo", memo ? memo : "");
}

struct credit_in {
    const char *who, *amount, *memo; /* borrowed from the body's JSON */
    int64_t micro;
};

/* The body: 0, or a 400 in e. *o gets the parsed body (caller decrefs). */
static int credit_parse(struct evhttp_request *req, json_t **o, struct credit_in *in,
                        struct api_err *e)
{
    size_t len;
    const char *body = api_body(req, &len);
    json_error_t jerr;
    *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*o)
        return api_err_set(e, 400, INVALID, NULL, NULL, "The body is not valid JSON: %s.",
                           jerr.text);
    if (!json_is_object(*o))
        return api_err_set(e, 400, INVALID, NULL, NULL,
                           "The body must be a JSON object: {\"key\": \"ID, prefix or key\", "
                           "\"amount\": \"12.5\", \"memo\": \"...\"}.");
    if (get_str(*o, "key", true, KEY_ARG_MAX, &in->who, e) ||
        get_str(*o, "amount", true, 40, &in->amount, e) ||
        get_str(*o, "memo", false, 256, &in->memo, e))
        return FIEF_EINVAL;
    return parse_amount(in->amount, &in->micro, e);
}

static void credit(struct api *a, struct evhttp_request *req)
{
    struct api_err e;
    struct credit_in in;
    struct store_key k;
    json_t *o = NULL;
    int64_t txn = 0, avail = 0;
    char err[FIEF_ERR_LEN];
    struct store *s = pool_store(a->p);
    int rc = credit_parse(req, &o, &in, &e);
    if (rc == 0 && (rc = store_key_find(s, in.who, &k, err)))
        rc = books_err(rc, "key", err, &e);
    else if (rc == 0 && (rc = ledger_deposit(s, k.id, in.micro, in.memo, &txn, err)))
        rc = books_err(rc, NULL, err, &e);
    if (rc) {
        api_reply_err(a, req, &e);
    } else {
        ledger_available(s, k.id, &avail);
        log_notice("admin: deposit of %lld micro-credits to key %lld (transaction %lld)",
                   (long long)in.micro, (long long)k.id, (long long)txn);
        api_reply_json(a, req, 200, deposit_json(&k, in.micro, avail, txn, in.memo));
    }
    json_decref(o);
}

/* ---- GET /admin/ledger ---- */

static json_t *txn_json(const struct ledger_txn_info *t, const struct ledger_post_info *p,
                        uint32_t n)
{
    json_t *posts = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(posts,
                              json_pack("{s:s, s:s, s:o}", "kind", ledger_kind_name(p[i].kind),
                                        "owner", p[i].owner, "amount", resp_amount(p[i].amount)));
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:o}", "id", (json_int_t)t->id, "type", t->type,
                     "ref", t->ref, "memo", t->memo, "time_ms", (json_int_t)t->created_ms,
                     "postings", posts);
}

static int add_txn(void *ud, const struct ledger_txn_info *t, const struct ledger_post_info *p,
                   uint32_t n)
{
    json_array_append_new(ud, txn_json(t, p, n));
    return 0;
}

/* ?account=KIND[:OWNER] into f (owner copied into owner[]). */
static int parse_account(struct evhttp_request *req, struct ledger_txn_filter *f,
                         char owner[ACCOUNT_ARG_MAX], struct api_err *e)
{
    char v[ACCOUNT_ARG_MAX];
    int rc = api_query(req, "account", v, sizeof v);
    if (rc <= 0)
        return rc ? api_err_set(e, 400, INVALID, "account", "invalid_value",
                                "Invalid 'account': too long.")
                  : 0;
    char *colon = strchr(v, ':');
    if (colon) {
        *colon = 0;
        snprintf(owner, ACCOUNT_ARG_MAX, "%s", colon + 1);
        f->owner = owner;
    }
    if (ledger_kind_parse(v, &f->kind))
        return api_err_set(e, 400, INVALID, "account", "invalid_value",
                           "Invalid 'account': KIND[:OWNER], KIND one of customer, held, "
                           "pending, available, paying, pool_fee, deposits, payouts, forfeit.");
    return 0;
}

static void ledger_list(struct api *a, struct evhttp_request *req)
{
    struct api_err e;
    struct ledger_txn_filter f = {0};
    char owner[ACCOUNT_ARG_MAX];
    int64_t before = 0, limit = 50;
    if (parse_account(req, &f, owner, &e) ||
        api_query_int(req, "before", 1, INT64_MAX, &before, &e) ||
        api_query_int(req, "limit", 1, 1000, &limit, &e))
        return api_reply_err(a, req, &e);
    f.before = before;
    f.limit = (uint32_t)limit;
    json_t *data = json_array();
    if (ledger_txn_list(pool_store(a->p), &f, add_txn, data)) {
        json_decref(data);
        return api_reply_errf(a, req, 500, "server_error", NULL, "The books cannot be read.");
    }
    size_t n = json_array_size(data);
    json_t *next = n == (size_t)limit ? json_object_get(json_array_get(data, n - 1), "id")
                                      : NULL; /* a full page: there may be more below its last id */
    api_reply_json(
        a, req, 200,
        json_pack("{s:s, s:o, s:O?}", "object", "list", "data", data, "next_before", next));
}

/* ---- GET /admin/payouts[/{id}] ---- */

static json_t *batch_json(const struct ledger_batch_info *b)
{
    return json_pack("{s:I, s:s, s:o, s:I, s:I, s:I}", "id", (json_int_t)b->id, "state",
                     ledger_batch_state_name(b->state), "total", resp_amount(b->total), "miners",
                     (json_int_t)b->n_lines, "created_ms", (json_int_t)b->created_ms, "closed_ms",
                     (json_int_t)b->closed_ms);
}

static int add_batch(void *ud, const struct ledger_batch_info *b)
{
    json_array_append_new(ud, batch_json(b));
    return 0;
}

static void payouts(struct api *a, struct evhttp_request *req, const char *one)
{
    struct ledger_batch_info b;
    if (one) {
        char *end;
        long long id = strtoll(one, &end, 10);
        int rc = end == one || *end || id <= 0 ? FIEF_ENOTFOUND
                                               : ledger_payout_get(pool_store(a->p), id, &b);
        if (rc == 0)
            return api_reply_json(a, req, 200, batch_json(&b));
        return rc == FIEF_ENOTFOUND
                   ? api_reply_errf(a, req, 404, INVALID, "batch_not_found",
                                    "No payout batch %.32s (GET /admin/payouts lists them).", one)
                   : api_reply_errf(a, req, 500, "server_error", NULL, "The books cannot be read.");
    }
    json_t *data = json_array();
    if (ledger_payout_list(pool_store(a->p), add_batch, data)) {
        json_decref(data);
        return api_reply_errf(a, req, 500, "server_error", NULL, "The books cannot be read.");
    }
    api_reply_json(a, req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void api_admin_handle(struct api *a, struct evhttp_request *req, const char *path)
{
    struct api_err e;
    if (check_token(a, req, &e))
        return api_reply_err(a, req, &e);
    if (!strcmp(path, "/admin/credit"))
        credit(a, req);
    else if (!strcmp(path, "/admin/ledger"))
        ledger_list(a, req);
    else if (!strcmp(path, "/admin/payouts"))
        payouts(a, req, NULL);
    else
        payouts(a, req, path + strlen("/admin/payouts/"));
}
